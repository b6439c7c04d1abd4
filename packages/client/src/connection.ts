/**
 * One WebSocket connection to one Cairn node: requests go out as msgpackr envelopes with an id,
 * responses are matched by id and checked field by field (@cairn/protocol) before they are
 * believed. Bounded: requests in flight per connection, and each request's time.
 */
import { channel } from 'node:diagnostics_channel'
import {
  type ApiName,
  type ApiRequest,
  type ApiResponse,
  decodeResponseById,
  encodeRequest,
  messageBytes,
  SendBuffers,
} from '@cairn/protocol'
import WebSocket from 'ws'
import { CairnError, NetworkError } from './errors.js'

/** Kafka's request.timeout.ms default. */
export const REQUEST_TIMEOUT_MS = 30_000
export const REQUESTS_IN_FLIGHT_MAX = 1024
export const CONNECT_TIMEOUT_MS = 10_000
export const RESPONSE_BYTES_MAX = 64 << 20

/**
 * Masking protects browsers' intermediaries from cache poisoning; this client is no browser and
 * sends only its own encoded requests. An all-zero mask is still a valid mask, and ws then skips
 * the XOR and the copy of every frame on this end and the unmasking pass on the node's (as the
 * nodes' own links do, see @cairn/transport).
 */
function zeroMask(mask: Uint8Array): void {
  mask.fill(0)
}

/**
 * Each request as it is sent and as its answer arrives, for following one request through every
 * process it touches (`scripts/trace-hops.mjs`): `{ event: 'sent' | 'answered', port, id, api }`,
 * `port` being this end's local port, which the node sees as the client's. Nothing is built unless
 * the channel has a subscriber.
 */
const requestChannel = channel('cairn:client:request')

/** The node answered the whole request with an error (envelope-level). */
export class RequestError extends CairnError {}

interface Pending {
  api: ApiName
  resolve: (body: unknown) => void
  reject: (err: Error) => void
  timer: NodeJS.Timeout
}

export class Connection {
  private nextId = 1
  private readonly pending = new Map<number, Pending>()
  /** Requests are packed into these and handed back once written: no new buffer per produce. */
  private readonly sendBuffers = new SendBuffers()
  private closedError: Error | null = null

  private constructor(
    readonly address: string,
    private readonly ws: WebSocket,
    private readonly requestTimeoutMs: number,
    /** This end's port: with the id, what names a request on the node too. */
    private readonly localPort: number,
  ) {
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary))
    ws.on('close', (code, reason) =>
      this.fail(
        new NetworkError(`connection to ${address} closed (${code}${reason.length ? `: ${reason}` : ''})`),
      ),
    )
    ws.on('error', (err) => this.fail(new NetworkError(`connection to ${address}: ${err.message}`)))
  }

  static open(address: string, requestTimeoutMs = REQUEST_TIMEOUT_MS): Promise<Connection> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(`ws://${address}/`, {
        perMessageDeflate: false,
        maxPayload: RESPONSE_BYTES_MAX,
        generateMask: zeroMask,
      })
      let localPort = 0
      ws.once('upgrade', (response) => {
        localPort = response.socket.localPort ?? 0
      })
      const timer = setTimeout(() => {
        ws.terminate()
        reject(new NetworkError(`could not connect to ${address} within ${CONNECT_TIMEOUT_MS} ms`))
      }, CONNECT_TIMEOUT_MS)
      ws.once('open', () => {
        clearTimeout(timer)
        resolve(new Connection(address, ws, requestTimeoutMs, localPort))
      })
      ws.once('error', (err) => {
        clearTimeout(timer)
        reject(new NetworkError(`could not connect to ${address}: ${err.message}`))
      })
    })
  }

  get open(): boolean {
    return this.closedError === null && this.ws.readyState === WebSocket.OPEN
  }

  /** `timeoutMs`: this request's bound, when it may wait longer than others (a JoinGroup waits for the group). */
  request<A extends ApiName>(
    api: A,
    body: ApiRequest<A>,
    timeoutMs = this.requestTimeoutMs,
  ): Promise<ApiResponse<A>> {
    if (this.closedError) return Promise.reject(this.closedError)
    if (this.pending.size >= REQUESTS_IN_FLIGHT_MAX) {
      return Promise.reject(
        new NetworkError(`more than ${REQUESTS_IN_FLIGHT_MAX} requests in flight to ${this.address}`),
      )
    }
    const id = this.nextId
    this.nextId = this.nextId >= 0xffff_fffe ? 1 : this.nextId + 1
    return new Promise((resolve, reject) => {
      // First, so a request that does not encode leaves no timer and no pending entry behind.
      const frame = this.sendBuffers.pack((target) => encodeRequest({ id, api, body }, undefined, target))
      const timer = setTimeout(() => {
        this.pending.delete(id)
        reject(
          new CairnError('REQUEST_TIMED_OUT', `${api} to ${this.address}: no answer within ${timeoutMs} ms`),
        )
      }, timeoutMs)
      this.pending.set(id, { api, resolve: resolve as (b: unknown) => void, reject, timer })
      if (requestChannel.hasSubscribers)
        requestChannel.publish({ event: 'sent', port: this.localPort, id, api })
      this.ws.send(frame.bytes, (err) => {
        frame.written()
        if (err) this.settle(id, new NetworkError(`${api} to ${this.address}: ${err.message}`))
      })
    })
  }

  /** Sends without waiting for an answer (produce with acks=0). */
  send<A extends ApiName>(api: A, body: ApiRequest<A>): void {
    if (this.closedError) throw this.closedError
    const id = this.nextId
    this.nextId = this.nextId >= 0xffff_fffe ? 1 : this.nextId + 1
    const frame = this.sendBuffers.pack((target) => encodeRequest({ id, api, body }, undefined, target))
    this.ws.send(frame.bytes, frame.written)
  }

  close(): void {
    this.fail(new NetworkError(`connection to ${this.address} closed by the client`))
    this.ws.close()
  }

  private onMessage(data: WebSocket.RawData, isBinary: boolean): void {
    if (!isBinary) return this.protocolError('a text frame')
    const bytes = messageBytes(data)
    const decoded = decodeResponseById(bytes, (id) => this.pending.get(id)?.api)
    if (!decoded.ok) return this.protocolError(decoded.reason)
    const envelope = decoded.value
    if (!envelope) return // a late answer to a request that timed out
    const p = this.pending.get(envelope.id)!
    if (requestChannel.hasSubscribers)
      requestChannel.publish({ event: 'answered', port: this.localPort, id: envelope.id, api: p.api })
    if (envelope.error) {
      this.settle(
        envelope.id,
        new RequestError(
          envelope.error,
          `${p.api} to ${this.address}: ${envelope.error}${envelope.message ? `: ${envelope.message}` : ''}`,
        ),
      )
    } else {
      this.settle(envelope.id, undefined, envelope.body)
    }
  }

  private settle(id: number, err?: Error, body?: unknown): void {
    const p = this.pending.get(id)
    if (!p) return
    this.pending.delete(id)
    clearTimeout(p.timer)
    if (err) p.reject(err)
    else p.resolve(body)
  }

  private protocolError(what: string): void {
    this.fail(new NetworkError(`${this.address} sent a bad response (${what})`))
    this.ws.terminate()
  }

  private fail(err: Error): void {
    if (!this.closedError) this.closedError = err
    for (const id of [...this.pending.keys()]) this.settle(id, err)
  }
}
