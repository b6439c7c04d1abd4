/**
 * The producer's sends that wait to be appended (for metadata or for buffer.memory), oldest first.
 *
 * When buffer.memory is full, tens of thousands of sends can wait here, and the producer looks at
 * the queue on every pass (several per event-loop turn under load): which sends are past
 * max.block.ms, when the next one will be, what to append. With every pass walking the whole
 * queue, those three took 15 % of the bench client's profile samples at 1 KiB records. So the
 * queue keeps what makes each look cheap:
 * - Sends are appended in queue order, and a pass stops at the first one that does not fit, so
 *   the finished ones are at the front: they are dropped by moving a head index, not by filtering.
 * - Deadlines are `send time + max.block.ms`, so they ascend in queue order unless the wall clock
 *   stepped back: the first live send has the earliest deadline, and expiry stops at the first
 *   live send not yet due. After a step back the queue scans fully until it has been empty once.
 */

export interface QueuedSend {
  readonly deadlineMs: number
  readonly settled: boolean
  readonly fullyAppended: boolean
}

/** The backing array is compacted once this many finished sends, and at least half, sit before the head. */
const COMPACT_HEAD_MIN = 1024

export class AppendQueue<S extends QueuedSend> {
  /** Sends from `head` on; the slots before it are cleared, so that a finished send (and its
   * record) is not kept alive until the next compaction. */
  private items: (S | undefined)[] = []
  private head = 0
  /** Deadlines ascend from head to tail. */
  private sorted = true

  get length(): number {
    return this.items.length - this.head
  }

  push(send: S): void {
    const last = this.items.length > this.head ? this.items[this.items.length - 1]! : undefined
    if (last !== undefined && send.deadlineMs < last.deadlineMs) this.sorted = false
    this.items.push(send)
  }

  /** The sends not yet settled nor fully appended, oldest first; `visit` returns false to stop. */
  forEachLive(visit: (send: S) => boolean | undefined): void {
    for (let i = this.head; i < this.items.length; i++) {
      const send = this.items[i]!
      if (send.settled || send.fullyAppended) continue
      if (visit(send) === false) return
    }
  }

  /** Calls `expire` for every live send whose deadline is `now` or earlier. */
  expireDue(now: number, expire: (send: S) => void): void {
    this.forEachLive((send) => {
      if (now >= send.deadlineMs) expire(send)
      else if (this.sorted) return false
      return true
    })
  }

  /** The earliest deadline after `now` of a live send, or +Infinity. */
  nextDeadlineAfter(now: number): number {
    let next = Number.POSITIVE_INFINITY
    this.forEachLive((send) => {
      const deadline = send.deadlineMs
      if (deadline <= now) return true
      next = Math.min(next, deadline)
      return !this.sorted
    })
    return next
  }

  /**
   * Forgets settled and fully appended sends: those at the front at once, and, when `scanAll`
   * (a pass skipped some and appended later ones), every one.
   */
  prune(scanAll: boolean): void {
    if (scanAll) {
      this.items = (this.items.slice(this.head) as S[]).filter((s) => !s.settled && !s.fullyAppended)
      this.head = 0
    } else {
      while (this.head < this.items.length) {
        const send = this.items[this.head]!
        if (!send.settled && !send.fullyAppended) break
        this.items[this.head] = undefined
        this.head++
      }
      if (this.head >= COMPACT_HEAD_MIN && this.head * 2 >= this.items.length) {
        this.items = this.items.slice(this.head)
        this.head = 0
      }
    }
    if (this.items.length === this.head) this.clear()
  }

  /** Takes every send out, live or not, oldest first. */
  takeAll(): S[] {
    const all = this.items.slice(this.head) as S[]
    this.clear()
    return all
  }

  private clear(): void {
    this.items = []
    this.head = 0
    this.sorted = true
  }
}
