/**
 * A network in one process, for tests and deterministic simulation: the same Transport interface,
 * no sockets, no timers unless asked for. Time is the network's own (`nowMs`), moved by the caller.
 *
 * A step is the network's "turn of the event loop": what each node sent since the last step
 * becomes one frame per (from, to) pair (as WsTransport frames one turn's messages), the hook
 * decides each frame's fate (deliver, drop, or delay), and frames due by `nowMs` are delivered in
 * the order they were sent. Replies sent by handlers during a step leave in the next step. With
 * `codec` (the default) every frame is encoded and decoded by @cairn/protocol, so a simulation
 * exercises the same validation as the wire and no object is shared between nodes.
 */
import {
  decodeFrame,
  defaultFrameLimits,
  encodeFrame,
  type FrameLimits,
  validateMessageFields,
} from '@cairn/protocol'
import type { NodeId, RaftMessage } from '@cairn/raft'
import { defaultTransportLimits } from './limits.js'
import { PeerQueue } from './peer-queue.js'
import {
  emptyPeerStats,
  type MessageHandler,
  type PeerDownHandler,
  type PeerStats,
  type Transport,
  type TransportStats,
} from './transport.js'

/** What the hook decides for a frame: deliver at once, lose it, or deliver it `delayMs` later. */
export type FrameFate = 'deliver' | 'drop' | { delayMs: number }

export interface FrameInFlight {
  from: NodeId
  to: NodeId
  messages: readonly RaftMessage[]
  /** The encoded frame, when the network runs the codec. */
  bytes?: Uint8Array
}

export interface InMemoryNetworkOptions {
  /** Encode and decode every frame (default true). Off: messages are handed over as objects. */
  codec?: boolean
  /** Decides each frame's fate; draw from a seeded generator to keep runs reproducible. */
  hook?: (frame: FrameInFlight, nowMs: number) => FrameFate
  /** Deliver on its own: a step at the end of each turn, and timers for delayed frames (real time). */
  auto?: boolean
  /** Per-peer queue bounds, as WsTransport's. */
  queueBytesMax?: number
  queueMessagesMax?: number
  frameBytesMax?: number
}

interface Pending {
  frame: FrameInFlight
  deliverAtMs: number
  seq: number
}

export interface NetworkStats {
  framesDelivered: number
  droppedByHook: number
  droppedByCut: number
  droppedNoReceiver: number
  inFlight: number
}

/** Bound on steps in one advance()/runUntilIdle(): a simulation that never settles is a bug to report. */
export const stepsPerRunMax = 100_000

export class InMemoryNetwork {
  private virtualNowMs = 0
  private readonly startedAtMs = performance.now()
  private readonly nodes = new Map<NodeId, InMemoryTransport>()
  private readonly inFlight: Pending[] = []
  private readonly cuts = new Set<string>()
  private seq = 0
  private stepScheduled = false
  private timer: NodeJS.Timeout | undefined
  readonly options: Readonly<InMemoryNetworkOptions>
  private readonly counters = { framesDelivered: 0, droppedByHook: 0, droppedByCut: 0, droppedNoReceiver: 0 }

  constructor(options: InMemoryNetworkOptions = {}) {
    this.options = { codec: true, ...options }
  }

  get nowMs(): number {
    return this.options.auto ? performance.now() - this.startedAtMs : this.virtualNowMs
  }

  /** A transport for `nodeId`, which can reach every other node that joined. */
  join(nodeId: NodeId): InMemoryTransport {
    if (this.nodes.has(nodeId)) throw new Error(`node ${nodeId} already joined`)
    const transport = new InMemoryTransport(nodeId, this)
    this.nodes.set(nodeId, transport)
    return transport
  }

  /** @internal */
  left(nodeId: NodeId): void {
    this.nodes.delete(nodeId)
    // As a closed connection tells a real node at once.
    for (const other of this.nodes.values()) other.peerLeft(nodeId)
  }

  /** @internal */
  has(nodeId: NodeId): boolean {
    return this.nodes.has(nodeId)
  }

  /** Lose frames from `from` to `to` (one direction) until healed; frames in flight are lost too. */
  cut(from: NodeId, to: NodeId): void {
    this.cuts.add(`${from}>${to}`)
  }

  heal(from: NodeId, to: NodeId): void {
    this.cuts.delete(`${from}>${to}`)
  }

  /** Cut every link to and from `node`. */
  isolate(node: NodeId): void {
    for (const other of this.nodes.keys()) {
      if (other === node) continue
      this.cut(node, other)
      this.cut(other, node)
    }
  }

  healAll(): void {
    this.cuts.clear()
  }

  /** @internal Called by a transport that has something to send. */
  wake(): void {
    if (!this.options.auto || this.stepScheduled) return
    this.stepScheduled = true
    setImmediate(() => {
      this.stepScheduled = false
      this.step()
    })
  }

  /** @internal A frame leaves a node: the hook decides, then it waits for its time. */
  dispatch(frame: FrameInFlight): void {
    const fate = this.options.hook?.(frame, this.nowMs) ?? 'deliver'
    if (fate === 'drop') {
      this.counters.droppedByHook++
      return
    }
    const delayMs = fate === 'deliver' ? 0 : Math.max(0, fate.delayMs)
    const pending = { frame, deliverAtMs: this.nowMs + delayMs, seq: this.seq++ }
    // Keep inFlight sorted by (deliverAtMs, seq): insert after everything due no later.
    let lo = 0
    let hi = this.inFlight.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.inFlight[mid]!.deliverAtMs <= pending.deliverAtMs) lo = mid + 1
      else hi = mid
    }
    this.inFlight.splice(lo, 0, pending)
  }

  /**
   * One turn: every node's queued messages become frames, then the frames due by now (those just
   * framed with no delay included) are delivered; what handlers send meanwhile waits for the next
   * step. Returns how many frames were delivered.
   */
  step(): number {
    for (const node of this.nodes.values()) node.flush()
    let due = 0
    while (due < this.inFlight.length && this.inFlight[due]!.deliverAtMs <= this.nowMs) due++
    const batch = this.inFlight.splice(0, due)
    for (const pending of batch) this.deliver(pending.frame)
    this.armTimer()
    return batch.length
  }

  private deliver(frame: FrameInFlight): void {
    const receiver = this.nodes.get(frame.to)
    if (!receiver) {
      this.counters.droppedNoReceiver++
      return
    }
    if (this.cuts.has(`${frame.from}>${frame.to}`)) {
      this.counters.droppedByCut++
      return
    }
    this.counters.framesDelivered++
    receiver.receive(frame)
  }

  /** In auto mode, wake up when the earliest delayed frame falls due. */
  private armTimer(): void {
    if (!this.options.auto || this.timer || this.inFlight.length === 0) return
    const waitMs = Math.max(0, this.inFlight[0]!.deliverAtMs - this.nowMs)
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.step()
    }, waitMs)
  }

  /** Move virtual time forward by `ms`, stepping until nothing more is due (manual mode). */
  advance(ms: number): void {
    if (this.options.auto) throw new Error('advance() is for manual mode; auto mode follows real time')
    for (const node of this.nodes.values()) node.flush() // what was sent before now leaves now
    this.virtualNowMs += ms
    this.settle()
  }

  /** Step, jumping time to the next delayed frame when nothing is due, until nothing is in flight. */
  runUntilIdle(): void {
    if (this.options.auto) throw new Error('runUntilIdle() is for manual mode')
    for (let steps = 0; ; steps++) {
      if (steps >= stepsPerRunMax) throw new Error(`network did not settle within ${stepsPerRunMax} steps`)
      this.settle()
      const next = this.inFlight[0]
      if (!next) return
      this.virtualNowMs = Math.max(this.virtualNowMs, next.deliverAtMs)
    }
  }

  private settle(): void {
    for (let steps = 0; ; steps++) {
      if (steps >= stepsPerRunMax) throw new Error(`network did not settle within ${stepsPerRunMax} steps`)
      const delivered = this.step()
      if (delivered === 0 && !this.anyQueued()) return
    }
  }

  private anyQueued(): boolean {
    for (const node of this.nodes.values()) if (node.queued > 0) return true
    return false
  }

  stats(): NetworkStats {
    return { ...this.counters, inFlight: this.inFlight.length }
  }

  /** Stop timers (auto mode) and drop what is in flight. */
  close(): void {
    clearTimeout(this.timer)
    this.inFlight.length = 0
  }
}

interface PeerCounters {
  framesSent: number
  messagesSent: number
  bytesSent: number
  framesReceived: number
  messagesReceived: number
  bytesReceived: number
}

export class InMemoryTransport implements Transport {
  private readonly handlers = new Set<MessageHandler>()
  private readonly downHandlers = new Set<PeerDownHandler>()
  private readonly queues = new Map<NodeId, PeerQueue>()
  private readonly counters = new Map<NodeId, PeerCounters>()
  private readonly frameLimits: FrameLimits
  private closed = false
  private droppedInvalid = 0
  private droppedUnknownPeer = 0

  /** Use {@link InMemoryNetwork.join}. */
  constructor(
    readonly nodeId: NodeId,
    private readonly network: InMemoryNetwork,
  ) {
    this.frameLimits = {
      ...defaultFrameLimits,
      frameBytesMax: network.options.frameBytesMax ?? defaultTransportLimits.frameBytesMax,
    }
  }

  /** Messages queued and not yet framed. */
  get queued(): number {
    let n = 0
    for (const queue of this.queues.values()) n += queue.length
    return n
  }

  send(messages: readonly RaftMessage[]): void {
    if (this.closed) return
    for (const message of messages) {
      if (message.to === this.nodeId || !this.network.has(message.to)) {
        this.droppedUnknownPeer++
        continue
      }
      if (message.from !== this.nodeId || !validateMessageFields(message, this.frameLimits).ok) {
        this.droppedInvalid++
        continue
      }
      this.queueFor(message.to).push(message, this.network.nowMs)
    }
    this.network.wake()
  }

  private queueFor(peer: NodeId): PeerQueue {
    let queue = this.queues.get(peer)
    if (!queue) {
      const { queueBytesMax, queueMessagesMax, frameBytesMax } = {
        ...defaultTransportLimits,
        ...this.network.options,
      }
      // Heartbeat responses do not linger here: the caller's steps are the only clock.
      queue = new PeerQueue(
        { queueBytesMax, queueMessagesMax, frameBytesMax, heartbeatResponseLingerMs: 0 },
        this.frameLimits,
      )
      this.queues.set(peer, queue)
    }
    return queue
  }

  private countersFor(peer: NodeId): PeerCounters {
    let c = this.counters.get(peer)
    if (!c) {
      c = {
        framesSent: 0,
        messagesSent: 0,
        bytesSent: 0,
        framesReceived: 0,
        messagesReceived: 0,
        bytesReceived: 0,
      }
      this.counters.set(peer, c)
    }
    return c
  }

  /** Hand what is queued to the network now, one frame per peer (more if over frameBytesMax). */
  flush(): void {
    for (const [peer, queue] of this.queues) {
      while (queue.length > 0) {
        const messages = queue.takeFrame()
        const bytes = this.network.options.codec
          ? encodeFrame({ from: this.nodeId, to: peer, messages })
          : undefined
        const c = this.countersFor(peer)
        c.framesSent++
        c.messagesSent += messages.length
        c.bytesSent += bytes?.length ?? 0
        this.network.dispatch({ from: this.nodeId, to: peer, messages, ...(bytes ? { bytes } : {}) })
      }
    }
  }

  /** @internal Called by the network. */
  receive(frame: FrameInFlight): void {
    let messages = frame.messages as RaftMessage[]
    if (frame.bytes) {
      const decoded = decodeFrame(frame.bytes, this.frameLimits)
      if (!decoded.ok) throw new Error(`in-memory frame failed to decode: ${decoded.reason}`)
      messages = decoded.value.messages
    }
    const c = this.countersFor(frame.from)
    c.framesReceived++
    c.messagesReceived += messages.length
    c.bytesReceived += frame.bytes?.length ?? 0
    for (const handler of this.handlers) handler(frame.from, messages)
  }

  onMessages(handler: MessageHandler): () => void {
    this.handlers.add(handler)
    return () => this.handlers.delete(handler)
  }

  onPeerDown(handler: PeerDownHandler): () => void {
    this.downHandlers.add(handler)
    return () => this.downHandlers.delete(handler)
  }

  /** @internal Called by the network when `peer` leaves it (its transport closed). */
  peerLeft(peer: NodeId): void {
    for (const handler of this.downHandlers) handler(peer, 'left the network')
  }

  stats(): TransportStats {
    const peers: PeerStats[] = []
    const ids = new Set([...this.queues.keys(), ...this.counters.keys()])
    for (const peer of [...ids].sort((a, b) => a - b)) {
      const queue = this.queues.get(peer)
      peers.push({
        ...emptyPeerStats(peer),
        state: this.closed ? 'closed' : 'open',
        ...this.counters.get(peer),
        queueMessages: queue?.length ?? 0,
        queueBytes: queue?.bytes ?? 0,
        dropped: { ...(queue?.drops ?? { heartbeats: 0, replication: 0, oversize: 0 }) },
      })
    }
    return {
      nodeId: this.nodeId,
      peers,
      handshakesRefused: 0,
      connectionsClosedBadInput: 0,
      droppedInvalid: this.droppedInvalid,
      droppedUnknownPeer: this.droppedUnknownPeer,
    }
  }

  /** Leave the network: frames in flight to this node are lost. */
  async close(): Promise<void> {
    this.closed = true
    this.handlers.clear()
    this.downHandlers.clear()
    this.queues.clear()
    this.network.left(this.nodeId)
  }
}
