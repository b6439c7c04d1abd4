/**
 * What the monitor knows of one cluster, as Burrow's in-memory storage keeps it: per topic
 * partition a ring of the last `intervals` log-end offsets (and a longer history for the lag in
 * time); per group and partition a ring of the last `intervals` commits with the lag at each.
 *
 * Synchronous and clock-free: every time comes in as an argument, so tests drive it directly.
 * - A commit closer than `minDistanceMs` to the previous one replaces it, keeping the earlier
 *   timestamp; a commit older than the previous one, or the previous one restated (same offset,
 *   same timestamp), is ignored: the ring is in time order.
 * - The lag at a commit is max(0, log-end offset − offset), with the log end of the last poll at or
 *   before the commit's timestamp (the latest poll for a commit older than all of them), null
 *   before any poll. A commit read late is so not charged for records appended after it.
 * - A group whose newest commit is older than `expireGroupMs` is dropped; so are topics that leave
 *   the cluster (with every group's partitions of them), and groups left with no partitions.
 */
import type { CommitSample, PartitionInput } from './evaluator.js'
import { LogEndHistory, type LogEndSample, timeLagSeconds } from './time-lag.js'

export interface StoreOptions {
  /** Ring size, for commits and for log-end offsets. */
  intervals: number
  minDistanceMs: number
  expireGroupMs: number
  /** Log-end samples kept per partition for the lag in time. */
  lookupTableSize: number
}

export const storeDefaults: StoreOptions = Object.freeze({
  intervals: 10,
  minDistanceMs: 1000,
  expireGroupMs: 604_800_000,
  lookupTableSize: 60,
})

export interface Commit {
  group: string
  topic: string
  partition: number
  offset: number
  /** Commit time, ms. */
  timestamp: number
}

export interface TopicLogEnd {
  topic: string
  /** Log-end offset per partition; null when this poll could not read it. */
  offsets: (number | null)[]
}

export interface PartitionOwner {
  topic: string
  partition: number
  /** The member's host, as Burrow's `owner`. */
  owner: string
  clientId: string
}

export interface StoredCommit extends CommitSample {
  /** When the monitor read it, ms. */
  observedAt: number
}

/** A bounded FIFO: pushing onto a full ring drops its oldest item. */
export class Ring<T> {
  private items: T[] = []

  constructor(readonly capacity: number) {
    if (!Number.isSafeInteger(capacity) || capacity < 1)
      throw new RangeError(`Ring: capacity must be an integer ≥ 1, got ${capacity}`)
  }

  push(item: T): void {
    this.items.push(item)
    if (this.items.length > this.capacity) this.items.shift()
  }

  replaceLast(item: T): void {
    if (this.items.length === 0) throw new RangeError('Ring: replaceLast on an empty ring')
    this.items[this.items.length - 1] = item
  }

  last(): T | undefined {
    return this.items[this.items.length - 1]
  }

  get size(): number {
    return this.items.length
  }

  /** Oldest first. */
  toArray(): T[] {
    return [...this.items]
  }

  /** Oldest first, padded at the front with null to the ring's capacity (Burrow's JSON). */
  slots(): (T | null)[] {
    return [...Array<null>(this.capacity - this.items.length).fill(null), ...this.items]
  }
}

interface PartitionLogEnd {
  ring: Ring<LogEndSample>
  history: LogEndHistory
}

interface GroupPartition {
  commits: Ring<StoredCommit>
}

interface GroupState {
  topics: Map<string, Map<number, GroupPartition>>
  /** The newest commit's timestamp, before any merging. */
  lastCommitAt: number
  owners: Map<string, { owner: string; clientId: string }>
}

const tpKey = (topic: string, partition: number) => `${topic}\u0000${partition}`

export class ClusterStore {
  readonly options: StoreOptions
  private readonly topics = new Map<string, PartitionLogEnd[]>()
  private readonly groups = new Map<string, GroupState>()

  constructor(options: Partial<StoreOptions> = {}) {
    this.options = { ...storeDefaults, ...options }
    const o = this.options
    if (!Number.isSafeInteger(o.intervals) || o.intervals < 1) throw new RangeError('intervals must be ≥ 1')
    if (!(o.minDistanceMs >= 0)) throw new RangeError('minDistanceMs must be ≥ 0')
    if (!(o.expireGroupMs > 0)) throw new RangeError('expireGroupMs must be > 0')
  }

  // ---- Updates -------------------------------------------------------------------------------

  /**
   * One poll of every topic's log-end offsets, begun at `at`. Topics absent from the poll are
   * deleted, with every group's partitions of them whose commits were read before `at`.
   * Returns the topics deleted.
   */
  setLogEndOffsets(polled: TopicLogEnd[], at: number): string[] {
    const seen = new Set<string>()
    for (const { topic, offsets } of polled) {
      seen.add(topic)
      const parts = this.topics.get(topic) ?? []
      for (let p = 0; p < offsets.length; p++) {
        const offset = offsets[p]
        parts[p] ??= {
          ring: new Ring(this.options.intervals),
          history: new LogEndHistory(Math.max(2, this.options.lookupTableSize)),
        }
        if (offset === null || offset === undefined) continue
        parts[p]!.ring.push({ offset, time: at })
        parts[p]!.history.add(offset, at)
      }
      this.topics.set(topic, parts)
    }
    const deleted = [...this.topics.keys()].filter((t) => !seen.has(t))
    for (const t of deleted) this.topics.delete(t)
    for (const [name, g] of this.groups) {
      for (const [t, byPartition] of g.topics) {
        if (seen.has(t)) continue
        for (const [p, part] of byPartition)
          if ((part.commits.last()?.observedAt ?? 0) < at) byPartition.delete(p)
        if (byPartition.size === 0) g.topics.delete(t)
      }
      if (g.topics.size === 0) this.groups.delete(name)
    }
    return deleted
  }

  /** Records a commit read at `observedAt`; returns false when it was ignored (out of order). */
  addCommit(c: Commit, observedAt: number): boolean {
    const g = this.groupFor(c.group)
    const byPartition = g.topics.get(c.topic) ?? new Map<number, GroupPartition>()
    g.topics.set(c.topic, byPartition)
    let part = byPartition.get(c.partition)
    if (!part) {
      part = { commits: new Ring(this.options.intervals) }
      byPartition.set(c.partition, part)
    }
    const logEnd = this.logEndAt(c.topic, c.partition, c.timestamp)
    const lag = logEnd === null ? null : Math.max(0, logEnd - c.offset)
    const last = part.commits.last()
    // Older than the last, or the same commit restated (a coordinator's snapshot): nothing new.
    if (
      last &&
      (c.timestamp < last.timestamp || (c.timestamp === last.timestamp && c.offset === last.offset))
    )
      return false
    g.lastCommitAt = Math.max(g.lastCommitAt, c.timestamp)
    if (last && c.timestamp - last.timestamp < this.options.minDistanceMs)
      part.commits.replaceLast({ offset: c.offset, timestamp: last.timestamp, observedAt, lag })
    else part.commits.push({ offset: c.offset, timestamp: c.timestamp, observedAt, lag })
    return true
  }

  /** Forgets a group (deleted in the cluster, or by DELETE in the API). */
  deleteGroup(group: string): boolean {
    return this.groups.delete(group)
  }

  /** Forgets one partition's commits of a group (Kafka's OffsetDelete). */
  deleteOffsets(group: string, topic: string, partition: number): void {
    const g = this.groups.get(group)
    const byPartition = g?.topics.get(topic)
    if (!g || !byPartition) return
    byPartition.delete(partition)
    if (byPartition.size === 0) g.topics.delete(topic)
    if (g.topics.size === 0) this.groups.delete(group)
  }

  /** The members' assignments: who owns which partition. Replaces what was known. */
  setOwners(group: string, owners: PartitionOwner[]): void {
    const g = this.groups.get(group)
    if (!g) return
    g.owners = new Map(
      owners.map((o) => [tpKey(o.topic, o.partition), { owner: o.owner, clientId: o.clientId }]),
    )
  }

  /** Drops groups with no commit since now − expireGroupMs; returns them. */
  expireGroups(now: number): string[] {
    const expired: string[] = []
    for (const [name, g] of this.groups) {
      if (now - g.lastCommitAt > this.options.expireGroupMs) {
        this.groups.delete(name)
        expired.push(name)
      }
    }
    return expired
  }

  // ---- Views ---------------------------------------------------------------------------------

  topicNames(): string[] {
    return [...this.topics.keys()].sort()
  }

  /** The latest log-end offset per partition (-1 where none was read yet), or undefined. */
  logEndOffsets(topic: string): number[] | undefined {
    const parts = this.topics.get(topic)
    return parts && Array.from(parts, (p) => p?.ring.last()?.offset ?? -1)
  }

  /** Recent log-end samples of a partition, oldest first. */
  logEndRing(topic: string, partition: number): LogEndSample[] {
    return this.topics.get(topic)?.[partition]?.ring.toArray() ?? []
  }

  groupNames(): string[] {
    return [...this.groups.keys()].sort()
  }

  hasGroup(group: string): boolean {
    return this.groups.has(group)
  }

  /** The partitions a group is evaluated on: every partition of each topic it committed to. */
  partitionInputs(group: string, now: number): PartitionInput[] | undefined {
    const g = this.groups.get(group)
    if (!g) return undefined
    const out: PartitionInput[] = []
    for (const topic of [...g.topics.keys()].sort()) {
      const byPartition = g.topics.get(topic)!
      const known = this.topics.get(topic)?.length ?? 0
      const count = Math.max(known, ...[...byPartition.keys()].map((p) => p + 1))
      for (let p = 0; p < count; p++) out.push(this.partitionInput(g, topic, p, byPartition.get(p), now))
    }
    return out
  }

  /** Burrow's `/consumer/:group` detail: per topic, per partition, the ring with empty slots. */
  groupDetail(
    group: string,
  ):
    | Map<string, { offsets: (StoredCommit | null)[]; owner: string; clientId: string; currentLag: number }[]>
    | undefined {
    const inputs = this.partitionInputs(group, 0)
    if (!inputs) return undefined
    const out = new Map<
      string,
      { offsets: (StoredCommit | null)[]; owner: string; clientId: string; currentLag: number }[]
    >()
    for (const p of inputs) {
      const list = out.get(p.topic) ?? []
      list[p.partition] = {
        offsets: p.offsets,
        owner: p.owner,
        clientId: p.clientId,
        currentLag: p.currentLag,
      }
      out.set(p.topic, list)
    }
    return out
  }

  // ---- Internals -----------------------------------------------------------------------------

  private groupFor(group: string): GroupState {
    let g = this.groups.get(group)
    if (!g) {
      g = { topics: new Map(), lastCommitAt: Number.NEGATIVE_INFINITY, owners: new Map() }
      this.groups.set(group, g)
    }
    return g
  }

  /**
   * The log end as of `time`: the last poll at or before it, so that a commit read late is not
   * charged for records appended after it was made; the latest poll for a commit older than every
   * poll kept (history read at start, as Burrow does); null before any poll.
   */
  private logEndAt(topic: string, partition: number, time: number): number | null {
    const p = this.topics.get(topic)?.[partition]
    const latest = p?.ring.last()
    if (!p || !latest) return null
    if (latest.time <= time) return latest.offset
    const samples = p.history.toArray()
    for (let i = samples.length - 1; i >= 0; i--) if (samples[i]!.time <= time) return samples[i]!.offset
    return latest.offset
  }

  private partitionInput(
    g: GroupState,
    topic: string,
    partition: number,
    part: GroupPartition | undefined,
    now: number,
  ): PartitionInput {
    const owner = g.owners.get(tpKey(topic, partition))
    const logEnd = this.topics.get(topic)?.[partition]
    const last = part?.commits.last()
    const latest = logEnd?.ring.last()?.offset
    const currentLag = last && latest !== undefined ? Math.max(0, latest - last.offset) : 0
    const currentLagSeconds =
      !last || !logEnd
        ? null
        : currentLag === 0
          ? 0
          : timeLagSeconds(logEnd.history.toArray(), last.offset, now)
    return {
      topic,
      partition,
      owner: owner?.owner ?? '',
      clientId: owner?.clientId ?? '',
      offsets: part ? part.commits.slots() : Array<null>(this.options.intervals).fill(null),
      brokerOffsets: logEnd ? logEnd.ring.toArray().map((s) => s.offset) : [],
      currentLag,
      currentLagSeconds,
    }
  }
}
