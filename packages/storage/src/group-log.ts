/**
 * One Raft group's log on the node's shared LevelDB: the {@link RaftStorage} a replica reads and
 * writes through, plus what the broker needs beside it (offset index, applied state, async reads).
 *
 * Reads are synchronous and answered from memory: hard state, log start, last index, the term
 * runs (every term of the log) and a tail of entries. Older entries are loaded asynchronously
 * ({@link LOADING}, then `onLoaded`). Writes go into the node-wide group-commit batch and show in
 * reads at once, because Raft reads its own appends before they are durable.
 */

import { crc32c } from '@cairn/protocol'
import {
  type Entry,
  EntryKind,
  type GroupId,
  type HardState,
  LOADING,
  type LogStart,
  type LogWrite,
  type RaftStorage,
} from '@cairn/raft'
import {
  type AppliedState,
  checkData,
  type DataRef,
  decodeEntry,
  decodeOffsetRow,
  encodeApplied,
  encodeEntryForPut,
  encodeEntryRefForPut,
  encodeHardState,
  encodeLogStart,
  encodeOffsetRow,
  encodeSegmentRun,
  encodeTermRun,
  type OffsetRow,
} from './codec.js'
import type { GroupLimits, StoreContext } from './context.js'
import { CorruptLogError, InvalidWriteError } from './errors.js'
import type { Batch } from './group-commit.js'
import { assertU64, groupKey, KeyKind, key, keyNumber, kindRange } from './keys.js'
import { LoadWindows } from './load-windows.js'
import { OffsetRowCache } from './offset-cache.js'
import { emptyHardState, emptyLogStart, type Recovered } from './recover.js'
import { type SegmentRun, SegmentRuns } from './segments.js'
import { type BatchOffsets, keptEntry, TailCache } from './tail-cache.js'
import { TermRuns } from './term-runs.js'
import { validateApplied, validateEntries, validateHardState, validateLogStart } from './validate.js'

export interface GroupOptions {
  /** Called when an asynchronous load finished; `entries` then answers from memory. */
  onLoaded?: () => void
  /**
   * The offsets a normal entry (a record batch) covers, or undefined for none. When given, every
   * appended normal entry gets an offset-index row in the same batch as the entry itself.
   */
  offsetsOf?: (entry: Entry) => BatchOffsets | undefined
  /**
   * The CRC-32C of a normal entry's data when the caller has it without reading every byte (a
   * record batch's own CRC covers all but its first 21 bytes: @cairn/protocol's
   * recordBatchCrc32c), or undefined. The entry's row keeps it as the data's checksum, so a node
   * does not pass over each byte it stores once more to compute it.
   */
  dataCrcOf?: (entry: Entry) => number | undefined
}

/** Data of an entry that is in a data file, to be read there. */
interface InFile {
  entry: Entry
  segment: number
  ref: DataRef
}

const NO_DATA = new Uint8Array(0)
/** One read from a data file covers entries at most this far apart ... */
const DATA_READ_GAP_BYTES_MAX = 64 * 1024
/** ... and at most this many bytes. */
const DATA_READ_BYTES_MAX = 4 * 1024 * 1024

/** Reads that keep losing races with truncation give up after this many attempts. */
const READ_ATTEMPTS_MAX = 8
/** Rows fetched per step when scanning the offset index or the log. */
const SCAN_CHUNK_ROWS = 256

export class GroupLog implements RaftStorage {
  /** Called when an asynchronous load finished; set by the driver. */
  onLoaded: (() => void) | null
  private hard: HardState
  private start: LogStart
  private last: number
  private appliedState: AppliedState | undefined
  private damage: Error | null
  /** Bumped by every change that can invalidate an in-flight read: truncation, log start. */
  private epoch = 0
  private writes = 0
  private readonly runs: TermRuns
  private readonly segments: SegmentRuns
  /** Runs removed from `segments` whose leftover rows are deleted once that removal is durable. */
  private readonly retiring: { seq: number; run: SegmentRun }[] = []
  private readonly tail: TailCache
  private readonly windows: LoadWindows
  private readonly loads = new Set<number>()
  private readonly offsetCache: OffsetRowCache
  private readonly offsetsOf: GroupOptions['offsetsOf']
  private readonly dataCrcOf: GroupOptions['dataCrcOf']
  /** Prefix deletions waiting for the batch that carries their log start to become durable. */
  private readonly prefixClears: { seq: number; through: number }[] = []
  private clearing: Promise<void> = Promise.resolve()
  /** Lowest offset-index key written since the running prefix clear began reading. */
  private offsetPutMin = Number.POSITIVE_INFINITY

  /** @internal Groups are opened with `LevelLogStore.group(id)`. */
  constructor(
    private readonly ctx: StoreContext,
    readonly id: GroupId,
    recovered: Recovered | CorruptLogError,
    options: GroupOptions,
  ) {
    const limits: GroupLimits = ctx.limits
    const state = recovered instanceof CorruptLogError ? undefined : recovered
    this.damage = recovered instanceof CorruptLogError ? recovered : null
    this.hard = state?.hardState ?? emptyHardState()
    this.start = state?.logStart ?? emptyLogStart()
    this.appliedState = state?.applied
    this.runs = state?.runs ?? new TermRuns()
    this.segments = state?.segments ?? new SegmentRuns()
    this.last = state?.lastIndex ?? this.start.index
    this.tail = new TailCache(this.last + 1)
    this.windows = new LoadWindows(limits.loadWindowsMax)
    this.offsetCache = new OffsetRowCache(limits.offsetCacheRowsMax)
    this.onLoaded = options.onLoaded ?? null
    this.offsetsOf = options.offsetsOf
    this.dataCrcOf = options.dataCrcOf
    if (state?.leftoverPrefix) this.schedulePrefixClear(0, this.start.index)
    for (const run of state?.retired ?? []) this.retiring.push({ seq: 0, run })
    if (this.retiring.length > 0) this.batchDurable(this.ctx.commit.durableSeq)
  }

  /** Why this group cannot be read or written, or null. A damaged group stays damaged. */
  get damaged(): Error | null {
    return this.damage
  }

  // ---- RaftStorage: reads ----------------------------------------------------------------

  initialState(): { hardState: HardState; logStart: LogStart; lastIndex: number } {
    this.assertReadable()
    return { hardState: { ...this.hard }, logStart: this.logStart(), lastIndex: this.last }
  }

  term(index: number): number | undefined {
    this.assertReadable()
    if (index === this.start.index) return this.start.term
    if (index < this.start.index || index > this.last) return undefined
    return this.runs.termAt(index)
  }

  lastIndex(): number {
    this.assertReadable()
    return this.last
  }

  logStart(): LogStart {
    this.assertReadable()
    const { membership } = this.start
    return {
      ...this.start,
      membership: { voters: [...membership.voters], learners: [...membership.learners] },
    }
  }

  entries(lo: number, hi: number, bytesMax: number): Entry[] | typeof LOADING {
    this.assertReadable()
    this.assertReadRange(lo, hi)
    const memory = this.fromMemory(lo, hi, bytesMax)
    if (memory !== undefined) return memory
    this.startLoad(lo, Math.min(hi, this.tail.start))
    return LOADING
  }

  // ---- RaftStorage: writes ---------------------------------------------------------------

  write(write: LogWrite): void {
    this.assertWritable()
    this.validate(write)
    // The broker's hook runs before anything changes: if it throws, the write leaves no trace.
    const offsets = (write.entries ?? []).map((entry) => this.offsetsOfEntry(entry))
    const batch = this.ctx.commit.batchFor(this.id)
    this.enterSegment(batch)
    if (write.hardState) this.applyHardState(batch, write.hardState)
    if (write.logStart) this.applyLogStart(batch, write.logStart)
    if (write.entries && write.entries.length > 0) this.applyEntries(batch, write.entries, offsets)
    this.writes++
    this.ctx.commit.wrote(batch)
  }

  // ---- beside Raft: hard state, applied state ----------------------------------------------

  hardState(): HardState {
    this.assertReadable()
    return { ...this.hard }
  }

  /** The broker's applied state as last written, or undefined if never written. */
  applied(): AppliedState | undefined {
    this.assertReadable()
    return this.appliedState
  }

  /** Buffers the broker's applied state into the current batch (durable with it). */
  writeApplied(applied: AppliedState): void {
    this.assertWritable()
    validateApplied(this.id, applied)
    const batch = this.ctx.commit.batchFor(this.id)
    const k = groupKey(this.id, KeyKind.applied, 0)
    batch.put(k, encodeApplied(k, applied))
    this.appliedState = { index: applied.index, data: new Uint8Array(applied.data) }
    this.ctx.commit.wrote(batch)
  }

  // ---- beside Raft: asynchronous reads ------------------------------------------------------

  /**
   * Entries [lo, hi) — at least one if lo < hi, then up to `bytesMax` of data — from memory or
   * LevelDB, for the broker's fetch path. Unlike `entries`, older entries are not kept in memory.
   */
  async read(lo: number, hi: number, bytesMax: number): Promise<Entry[]> {
    for (let attempt = 0; attempt < READ_ATTEMPTS_MAX; attempt++) {
      this.assertReadable()
      this.assertReadRange(lo, hi)
      const memory = this.fromMemory(lo, hi, bytesMax)
      if (memory !== undefined) return memory
      const epoch = this.epoch
      const stored = await this.readStored(lo, Math.min(hi, this.tail.start), bytesMax).catch(
        (error: unknown) => {
          // A hole seen while the log start moved is the prefix deletion at work: retry.
          if (epoch !== this.epoch) return undefined
          this.noteDamage(error)
          throw error
        },
      )
      if (epoch !== this.epoch || stored === undefined) continue
      return this.extendFromTail(stored.entries, stored.bytes, hi, bytesMax)
    }
    throw new Error(`group ${this.id}: read of [${lo}, ${hi}) kept racing with truncation`)
  }

  /**
   * The offset-index row of the record batch that holds `offset`: the first current row whose
   * last offset is >= `offset`. Undefined when no batch in the log reaches `offset`.
   */
  async indexForOffset(offset: number): Promise<OffsetRow | undefined> {
    assertU64(offset, 'offset')
    for (let attempt = 0; attempt < READ_ATTEMPTS_MAX; attempt++) {
      this.assertReadable()
      const inTail = this.tailOffsetRow(offset)
      if (inTail !== undefined && inTail.baseOffset <= offset) return inTail
      const cached = this.offsetCache.find(offset, (row) => this.isCurrent(row))
      if (cached !== undefined) return cached
      const epoch = this.epoch
      // Rows not in the tail now were durable before this iterator's snapshot: none is missed.
      const stored = await this.scanOffsetRows(offset)
      if (epoch !== this.epoch) continue
      if (stored !== undefined) this.offsetCache.add(stored)
      return earliest(
        [inTail, stored, this.tailOffsetRow(offset)].filter((row) => row && this.isCurrent(row)),
      )
    }
    throw new Error(`group ${this.id}: offset lookup ${offset} kept racing with truncation`)
  }

  /**
   * Reads the whole stored log and checks it: every checksum, no hole from logStart + 1 to
   * lastIndex, terms non-decreasing and equal to the term runs. Flushes first; call it while the
   * group is not being written (tests, offline checks). A failure marks the group damaged.
   */
  async verify(): Promise<{ entries: number; bytes: number }> {
    for (let attempt = 0; attempt < READ_ATTEMPTS_MAX; attempt++) {
      const writes = this.writes
      await this.ctx.commit.flush()
      this.assertReadable()
      if (writes !== this.writes) continue
      try {
        return await this.scanLog()
      } catch (error) {
        this.noteDamage(error)
        throw error
      }
    }
    throw new Error(`group ${this.id}: verify kept racing with writes`)
  }

  // ---- called by the store -----------------------------------------------------------------

  /** @internal A batch carrying writes of this group is durable: trim the tail, start prefix deletions. */
  batchDurable(seq: number): void {
    this.tail.evict(this.ctx.limits.tailCacheBytesMax, seq)
    while (this.prefixClears.length > 0 && this.prefixClears[0]!.seq <= seq) {
      const { through } = this.prefixClears.shift()!
      this.clearing = this.clearing.then(() => this.clearPrefix(through))
    }
    while (this.retiring.length > 0 && this.retiring[0]!.seq <= seq) {
      const { run } = this.retiring.shift()!
      this.clearing = this.clearing.then(() => this.clearRetired(run))
    }
  }

  /** Resolves when the background prefix deletions scheduled so far have finished. */
  async settle(): Promise<void> {
    await this.clearing
  }

  // ---- write internals -----------------------------------------------------------------------

  private validate(write: LogWrite): void {
    if (write.hardState) validateHardState(this.id, this.hard, write.hardState)
    if (write.logStart) validateLogStart(this.id, this.start, write.logStart)
    if (!write.entries || write.entries.length === 0) return
    const logStart = write.logStart ?? this.start
    const keeps = write.logStart === undefined || this.keepsSuffix(write.logStart)
    const last = keeps ? Math.max(this.last, logStart.index) : logStart.index
    const first = write.entries[0]!.index
    const previousTerm =
      first - 1 === logStart.index
        ? logStart.term
        : keeps && first - 1 <= this.last
          ? this.term(first - 1)
          : undefined
    validateEntries(this.id, write.entries, { logStartIndex: logStart.index, lastIndex: last, previousTerm })
  }

  /**
   * Whether the entries above a new log start survive it: only if the log holds the entry at the
   * log start's index with the same term (Raft's log matching: then all that follows agrees with
   * the leader too). Otherwise the log start comes from a leader whose log differs from ours
   * there, and nothing of our log survives, as etcd's raft does when it restores a snapshot.
   */
  private keepsSuffix(logStart: LogStart): boolean {
    return logStart.index < this.last && this.term(logStart.index) === logStart.term
  }

  private applyHardState(batch: Batch, hardState: HardState): void {
    this.hard = { term: hardState.term, vote: hardState.vote, commit: hardState.commit }
    this.putHardState(batch)
  }

  /** The hard state, into the batch's segment (the group's latest run). */
  private putHardState(batch: Batch): void {
    const k = key(batch.segment, this.id, KeyKind.hardState, 0)
    batch.put(k, encodeHardState(k, this.hard))
  }

  /**
   * Makes the batch's segment this group's latest run: the hard state is written there with the
   * run's directory row. The run before keeps its copy until retention removes it (an empty one
   * stays as well, shadowed): deleting rows of an older segment now would put its keys into this
   * segment's memtable, and the level-0 table would overlap every table in between.
   */
  private enterSegment(batch: Batch): void {
    const segment = batch.segment
    const latest = this.segments.last()
    if (latest?.segment === segment) return
    const run: SegmentRun = { segment, firstIndex: this.last + 1, offsetLo: undefined }
    this.segments.push(run)
    this.ctx.runAdded(segment)
    this.putRun(batch, run)
    this.putHardState(batch)
  }

  private putRun(batch: Batch, run: SegmentRun): void {
    const k = key(run.segment, this.id, KeyKind.segmentRun, 0)
    batch.put(k, encodeSegmentRun(k, run))
  }

  /** Leftovers of a removed run are deleted once the batch that removed it is durable. */
  private retire(batch: Batch, run: SegmentRun): void {
    this.retiring.push({ seq: batch.seq, run })
  }

  /**
   * Removes the runs before the latest that start at or above `from`, and starts the latest run
   * at `from` if it started above: entries from `from` on are written into the latest run.
   */
  private rebase(batch: Batch, from: number): void {
    for (const run of this.segments.removeFrom(from)) this.retire(batch, run)
    const latest = this.segments.last()!
    if (latest.firstIndex > from) {
      latest.firstIndex = from
      latest.offsetLo = undefined
      this.putRun(batch, latest)
    }
  }

  /** The key of stored entry `index` (in (logStart, last]): in the run that holds it. */
  private entryKey(index: number): Uint8Array {
    const run = this.segments.runOf(index)
    if (run === undefined) throw new CorruptLogError(this.id, `no segment run holds entry ${index}`)
    return key(run.segment, this.id, KeyKind.entry, index)
  }

  /**
   * Moves the log start. Entries at or below it are deleted once this batch is durable (until then
   * they are garbage nobody reads); entries above it that do not survive are deleted in this batch.
   */
  private applyLogStart(batch: Batch, logStart: LogStart): void {
    const k = groupKey(this.id, KeyKind.logStart, 0)
    batch.put(k, encodeLogStart(k, logStart))
    const clearThrough = Math.min(logStart.index, this.last)
    if (this.keepsSuffix(logStart)) this.dropPrefix(batch, logStart.index)
    else this.dropAll(batch, logStart.index)
    if (clearThrough > this.start.index) this.schedulePrefixClear(batch.seq, clearThrough)
    this.start = {
      index: logStart.index,
      term: logStart.term,
      payload: new Uint8Array(logStart.payload),
      membership: { voters: [...logStart.membership.voters], learners: [...logStart.membership.learners] },
    }
    this.epoch++
  }

  private dropPrefix(batch: Batch, through: number): void {
    for (const start of this.runs.dropBefore(through + 1))
      batch.del(groupKey(this.id, KeyKind.termRun, start))
    this.tail.dropThrough(through)
    this.windows.dropThrough(through)
  }

  /** The log becomes empty after `start`: entries above it are deleted with the new log start. */
  private dropAll(batch: Batch, start: number): void {
    for (let index = this.last; index > start; index--) batch.del(this.entryKey(index))
    this.rebase(batch, start + 1)
    for (const runStart of this.runs.clear()) batch.del(groupKey(this.id, KeyKind.termRun, runStart))
    this.tail.reset(start + 1)
    this.windows.clear()
    this.last = start
  }

  private applyEntries(batch: Batch, entries: Entry[], offsets: (BatchOffsets | undefined)[]): void {
    const first = entries[0]!.index
    const truncates = first <= this.last
    if (truncates) this.truncate(batch, first)
    entries.forEach((entry, i) => {
      this.appendOne(batch, entry, offsets[i])
    })
    // A truncation right above the log start leaves the run before it wholly at or below the log
    // start: it goes now, or it would outlive the log start on disk (dropPrefix ran before).
    if (truncates)
      for (const start of this.runs.dropBefore(this.start.index + 1))
        batch.del(groupKey(this.id, KeyKind.termRun, start))
    this.last = entries.at(-1)!.index
    this.tail.evict(this.ctx.limits.tailCacheBytesMax, this.ctx.commit.durableSeq)
  }

  /**
   * Suffix truncation in the same batch as the entries that replace the suffix: entries that the
   * new ones do not overwrite are deleted, so no crash can leave old entries after new ones.
   */
  private truncate(batch: Batch, from: number): void {
    // Every truncated entry is deleted where it is; those the new entries overwrite in the latest
    // run are put again after the delete, in the same batch.
    for (let index = this.last; index >= from; index--) batch.del(this.entryKey(index))
    for (const start of this.runs.truncateFrom(from)) batch.del(groupKey(this.id, KeyKind.termRun, start))
    // Rows of truncated entries still on disk only (not cached) stay; lookups skip them by term.
    for (const cached of this.tail.truncateFrom(from)) {
      const run = this.segments.runOf(cached.entry.index)
      if (cached.offsets && run !== undefined)
        batch.del(key(run.segment, this.id, KeyKind.offset, cached.offsets.lastOffset))
    }
    this.rebase(batch, from)
    this.windows.truncateFrom(from)
    this.last = from - 1
    this.epoch++
  }

  private appendOne(batch: Batch, entry: Entry, offsets: BatchOffsets | undefined): void {
    const k = key(batch.segment, this.id, KeyKind.entry, entry.index)
    const { data } = entry
    const dataCrc = entry.kind === EntryKind.normal ? this.dataCrcOf?.(entry) : undefined
    if (batch.keepsInline(data.length))
      batch.put(k, encodeEntryForPut(k, entry.term, entry.kind, data, dataCrc))
    else {
      const ref = { position: batch.putData(data), length: data.length, crc: dataCrc ?? crc32c(data) }
      batch.put(k, encodeEntryRefForPut(k, entry.term, entry.kind, ref))
    }
    if (this.runs.append(entry.index, entry.term)) {
      const runKey = groupKey(this.id, KeyKind.termRun, entry.index)
      batch.put(runKey, encodeTermRun(runKey, entry.term))
    }
    if (offsets) this.putOffsetRow(batch, { ...offsets, index: entry.index, term: entry.term })
    this.tail.push({ entry: keptEntry(entry), batchSeq: batch.seq, offsets })
  }

  private offsetsOfEntry(entry: Entry): BatchOffsets | undefined {
    if (this.offsetsOf === undefined || entry.kind !== EntryKind.normal) return undefined
    const offsets = this.offsetsOf(entry)
    if (offsets === undefined) return undefined
    assertU64(offsets.baseOffset, 'baseOffset')
    assertU64(offsets.lastOffset, 'lastOffset')
    if (offsets.lastOffset < offsets.baseOffset) {
      throw new InvalidWriteError(this.id, `entry ${entry.index}: lastOffset < baseOffset`)
    }
    return { baseOffset: offsets.baseOffset, lastOffset: offsets.lastOffset }
  }

  private putOffsetRow(batch: Batch, row: OffsetRow): void {
    const latest = this.segments.last()!
    if (latest.offsetLo === undefined) {
      latest.offsetLo = row.lastOffset
      this.putRun(batch, latest)
    }
    const k = key(batch.segment, this.id, KeyKind.offset, row.lastOffset)
    batch.put(k, encodeOffsetRow(k, row))
    this.offsetPutMin = Math.min(this.offsetPutMin, row.lastOffset)
  }

  // ---- prefix deletion -------------------------------------------------------------------

  private schedulePrefixClear(seq: number, through: number): void {
    this.prefixClears.push({ seq, through })
    if (seq <= this.ctx.commit.durableSeq) this.batchDurable(this.ctx.commit.durableSeq)
  }

  /**
   * Deletes entries and offset rows at or below `through`. Runs only after the log start that
   * makes them garbage is durable, so a crash part-way leaves garbage, never a hole.
   */
  private async clearPrefix(through: number): Promise<void> {
    try {
      for (const run of this.segments.from(0)) {
        if (this.ctx.isClosed() || this.damage !== null || run.firstIndex > through) return
        const { segment } = run
        const entries = {
          gte: key(segment, this.id, KeyKind.entry, 0),
          lte: key(segment, this.id, KeyKind.entry, through),
        }
        await this.ctx.db.clear(entries)
        await this.clearOffsetRows(segment, through)
        // A run wholly at or below `through` that is no longer the latest goes: its leftovers (offset
        // rows of entries truncated long ago) with it, and its directory row last.
        const next = this.segments.after(run)
        if (next !== undefined && next.firstIndex <= through + 1 && this.segments.remove(run)) {
          await this.clearRetired(run)
        }
      }
    } catch (error) {
      this.noteDamage(error)
    }
  }

  /**
   * Deletes what is left of a run no longer listed: its entries, offset rows and old hard state
   * (a LevelDB range deletion, safe because nothing writes into a run that is not the latest),
   * then its directory row.
   */
  private async clearRetired(run: SegmentRun): Promise<void> {
    if (this.ctx.isClosed() || this.damage !== null) return
    try {
      const { segment } = run
      // Everything but the directory row: hard state, entries, offset rows.
      await this.ctx.db.clear({
        gt: key(segment, this.id, KeyKind.segmentRun, 0),
        lt: key(segment, this.id, (KeyKind.offset + 1) as KeyKind, 0),
      })
      const batch = this.ctx.commit.batchFor(this.id)
      batch.del(key(segment, this.id, KeyKind.segmentRun, 0))
      this.ctx.commit.wrote(batch)
      // Once the row's deletion is durable, the segment's data file may go with its last run.
      void this.ctx.commit.flush().then(
        () => this.ctx.runRemoved(segment),
        () => {},
      )
    } catch (error) {
      this.noteDamage(error)
    }
  }

  /**
   * Offset rows are keyed by offset, so the rows of entries <= `through` are found by reading
   * forward until the first row of a later entry. The deletes go into the group-commit batch (in
   * order with puts) and skip keys written since the read began: such a key holds a new row.
   */
  private async clearOffsetRows(segment: number, through: number): Promise<void> {
    const range = kindRange(segment, this.id, KeyKind.offset)
    let done = false
    while (!done && !this.ctx.isClosed() && this.damage === null) {
      this.offsetPutMin = Number.POSITIVE_INFINITY
      const rows = await this.ctx.db.iterator({ ...range, limit: this.ctx.limits.deleteBatchRowsMax }).all()
      const doomed: number[] = []
      for (const [k, v] of rows) {
        const row = decodeOffsetRow(this.id, k, v, keyNumber(k))
        if (row.index > through) break
        doomed.push(row.lastOffset)
      }
      done = doomed.length < rows.length || rows.length < this.ctx.limits.deleteBatchRowsMax
      const safe = doomed.filter((lastOffset) => lastOffset < this.offsetPutMin)
      if (safe.length < doomed.length || safe.length === 0) done = true
      if (safe.length > 0) this.deleteOffsetRows(segment, safe)
      range.gte = key(segment, this.id, KeyKind.offset, (doomed.at(-1) ?? 0) + 1)
    }
  }

  private deleteOffsetRows(segment: number, lastOffsets: number[]): void {
    const batch = this.ctx.commit.batchFor(this.id)
    for (const lastOffset of lastOffsets) batch.del(key(segment, this.id, KeyKind.offset, lastOffset))
    this.ctx.commit.wrote(batch)
    void this.ctx.commit.flush().catch(() => {})
  }

  // ---- read internals --------------------------------------------------------------------

  /** Entries from the tail or a loaded window (extended into the tail), or undefined. */
  private fromMemory(lo: number, hi: number, bytesMax: number): Entry[] | undefined {
    if (lo === hi) return []
    if (lo >= this.tail.start) return this.tail.slice(lo, hi, bytesMax)
    const loaded = this.windows.slice(lo, hi, bytesMax)
    if (loaded === undefined) return undefined
    return this.extendFromTail(loaded.entries, loaded.bytes, hi, bytesMax)
  }

  /** Appends tail entries that continue `entries` while below `hi` and within `bytesMax`. */
  private extendFromTail(entries: Entry[], bytes: number, hi: number, bytesMax: number): Entry[] {
    let next = (entries.at(-1)?.index ?? hi) + 1
    let total = bytes
    for (
      let cached = this.tail.get(next);
      cached !== undefined && next < hi;
      cached = this.tail.get(++next)
    ) {
      total += cached.entry.data.length
      if (total > bytesMax) break
      entries.push(cached.entry)
    }
    return entries
  }

  private startLoad(lo: number, hi: number): void {
    if (this.loads.has(lo) || this.loads.size >= this.ctx.limits.loadWindowsMax) return
    this.loads.add(lo)
    const epoch = this.epoch
    this.readStored(lo, hi, this.ctx.limits.loadBytesMax)
      .then(
        (stored) => {
          if (epoch === this.epoch) this.windows.add(lo, stored.entries)
        },
        (error: unknown) => {
          if (epoch === this.epoch) this.noteDamage(error)
        },
      )
      .finally(() => {
        this.loads.delete(lo)
        if (!this.ctx.isClosed()) this.onLoaded?.()
      })
  }

  /** Reads stored entries [lo, hi): at least one, then up to `bytesMax`; checks checksums and holes. */
  private async readStored(
    lo: number,
    hi: number,
    bytesMax: number,
  ): Promise<{ entries: Entry[]; bytes: number }> {
    const entries: Entry[] = []
    const inFiles: InFile[] = []
    let bytes = 0
    while (lo + entries.length < hi) {
      const from = lo + entries.length
      // Looked up afresh for each run: a truncation meanwhile is caught by the caller's epoch check.
      const span = this.segments.span(from)
      if (span === undefined) break
      const to = Math.min(hi, span.end ?? hi)
      const iterator = this.ctx.db.iterator({
        gte: key(span.run.segment, this.id, KeyKind.entry, from),
        lt: key(span.run.segment, this.id, KeyKind.entry, to),
      })
      try {
        while (lo + entries.length < to) {
          const rows = await iterator.nextv(SCAN_CHUNK_ROWS)
          if (rows.length === 0) break
          for (const [k, v] of rows) {
            const { entry, ref } = this.decodeAt(k, v, lo + entries.length)
            const length = ref?.length ?? entry.data.length
            if (entries.length > 0 && bytes + length > bytesMax) {
              await this.readData(inFiles)
              return { entries, bytes }
            }
            entries.push(entry)
            if (ref !== undefined) inFiles.push({ entry, segment: span.run.segment, ref })
            bytes += length
          }
        }
      } finally {
        await iterator.close()
      }
      // A run ends where the next begins: a shortfall is a hole.
      if (lo + entries.length < to)
        throw new CorruptLogError(this.id, `entry ${lo + entries.length} is missing`)
    }
    if (entries.length === 0) throw new CorruptLogError(this.id, `entry ${lo} is missing`)
    await this.readData(inFiles)
    return { entries, bytes }
  }

  /** An entry row read back; an entry whose data is in a data file has empty data and its `ref`. */
  private decodeAt(
    k: Uint8Array,
    v: Uint8Array,
    expected: number,
  ): { entry: Entry; ref: DataRef | undefined } {
    const index = keyNumber(k)
    if (index !== expected)
      throw new CorruptLogError(this.id, `entry ${expected} is missing (next stored: ${index})`)
    const { term, kind, data, ref } = decodeEntry(this.id, k, v, index)
    return { entry: { index, term, kind, data: data ?? NO_DATA }, ref }
  }

  /**
   * Fills in the data of entries stored in data files, checking each against its checksum. Data
   * that lies close together in a file (one group's entries of one batch are back to back) is read
   * with one read of at most `DATA_READ_BYTES_MAX`.
   */
  private async readData(inFiles: InFile[]): Promise<void> {
    inFiles.sort((a, b) => a.segment - b.segment || a.ref.position - b.ref.position)
    for (let i = 0; i < inFiles.length; ) {
      const first = inFiles[i]!
      let end = first.ref.position + first.ref.length
      let j = i + 1
      for (; j < inFiles.length; j++) {
        const { segment, ref } = inFiles[j]!
        const gap = ref.position - end
        const reach = Math.max(end, ref.position + ref.length)
        if (segment !== first.segment || gap < 0 || gap > DATA_READ_GAP_BYTES_MAX) break
        if (reach - first.ref.position > DATA_READ_BYTES_MAX) break
        end = reach
      }
      const span = await this.ctx.files
        .read(first.segment, first.ref.position, end - first.ref.position)
        .catch((error: unknown) => {
          if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error
          throw new CorruptLogError(
            this.id,
            `entry ${first.entry.index}: the data file of segment ${first.segment} is missing`,
          )
        })
      for (const { entry, ref } of inFiles.slice(i, j)) {
        const at = ref.position - first.ref.position
        const data = span.subarray(at, Math.min(span.length, at + ref.length))
        entry.data = checkData(this.id, entry.index, ref, data)
      }
      i = j
    }
  }

  private tailOffsetRow(offset: number): OffsetRow | undefined {
    const cached = this.tail.offsetsAtOrAfter(offset)
    if (cached?.offsets === undefined) return undefined
    return { ...cached.offsets, index: cached.entry.index, term: cached.entry.term }
  }

  /** A row is current while the log holds an entry with the row's term at the row's index. */
  private isCurrent(row: OffsetRow): boolean {
    return row.index > this.start.index && row.index <= this.last && this.runs.termAt(row.index) === row.term
  }

  /** The first current stored row with last offset >= `offset`, skipping stale rows. */
  private async scanOffsetRows(offset: number): Promise<OffsetRow | undefined> {
    let scanned = 0
    for (const { segment } of this.segments.forOffset(offset)) {
      const iterator = this.ctx.db.iterator({
        gte: key(segment, this.id, KeyKind.offset, offset),
        lt: kindRange(segment, this.id, KeyKind.offset).lt,
      })
      try {
        while (scanned < this.ctx.limits.offsetScanRowsMax) {
          const rows = await iterator.nextv(SCAN_CHUNK_ROWS)
          if (rows.length === 0) break
          for (const [k, v] of rows) {
            const row = this.decodeOffsetRowChecked(k, v)
            if (this.isCurrent(row)) return row
          }
          scanned += rows.length
        }
      } finally {
        await iterator.close()
      }
      if (scanned >= this.ctx.limits.offsetScanRowsMax) break
    }
    if (scanned < this.ctx.limits.offsetScanRowsMax) return undefined
    throw new Error(`group ${this.id}: more than ${this.ctx.limits.offsetScanRowsMax} stale offset rows`)
  }

  private decodeOffsetRowChecked(k: Uint8Array, v: Uint8Array): OffsetRow {
    try {
      return decodeOffsetRow(this.id, k, v, keyNumber(k))
    } catch (error) {
      this.noteDamage(error)
      throw error
    }
  }

  /** The scan behind `verify`: the durable log equals the in-memory view and every checksum holds. */
  private async scanLog(): Promise<{ entries: number; bytes: number }> {
    const last = this.last
    let expected = this.start.index + 1
    let previousTerm = this.start.term
    let bytes = 0
    const runs = this.segments.from(0)
    for (let i = 0; i < runs.length; i++) {
      const { segment } = runs[i]!
      // Every entry of a run lies below the next run's first index (the last run: at most `last`).
      const end = (runs[i + 1]?.firstIndex ?? last + 1) - 1
      const iterator = this.ctx.db.iterator({
        gt: key(segment, this.id, KeyKind.entry, this.start.index),
        lt: kindRange(segment, this.id, KeyKind.entry).lt,
      })
      try {
        for (
          let rows = await iterator.nextv(SCAN_CHUNK_ROWS);
          rows.length > 0;
          rows = await iterator.nextv(SCAN_CHUNK_ROWS)
        ) {
          const inFiles: InFile[] = []
          for (const [k, v] of rows) {
            const { entry, ref } = this.decodeAt(k, v, expected)
            this.checkScanned(entry, previousTerm, Math.min(last, end))
            if (ref !== undefined) inFiles.push({ entry, segment, ref })
            previousTerm = entry.term
            bytes += ref?.length ?? entry.data.length
            expected++
          }
          await this.readData(inFiles)
        }
      } finally {
        await iterator.close()
      }
    }
    if (expected !== last + 1)
      throw new CorruptLogError(this.id, `log ends at ${expected - 1}, expected ${last}`)
    return { entries: last - this.start.index, bytes }
  }

  private checkScanned(entry: Entry, previousTerm: number, last: number): void {
    if (entry.index > last)
      throw new CorruptLogError(this.id, `entry ${entry.index} stored beyond the last ${last}`)
    if (entry.term < previousTerm) {
      throw new CorruptLogError(this.id, `entry ${entry.index}: term ${entry.term} after ${previousTerm}`)
    }
    const expectedTerm = this.runs.termAt(entry.index)
    if (entry.term !== expectedTerm) {
      throw new CorruptLogError(
        this.id,
        `entry ${entry.index}: term ${entry.term}, term runs say ${expectedTerm}`,
      )
    }
  }

  // ---- guards --------------------------------------------------------------------------

  /**
   * A failed read or background deletion damages the group (not the node): corruption, or an I/O
   * error that leaves what is stored unknown. Errors from closing the store are not damage.
   */
  private noteDamage(error: unknown): void {
    if (this.ctx.isClosed()) return
    this.damage ??= asError(error)
  }

  private assertReadable(): void {
    if (this.damage !== null) throw this.damage
  }

  private assertWritable(): void {
    this.assertReadable()
    this.ctx.assertWritable()
  }

  private assertReadRange(lo: number, hi: number): void {
    if (
      !(
        Number.isSafeInteger(lo) &&
        Number.isSafeInteger(hi) &&
        lo > this.start.index &&
        lo <= hi &&
        hi <= this.last + 1
      )
    ) {
      throw new RangeError(
        `group ${this.id}: entries [${lo}, ${hi}) outside the log (${this.start.index}, ${this.last}]`,
      )
    }
  }
}

function earliest(rows: (OffsetRow | undefined)[]): OffsetRow | undefined {
  let best: OffsetRow | undefined
  for (const row of rows) if (row && (best === undefined || row.lastOffset < best.lastOffset)) best = row
  return best
}

function asError(error: unknown): Error {
  return error instanceof Error ? error : new Error(String(error))
}
