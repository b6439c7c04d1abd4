/**
 * What waits to be sent to one peer, bounded in messages and bytes. When full, the oldest
 * heartbeats go first (the next tick sends fresh ones), then the oldest heartbeat responses, then
 * the oldest replication messages (Raft retransmits what a follower did not acknowledge). Every
 * drop is counted.
 */
import {
  estimateMessageBytes,
  type FrameLimits,
  frameOverheadBytesMax,
  type RaftMessage,
} from '@cairn/protocol'
import { Deque } from './deque.js'

interface Queued {
  message: RaftMessage
  bytes: number
}

export interface QueueDrops {
  /** Heartbeats and heartbeat responses dropped because the queue was full. */
  heartbeats: number
  /** Other messages dropped because the queue was full. */
  replication: number
  /** Messages too large ever to fit in a frame (a Raft size limit above the transport's). */
  oversize: number
}

export interface PeerQueueLimits {
  queueBytesMax: number
  queueMessagesMax: number
  frameBytesMax: number
  heartbeatResponseLingerMs: number
}

type CountLimits = Pick<FrameLimits, 'messagesPerFrameMax' | 'heartbeatsPerFrameMax'>

export class PeerQueue {
  private readonly heartbeats = new Deque<Queued>()
  private readonly responses = new Deque<Queued>()
  private readonly replication = new Deque<Queued>()
  private queuedBytes = 0
  /** When the oldest waiting heartbeat response must leave even if nothing else does. */
  private responsesDueAt = Number.POSITIVE_INFINITY
  readonly drops: QueueDrops = { heartbeats: 0, replication: 0, oversize: 0 }

  constructor(
    private readonly limits: PeerQueueLimits,
    private readonly counts: CountLimits,
  ) {}

  get length(): number {
    return this.heartbeats.length + this.responses.length + this.replication.length
  }

  get bytes(): number {
    return this.queuedBytes
  }

  /** Largest message estimate that fits a frame next to the frame's own fields. */
  get frameBudgetBytes(): number {
    return this.limits.frameBytesMax - frameOverheadBytesMax
  }

  /**
   * Queue a message; false if it can never be sent (larger than a frame or the whole queue).
   * `nowMs` matters only for heartbeat responses, which linger from then.
   */
  push(message: RaftMessage, nowMs: number): boolean {
    const bytes = estimateMessageBytes(message)
    if (bytes > this.frameBudgetBytes || bytes > this.limits.queueBytesMax) {
      this.drops.oversize++
      return false
    }
    const item = { message, bytes }
    if (message.type === 'heartbeat') this.heartbeats.push(item)
    else if (message.type === 'heartbeatResponse') {
      if (this.responses.length === 0) this.responsesDueAt = nowMs + this.limits.heartbeatResponseLingerMs
      this.responses.push(item)
    } else this.replication.push(item)
    this.queuedBytes += bytes
    while (this.length > this.limits.queueMessagesMax || this.queuedBytes > this.limits.queueBytesMax) {
      this.dropOldest()
    }
    return true
  }

  private dropOldest(): void {
    const from =
      this.heartbeats.length > 0
        ? this.heartbeats
        : this.responses.length > 0
          ? this.responses
          : this.replication
    const item = from.shift()!
    this.queuedBytes -= item.bytes
    if (from === this.replication) this.drops.replication++
    else this.drops.heartbeats++
    if (this.responses.length === 0) this.responsesDueAt = Number.POSITIVE_INFINITY
  }

  /** Whether a frame should leave now: anything but heartbeat responses, or responses that waited long enough. */
  hasDue(nowMs: number): boolean {
    return this.heartbeats.length + this.replication.length > 0 || nowMs >= this.responsesDueAt
  }

  /** When lingering heartbeat responses fall due (Infinity if none wait). */
  get dueAtMs(): number {
    return this.heartbeats.length + this.replication.length > 0 ? 0 : this.responsesDueAt
  }

  /**
   * Take what fits one frame, oldest first within each kind: heartbeats, replication messages,
   * then heartbeat responses riding along. Stops at the first message that does not fit, so
   * replication messages keep their order.
   */
  takeFrame(): RaftMessage[] {
    const out: RaftMessage[] = []
    let budget = this.frameBudgetBytes
    budget = this.take(this.heartbeats, this.counts.heartbeatsPerFrameMax, budget, out)
    budget = this.take(this.replication, this.counts.messagesPerFrameMax, budget, out)
    this.take(this.responses, this.counts.heartbeatsPerFrameMax, budget, out)
    // Responses left behind by a full frame are overdue: they go with the very next frame.
    this.responsesDueAt = this.responses.length > 0 ? 0 : Number.POSITIVE_INFINITY
    return out
  }

  /** Move messages from `from` to `out` while they fit `budget`; returns the budget left. */
  private take(from: Deque<Queued>, countMax: number, budget: number, out: RaftMessage[]): number {
    let left = budget
    for (
      let taken = 0, item = from.peek();
      item && item.bytes <= left && taken < countMax;
      item = from.peek()
    ) {
      from.shift()
      out.push(item.message)
      left -= item.bytes
      this.queuedBytes -= item.bytes
      taken++
    }
    return left
  }

  clear(): void {
    this.heartbeats.clear()
    this.responses.clear()
    this.replication.clear()
    this.queuedBytes = 0
    this.responsesDueAt = Number.POSITIVE_INFINITY
  }
}
