/**
 * One partition replica: a Raft group whose normal entries are Kafka record batches. The broker
 * never looks inside a batch beyond its header: it checks the size and the CRC, writes the base
 * offset and the leader epoch in place (both outside the CRC), and proposes the bytes unchanged.
 *
 * Offsets: the leader gives each batch `baseOffset = log end offset`, and the log end offset
 * moves past its records. A new leader finds its log end offset from the last batch in its log.
 * The high watermark is the offset after the last committed batch: consumers never see beyond it.
 */
import {
  type BatchHeader,
  decodeRecords,
  readBatchHeader,
  recordBatchCrc32c,
  setBaseOffset,
  setPartitionLeaderEpoch,
  validateProducedBatch,
} from '@cairn/protocol'
import { type Entry, EntryKind, type GroupId, type Membership } from '@cairn/raft'
import type { GroupLog } from '@cairn/storage'
import { ProducerStateTable } from './producer-state.js'
import { HostError, NotLeaderError, type RaftHost } from './raft-host.js'

/** Kafka's acks: 0 (no answer), 1 (the leader has it), -1 = all (a quorum has it durable). */
export type Acks = 0 | 1 | -1

export interface PartitionConfig {
  /** Kafka's max.message.bytes: the largest batch accepted. */
  maxMessageBytes: number
  /** Kafka's min.insync.replicas, for acks=all. */
  minInsyncReplicas: number
}

export const DEFAULT_PARTITION_CONFIG: PartitionConfig = { maxMessageBytes: 1_048_588, minInsyncReplicas: 1 }

export interface ProduceResult {
  baseOffset: number
  lastOffset: number
  logStartOffset: number
}

export interface FetchResult {
  /** Whole batches, in order, starting with the one that holds the requested offset. */
  batches: Uint8Array[]
  highWatermark: number
  logStartOffset: number
}

/** Kafka's request.timeout.ms default: a duplicate's acks=all wait gives up after this. */
const COMMIT_WAIT_MS_MAX = 30_000

interface CommitWaiter {
  producerId: bigint
  baseSequence: number
  baseOffset: number
  settle: (err?: Error) => void
}

/** A retention run deletes at most this many batches; the next run goes on. */
const RETENTION_BATCHES_PER_RUN_MAX = 100_000
const RETENTION_READ_BYTES = 1 << 20

/** A ListOffsets scan reads the log this much at a time. */
const SCAN_READ_BYTES = 1 << 20

/** One entry is read at a time when a new leader looks for its last batch. */
const RECOVER_READ_BYTES = 1

const decoder = new TextDecoder()
const encoder = new TextEncoder()

/** The log start's payload carries the offset the log continues from. */
export function encodeLogStartOffset(offset: number): Uint8Array {
  return encoder.encode(JSON.stringify({ nextOffset: offset }))
}

function decodeLogStartOffset(payload: Uint8Array): number {
  if (payload.byteLength === 0) return 0
  const parsed = JSON.parse(decoder.decode(payload)) as { nextOffset?: unknown }
  return typeof parsed.nextOffset === 'number' ? parsed.nextOffset : 0
}

function headerOf(e: Entry): BatchHeader | undefined {
  if (e.kind !== EntryKind.normal) return undefined
  const h = readBatchHeader(e.data)
  return h.ok ? h.value : undefined
}

export class Partition {
  private logEndOffset = 0
  /** DELIBERATE DEFECT switch (test-bugs.ts): fetch past the high watermark. */
  unsafeServeUncommitted = false
  /** The leader term the log end offset was computed for; another term must recompute it. */
  private logEndTerm = -1
  private recovering: Promise<void> | null = null
  private hw = 0
  /** Raft index of the last applied batch: fetches read up to here. */
  private hwIndex = 0
  /** The term of the last entry applied (a batch or not): a new leader has applied its own no-op once this is its term. */
  private lastAppliedTerm = 0
  /** Bytes of the batches applied and not deleted by retention (retention.bytes). */
  private retainedBytes = 0
  private commitWaiters: CommitWaiter[] = []
  private readonly dataWaiters = new Set<{ offset: number; wake: () => void }>()
  /** Idempotent producers as of the committed log (every replica). */
  private readonly committedProducers = new ProducerStateTable()
  /** The leader's view: the committed table plus the batches it appended since (its log end). */
  private leaderProducers = new ProducerStateTable()

  private constructor(
    readonly group: GroupId,
    private readonly host: RaftHost,
    private readonly log: GroupLog,
    private config: PartitionConfig,
  ) {
    this.hw = this.logStartOffset
  }

  /** Opens the replica; `host.onCommitted` must route this group's entries to {@link applyCommitted}. */
  static async open(
    host: RaftHost,
    group: GroupId,
    membership: Membership,
    config: PartitionConfig = DEFAULT_PARTITION_CONFIG,
  ): Promise<Partition> {
    await host.openGroup(group, membership, {
      offsetsOf: (e) => {
        const h = headerOf(e)
        return h && { baseOffset: h.baseOffset, lastOffset: h.lastOffset }
      },
      // The leader checked each batch's CRC before proposing it (validateProducedBatch).
      dataCrcOf: (e) => recordBatchCrc32c(e.data),
    })
    const log = host.log(group)
    if (!log) throw new Error(`group ${group} did not open`)
    return new Partition(group, host, log, config)
  }

  get highWatermark(): number {
    return this.hw
  }

  get logStartOffset(): number {
    return decodeLogStartOffset(this.log.logStart().payload)
  }

  configure(config: PartitionConfig): void {
    this.config = config
  }

  get maxMessageBytes(): number {
    return this.config.maxMessageBytes
  }

  /**
   * The term of the last entry this replica applied. On a leader, once it is the leader's term the
   * leader's first entry is applied, so everything an earlier leader committed is too: the high
   * watermark is then at least every offset any leader acknowledged.
   */
  get appliedTerm(): number {
    return this.lastAppliedTerm
  }

  /** Committed entries, in order: the high watermark follows the batches. */
  applyCommitted(entries: Entry[]): void {
    for (const e of entries) {
      this.lastAppliedTerm = e.term
      const h = headerOf(e)
      if (!h) continue
      this.hw = h.lastOffset + 1
      this.hwIndex = e.index
      this.retainedBytes += e.data.byteLength
      if (h.producerId >= 0n) this.committedProducers.record(h)
      if (this.commitWaiters.length > 0) this.settleCommitWaiters(h)
    }
    if (this.dataWaiters.size > 0) {
      for (const w of [...this.dataWaiters]) if (this.hw > w.offset) w.wake()
    }
  }

  /**
   * Kafka's retention, on every replica: deletes the oldest committed batches while the oldest is
   * older than retention.ms (by its max timestamp) or the partition holds more than
   * retention.bytes without it. Whole batches only; the log start moves past them and remembers
   * the offset the log continues from. Returns the batches deleted.
   */
  async applyRetention(nowMs: number, retentionMs: number, retentionBytes: number): Promise<number> {
    if (retentionMs < 0 && retentionBytes < 0) return 0
    const start = this.log.logStart().index
    let cut = start
    let nextOffset = this.logStartOffset
    let bytes = this.retainedBytes
    let deleted = 0
    scan: for (let i = start + 1; i <= this.hwIndex && deleted < RETENTION_BATCHES_PER_RUN_MAX; ) {
      const entries = await this.log.read(i, this.hwIndex + 1, RETENTION_READ_BYTES)
      if (entries.length === 0) break
      for (const e of entries) {
        const h = headerOf(e)
        if (h) {
          const expired = retentionMs >= 0 && h.maxTimestamp < nowMs - retentionMs
          const oversize = retentionBytes >= 0 && bytes > retentionBytes
          if (!expired && !oversize) break scan
          bytes -= e.data.byteLength
          nextOffset = h.lastOffset + 1
          deleted++
        }
        cut = e.index
      }
      i = entries[entries.length - 1]!.index + 1
    }
    if (deleted === 0) return 0
    if (!this.host.compact(this.group, cut, encodeLogStartOffset(nextOffset))) return 0
    this.retainedBytes = bytes
    return deleted
  }

  /**
   * Deletes the committed log before the batch that starts at `offset`, on this replica, as
   * retention does; the log start then continues from `offset`. For `__consumer_offsets`, whose
   * coordinator restated its state from `offset` on. False if nothing was deleted: `offset` is at
   * or before the log start, not committed, or not where a batch starts.
   */
  async truncateBefore(offset: number): Promise<boolean> {
    if (offset <= this.logStartOffset || offset >= this.hw) return false
    const row = await this.log.indexForOffset(offset)
    if (!row || row.baseOffset !== offset) return false
    const start = this.log.logStart().index
    let bytes = 0
    for (let i = start + 1; i < row.index; ) {
      const entries = await this.log.read(i, row.index, RETENTION_READ_BYTES)
      if (entries.length === 0) break
      for (const e of entries) if (headerOf(e)) bytes += e.data.byteLength
      i = entries[entries.length - 1]!.index + 1
    }
    if (!this.host.compact(this.group, row.index - 1, encodeLogStartOffset(offset))) return false
    this.retainedBytes -= bytes
    return true
  }

  /** Resolves once the high watermark passes `offset`, or after `timeoutMs` (a fetch's long poll). */
  waitForData(offset: number, timeoutMs: number): Promise<void> {
    if (this.hw > offset || timeoutMs <= 0) return Promise.resolve()
    return new Promise((resolve) => {
      const waiter = {
        offset,
        wake: () => {
          clearTimeout(timer)
          this.dataWaiters.delete(waiter)
          resolve()
        },
      }
      const timer = setTimeout(waiter.wake, timeoutMs)
      this.dataWaiters.add(waiter)
    })
  }

  /** Validates a produced batch, gives it its offsets and appends it; answers as `acks` asks. */
  async produce(batch: Uint8Array, acks: Acks): Promise<ProduceResult> {
    if (acks !== 0 && acks !== 1 && acks !== -1)
      throw new HostError('INVALID_REQUIRED_ACKS', `acks ${acks} is not 0, 1 or -1`)
    if (batch.byteLength > this.config.maxMessageBytes) {
      throw new HostError(
        'MESSAGE_TOO_LARGE',
        `batch of ${batch.byteLength} bytes exceeds max.message.bytes ${this.config.maxMessageBytes}`,
      )
    }
    const checked = validateProducedBatch(batch, { batchBytesMax: this.config.maxMessageBytes })
    if (!checked.ok) throw new HostError('CORRUPT_MESSAGE', checked.reason)
    // Leadership is moving (handed off from here, or this node campaigns): wait for it (bounded),
    // before any offset is taken, so that the batch is appended here or the answer names the new
    // leader and the producer resends there at once (KIP-951).
    if (this.host.leadershipChanging(this.group)) await this.host.leadershipSettled(this.group)
    const term = await this.leaderTerm()
    if (acks === -1) {
      const isr = this.host.isrOf(this.group)
      if (isr.length < this.config.minInsyncReplicas)
        throw new HostError(
          'NOT_ENOUGH_REPLICAS',
          `ISR [${isr}] is smaller than min.insync.replicas ${this.config.minInsyncReplicas}`,
        )
    }
    const h = checked.value
    const idempotent = h.producerId >= 0n
    if (idempotent) {
      const seq = this.leaderProducers.check(h)
      if (seq.kind === 'error') throw new HostError(seq.code, seq.message)
      if (seq.kind === 'duplicate') {
        // A retry of a batch already in the log: its original offsets, nothing appended. Its
        // commit is what acks=all waits for.
        if (acks === -1 && this.hw <= seq.lastOffset) await this.waitForCommit(h, seq.baseOffset)
        return { baseOffset: seq.baseOffset, lastOffset: seq.lastOffset, logStartOffset: this.logStartOffset }
      }
    }
    // The offsets go into the batch where it is when it is most of the buffer it came in (a large
    // produce): nothing else reads that part of the request, and the entry that keeps the batch
    // keeps little else of it. A smaller batch is copied, so the entry does not pin the request.
    const stamped = batch.byteLength * 2 >= batch.buffer.byteLength ? batch : new Uint8Array(batch)
    const baseOffset = this.logEndOffset
    setBaseOffset(stamped, baseOffset)
    setPartitionLeaderEpoch(stamped, term)
    const lastOffset = baseOffset + checked.value.lastOffsetDelta
    const lastIndexBefore = this.log.lastIndex()
    const appended = this.host.propose(this.group, [stamped], acks === -1 ? 'quorum' : 'local')
    // Refused before the append (leadership moving, too much uncommitted): it takes no offsets
    // and no sequence numbers, so a retry is not mistaken for a duplicate.
    if (this.log.lastIndex() === lastIndexBefore) {
      await appended
      throw new HostError('UNKNOWN_SERVER_ERROR', `partition group ${this.group}: the batch was not appended`)
    }
    // Synchronous since leaderTerm(): no other produce ran between the offset and the append.
    this.logEndOffset = lastOffset + 1
    if (idempotent) this.leaderProducers.record({ ...h, baseOffset })
    if (acks === 0) {
      appended.catch(() => undefined)
      return { baseOffset, lastOffset, logStartOffset: this.logStartOffset }
    }
    await appended
    return { baseOffset, lastOffset, logStartOffset: this.logStartOffset }
  }

  /** The batches from the one holding `offset`, up to `maxBytes` (at least one), below the high watermark. */
  async fetch(offset: number, maxBytes: number): Promise<FetchResult> {
    if (this.unsafeServeUncommitted) return this.fetchUncommitted(offset, maxBytes)
    this.requireCaughtUp()
    const logStartOffset = this.logStartOffset
    const result = { batches: [] as Uint8Array[], highWatermark: this.hw, logStartOffset }
    if (offset < logStartOffset || offset > this.hw) {
      throw new HostError(
        'OFFSET_OUT_OF_RANGE',
        `offset ${offset} is outside [${logStartOffset}, ${this.hw}] of partition group ${this.group}`,
      )
    }
    if (offset === this.hw) return result
    const row = await this.log.indexForOffset(offset)
    if (!row) throw new HostError('OFFSET_OUT_OF_RANGE', `no batch holds offset ${offset}`)
    const entries = await this.log.read(row.index, this.hwIndex + 1, maxBytes)
    for (const e of entries) {
      const h = headerOf(e)
      if (h && h.lastOffset < this.hw) result.batches.push(e.data)
    }
    return result
  }

  /**
   * A new leader's high watermark trails the old leader's until the first entry of its own term
   * commits: serving reads (or ListOffsets) before then would show consumers a high watermark going
   * backwards, and turn their positions "out of range" (the harness's hour run saw consumers reset to
   * offset 0). Until then: OFFSET_NOT_AVAILABLE, retriable, as Kafka answers for a new leader.
   */
  requireCaughtUp(): void {
    const term = this.host.leaderTermOf(this.group)
    if (term >= 0 && this.lastAppliedTerm !== term) {
      throw new HostError(
        'OFFSET_NOT_AVAILABLE',
        `partition group ${this.group}: new leader in term ${term}, its high watermark ${this.hw} is still catching up`,
      )
    }
  }

  /** DELIBERATE DEFECT (test-bugs.ts `serve-uncommitted`): serves the log up to its end, past the high watermark. */
  private async fetchUncommitted(offset: number, maxBytes: number): Promise<FetchResult> {
    const end = Math.max(this.hw, this.logEndOffset)
    const result = { batches: [] as Uint8Array[], highWatermark: end, logStartOffset: this.logStartOffset }
    if (offset < this.logStartOffset || offset > end) {
      throw new HostError(
        'OFFSET_OUT_OF_RANGE',
        `offset ${offset} is outside [${this.logStartOffset}, ${end}]`,
      )
    }
    if (offset === end) return result
    const row = await this.log.indexForOffset(offset)
    if (!row) throw new HostError('OFFSET_OUT_OF_RANGE', `no batch holds offset ${offset}`)
    for (const e of await this.log.read(row.index, this.log.lastIndex() + 1, maxBytes)) {
      if (headerOf(e)) result.batches.push(e.data)
    }
    return result
  }

  /**
   * The earliest offset whose record's timestamp is at or after `timestamp` (ListOffsets by
   * time), or the high watermark when none is. Reads batches from the log start, skipping those
   * whose max timestamp is earlier.
   */
  async offsetForTimestamp(timestamp: number): Promise<number> {
    let i = this.log.logStart().index + 1
    while (i <= this.hwIndex) {
      const entries = await this.log.read(i, this.hwIndex + 1, SCAN_READ_BYTES)
      for (const e of entries) {
        const h = headerOf(e)
        if (!h || h.maxTimestamp < timestamp) continue
        const decoded = decodeRecords(e.data)
        if (!decoded.ok) continue
        const hit = decoded.value.records.find((r) => r.timestamp >= timestamp)
        if (hit) return hit.offset
      }
      i = (entries[entries.length - 1]?.index ?? i) + 1
    }
    return this.hw
  }

  /** The current leader term, once the log end offset is known for it; NOT_LEADER_OR_FOLLOWER otherwise. */
  private async leaderTerm(): Promise<number> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const term = this.host.leaderTermOf(this.group)
      if (term < 0) throw NotLeaderError.hinted(this.group, this.host.leaderHint(this.group))
      if (this.logEndTerm === term) return term
      this.recovering ??= this.recoverLogEnd(term).finally(() => {
        this.recovering = null
      })
      await this.recovering
    }
    throw new NotLeaderError(this.group, 0)
  }

  /**
   * Waits until the batch of (producer, sequence) at `baseOffset` commits. If the high watermark
   * passes its offsets with another batch there (it was truncated by a new leader), or the wait
   * outlasts commitWaitMsMax, the answer is a retriable error: the producer's retry decides.
   */
  private waitForCommit(h: BatchHeader, baseOffset: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const waiter: CommitWaiter = {
        producerId: h.producerId,
        baseSequence: h.baseSequence,
        baseOffset,
        settle: (err) => {
          clearTimeout(timer)
          this.commitWaiters = this.commitWaiters.filter((w) => w !== waiter)
          if (err) reject(err)
          else resolve()
        },
      }
      const timer = setTimeout(
        () =>
          waiter.settle(new HostError('REQUEST_TIMED_OUT', `batch at ${baseOffset} not committed in time`)),
        COMMIT_WAIT_MS_MAX,
      )
      this.commitWaiters.push(waiter)
    })
  }

  private settleCommitWaiters(h: BatchHeader): void {
    for (const w of [...this.commitWaiters]) {
      if (w.baseOffset > h.lastOffset) continue
      const same =
        w.baseOffset === h.baseOffset && w.producerId === h.producerId && w.baseSequence === h.baseSequence
      w.settle(same ? undefined : new NotLeaderError(this.group, 0))
    }
  }

  /**
   * A new leader's log end offset — after the last batch in its log, or the log start's offset —
   * and its producer table: the committed one plus the batches after the last applied entry.
   */
  private async recoverLogEnd(term: number): Promise<void> {
    const producers = this.committedProducers.clone()
    const applied = this.hwIndex
    for (let i = applied + 1; i <= this.log.lastIndex(); i++) {
      const [e] = await this.log.read(i, i + 1, RECOVER_READ_BYTES)
      const h = e && headerOf(e)
      if (h && h.producerId >= 0n) producers.record(h)
    }
    this.leaderProducers = producers
    await this.recoverOffsets(term)
  }

  private async recoverOffsets(term: number): Promise<void> {
    // Entry by entry from the end: only no-ops and config entries can follow the last batch.
    const start = this.log.logStart().index
    for (let i = this.log.lastIndex(); i > start; i--) {
      const [e] = await this.log.read(i, i + 1, RECOVER_READ_BYTES)
      const h = e && headerOf(e)
      if (h) {
        this.logEndOffset = h.lastOffset + 1
        this.logEndTerm = term
        return
      }
    }
    this.logEndOffset = this.logStartOffset
    this.logEndTerm = term
  }
}
