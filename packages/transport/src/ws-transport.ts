/**
 * Cairn's node-to-node transport over WebSocket. Each node dials every peer and sends only on the
 * connection it dialed; what it accepts it only reads. See auth.ts for the handshake, outbound.ts
 * for queueing, backpressure and reconnects, inbound.ts for what is accepted.
 */
import { performance } from 'node:perf_hooks'
import { defaultFrameLimits, type FrameLimits, validateMessageFields } from '@cairn/protocol'
import type { NodeId, RaftMessage } from '@cairn/raft'
import { secretBytes } from './auth.js'
import { InboundServer } from './inbound.js'
import { checkLimits, defaultTransportLimits, type TransportLimits } from './limits.js'
import { consoleLogger, type Logger } from './logger.js'
import { type LinkContext, OutboundLink, type PeerAddress } from './outbound.js'
import {
  emptyPeerStats,
  type MessageHandler,
  type PeerDownHandler,
  type PeerStats,
  type Transport,
  type TransportStats,
} from './transport.js'

export interface WsTransportOptions extends Partial<TransportLimits> {
  nodeId: NodeId
  /** Where to accept peers' connections; port 0 picks a free port (see `address()`). */
  listen: PeerAddress
  /** Every other node of the cluster, by id. */
  peers: ReadonlyMap<NodeId, PeerAddress>
  /** Shared by all nodes of the cluster; at least 16 bytes. */
  secret: string | Uint8Array
  logger?: Logger
  /** Source of reconnect jitter in [0, 1); pass `seededRandom(seed)` for reproducible runs. */
  random?: () => number
}

interface ReceiveCounters {
  framesReceived: number
  messagesReceived: number
  bytesReceived: number
}

export class WsTransport implements Transport {
  readonly nodeId: NodeId
  private readonly frameLimits: FrameLimits
  private readonly logger: Logger
  private readonly links = new Map<NodeId, OutboundLink>()
  private readonly received = new Map<NodeId, ReceiveCounters>()
  private readonly handlers = new Set<MessageHandler>()
  private readonly downHandlers = new Set<PeerDownHandler>()
  /** Peers whose report waits for their connection to us to close (see {@link peerDown}). */
  private readonly pendingDown = new Map<NodeId, { reason: string; timer: NodeJS.Timeout }>()
  private readonly server: InboundServer
  private readonly linkContext: LinkContext
  private listening: PeerAddress | undefined
  private closing: Promise<void> | undefined
  private droppedInvalid = 0
  private droppedUnknownPeer = 0

  /** Listen, then dial every peer. Resolves once listening; connections come up in the background. */
  static async start(options: WsTransportOptions): Promise<WsTransport> {
    const transport = new WsTransport(options)
    await transport.listen(options.listen)
    for (const [peer, address] of options.peers) transport.setPeer(peer, address)
    return transport
  }

  private constructor(options: WsTransportOptions) {
    if (!Number.isSafeInteger(options.nodeId) || options.nodeId < 1)
      throw new RangeError('nodeId must be positive')
    const limits: TransportLimits = { ...defaultTransportLimits }
    for (const key of Object.keys(defaultTransportLimits) as (keyof TransportLimits)[]) {
      const value = options[key]
      if (value !== undefined) limits[key] = value
    }
    checkLimits(limits)
    this.nodeId = options.nodeId
    this.frameLimits = { ...defaultFrameLimits, frameBytesMax: limits.frameBytesMax }
    this.logger = options.logger ?? consoleLogger
    const secret = secretBytes(options.secret)
    const nowMs = () => performance.now()
    this.linkContext = {
      self: this.nodeId,
      secret,
      limits,
      frameLimits: this.frameLimits,
      logger: this.logger,
      random: options.random ?? Math.random,
      nowMs,
      peerDown: (peer, reason, closed) => this.peerDown(peer, reason, closed),
    }
    this.server = new InboundServer({
      self: this.nodeId,
      secret,
      limits,
      frameLimits: this.frameLimits,
      logger: this.logger,
      nowMs,
      isPeer: (id) => this.links.has(id),
      deliver: (from, messages, bytes) => this.deliver(from, messages, bytes),
      // A peer that dials us is up: our link to it need not wait out its redial backoff.
      accepted: (from) => this.links.get(from)?.peerIsUp(),
      closed: (from) => this.reportPendingDown(from),
    })
  }

  private async listen(address: PeerAddress): Promise<void> {
    const bound = await this.server.listen(address.host, address.port)
    this.listening = { host: address.host, port: bound.port }
  }

  /** Where this node accepts connections (with the real port when started on port 0). */
  address(): PeerAddress {
    if (!this.listening) throw new Error('not listening')
    return { ...this.listening }
  }

  /** Add a peer, or move it to a new address. */
  setPeer(peer: NodeId, address: PeerAddress): void {
    if (this.closing) return
    if (peer === this.nodeId || !Number.isSafeInteger(peer) || peer < 1)
      throw new RangeError(`invalid peer id ${peer}`)
    const link = this.links.get(peer)
    if (link) {
      link.setAddress(address)
      return
    }
    const created = new OutboundLink(this.linkContext, peer, address)
    this.links.set(peer, created)
    created.start()
  }

  /** Forget a peer: its queue is dropped and both its connections are closed. */
  async removePeer(peer: NodeId): Promise<void> {
    const link = this.links.get(peer)
    this.links.delete(peer)
    this.server.disconnect(peer)
    await link?.close()
  }

  send(messages: readonly RaftMessage[]): void {
    for (const message of messages) {
      const link = this.links.get(message.to)
      if (!link) {
        this.droppedUnknownPeer++
        continue
      }
      // Checked on the way out too: a bad value from our own Raft would otherwise get the
      // connection closed by the peer, and every message queued behind it lost with it.
      // (Extra keys are harmless here: the encoder writes the schema's fields only.)
      const checked = validateMessageFields(message, this.frameLimits)
      if (!checked.ok || message.from !== this.nodeId) {
        this.droppedInvalid++
        this.logger.error('dropped an invalid outgoing message', {
          reason: checked.ok ? `from ${message.from} is not this node` : checked.reason,
        })
        continue
      }
      link.enqueue(message)
    }
  }

  flush(): void {
    for (const link of this.links.values()) link.flush()
  }

  onMessages(handler: MessageHandler): () => void {
    this.handlers.add(handler)
    return () => this.handlers.delete(handler)
  }

  onPeerDown(handler: PeerDownHandler): () => void {
    this.downHandlers.add(handler)
    return () => this.downHandlers.delete(handler)
  }

  /**
   * A peer that dies closes both its connections at once, and the one we dialed may be seen closed
   * before the last frames it sent on the other are read. Delivered after the report, they would
   * tell Raft that a dead leader is alive again, and its followers would wait out a full election
   * timeout instead of campaigning at once. So while the peer's connection to us is open, the
   * report waits for it to close (its frames come first), for peerDownInboundWaitMs at most. If
   * the bound runs out first, that connection is cut with the report: a frame read from it after
   * the report would do the same harm (seen in `cairn bench failover`: a dead leader's frames read
   * 70 ms after the report put a survivor back in its lease, and an election waited 1.8 s).
   */
  private peerDown(peer: NodeId, reason: string, closed: boolean): void {
    if (!closed || !this.server.isConnected(peer)) {
      this.reportDown(peer, reason)
      return
    }
    if (this.pendingDown.has(peer)) return
    const timer = setTimeout(() => {
      this.server.cut(peer)
      this.reportPendingDown(peer)
    }, this.linkContext.limits.peerDownInboundWaitMs)
    this.pendingDown.set(peer, { reason, timer })
  }

  private reportPendingDown(peer: NodeId): void {
    const pending = this.pendingDown.get(peer)
    if (!pending) return
    clearTimeout(pending.timer)
    this.pendingDown.delete(peer)
    this.reportDown(peer, pending.reason)
  }

  private reportDown(peer: NodeId, reason: string): void {
    this.logger.warn('peer down', { peer, reason })
    for (const handler of this.downHandlers) handler(peer, reason)
  }

  private deliver(from: NodeId, messages: RaftMessage[], bytes: number): void {
    let counters = this.received.get(from)
    if (!counters) {
      counters = { framesReceived: 0, messagesReceived: 0, bytesReceived: 0 }
      this.received.set(from, counters)
    }
    counters.framesReceived++
    counters.messagesReceived += messages.length
    counters.bytesReceived += bytes
    for (const handler of this.handlers) {
      try {
        handler(from, messages)
      } catch (error) {
        // A handler's bug is not the peer's fault: keep the connection, say what happened.
        this.logger.error('message handler threw', { from, error: String(error) })
      }
    }
  }

  stats(): TransportStats {
    const peers: PeerStats[] = []
    for (const [peer, link] of this.links) {
      peers.push({ ...emptyPeerStats(peer), ...link.stats(), ...this.received.get(peer) })
    }
    return {
      nodeId: this.nodeId,
      peers,
      handshakesRefused: this.server.handshakesRefused,
      connectionsClosedBadInput: this.server.connectionsClosedBadInput,
      droppedInvalid: this.droppedInvalid,
      droppedUnknownPeer: this.droppedUnknownPeer,
    }
  }

  /** Close every connection and stop listening. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.handlers.clear()
      for (const { timer } of this.pendingDown.values()) clearTimeout(timer)
      this.pendingDown.clear()
      await Promise.all([...this.links.values()].map((link) => link.close()))
      await this.server.close()
    })()
    return this.closing
  }
}
