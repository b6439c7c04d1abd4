/**
 * The client API on a node: a WebSocket server, one msgpackr envelope per binary frame, each
 * request checked field by field (@cairn/protocol) before it is handled. A frame that does not
 * decode or validate closes that connection with the reason; the node and its other clients
 * carry on. Requests run concurrently: a long-polling fetch, or a JoinGroup held until its
 * group's rebalance completes, does not hold up the requests after it.
 */
import { channel } from 'node:diagnostics_channel'
import { once } from 'node:events'
import { createServer, type Server } from 'node:http'
import {
  type ApiName,
  type ApiRequest,
  type ApiResponse,
  decodeRequest,
  encodeResponse,
  messageBytes,
  type RequestEnvelope,
  SendBuffers,
} from '@cairn/protocol'
import { type WebSocket, WebSocketServer } from 'ws'
import { handle } from './api-handlers.js'
import type { RequestContext } from './group-handlers.js'
import type { CairnNode } from './node.js'

/** Largest client frame: a produce of many batches. */
export const CLIENT_FRAME_BYTES_MAX = 64 << 20
/** Requests one connection may have in flight. */
export const REQUESTS_IN_FLIGHT_MAX = 1024
/**
 * JoinGroup and SyncGroup requests one connection may have waiting: each may be held until its
 * group's rebalance completes (up to the rebalance timeout). A consumer has one in flight per
 * group; a client process may share a connection among many consumers.
 */
export const GROUP_WAITS_IN_FLIGHT_MAX = 256
export const CLIENT_CONNECTIONS_MAX = 1024
/**
 * On close, how long requests already received may take to be answered before every connection
 * is closed: long enough for a produce (a node that stops has handed its leaderships off by now,
 * so each answer names the new leader), not for a fetch's long poll or a held JoinGroup.
 */
export const CLOSE_DRAIN_MS_MAX = 200
/** After the close frame, how long a client has to answer it before its connection is cut. */
const CLOSE_HANDSHAKE_MS_MAX = 500

/**
 * Each client request as it is decoded and as its answer is sent, for following one request
 * through every process it touches (`scripts/trace-hops.mjs`): `{ event: 'received' | 'answered',
 * port, id, api }`, `port` being the client's. Nothing is built unless the channel has a subscriber.
 */
const requestChannel = channel('cairn:broker:request')

/** Requests that a coordinator may hold until a rebalance completes. */
const WAITING_APIS: ReadonlySet<ApiName> = new Set(['joinGroup', 'syncGroup'])

/** Requests received and not yet answered, over every connection; `idle` runs when none are left. */
interface Load {
  inFlight: number
  idle: (() => void) | null
}

/**
 * What every connection of the server shares: its load, and the buffers answers are packed into
 * (one pool for all clients, so its bound is the node's, not each connection's).
 */
interface Shared {
  load: Load
  sendBuffers: SendBuffers
}

export class ClientApiServer {
  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    private readonly load: Load,
  ) {}

  static async start(node: CairnNode, listen: { host: string; port: number }): Promise<ClientApiServer> {
    const http = createServer((req, res) => {
      if (req.method === 'GET' && req.url === '/metrics') {
        node.metrics.registry.metrics().then(
          (text) => res.writeHead(200, { 'content-type': node.metrics.registry.contentType }).end(text),
          (err: unknown) => res.writeHead(500).end(`metrics: ${String(err)}\n`),
        )
        return
      }
      res
        .writeHead(426, { 'content-type': 'text/plain' })
        .end('cairn: connect with a WebSocket, or GET /metrics\n')
    })
    const wss = new WebSocketServer({
      server: http,
      maxPayload: CLIENT_FRAME_BYTES_MAX,
      perMessageDeflate: false,
    })
    const load: Load = { inFlight: 0, idle: null }
    const shared: Shared = { load, sendBuffers: new SendBuffers() }
    wss.on('connection', (ws, req) => {
      if (wss.clients.size > CLIENT_CONNECTIONS_MAX) {
        ws.close(1013, 'too many connections')
        return
      }
      serve(node, ws, { clientHost: req.socket.remoteAddress ?? '' }, req.socket.remotePort ?? 0, shared)
    })
    await new Promise<void>((resolve, reject) => {
      http.once('error', reject)
      http.listen(listen.port, listen.host, () => resolve())
    })
    return new ClientApiServer(http, wss, load)
  }

  /**
   * Stops taking connections, answers the requests already received (for up to
   * {@link CLOSE_DRAIN_MS_MAX}), then closes every connection with 1001 (going away). A producer
   * thus learns from its answers where each partition went, instead of from a dropped connection,
   * a backoff and a metadata refresh.
   */
  async close(): Promise<void> {
    const httpClosed = new Promise((resolve) => this.http.close(resolve))
    if (this.load.inFlight > 0) {
      let timer: NodeJS.Timeout | undefined
      await new Promise<void>((resolve) => {
        this.load.idle = resolve
        timer = setTimeout(resolve, CLOSE_DRAIN_MS_MAX)
      })
      clearTimeout(timer)
      this.load.idle = null
    }
    const clients = [...this.wss.clients]
    for (const ws of clients) ws.close(1001, 'node shutting down')
    const cut = setTimeout(() => {
      for (const ws of clients) ws.terminate()
    }, CLOSE_HANDSHAKE_MS_MAX)
    await new Promise((resolve) => this.wss.close(resolve))
    await Promise.all(clients.map((ws) => (ws.readyState === ws.CLOSED ? undefined : once(ws, 'close'))))
    clearTimeout(cut)
    await httpClosed
  }
}

function serve(
  node: CairnNode,
  ws: WebSocket,
  context: RequestContext,
  clientPort: number,
  shared: Shared,
): void {
  const { load } = shared
  let inFlight = 0
  let groupWaits = 0
  ws.on('message', (data, isBinary) => {
    if (!isBinary) return ws.close(1003, 'binary frames only')
    const bytes = messageBytes(data)
    const decoded = decodeRequest(bytes)
    if (!decoded.ok) {
      node.logger.warn(`client sent a bad request: ${decoded.reason}`)
      return ws.close(1008, decoded.reason.slice(0, 120))
    }
    if (inFlight >= REQUESTS_IN_FLIGHT_MAX)
      return ws.close(1008, `more than ${REQUESTS_IN_FLIGHT_MAX} requests in flight`)
    const waits = WAITING_APIS.has(decoded.value.api)
    if (waits && groupWaits >= GROUP_WAITS_IN_FLIGHT_MAX)
      return ws.close(1008, `more than ${GROUP_WAITS_IN_FLIGHT_MAX} join and sync requests in flight`)
    if (requestChannel.hasSubscribers)
      requestChannel.publish({
        event: 'received',
        port: clientPort,
        id: decoded.value.id,
        api: decoded.value.api,
      })
    inFlight++
    load.inFlight++
    if (waits) groupWaits++
    respond(node, ws, decoded.value, context, clientPort, shared.sendBuffers)
      .catch((err: unknown) => {
        // Our own answer failed its check: a bug here, not the client's. Say so and drop the client.
        node.logger.error(
          `answering ${decoded.value.api}: ${err instanceof Error ? err.message : String(err)}`,
        )
        ws.close(1011, 'internal error')
      })
      .finally(() => {
        inFlight--
        if (waits) groupWaits--
        if (--load.inFlight === 0) load.idle?.()
      })
  })
  ws.on('error', () => ws.terminate())
}

async function respond(
  node: CairnNode,
  ws: WebSocket,
  request: RequestEnvelope,
  context: RequestContext,
  clientPort: number,
  sendBuffers: SendBuffers,
): Promise<void> {
  const startMs = performance.now()
  let body: ApiResponse<ApiName> | null = null
  let error: string | null = null
  let message: string | undefined
  try {
    body = await handle(node, request.api, request.body as ApiRequest<ApiName>, context)
  } catch (err) {
    error = (err as { code?: string }).code ?? 'UNKNOWN_SERVER_ERROR'
    message = err instanceof Error ? err.message : String(err)
  }
  node.metrics.requests.inc({ api: request.api, error: error ?? 'none' })
  node.metrics.requestAnswered(request.api, performance.now() - startMs)
  // acks=0: the producer waits for nothing.
  if (request.api === 'produce' && (request.body as ApiRequest<'produce'>).acks === 0 && !error) return
  if (ws.readyState !== ws.OPEN) return
  const envelope =
    error === null
      ? { id: request.id, error, body }
      : { id: request.id, error, ...(message !== undefined && { message }), body: null }
  const frame = sendBuffers.pack((target) => encodeResponse(envelope, request.api, undefined, target))
  ws.send(frame.bytes, frame.written)
  if (requestChannel.hasSubscribers)
    requestChannel.publish({ event: 'answered', port: clientPort, id: request.id, api: request.api })
}
