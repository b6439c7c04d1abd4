/**
 * The group coordinators of a node: one GroupCoordinator per `__consumer_offsets` partition whose
 * Raft group this node leads. Group G belongs to partition `coordinatorPartition(G, partitions)`;
 * its coordinator is that partition's leader.
 *
 * A coordinator's life follows the leadership of its partition, one term at a time:
 *   waiting  leader of term T, its first entry (the no-op) not yet applied: until it is, an
 *            offset an earlier leader acknowledged may not be below the high watermark yet
 *   loading  replays the committed log, log start to high watermark, into a fresh coordinator
 *   ready    serves; every write is one record batch appended with acks=all, so an acknowledged
 *            commit is on a quorum and a later leader replays it
 *   closed   leadership lost (or the term changed): waiting joins and syncs answer NOT_COORDINATOR,
 *            writes in flight fail with Raft's NOT_LEADER_OR_FOLLOWER (→ NOT_COORDINATOR)
 * Group requests for a partition in waiting or loading get COORDINATOR_LOAD_IN_PROGRESS; for one
 * this node does not lead, NOT_COORDINATOR.
 *
 * Bounded replay: once the partition has grown by more than `snapshotRecords` records since the
 * coordinator's last snapshot (or since what it loaded), the coordinator holds new writes back
 * until those in flight are committed, appends its whole state (`snapshot()`) in one or more
 * batches, the last one marked with where the snapshot starts and how many records it has, then
 * lets the held writes go. Every replica that applies a marked batch whose snapshot is complete
 * and contiguous deletes its log before the snapshot (the retention mechanism: a new log start),
 * so a new leader replays at most the snapshot plus `snapshotRecords` records.
 */
import {
  coordinatorPartition,
  decodeGroupRecords,
  encodeGroupRecord,
  encodeGroupRecordBatch,
  type GroupRecord,
  OFFSETS_TOPIC,
  readBatchHeader,
  recordBatchBytesMax,
  type SnapshotMarker,
} from '@cairn/protocol'
import { type Entry, EntryKind, type GroupId } from '@cairn/raft'
import type { Logger } from '@cairn/transport'
import { type CoordinatorOptions, GroupCoordinator, type TimerHandle } from './group-coordinator.js'
import type { TopicRecord } from './metadata.js'
import type { Partition } from './partition.js'
import { HostError, type RaftHost } from './raft-host.js'

/** Kafka's offsets.topic.num.partitions is 50; Cairn's clusters are smaller. */
export const OFFSETS_TOPIC_PARTITIONS = 16
/** Kafka's offsets.topic.replication.factor, capped at the cluster's node count. */
export const OFFSETS_TOPIC_REPLICATION_FACTOR = 3
/** Records the offsets partition may grow by since the last snapshot before the next one. */
export const OFFSETS_SNAPSHOT_RECORDS = 10_000
/** A snapshot is written in batches of about this many bytes (a record alone may be larger). */
const SNAPSHOT_BATCH_BYTES = 256 * 1024
/** Replay reads the log this much at a time. */
const REPLAY_READ_BYTES = 1 << 20
/** setTimeout fires at once for longer delays: a coordinator timer waits at most this long. */
const TIMER_MS_MAX = 0x7fff_ffff
/** The group of the tombstone that marks the snapshot of an empty state (no group exists then). */
const EMPTY_SNAPSHOT_GROUP = '__cairn_empty_snapshot'

/** Coordinator limits and group.* settings a node passes to every coordinator it hosts. */
export type CoordinatorSettings = Omit<CoordinatorOptions, 'now' | 'setTimer' | 'persist'>

/** Why a group request cannot be served here, by Kafka's name. */
export type RouteError = 'NOT_COORDINATOR' | 'COORDINATOR_LOAD_IN_PROGRESS' | 'COORDINATOR_NOT_AVAILABLE'

export type Route =
  | { ok: true; coordinator: GroupCoordinator; partition: number }
  | { ok: false; error: RouteError; partition: number }

/** What the hosting needs of its node. */
export interface GroupHost {
  readonly host: RaftHost
  readonly logger: Logger
  readonly partitions: ReadonlyMap<GroupId, Partition>
  offsetsTopic(): TopicRecord | undefined
}

export interface GroupHostingOptions {
  coordinator?: CoordinatorSettings
  snapshotRecords?: number
  /** How often leadership of the offsets partitions is checked (besides on each commit and request). */
  checkIntervalMs: number
}

type HostedState = 'waiting' | 'loading' | 'ready' | 'closed'

/** One partition's coordinator for one leader term. */
class HostedCoordinator {
  state: HostedState = 'waiting'
  readonly coordinator: GroupCoordinator
  /** Records replayed by the load, and how long it took: what bounded replay bounds. */
  loaded = { records: 0, batches: 0, ms: 0 }
  snapshotsWritten = 0
  /** Appends (writes and snapshot batches) not yet committed. */
  private inflight = 0
  /** A snapshot is due: new writes wait in `held` until it is proposed. */
  private snapshotDue = false
  private snapshotting = false
  private readonly held: { records: GroupRecord[]; resolve: () => void; reject: (e: unknown) => void }[] = []
  private readonly timers = new Set<NodeJS.Timeout>()
  /** The offset after the last snapshot (or after the live state loaded): the log's growth counts from here. */
  private snapshotEnd = 0

  constructor(
    readonly index: number,
    readonly group: GroupId,
    readonly term: number,
    readonly partition: Partition,
    private readonly snapshotRecords: number,
    private readonly logger: Logger,
    settings: CoordinatorSettings,
  ) {
    this.coordinator = new GroupCoordinator({
      ...settings,
      now: Date.now,
      setTimer: (ms, fn) => this.setTimer(ms, fn),
      persist: (records) => this.persist(records),
    })
  }

  get name(): string {
    return `${OFFSETS_TOPIC}-${this.index}`
  }

  private setTimer(ms: number, fn: () => void): TimerHandle {
    const timer = setTimeout(
      () => {
        this.timers.delete(timer)
        fn()
      },
      Math.min(Math.max(0, ms), TIMER_MS_MAX),
    )
    this.timers.add(timer)
    return {
      cancel: () => {
        clearTimeout(timer)
        this.timers.delete(timer)
      },
    }
  }

  /** Replays the committed log into the coordinator; then it serves. */
  async load(): Promise<void> {
    this.state = 'loading'
    const started = performance.now()
    const p = this.partition
    let offset = p.logStartOffset
    // Only this coordinator appends, and only once ready: the high watermark stays put meanwhile.
    const end = p.highWatermark
    while (offset < end) {
      const read = await p.fetch(offset, REPLAY_READ_BYTES)
      if (this.state !== 'loading') return
      if (read.batches.length === 0) break
      for (const batch of read.batches) {
        const header = readBatchHeader(batch, 0, {
          batchBytesMax: Math.max(batch.length, recordBatchBytesMax),
        })
        if (!header.ok) throw new Error(`${this.name} at ${offset}: unreadable batch: ${header.reason}`)
        const decoded = decodeGroupRecords(batch, { batchBytesMax: header.value.totalBytes })
        if (decoded.ok) {
          for (const d of decoded.value) this.coordinator.load(d.record)
          this.loaded.records += decoded.value.length
        } else {
          // Clients cannot produce here: a bad batch is a bug, and stopping would leave every
          // group of the partition without a coordinator. Say so loudly and go on.
          this.logger.error(
            `${this.name}: skipping the batch at ${header.value.baseOffset}: ${decoded.reason}`,
          )
        }
        this.loaded.batches++
        offset = header.value.lastOffset + 1
      }
    }
    this.loaded.ms = Math.round(performance.now() - started)
    // Growth counts from the live state: what a snapshot taken now would hold.
    this.snapshotEnd = p.logStartOffset + this.coordinator.snapshot().length
    this.state = 'ready'
    this.logger.info(
      `${this.name}: coordinator for term ${this.term} loaded ${this.loaded.records} records in ${this.loaded.ms} ms`,
    )
    this.afterWrite()
  }

  close(): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.coordinator.close()
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
    const error = new HostError('NOT_COORDINATOR', `${this.name}: no longer led here`)
    for (const h of this.held.splice(0)) h.reject(error)
  }

  // ---- Writes ---------------------------------------------------------------------------------

  private persist(records: GroupRecord[]): Promise<void> {
    if (this.state !== 'ready')
      return Promise.reject(new HostError('NOT_COORDINATOR', `${this.name}: not serving`))
    if (this.snapshotDue)
      return new Promise((resolve, reject) => this.held.push({ records, resolve, reject }))
    return this.append(records)
  }

  /**
   * One batch, acks=all, its timestamp the commit time. Appends are proposed in call order
   * (Partition.produce keeps it).
   */
  private append(records: GroupRecord[]): Promise<void> {
    let batch: Uint8Array
    try {
      const committedAt = records.find((r) => r.type === 'offset')?.commitTimestamp
      batch = encodeGroupRecordBatch(records, { timestamp: committedAt ?? Date.now() })
    } catch (error) {
      return Promise.reject(error)
    }
    this.inflight++
    return this.partition.produce(batch, -1).then(
      () => {
        this.inflight--
        this.afterWrite()
      },
      (error: unknown) => {
        this.inflight--
        this.afterWrite()
        throw error
      },
    )
  }

  /** After every write and after the load: is a snapshot due, and can it be taken now? */
  private afterWrite(): void {
    if (this.state !== 'ready') return
    if (!this.snapshotDue && !this.snapshotting)
      this.snapshotDue = this.partition.highWatermark - this.snapshotEnd > this.snapshotRecords
    // The coordinator applies a committed write after this callback: snapshot on the next turn.
    if (this.snapshotDue && this.inflight === 0) setImmediate(() => this.snapshot())
  }

  /**
   * Restates the state, with nothing in flight: the committed view is then the log's. Its
   * batches are proposed together, before any held write, so they are contiguous in the log.
   */
  private snapshot(): void {
    if (this.state !== 'ready' || !this.snapshotDue || this.inflight > 0 || this.snapshotting) return
    const p = this.partition
    const live = this.coordinator.snapshot()
    // Nothing is in flight and only this coordinator appends: the log ends at the high watermark.
    const startOffset = p.highWatermark
    const records: GroupRecord[] =
      live.length > 0 ? live : [{ type: 'delete-group', group: EMPTY_SNAPSHOT_GROUP }]
    const batches = snapshotBatches(records, { startOffset, records: records.length }, Date.now())
    this.snapshotDue = false
    const tooLarge = batches.find((b) => b.length > p.maxMessageBytes)
    if (tooLarge) {
      this.logger.warn(
        `${this.name}: no snapshot: a batch of ${tooLarge.length} bytes exceeds max.message.bytes ${p.maxMessageBytes}`,
      )
      this.snapshotEnd = p.highWatermark
    } else {
      this.snapshotting = true
      this.inflight += batches.length
      const appended = batches.map((b) =>
        p.produce(b, -1).finally(() => {
          this.inflight--
        }),
      )
      Promise.all(appended)
        .then(() => {
          this.snapshotsWritten++
          this.snapshotEnd = startOffset + records.length
          this.logger.info(`${this.name}: snapshot of ${records.length} records at ${startOffset}`)
        })
        .catch((error: unknown) =>
          this.logger.warn(`${this.name}: snapshot at ${startOffset}: ${String(error)}`),
        )
        .finally(() => {
          this.snapshotting = false
          this.afterWrite()
        })
    }
    for (const h of this.held.splice(0)) this.append(h.records).then(h.resolve, h.reject)
  }
}

/** The snapshot's records in batches of about SNAPSHOT_BATCH_BYTES, the last one marked. */
function snapshotBatches(records: GroupRecord[], marker: SnapshotMarker, timestamp: number): Uint8Array[] {
  const groups: GroupRecord[][] = [[]]
  let bytes = 0
  for (const r of records) {
    const { key, value } = encodeGroupRecord(r)
    const size = key.length + (value?.length ?? 0) + 32
    if (bytes + size > SNAPSHOT_BATCH_BYTES && groups[groups.length - 1]!.length > 0) {
      groups.push([])
      bytes = 0
    }
    groups[groups.length - 1]!.push(r)
    bytes += size
  }
  return groups.map((g, i) =>
    encodeGroupRecordBatch(g, i === groups.length - 1 ? { timestamp, snapshot: marker } : { timestamp }),
  )
}

export class GroupHosting {
  /** By `__consumer_offsets` partition index. */
  private readonly hosted = new Map<number, HostedCoordinator>()
  /** Per offsets partition group: truncations after snapshots, one at a time. */
  private readonly truncations = new Map<GroupId, Promise<void>>()
  private readonly timer: NodeJS.Timeout
  private refreshScheduled = false
  private closed = false

  constructor(
    private readonly node: GroupHost,
    private readonly options: GroupHostingOptions,
  ) {
    this.timer = setInterval(() => this.refresh(), options.checkIntervalMs)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    clearInterval(this.timer)
    for (const h of this.hosted.values()) h.close()
    this.hosted.clear()
  }

  /** The coordinator for `groupId`, if this node is it and has loaded its partition. */
  route(groupId: string): Route {
    const topic = this.node.offsetsTopic()
    if (!topic || topic.partitions.length === 0)
      return { ok: false, error: 'COORDINATOR_NOT_AVAILABLE', partition: -1 }
    const partition = coordinatorPartition(groupId, topic.partitions.length)
    const h = this.refreshPartition(topic, partition)
    if (!h) return { ok: false, error: 'NOT_COORDINATOR', partition }
    if (h.state !== 'ready') return { ok: false, error: 'COORDINATOR_LOAD_IN_PROGRESS', partition }
    return { ok: true, coordinator: h.coordinator, partition }
  }

  /** The coordinators serving here, and whether any partition led here is still loading. */
  serving(): { coordinators: GroupCoordinator[]; loading: boolean } {
    this.refresh()
    const coordinators: GroupCoordinator[] = []
    let loading = false
    for (const h of this.hosted.values()) {
      if (h.state === 'ready') coordinators.push(h.coordinator)
      else loading = true
    }
    return { coordinators, loading }
  }

  /** For tests and logs: per partition led here, its state and what its last load replayed. */
  status(): {
    partition: number
    term: number
    state: HostedState
    loadedRecords: number
    snapshots: number
  }[] {
    return [...this.hosted.values()].map((h) => ({
      partition: h.index,
      term: h.term,
      state: h.state,
      loadedRecords: h.loaded.records,
      snapshots: h.snapshotsWritten,
    }))
  }

  /** Committed entries of an offsets partition, on every replica: a complete snapshot lets the log before it go. */
  onCommitted(group: GroupId, entries: Entry[]): void {
    if (this.closed) return
    for (const e of entries) {
      if (e.kind !== EntryKind.normal) continue
      const decoded = decodeGroupRecords(e.data, {
        batchBytesMax: Math.max(e.data.length, recordBatchBytesMax),
      })
      if (!decoded.ok) continue
      const last = decoded.value[decoded.value.length - 1]
      const marker = last?.snapshot
      // Complete and contiguous: the marked number of records, ending here, nothing in between.
      if (marker && last.offset === marker.startOffset + marker.records - 1)
        this.truncate(group, marker.startOffset)
    }
    this.scheduleRefresh()
  }

  /** Deleted topics: their offsets leave the groups of every coordinator serving here. */
  onTopicsDeleted(topics: string[]): void {
    for (const h of this.hosted.values()) {
      if (h.state !== 'ready') continue
      h.coordinator
        .forgetTopics(topics)
        .catch((error: unknown) =>
          this.node.logger.warn(`${h.name}: dropping offsets of [${topics}]: ${String(error)}`),
        )
    }
  }

  private truncate(group: GroupId, offset: number): void {
    const previous = this.truncations.get(group) ?? Promise.resolve()
    const next = previous
      .then(async () => {
        const p = this.node.partitions.get(group)
        if (p && (await p.truncateBefore(offset)))
          this.node.logger.info(
            `group ${group} (${OFFSETS_TOPIC}): log before the snapshot at ${offset} deleted`,
          )
      })
      .catch((error: unknown) =>
        this.node.logger.warn(`group ${group}: truncating before ${offset}: ${String(error)}`),
      )
    this.truncations.set(group, next)
    next.finally(() => {
      if (this.truncations.get(group) === next) this.truncations.delete(group)
    })
  }

  private scheduleRefresh(): void {
    if (this.refreshScheduled || this.closed) return
    this.refreshScheduled = true
    setImmediate(() => {
      this.refreshScheduled = false
      this.refresh()
    })
  }

  /** Every offsets partition: a coordinator where this node leads, none elsewhere. */
  refresh(): void {
    if (this.closed) return
    const topic = this.node.offsetsTopic()
    const count = topic?.partitions.length ?? 0
    for (const [index, h] of this.hosted) {
      if (index >= count) {
        h.close()
        this.hosted.delete(index)
      }
    }
    if (!topic) return
    for (let index = 0; index < count; index++) this.refreshPartition(topic, index)
  }

  private refreshPartition(topic: TopicRecord, index: number): HostedCoordinator | undefined {
    const a = topic.partitions[index]!
    const p = this.node.partitions.get(a.group)
    const s = p && this.node.host.status(a.group)
    let h = this.hosted.get(index)
    const leading = s?.role === 'leader'
    if (h && (!leading || h.term !== s.term || h.partition !== p || h.state === 'closed')) {
      h.close()
      this.hosted.delete(index)
      h = undefined
    }
    if (!leading || !p || this.closed) return undefined
    if (!h) {
      h = new HostedCoordinator(
        index,
        a.group,
        s.term,
        p,
        this.options.snapshotRecords ?? OFFSETS_SNAPSHOT_RECORDS,
        this.node.logger,
        this.options.coordinator ?? {},
      )
      this.hosted.set(index, h)
    }
    // The leader's own first entry applied: everything committed before its term is applied too.
    if (h.state === 'waiting' && p.appliedTerm === s.term) {
      const loading = h
      loading.load().catch((error: unknown) => {
        this.node.logger.error(`${loading.name}: loading failed, will retry: ${String(error)}`)
        loading.close()
        if (this.hosted.get(index) === loading) this.hosted.delete(index)
      })
    }
    return h
  }
}
