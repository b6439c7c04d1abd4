/**
 * The server side: answers challenges, authenticates upgrades in the http server's `upgrade`
 * handler (before a WebSocket exists), and receives frames on accepted connections, which are
 * receive-only. A connection that sends anything but valid binary frames from the node it
 * authenticated as is closed with the reason logged; the others carry on.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import type { Duplex } from 'node:stream'
import { decodeFrame, type Frame, type FrameLimits, fail } from '@cairn/protocol'
import type { NodeId, RaftMessage } from '@cairn/raft'
import { type WebSocket, WebSocketServer } from 'ws'
import { acceptProof, authHeaders, ChallengeCache, challengePath, raftPath, verifyDial } from './auth.js'
import type { TransportLimits } from './limits.js'
import type { Logger } from './logger.js'

export interface InboundContext {
  self: NodeId
  secret: Buffer
  limits: TransportLimits
  frameLimits: FrameLimits
  logger: Logger
  nowMs: () => number
  isPeer: (id: NodeId) => boolean
  deliver: (from: NodeId, messages: RaftMessage[], frameBytes: number) => void
  /** Peer `from` has just connected and proved the secret: it is up. */
  accepted: (from: NodeId) => void
  /** Peer `from`'s connection to us closed (not replaced by a newer one), after its last frame. */
  closed: (from: NodeId) => void
}

const closeCode = { policyViolation: 1008, superseded: 1000, goingAway: 1001 } as const

/** One accepted, authenticated connection: frames from `peer`, and nothing goes back but pongs. */
class InboundConnection {
  lastSeenMs: number
  private closing = false

  constructor(
    readonly ws: WebSocket,
    readonly peer: NodeId,
    private readonly server: InboundServer,
    private readonly ctx: InboundContext,
  ) {
    this.lastSeenMs = ctx.nowMs()
    ws.on('message', (data, isBinary) => this.received(data as Buffer, isBinary))
    ws.on('ping', () => {
      this.lastSeenMs = ctx.nowMs()
    })
    // ws reports bad WebSocket framing (oversize payload, bad opcode, unmasked frame) as an
    // error and closes the connection itself; we only say why.
    ws.on('error', (error) => this.reject(error.message, false))
    ws.on('close', () => server.removed(this))
  }

  private received(data: Buffer, isBinary: boolean): void {
    if (this.closing) return
    this.lastSeenMs = this.ctx.nowMs()
    const frame = isBinary ? decodeFrame(data, this.ctx.frameLimits) : fail<Frame>('text frame')
    const reason = frame.ok ? this.misaddressed(frame.value) : frame.reason
    if (reason !== undefined) {
      this.reject(reason)
      return
    }
    const { from, messages } = (frame as { value: Frame }).value
    this.ctx.deliver(from, messages, data.length)
  }

  /** A frame must come from the node that authenticated on this connection, and be for us. */
  private misaddressed(frame: Frame): string | undefined {
    if (frame.from !== this.peer)
      return `frame claims node ${frame.from}, connection authenticated as node ${this.peer}`
    if (frame.to !== this.ctx.self) return `frame addressed to node ${frame.to}`
    return undefined
  }

  /** Close for bad input: say why in the close frame and the log, cut the socket after a grace. */
  reject(reason: string, sendClose = true): void {
    if (this.closing) return
    this.closing = true
    this.server.connectionsClosedBadInput++
    this.ctx.logger.warn('closing connection for bad input', { peer: this.peer, reason })
    if (sendClose) this.ws.close(closeCode.policyViolation, reason.slice(0, 120))
    setTimeout(() => this.ws.terminate(), this.ctx.limits.closeGraceMs).unref()
  }

  close(code: number, reason: string): void {
    this.closing = true
    this.ws.close(code, reason)
    setTimeout(() => this.ws.terminate(), this.ctx.limits.closeGraceMs).unref()
  }

  /** Drop the connection at once: no frame of it, read or unread, is delivered any more. */
  cut(): void {
    this.closing = true
    this.ws.terminate()
  }
}

export class InboundServer {
  private readonly http: Server
  private readonly wss: WebSocketServer
  private readonly challenges: ChallengeCache
  private readonly connections = new Map<NodeId, InboundConnection>()
  private readonly acceptProofs = new WeakMap<IncomingMessage, string>()
  private readonly idleTimer: NodeJS.Timeout
  handshakesRefused = 0
  connectionsClosedBadInput = 0

  constructor(private readonly ctx: InboundContext) {
    const { limits } = ctx
    this.challenges = new ChallengeCache(limits.handshakeTimeoutMs, limits.challengesMax)
    this.http = createServer({
      requestTimeout: limits.handshakeTimeoutMs,
      headersTimeout: limits.handshakeTimeoutMs,
      maxHeaderSize: 8 * 1024,
    })
    this.http.maxConnections = limits.connectionsMax
    this.http.on('request', (req, res) => {
      if (req.method === 'GET' && req.url === challengePath) {
        res.writeHead(200, {
          [authHeaders.challenge]: this.challenges.issue(ctx.nowMs()),
          'cache-control': 'no-store',
          connection: 'close',
        })
      } else res.writeHead(404, { connection: 'close' })
      res.end()
    })
    this.http.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) =>
      this.upgrade(req, socket, head),
    )
    this.wss = new WebSocketServer({
      noServer: true,
      perMessageDeflate: false,
      maxPayload: limits.frameBytesMax,
      skipUTF8Validation: true,
      clientTracking: false,
    })
    this.wss.on('headers', (headers, req) => {
      const proof = this.acceptProofs.get(req)
      if (proof) headers.push(`${authHeaders.acceptProof}: ${proof}`)
    })
    this.idleTimer = setInterval(() => this.cutIdle(), limits.pingIntervalMs)
    this.idleTimer.unref()
  }

  listen(host: string, port: number): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject)
      this.http.listen(port, host, () => {
        this.http.off('error', reject)
        resolve(this.http.address() as AddressInfo)
      })
    })
  }

  private upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    socket.on('error', () => {}) // a refused or reset socket may error; nothing to do about it
    const remote = `${req.socket.remoteAddress}:${req.socket.remotePort}`
    if (req.url !== raftPath) {
      this.refuse(socket, 404, `unknown path ${req.url?.slice(0, 64)}`, remote)
      return
    }
    const verdict = verifyDial(req.headers, {
      secret: this.ctx.secret,
      self: this.ctx.self,
      isPeer: this.ctx.isPeer,
      challenges: this.challenges,
      nowMs: this.ctx.nowMs(),
    })
    if (typeof verdict === 'string') {
      this.refuse(socket, 401, verdict, remote)
      return
    }
    const { from, claim } = verdict
    this.acceptProofs.set(req, acceptProof(this.ctx.secret, from, claim.to, claim.challenge, claim.nonce))
    this.wss.handleUpgrade(req, socket, head, (ws) => this.accepted(ws, from))
  }

  /** Answer and hang up: no WebSocket is created, no byte after the request headers is read. */
  private refuse(socket: Duplex, status: 401 | 404, reason: string, remote: string): void {
    this.handshakesRefused++
    this.ctx.logger.warn('refused connection', { remote, status, reason })
    const text = status === 401 ? 'Unauthorized' : 'Not Found'
    socket.once('finish', () => socket.destroy())
    socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    setTimeout(() => socket.destroy(), this.ctx.limits.closeGraceMs).unref()
  }

  private accepted(ws: WebSocket, from: NodeId): void {
    const previous = this.connections.get(from)
    this.connections.set(from, new InboundConnection(ws, from, this, this.ctx))
    // A peer that redials (after a restart, or a dead connection it noticed first) replaces its old one.
    previous?.close(closeCode.superseded, 'superseded by a new connection')
    this.ctx.logger.info('accepted connection', { peer: from })
    this.ctx.accepted(from)
  }

  removed(connection: InboundConnection): void {
    if (this.connections.get(connection.peer) !== connection) return
    this.connections.delete(connection.peer)
    this.ctx.closed(connection.peer)
  }

  /**
   * Drops peer `from`'s connection to us, and whatever it sent that is not read yet, without
   * reporting it closed: the peer was reported down already. A peer that is alive dials again.
   */
  cut(from: NodeId): void {
    const connection = this.connections.get(from)
    if (!connection) return
    this.connections.delete(from)
    connection.cut()
  }

  /** Whether peer `from` has a connection to us open now. */
  isConnected(from: NodeId): boolean {
    return this.connections.has(from)
  }

  /** The dialer pings every pingIntervalMs; an accepted connection silent for pingTimeoutMs is dead. */
  private cutIdle(): void {
    const now = this.ctx.nowMs()
    for (const connection of this.connections.values()) {
      if (now - connection.lastSeenMs >= this.ctx.limits.pingTimeoutMs) {
        this.ctx.logger.warn('accepted connection idle; cutting it', { peer: connection.peer })
        connection.ws.terminate()
      }
    }
  }

  /** Drop a peer's accepted connection (it was removed from the cluster). */
  disconnect(peer: NodeId): void {
    this.connections.get(peer)?.close(closeCode.goingAway, 'no longer a peer')
  }

  get connectionCount(): number {
    return this.connections.size
  }

  close(): Promise<void> {
    clearInterval(this.idleTimer)
    for (const connection of this.connections.values()) connection.ws.terminate()
    this.connections.clear()
    return new Promise((resolve) => {
      this.http.close(() => resolve())
      this.http.closeAllConnections()
    })
  }
}
