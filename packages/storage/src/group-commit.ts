/**
 * Group commit: every write of every group lands in the open batch; one LevelDB batch, written
 * with `{ sync: true }`, carries all of them to disk with one fsync.
 *
 * Invariants:
 * - At most one batch is in flight. Batch N+1 is handed to LevelDB only after batch N is durable,
 *   so a crash loses at most a suffix of whole batches: never a hole.
 * - While a batch is in flight, new writes gather in the open batch, and every flush() asked for
 *   in the meantime is answered by that one next batch (flushes coalesce).
 * - A batch that grows past `batchBytesMax` is sealed and written without waiting for a flush.
 * - After a failed batch write, nothing more is written (fail-stop): what is durable is unknown.
 * - Every batch belongs to one segment of the node's key space (keys.ts). A new segment begins
 *   with the first batch after the current one's length (`nextSegmentBytes`) was written into it.
 * - Entry data past the batch's first `inlineDataBytesMax` bytes goes to the segment's data file
 *   (data-files.ts), at positions reserved in batch order; a batch carrying such data writes it and
 *   fdatasyncs the file before its LevelDB batch, so no durable row points at bytes that are not.
 */

import { channel } from 'node:diagnostics_channel'
import type { GroupId } from '@cairn/raft'
import type { ChainedBatch, ClassicLevel } from 'classic-level'
import type { DataFiles } from './data-files.js'
import { StoreClosedError } from './errors.js'
import { SEGMENT_MAX } from './keys.js'

type Db = ClassicLevel<Uint8Array, Uint8Array>

/**
 * Each batch once durable, for following one write through every process it touches
 * (`scripts/trace-hops.mjs`): `{ seq, bytes, dataBytes, askedMs, startedMs, dataWrittenMs,
 * durableMs }`, times from `performance.now()`: when a flush first asked for the batch (or it
 * filled), when it was handed to LevelDB (after the batch before it was durable), when its data
 * file part was durable, when it was. Nothing is timed unless the channel has a subscriber.
 */
const batchChannel = channel('cairn:store:batch')

/** Everything a finished batch tells the store: who wrote into it. */
export interface DurableBatch {
  seq: number
  groups: ReadonlySet<GroupId>
}

export class Batch {
  readonly groups = new Set<GroupId>()
  readonly durable: Promise<void>
  bytes = 0
  ops = 0
  /** Someone awaits this batch: write it as soon as nothing is in flight. */
  wanted = false
  /** When the batch was first asked for or sealed full (`performance.now()`; traced batches only). */
  askedMs = 0
  /** Entry data bytes kept in LevelDB rows so far; past `inlineDataBytesMax` data goes to the file. */
  private inlineBytes = 0
  /** Entry data for the segment's data file, in position order from `dataPosition`. */
  private readonly dataParts: Uint8Array[] = []
  dataBytes = 0
  resolve!: () => void
  reject!: (error: Error) => void
  private readonly chained: ChainedBatch<Db, Uint8Array, Uint8Array>

  constructor(
    db: Db,
    readonly seq: number,
    /** The segment of the node's key space that the rows a group writes every turn go under. */
    readonly segment: number,
    /** Where this batch's data begins in the segment's data file. */
    readonly dataPosition = 0,
    /** Entry data bytes a batch keeps in LevelDB before it uses the data file. */
    private readonly inlineDataBytesMax = Number.POSITIVE_INFINITY,
  ) {
    this.chained = db.batch()
    this.durable = new Promise<void>((resolve, reject) => {
      this.resolve = resolve
      this.reject = reject
    })
    // The store reports failures itself; a batch nobody awaited must not crash the process.
    this.durable.catch(() => {})
  }

  put(key: Uint8Array, value: Uint8Array): void {
    this.chained.put(key, value)
    this.ops++
    this.bytes += key.length + value.length
  }

  del(key: Uint8Array): void {
    this.chained.del(key)
    this.ops++
    this.bytes += key.length
  }

  /**
   * Whether an entry of `bytes` bytes of data goes into its LevelDB row (true) or the data file:
   * inline while the batch's inline data stays within `inlineDataBytesMax`, so a small batch
   * costs one fsync (LevelDB's) and a large one writes most of its bytes once.
   */
  keepsInline(bytes: number): boolean {
    if (bytes === 0 || this.inlineBytes + bytes <= this.inlineDataBytesMax) {
      this.inlineBytes += bytes
      return true
    }
    return false
  }

  /** Adds `data` for the data file (not copied: it must not change); returns its position there. */
  putData(data: Uint8Array): number {
    const position = this.dataPosition + this.dataBytes
    this.dataParts.push(data)
    this.dataBytes += data.byteLength
    this.bytes += data.byteLength
    return position
  }

  /** Writes the data (durable first), then the LevelDB batch with sync. */
  async write(files?: DataFiles): Promise<void> {
    const traced = batchChannel.hasSubscribers
    const startedMs = traced ? performance.now() : 0
    let dataWrittenMs = startedMs
    if (this.dataParts.length > 0) {
      if (files === undefined) throw new Error('a batch with data for the data file needs the data files')
      await files.append(this.segment, this.dataPosition, this.dataParts)
      if (traced) dataWrittenMs = performance.now()
    }
    await this.chained.write({ sync: true })
    if (traced) {
      const { seq, bytes, dataBytes } = this
      const askedMs = this.askedMs || startedMs
      batchChannel.publish({
        seq,
        bytes,
        dataBytes,
        askedMs,
        startedMs,
        dataWrittenMs,
        durableMs: performance.now(),
      })
    }
  }

  async discard(): Promise<void> {
    await this.chained.close()
  }
}

export interface GroupCommitStats {
  /** Batches written to LevelDB. */
  batches: number
  /** Batches written with `sync: true`, that is fsyncs of the write-ahead log. */
  syncs: number
  /** Key and value bytes handed to LevelDB in batches. */
  bytesWritten: number
}

export class GroupCommit {
  private open: Batch | null = null
  private readonly sealed: Batch[] = []
  private inFlight: Batch | null = null
  private nextSeq = 1
  private failure: Error | null = null
  private flushScheduled = false
  private segment: number
  /** Bytes of the batches sealed in the current segment. */
  private segmentFilledBytes = 0
  /** Bytes after which the current segment ends: each segment draws its own. */
  private segmentTargetBytes: number
  /** The segment of the last batch handed to LevelDB. */
  private writtenSegment: number
  /** Bytes of the current segment's data file reserved by sealed batches. */
  private segmentDataBytes = 0
  /** Highest batch sequence number known durable; every lower one is durable too. */
  durableSeq = 0
  readonly stats: GroupCommitStats = { batches: 0, syncs: 0, bytesWritten: 0 }

  constructor(
    private readonly db: Db,
    private readonly batchBytesMax: number,
    private readonly autoFlush: boolean,
    private readonly onBatchDurable: (batch: DurableBatch) => void,
    firstSegment: number,
    /** The length of the next segment, in bytes (≥ 1); asked once per segment. */
    private readonly nextSegmentBytes: () => number,
    /** Called just before the first batch of a new segment is handed to LevelDB, with the segment before. */
    private readonly onSegmentStart: (previous: number) => void = () => {},
    private readonly files?: DataFiles,
    private readonly inlineDataBytesMax = Number.POSITIVE_INFINITY,
  ) {
    this.segment = firstSegment
    this.segmentTargetBytes = nextSegmentBytes()
    this.writtenSegment = firstSegment
  }

  get failed(): Error | null {
    return this.failure
  }

  /** The segment new batches go into. */
  get currentSegment(): number {
    return this.segment
  }

  /** Bytes written by groups and not yet durable. */
  pendingBytes(): number {
    let bytes = (this.open?.bytes ?? 0) + (this.inFlight?.bytes ?? 0)
    for (const batch of this.sealed) bytes += batch.bytes
    return bytes
  }

  /** The batch a write by `group` goes into now. Call `wrote` once the write's ops are added. */
  batchFor(group: GroupId): Batch {
    if (this.failure !== null) throw this.failure
    if (this.open === null) {
      if (this.segmentFilledBytes >= this.segmentTargetBytes) {
        if (this.segment >= SEGMENT_MAX)
          throw new StoreClosedError(`segment numbers exhausted at ${this.segment}`)
        this.segment++
        this.segmentFilledBytes = 0
        this.segmentDataBytes = 0
        this.segmentTargetBytes = this.nextSegmentBytes()
      }
      this.open = new Batch(
        this.db,
        this.nextSeq++,
        this.segment,
        this.segmentDataBytes,
        this.inlineDataBytesMax,
      )
    }
    this.open.groups.add(group)
    return this.open
  }

  /** A write went into `batch`: seal it if full, schedule the automatic flush if enabled. */
  wrote(batch: Batch): void {
    if (batch === this.open && batch.bytes >= this.batchBytesMax) {
      this.seal()
      this.pump()
    }
    if (this.autoFlush && !this.flushScheduled) {
      this.flushScheduled = true
      // setImmediate runs after the current turn: all writes of this turn share the batch.
      setImmediate(() => {
        this.flushScheduled = false
        void this.flush()
      })
    }
  }

  /** Resolves once everything written before the call is durable; rejects if the store failed. */
  flush(): Promise<void> {
    if (this.failure !== null) return Promise.reject(this.failure)
    const open = this.open
    if (open !== null && open.ops > 0) {
      if (!open.wanted && batchChannel.hasSubscribers) open.askedMs = performance.now()
      open.wanted = true
      this.pump()
      return open.durable
    }
    const last = this.sealed.at(-1) ?? this.inFlight
    return last?.durable ?? Promise.resolve()
  }

  /** Flushes, then releases the empty open batch: nothing is pending afterwards. */
  async drain(): Promise<void> {
    while (this.open !== null && this.open.ops > 0) await this.flush()
    await this.flush()
    const open = this.open
    this.open = null
    if (open !== null) await open.discard()
  }

  /** Stops accepting writes: later writes and flushes fail with `error`. */
  fail(error: Error): void {
    if (this.failure !== null) return
    this.failure = error
    const abandoned = [...this.sealed.splice(0), ...(this.open ? [this.open] : [])]
    this.open = null
    for (const batch of abandoned) {
      batch.reject(error)
      void batch.discard().catch(() => {})
    }
  }

  private seal(): void {
    if (this.open === null) return
    if (this.open.askedMs === 0 && batchChannel.hasSubscribers) this.open.askedMs = performance.now()
    this.segmentFilledBytes += this.open.bytes
    this.segmentDataBytes += this.open.dataBytes
    this.sealed.push(this.open)
    this.open = null
  }

  /** Hands the next batch to LevelDB if none is in flight. */
  private pump(): void {
    if (this.inFlight !== null || this.failure !== null) return
    if (this.sealed.length === 0 && this.open?.wanted) this.seal()
    const next = this.sealed.shift()
    if (next === undefined) return
    this.inFlight = next
    if (next.segment !== this.writtenSegment) {
      const previous = this.writtenSegment
      this.writtenSegment = next.segment
      this.onSegmentStart(previous)
    }
    next.write(this.files).then(
      () => this.finish(next),
      (error: unknown) => {
        const failure = new StoreClosedError('batch write failed; store stopped', { cause: error })
        this.inFlight = null
        next.reject(failure)
        this.fail(failure)
      },
    )
  }

  private finish(batch: Batch): void {
    this.inFlight = null
    this.durableSeq = batch.seq
    this.stats.batches++
    this.stats.syncs++
    this.stats.bytesWritten += batch.bytes
    batch.resolve()
    this.pump()
    this.onBatchDurable({ seq: batch.seq, groups: batch.groups })
  }
}
