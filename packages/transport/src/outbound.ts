/**
 * The connection this node dials to one peer, and the only one it sends that peer frames on
 * (connections it accepts are receive-only, so a network fault can cut one direction alone).
 * Owns the peer's queue: frames it at the end of each turn, holds back while the socket's
 * bufferedAmount is above the high watermark, redials with jittered exponential backoff, and
 * declares the connection dead when a ping goes unanswered.
 */
import { request } from 'node:http'
import type { Socket } from 'node:net'
import { encodeFrame, type FrameLimits, SendBuffers } from '@cairn/protocol'
import type { NodeId, RaftMessage } from '@cairn/raft'
import { WebSocket } from 'ws'
import {
  acceptProof,
  authHeaders,
  challengePath,
  dialProof,
  proofsEqual,
  raftPath,
  randomToken,
} from './auth.js'
import { reconnectDelayMs } from './backoff.js'
import { outboundReceiveBytesMax, type TransportLimits } from './limits.js'
import type { Logger } from './logger.js'
import { PeerQueue } from './peer-queue.js'
import type { LinkState, PeerStats } from './transport.js'

export interface PeerAddress {
  host: string
  port: number
}

export interface LinkContext {
  self: NodeId
  secret: Buffer
  limits: TransportLimits
  frameLimits: FrameLimits
  logger: Logger
  random: () => number
  nowMs: () => number
  /** The peer's connection closed (`closed`), or a ping went unanswered for peerDownAfterMs. */
  peerDown: (peer: NodeId, reason: string, closed: boolean) => void
}

/**
 * Masking protects browsers' intermediaries from cache poisoning; it adds nothing between
 * authenticated nodes. An all-zero mask is still a valid mask, and ws skips the XOR for it on
 * both ends, which saves a pass over every byte.
 */
function zeroMask(mask: Uint8Array): void {
  mask.fill(0)
}

/** Fetch a single-use challenge from the peer (step 1 of auth.ts). */
function fetchChallenge(
  address: PeerAddress,
  timeoutMs: number,
): { promise: Promise<string>; abort: () => void } {
  let abort = () => {}
  const promise = new Promise<string>((resolve, reject) => {
    const req = request({
      host: address.host,
      port: address.port,
      path: challengePath,
      method: 'GET',
      agent: false,
    })
    abort = () => req.destroy(new Error('aborted'))
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`no challenge within ${timeoutMs} ms`)))
    req.on('error', reject)
    req.on('response', (res) => {
      res.resume() // no body expected; drain whatever comes
      const challenge = res.headers[authHeaders.challenge]
      if (res.statusCode === 200 && typeof challenge === 'string') resolve(challenge)
      else reject(new Error(`challenge request answered HTTP ${res.statusCode}`))
    })
    req.end()
  })
  return { promise, abort }
}

export class OutboundLink {
  private ws: WebSocket | undefined
  private socket: Socket | undefined
  private corked = false
  private state: LinkState = 'waiting'
  private attempt = 0
  /** Bumped on every dial so callbacks of an abandoned attempt can tell they are stale. */
  private dial = 0
  private abortChallenge: (() => void) | undefined
  private reconnectTimer: NodeJS.Timeout | undefined
  private pingTimer: NodeJS.Timeout | undefined
  private lingerTimer: NodeJS.Timeout | undefined
  private awaitingPongSinceMs: number | undefined
  /** Reported down and not heard from since: report once per outage. */
  private reportedDown = false
  private flushScheduled = false
  /** bufferedAmount reached the high watermark; sending resumes at the low one. */
  private paused = false
  private closed = false
  private lastFailure = ''
  readonly queue: PeerQueue
  /** Frames are packed into these and handed back once written: no new buffer per large frame. */
  private readonly sendBuffers = new SendBuffers()
  private readonly counters = {
    connects: 0,
    disconnects: 0,
    framesSent: 0,
    messagesSent: 0,
    bytesSent: 0,
    sendPauses: 0,
  }

  constructor(
    private readonly ctx: LinkContext,
    readonly peer: NodeId,
    private address: PeerAddress,
  ) {
    this.queue = new PeerQueue(ctx.limits, ctx.frameLimits)
  }

  start(): void {
    this.connect()
  }

  /** Queue a message for this peer; it leaves at the end of the current turn. */
  enqueue(message: RaftMessage): void {
    // Only heartbeat responses wait on the clock (their linger); skip reading it for the rest.
    const nowMs = message.type === 'heartbeatResponse' ? this.ctx.nowMs() : 0
    if (!this.queue.push(message, nowMs)) {
      this.ctx.logger.error('dropped a message larger than a frame', { peer: this.peer, type: message.type })
    }
    if (!this.flushScheduled) {
      this.flushScheduled = true
      setImmediate(this.flushScheduledNow)
    }
  }

  private readonly flushScheduledNow = (): void => {
    this.flushScheduled = false
    this.flush()
  }

  /** Frame and send what is due, until the queue empties or the socket's buffer is full. */
  flush(): void {
    const ws = this.ws
    if (this.state !== 'open' || !ws || this.paused) return
    const now = this.ctx.nowMs()
    while (this.queue.hasDue(now)) {
      if (ws.bufferedAmount >= this.ctx.limits.sendBufferBytesHigh) {
        this.paused = true
        this.counters.sendPauses++
        return
      }
      this.sendFrame(ws, this.queue.takeFrame())
    }
    this.armLinger(now)
  }

  private sendFrame(ws: WebSocket, messages: RaftMessage[]): void {
    const frame = this.sendBuffers.pack((target) =>
      encodeFrame({ from: this.ctx.self, to: this.peer, messages }, target),
    )
    const { bytes } = frame
    if (bytes.length > this.ctx.limits.frameBytesMax) {
      // The size estimates are upper bounds (tested); reaching this is a bug, not a peer's doing.
      this.ctx.logger.error('frame above frameBytesMax dropped', { peer: this.peer, bytes: bytes.length })
      this.queue.drops.oversize += messages.length
      frame.written()
      return
    }
    this.corkForThisTurn()
    // Sending pauses only when bufferedAmount >= high >= low, and it only shrinks between sends,
    // so the last frame sent before a pause left the buffer at or above low: checking at the write
    // of every frame that does so guarantees the pause is lifted when that frame's write completes
    // (writes complete in order). Frames that leave the buffer below low skip the check.
    const mayResume = ws.bufferedAmount + bytes.length >= this.ctx.limits.sendBufferBytesLow
    ws.send(bytes, { binary: true }, () => {
      frame.written()
      if (mayResume) this.written()
    })
    this.counters.framesSent++
    this.counters.messagesSent += messages.length
    this.counters.bytesSent += bytes.length
  }

  /**
   * ws corks and uncorks the socket around each frame, so each frame would cost a write system
   * call. Holding the socket corked until the end of the current turn lets every frame of the turn
   * leave in one writev; the frames stay separate WebSocket messages.
   */
  private corkForThisTurn(): void {
    const socket = this.socket
    if (!socket || this.corked) return
    this.corked = true
    socket.cork()
    process.nextTick(this.uncork, socket)
  }

  private readonly uncork = (socket: Socket): void => {
    this.corked = false
    socket.uncork()
  }

  /** Called as each frame reaches the kernel: resume once the buffer drained to the low watermark. */
  private readonly written = (): void => {
    const ws = this.ws
    if (this.paused && ws && ws.bufferedAmount <= this.ctx.limits.sendBufferBytesLow) {
      this.paused = false
      this.flush()
    }
  }

  /** Heartbeat responses wait for a frame to ride on, but no longer than their linger. */
  private armLinger(now: number): void {
    const dueAt = this.queue.dueAtMs
    if (this.lingerTimer || !Number.isFinite(dueAt)) return
    this.lingerTimer = setTimeout(
      () => {
        this.lingerTimer = undefined
        this.flush()
      },
      Math.max(0, dueAt - now),
    )
  }

  private connect(): void {
    if (this.closed) return
    this.state = 'connecting'
    const dial = ++this.dial
    const { promise, abort } = fetchChallenge(this.address, this.ctx.limits.handshakeTimeoutMs)
    this.abortChallenge = abort
    promise.then(
      (challenge) => {
        this.abortChallenge = undefined
        if (dial === this.dial && !this.closed) this.openSocket(challenge, dial)
      },
      (error: Error) => {
        this.abortChallenge = undefined
        if (dial === this.dial) this.failed(error.message)
      },
    )
  }

  private openSocket(challenge: string, dial: number): void {
    const { self, secret, limits } = this.ctx
    const nonce = randomToken()
    const ws = new WebSocket(`ws://${this.address.host}:${this.address.port}${raftPath}`, {
      headers: {
        [authHeaders.from]: String(self),
        [authHeaders.to]: String(this.peer),
        [authHeaders.challenge]: challenge,
        [authHeaders.nonce]: nonce,
        [authHeaders.proof]: dialProof(secret, self, this.peer, challenge, nonce),
      },
      perMessageDeflate: false,
      maxPayload: outboundReceiveBytesMax,
      handshakeTimeout: limits.handshakeTimeoutMs,
      generateMask: zeroMask,
      skipUTF8Validation: true,
      followRedirects: false,
    })
    this.ws = ws
    const expected = acceptProof(secret, self, this.peer, challenge, nonce)
    ws.on('upgrade', (res) => {
      const proof = res.headers[authHeaders.acceptProof]
      if (typeof proof !== 'string' || !proofsEqual(proof, expected)) {
        this.lastFailure = 'peer did not prove it knows the cluster secret'
        ws.terminate() // before 'open': not one frame is sent
        return
      }
      this.socket = res.socket // the connection's socket, which ws writes to
    })
    ws.on('open', () => this.opened(ws, dial))
    ws.on('message', () => {
      this.ctx.logger.warn('peer sent data on a send-only connection; closing', { peer: this.peer })
      ws.terminate()
    })
    ws.on('pong', () => {
      this.awaitingPongSinceMs = undefined
      this.reportedDown = false
    })
    ws.on('error', (error) => {
      this.lastFailure ||= error.message
    })
    ws.on('close', () => this.closedSocket(ws))
  }

  private opened(ws: WebSocket, dial: number): void {
    if (dial !== this.dial || this.closed) {
      ws.terminate()
      return
    }
    this.state = 'open'
    this.attempt = 0
    this.paused = false
    this.lastFailure = ''
    this.awaitingPongSinceMs = undefined
    this.reportedDown = false
    this.counters.connects++
    this.ctx.logger.info('connected', { peer: this.peer })
    this.pingTimer = setInterval(() => this.ping(ws), this.ctx.limits.pingIntervalMs)
    this.flush()
  }

  private ping(ws: WebSocket): void {
    const now = this.ctx.nowMs()
    if (this.awaitingPongSinceMs === undefined) {
      this.awaitingPongSinceMs = now
      ws.ping()
      return
    }
    const silentMs = now - this.awaitingPongSinceMs
    if (silentMs >= this.ctx.limits.peerDownAfterMs)
      this.reportDown(`no pong for ${Math.round(silentMs)} ms`, false)
    if (silentMs >= this.ctx.limits.pingTimeoutMs) {
      this.lastFailure = `no pong within ${this.ctx.limits.pingTimeoutMs} ms`
      ws.terminate()
    }
  }

  private reportDown(reason: string, closed: boolean): void {
    if (this.reportedDown || this.closed) return
    this.reportedDown = true
    this.ctx.peerDown(this.peer, reason, closed)
  }

  private closedSocket(ws: WebSocket): void {
    if (ws !== this.ws) return
    this.ws = undefined
    this.socket = undefined
    clearInterval(this.pingTimer)
    this.pingTimer = undefined
    const wasOpen = this.state === 'open'
    if (wasOpen) this.counters.disconnects++
    if (this.closed) return
    if (wasOpen) this.reportDown(this.lastFailure || 'connection closed', true)
    this.failed(this.lastFailure || 'connection closed', wasOpen)
  }

  private failed(reason: string, wasOpen = false): void {
    this.lastFailure = ''
    this.state = 'waiting'
    this.paused = false
    const delay = reconnectDelayMs(
      this.attempt++,
      this.ctx.limits.reconnectDelayMsMin,
      this.ctx.limits.reconnectDelayMsMax,
      this.ctx.random,
    )
    const fields = { peer: this.peer, reason, retryInMs: delay }
    if (wasOpen) this.ctx.logger.warn('connection lost', fields)
    else this.ctx.logger.info('dial failed', fields)
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined
      this.connect()
    }, delay)
  }

  /** Point the link at a new address; an open connection is dropped and redialed. */
  setAddress(address: PeerAddress): void {
    if (address.host === this.address.host && address.port === this.address.port) return
    this.address = address
    this.restart('address changed')
  }

  private restart(reason: string): void {
    this.lastFailure = reason
    if (this.ws) this.ws.terminate()
    else if (this.abortChallenge) this.abortChallenge()
    else this.dialNow()
  }

  /**
   * The peer has just connected to this node, so it is up (a restart): a link waiting out its
   * redial backoff — which grows to seconds while the peer is down — dials now. Without this, a
   * restarted node hears from its peers late, and a leader elected meanwhile cannot reach it.
   */
  peerIsUp(): void {
    if (!this.closed) this.dialNow()
  }

  private dialNow(): void {
    if (!this.reconnectTimer) return
    clearTimeout(this.reconnectTimer)
    this.reconnectTimer = undefined
    this.attempt = 0
    this.connect()
  }

  close(): Promise<void> {
    this.closed = true
    this.state = 'closed'
    this.dial++
    this.abortChallenge?.()
    clearTimeout(this.reconnectTimer)
    clearTimeout(this.lingerTimer)
    clearInterval(this.pingTimer)
    this.queue.clear()
    const ws = this.ws
    if (!ws) return Promise.resolve()
    return new Promise((resolve) => {
      const cut = setTimeout(() => ws.terminate(), this.ctx.limits.closeGraceMs)
      ws.once('close', () => {
        clearTimeout(cut)
        resolve()
      })
      ws.close(1001, 'node shutting down')
    })
  }

  stats(): Omit<PeerStats, 'framesReceived' | 'messagesReceived' | 'bytesReceived'> {
    return {
      peer: this.peer,
      state: this.state,
      ...this.counters,
      framesPooled: this.sendBuffers.stats.pooled,
      queueMessages: this.queue.length,
      queueBytes: this.queue.bytes,
      bufferedBytes: this.ws?.bufferedAmount ?? 0,
      dropped: { ...this.queue.drops },
    }
  }
}
