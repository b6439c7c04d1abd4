import type { NodeId } from './types.js'

/**
 * The AppendEntries a leader has sent to one follower and not yet heard back about, bounded in
 * count and bytes: the pipelining window. Each slot remembers the last index a message carried.
 */
export class Inflights {
  private readonly lastIndexes: number[] = []
  private readonly sizes: number[] = []
  private bytesInflight = 0

  constructor(
    readonly appendsMax: number,
    readonly bytesMax: number,
  ) {}

  full(): boolean {
    return this.lastIndexes.length >= this.appendsMax || this.bytesInflight >= this.bytesMax
  }

  get count(): number {
    return this.lastIndexes.length
  }

  get bytes(): number {
    return this.bytesInflight
  }

  add(lastIndex: number, bytes: number): void {
    this.lastIndexes.push(lastIndex)
    this.sizes.push(bytes)
    this.bytesInflight += bytes
  }

  /** The follower has everything up to `index`: free every slot at or below it. */
  freeTo(index: number): void {
    let k = 0
    while (k < this.lastIndexes.length && this.lastIndexes[k]! <= index) {
      this.bytesInflight -= this.sizes[k]!
      k++
    }
    if (k > 0) {
      this.lastIndexes.splice(0, k)
      this.sizes.splice(0, k)
    }
  }

  freeFirst(): void {
    if (this.lastIndexes.length === 0) return
    this.bytesInflight -= this.sizes[0]!
    this.lastIndexes.shift()
    this.sizes.shift()
  }

  reset(): void {
    this.lastIndexes.length = 0
    this.sizes.length = 0
    this.bytesInflight = 0
  }
}

/**
 * How a leader replicates to one follower (etcd's Progress):
 * - probe: one AppendEntries at a time until the follower's log is found to match;
 * - replicate: entries stream optimistically, bounded by the inflight window;
 * - snapshot: the follower is behind the log start and waits for an InstallSnapshot to land.
 */
export type ProgressState = 'probe' | 'replicate' | 'snapshot'

export class Progress {
  match = 0
  next: number
  state: ProgressState = 'probe'
  /** In probe: an append is out, wait for its answer (or a heartbeat response) before another. */
  probeSent = false
  /** In snapshot: the log start index that was sent. */
  pendingSnapshot = 0
  /** Heard from since the last check-quorum round. */
  recentActive = false
  /** When the leader last heard from this follower (its clock); -Infinity: not in this term. */
  lastHeardMs = Number.NEGATIVE_INFINITY
  /** The commit index the follower has last been told. */
  sentCommit = 0
  readonly inflights: Inflights

  constructor(
    readonly id: NodeId,
    next: number,
    appendsInflightMax: number,
    bytesInflightMax: number,
  ) {
    this.next = next
    this.inflights = new Inflights(appendsInflightMax, bytesInflightMax)
  }

  becomeProbe(): void {
    if (this.state === 'snapshot') {
      this.next = Math.max(this.match + 1, this.pendingSnapshot + 1)
    } else {
      this.next = this.match + 1
    }
    this.state = 'probe'
    this.probeSent = false
    this.pendingSnapshot = 0
    this.inflights.reset()
  }

  becomeReplicate(): void {
    this.state = 'replicate'
    this.next = this.match + 1
    this.probeSent = false
    this.pendingSnapshot = 0
    this.inflights.reset()
  }

  becomeSnapshot(index: number): void {
    this.state = 'snapshot'
    this.pendingSnapshot = index
    this.probeSent = false
    this.inflights.reset()
  }

  /** Whether another AppendEntries may go out now. */
  paused(): boolean {
    switch (this.state) {
      case 'probe':
        return this.probeSent
      case 'replicate':
        return this.inflights.full()
      case 'snapshot':
        return true
    }
  }

  /** An accepted append up to `index`; false when it tells nothing new (stale or duplicate). */
  maybeUpdate(index: number): boolean {
    let updated = false
    if (this.match < index) {
      this.match = index
      updated = true
      this.probeSent = false
    }
    this.next = Math.max(this.next, index + 1)
    return updated
  }

  /**
   * A rejected append at `rejected`; `matchHint` is the highest index the leader's and the
   * follower's logs may agree on. False when the rejection is stale.
   */
  maybeDecrTo(rejected: number, matchHint: number): boolean {
    if (this.state === 'replicate') {
      if (rejected <= this.match) return false
      this.next = this.match + 1
      return true
    }
    if (this.next - 1 !== rejected) return false
    this.next = Math.max(Math.min(rejected, matchHint + 1), this.match + 1, 1)
    this.probeSent = false
    return true
  }
}

/**
 * The leader's last index over time, so the ISR can ask "had this follower reached what the
 * leader had `replicaLagTimeMs` ago?". Samples are taken when the last index changes; the oldest
 * are dropped once a newer one is itself older than the window.
 */
export class LastIndexHistory {
  private times: number[] = []
  private indexes: number[] = []
  /** Samples before `head` are dropped; compacted away once they are half the arrays. */
  private head = 0

  reset(now: number, lastIndex: number): void {
    this.times = [now]
    this.indexes = [lastIndex]
    this.head = 0
  }

  record(now: number, lastIndex: number): void {
    const k = this.times.length - 1
    if (k >= this.head && this.times[k] === now) {
      this.indexes[k] = lastIndex
      return
    }
    this.times.push(now)
    this.indexes.push(lastIndex)
  }

  /** The leader's last index at time `at` (the first sample for times before leadership). */
  at(at: number): number {
    while (this.head + 1 < this.times.length && this.times[this.head + 1]! <= at) this.head++
    if (this.head > 64 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head)
      this.indexes = this.indexes.slice(this.head)
      this.head = 0
    }
    return this.indexes[this.head] ?? 0
  }
}
