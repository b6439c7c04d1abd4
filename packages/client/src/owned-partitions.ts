/**
 * What a group member owns, and how far the application has got with each partition: the
 * bookkeeping behind at-least-once. Pure: no I/O, no clock.
 *
 * Invariants:
 * - `finishedNext` of a partition is the offset after the last record whose handler finished (or
 *   the start position, before any): every record of the partition below it was handed to the
 *   application and finished. Records are delivered in offset order per partition, so it only
 *   grows, and a commit carries it: no commit ever passes a record that was not finished.
 * - Each (re)assignment of a partition gets a new `token`. Records fetched under an earlier token
 *   are not delivered, and a handler of an earlier token finishing moves nothing.
 * - A partition being revoked is delivered no more, but its finished offsets are still committed.
 */
import { compareTopicPartitions } from './assignors.js'
import { type TopicPartition, topicPartitionKey } from './topic-partition.js'

export interface OwnedPartition {
  readonly tp: TopicPartition
  readonly token: number
  paused: boolean
  revoking: boolean
  /** The offset after the last finished record, or the start position: what a commit may carry. */
  finishedNext: number
  /** The group's committed offset as this member last knew it; -1 for none. */
  committed: number
}

export interface OffsetToCommit {
  topic: string
  partition: number
  offset: number
}

export class OwnedPartitions {
  private readonly byKey = new Map<string, OwnedPartition>()
  private nextToken = 1

  get size(): number {
    return this.byKey.size
  }

  /** Takes ownership of `tp`, starting at `startOffset`; `committed` is the group's offset, -1 for none. */
  add(tp: TopicPartition, startOffset: number, committed: number): OwnedPartition {
    if (!Number.isSafeInteger(startOffset) || startOffset < 0)
      throw new RangeError(`start offset ${startOffset} of ${tp.topic}-${tp.partition}`)
    const owned: OwnedPartition = {
      tp: { topic: tp.topic, partition: tp.partition },
      token: this.nextToken++,
      paused: false,
      revoking: false,
      finishedNext: startOffset,
      committed,
    }
    this.byKey.set(topicPartitionKey(tp), owned)
    return owned
  }

  get(tp: TopicPartition): OwnedPartition | undefined {
    return this.byKey.get(topicPartitionKey(tp))
  }

  has(tp: TopicPartition): boolean {
    return this.byKey.has(topicPartitionKey(tp))
  }

  /** The current ownership token of `tp`, or undefined if not owned. */
  tokenOf(tp: TopicPartition): number | undefined {
    return this.get(tp)?.token
  }

  /** Whether a record of `tp` fetched under `token` may go to the application now. */
  deliverable(tp: TopicPartition, token: number | undefined): boolean {
    const owned = this.get(tp)
    return owned !== undefined && owned.token === token && !owned.revoking && !owned.paused
  }

  /** Whether `tp` is still owned under `token` and not being revoked (paused or not). */
  current(tp: TopicPartition, token: number | undefined): boolean {
    const owned = this.get(tp)
    return owned !== undefined && owned.token === token && !owned.revoking
  }

  /**
   * The handler of the record at `offset` of `tp` (delivered under `token`) finished. Returns
   * false, changing nothing, if the ownership changed meanwhile or `offset` is behind.
   */
  finished(tp: TopicPartition, token: number, offset: number): boolean {
    const owned = this.get(tp)
    if (owned === undefined || owned.token !== token || offset < owned.finishedNext) return false
    owned.finishedNext = offset + 1
    return true
  }

  /** Stops delivery of `tps` (they are being revoked or were lost); returns those owned. */
  beginRevoke(tps: TopicPartition[]): OwnedPartition[] {
    const out: OwnedPartition[] = []
    for (const tp of tps) {
      const owned = this.get(tp)
      if (!owned) continue
      owned.revoking = true
      out.push(owned)
    }
    return out
  }

  remove(tps: TopicPartition[]): void {
    for (const tp of tps) this.byKey.delete(topicPartitionKey(tp))
  }

  /** Returns the partitions of `tps` that are owned (the others cannot be paused). */
  setPaused(tps: TopicPartition[], paused: boolean): TopicPartition[] {
    const out: TopicPartition[] = []
    for (const tp of tps) {
      const owned = this.get(tp)
      if (!owned) continue
      owned.paused = paused
      out.push(owned.tp)
    }
    return out
  }

  /** Every owned partition, sorted, the ones being revoked too. */
  all(): TopicPartition[] {
    return [...this.byKey.values()].map((o) => o.tp).sort(compareTopicPartitions)
  }

  /** Owned and not being revoked: a cooperative subscription's ownedPartitions. */
  active(): TopicPartition[] {
    return [...this.byKey.values()]
      .filter((o) => !o.revoking)
      .map((o) => o.tp)
      .sort(compareTopicPartitions)
  }

  paused(): TopicPartition[] {
    return [...this.byKey.values()]
      .filter((o) => o.paused)
      .map((o) => o.tp)
      .sort(compareTopicPartitions)
  }

  /** Whether any partition may be fetched for the application now. */
  fetchable(): boolean {
    for (const o of this.byKey.values()) if (!o.paused && !o.revoking) return true
    return false
  }

  /** The finished offsets not yet committed, of `tps` or of every owned partition. */
  toCommit(tps?: TopicPartition[]): OffsetToCommit[] {
    const candidates = tps ? tps.map((tp) => this.get(tp)) : [...this.byKey.values()]
    const out: OffsetToCommit[] = []
    for (const o of candidates) {
      if (o && o.finishedNext > o.committed)
        out.push({ topic: o.tp.topic, partition: o.tp.partition, offset: o.finishedNext })
    }
    return out.sort(compareTopicPartitions)
  }

  /** The group acknowledged these commits. */
  committed(offsets: OffsetToCommit[]): void {
    for (const c of offsets) {
      const owned = this.get(c)
      if (owned) owned.committed = c.offset
    }
  }
}
