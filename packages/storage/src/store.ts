/**
 * One LevelDB database per node holding every Raft group's log, with group commit: all writes of
 * all groups in one turn of the event loop share one batch and one fsync.
 */

import type { GroupId } from '@cairn/raft'
import { ClassicLevel } from 'classic-level'
import type { Db, GroupLimits, StoreContext } from './context.js'
import { type DataFileStats, DataFiles } from './data-files.js'
import { CorruptLogError, StoreClosedError, StoreFormatError } from './errors.js'
import { type DurableBatch, GroupCommit, type GroupCommitStats } from './group-commit.js'
import { GroupLog, type GroupOptions } from './group-log.js'
import { assertGroupId, GROUP_ROWS, KeyKind, key } from './keys.js'
import { type Directory, readDirectory, recover } from './recover.js'

const KiB = 1024
const MiB = 1024 * KiB

export interface LogStoreOptions extends Partial<GroupLimits> {
  /** A batch that grows past this is sealed and written without waiting for a flush. */
  batchBytesMax?: number
  /** Above this many bytes written and not yet durable, `overloaded()` says the driver should wait. */
  pendingBytesMax?: number
  /** Flush by itself at the end of every turn that wrote something (default false: call flush). */
  autoFlush?: boolean
  /** LevelDB's memtable size: larger means fewer level-0 files and less compaction stalling. */
  writeBufferBytes?: number
  /** LevelDB's block cache for reads. */
  blockCacheBytes?: number
  /** LevelDB's table file size: larger files mean fewer, longer compactions. */
  tableFileBytes?: number
  /**
   * Bytes written under one segment of the key space before the next begins (keys.ts). Each new
   * segment begins with a memtable flush, so a level-0 table holds whole segments and overlaps no
   * other table.
   */
  segmentBytes?: number
  /**
   * Each segment's length is drawn uniformly from segmentBytes × [1 − spread, 1 + spread), so the
   * replicas of a cluster, which store the same bytes, do not all flush a memtable at the same
   * moment (default 0.25; 0 to 0.5).
   */
  segmentSpread?: number
  /** The random source of the segment lengths (default Math.random); tests seed it. */
  random?: () => number
  /**
   * Entry data bytes a batch keeps in LevelDB rows; past them, its entries' data goes to the
   * segment's data file (data-files.ts), written once and fdatasynced before LevelDB's batch. A
   * small batch then costs one fsync, a large one writes its bytes once instead of three times
   * (LevelDB's log, its memtable's table). 0: all data in files.
   */
  inlineDataBytesMax?: number
  /** Data files kept open for reads (least recently used ones are closed beyond it). */
  readFilesOpenMax?: number
}

export const DEFAULT_LIMITS: GroupLimits = {
  tailCacheBytesMax: 4 * MiB,
  loadBytesMax: 1 * MiB,
  loadWindowsMax: 4,
  offsetCacheRowsMax: 1024,
  offsetScanRowsMax: 64 * 1024,
  deleteBatchRowsMax: 4096,
}

const DEFAULT_BATCH_BYTES_MAX = 32 * MiB
const DEFAULT_PENDING_BYTES_MAX = 256 * MiB
/**
 * LevelDB's memtable and table file size, and the segment size. Every table LevelDB writes (a
 * memtable's level-0 table, each compaction output) ends with an fsync, and on ext4 the write-ahead
 * log's fsync waits behind it, so small tables keep the group commit's stalls short: a 64 MiB
 * memtable stalled every group commit of a node for 0.1–0.5 s at each flush. Small memtables used
 * to cost rewriting (8 MiB: 6× written per byte stored, with the group first in the key); with the
 * segment first, tables are moved down, not merged, and each segment's 4 MiB is one table. The
 * memtable is larger than a segment so that the segments, not LevelDB, decide when it is flushed.
 */
const DEFAULT_WRITE_BUFFER_BYTES = 8 * MiB
const DEFAULT_BLOCK_CACHE_BYTES = 32 * MiB
const DEFAULT_TABLE_FILE_BYTES = 2 * MiB
const DEFAULT_SEGMENT_BYTES = 4 * MiB
/**
 * Three replicas that start together write the same bytes and so begin their segments, and flush
 * their memtables, at about the same moment: three LevelDB threads building a table at once on a
 * 2-core machine (62 % of flushes overlapped another node's). Segment lengths drawn ±25 % apart
 * spread the flushes out (24 %; BENCHMARKS.md).
 */
const DEFAULT_SEGMENT_SPREAD = 0.25
/**
 * A batch of up to 64 KiB of data (one record in flight, or a few thousand records a second) keeps
 * it inline and costs one fsync; a larger one pays a second fsync to write most of its bytes once.
 */
const DEFAULT_INLINE_DATA_BYTES_MAX = 64 * KiB
/** Data files open for reads at once: a read of an old segment opens its file, and keeps it. */
const DEFAULT_READ_FILES_OPEN_MAX = 64
const SEGMENT_SPREAD_MAX = 0.5
/**
 * The layout this version writes: 3 is 2 with entries' data in the segments' data files where the
 * row says so (2026-11-27); 2 is keys with the segment first (2026-11-26); 1 was
 * `[group][kind][number]`, 13-byte keys, without a format row. A database of format 2 is read as
 * it is (all its data is inline) and marked 3 at open, since an older version cannot read 3.
 */
const STORE_FORMAT = 3
const UPGRADES_FROM = 2
const FORMAT_KEY = key(GROUP_ROWS, 0, KeyKind.storeFormat, 0)
/** Greater than every key (keys are 17 bytes): a CompactRange over it compacts nothing. */
const BEYOND_EVERY_KEY = new Uint8Array(18).fill(0xff)

export interface StoreStats extends GroupCommitStats, DataFileStats {
  /** Memtable flushes asked of LevelDB, one at the start of each segment. */
  memtableFlushes: number
  /** Bytes written by groups and not yet durable. */
  pendingBytes: number
}

export type DurableListener = (groups: ReadonlySet<GroupId>) => void

export class LevelLogStore {
  private readonly groups = new Map<GroupId, Promise<GroupLog>>()
  private readonly opened = new Map<GroupId, GroupLog>()
  private readonly listeners = new Set<DurableListener>()
  private readonly commit: GroupCommit
  private readonly context: StoreContext
  private state: 'open' | 'closing' | 'closed' = 'open'
  /** The memtable flush asked of LevelDB and not yet done, if any. */
  private memtableFlushing: Promise<void> | null = null
  private memtableFlushes = 0
  /** Directory rows per segment: a segment's data file goes when its count falls to 0. */
  private readonly runsPerSegment: Map<number, number>

  private constructor(
    private readonly db: Db,
    limits: GroupLimits,
    private readonly options: LogStoreOptions,
    private readonly directory: Directory,
    private readonly files: DataFiles,
  ) {
    const segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES
    if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 1)
      throw new RangeError(`segmentBytes must be a positive integer, got ${segmentBytes}`)
    const spread = options.segmentSpread ?? DEFAULT_SEGMENT_SPREAD
    if (!(spread >= 0 && spread <= SEGMENT_SPREAD_MAX))
      throw new RangeError(`segmentSpread must be from 0 to ${SEGMENT_SPREAD_MAX}, got ${spread}`)
    const random = options.random ?? Math.random
    const inlineDataBytesMax = options.inlineDataBytesMax ?? DEFAULT_INLINE_DATA_BYTES_MAX
    if (!Number.isSafeInteger(inlineDataBytesMax) || inlineDataBytesMax < 0)
      throw new RangeError(`inlineDataBytesMax must be a non-negative integer, got ${inlineDataBytesMax}`)
    this.runsPerSegment = new Map(directory.runsPerSegment)
    this.commit = new GroupCommit(
      db,
      options.batchBytesMax ?? DEFAULT_BATCH_BYTES_MAX,
      options.autoFlush ?? false,
      (batch) => this.batchDurable(batch),
      directory.segmentMax + 1,
      () => Math.max(1, Math.round(segmentBytes * (1 - spread + 2 * spread * random()))),
      (previous) => this.segmentStarted(previous),
      files,
      inlineDataBytesMax,
    )
    this.context = {
      db,
      commit: this.commit,
      limits,
      files,
      runAdded: (segment) => this.runsPerSegment.set(segment, (this.runsPerSegment.get(segment) ?? 0) + 1),
      runRemoved: (segment) => this.runRemoved(segment),
      assertWritable: () => this.assertWritable(),
      isClosed: () => this.state === 'closed',
    }
  }

  /** Opens (creating if missing) the node's database at `path`. */
  static async open(path: string, options: LogStoreOptions = {}): Promise<LevelLogStore> {
    const limits = resolveLimits(options)
    const db: Db = new ClassicLevel<Uint8Array, Uint8Array>(path, {
      keyEncoding: 'view',
      valueEncoding: 'view',
      createIfMissing: true,
      compression: false,
      writeBufferSize: options.writeBufferBytes ?? DEFAULT_WRITE_BUFFER_BYTES,
      cacheSize: options.blockCacheBytes ?? DEFAULT_BLOCK_CACHE_BYTES,
      maxFileSize: options.tableFileBytes ?? DEFAULT_TABLE_FILE_BYTES,
    })
    await db.open().catch((error: unknown) => {
      // classic-level says "Database failed to open"; what failed is in its cause.
      const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error
      const detail = cause instanceof Error ? cause.message : String(cause)
      throw new StoreClosedError(`cannot open ${path}: ${detail}`, { cause: error })
    })
    try {
      await checkFormat(db, path)
      const directory = await readDirectory(db)
      const readFilesOpenMax = options.readFilesOpenMax ?? DEFAULT_READ_FILES_OPEN_MAX
      if (!Number.isSafeInteger(readFilesOpenMax) || readFilesOpenMax < 1)
        throw new RangeError(`readFilesOpenMax must be a positive integer, got ${readFilesOpenMax}`)
      const files = DataFiles.open(path, (segment) => directory.runsPerSegment.has(segment), readFilesOpenMax)
      return new LevelLogStore(db, limits, options, directory, files)
    } catch (error) {
      await db.close()
      throw error
    }
  }

  /**
   * Opens group `id`: reads back its hard state, log start, term runs and last index (no scan of
   * the log; where its rows are was read with the store's directory at open). A group whose stored
   * state fails its checks opens `damaged` instead of failing.
   * Opening the same id again returns the same GroupLog.
   */
  group(id: GroupId, options: GroupOptions = {}): Promise<GroupLog> {
    assertGroupId(id)
    this.assertWritable()
    let opening = this.groups.get(id)
    if (opening === undefined) {
      opening = this.openGroup(id, options)
      this.groups.set(id, opening)
      opening.catch(() => this.groups.delete(id))
    }
    return opening
  }

  /** Resolves once everything written before the call, by any group, is durable (one fsync). */
  flush(): Promise<void> {
    return this.commit.flush()
  }

  /** Calls `listener` after every durable batch with the groups that wrote into it. */
  onDurable(listener: DurableListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  /** True while more than `pendingBytesMax` is written and not yet durable: stop producing. */
  overloaded(): boolean {
    return this.commit.pendingBytes() > (this.options.pendingBytesMax ?? DEFAULT_PENDING_BYTES_MAX)
  }

  stats(): StoreStats {
    return {
      ...this.commit.stats,
      ...this.files.stats,
      pendingBytes: this.commit.pendingBytes(),
      memtableFlushes: this.memtableFlushes,
    }
  }

  /** Why the store stopped writing (a batch failed), or null. */
  get failed(): Error | null {
    return this.commit.failed
  }

  /**
   * Refuses new writes, flushes what was written, lets background prefix deletions finish (their
   * deletes ride one more batch), then closes LevelDB.
   */
  async close(): Promise<void> {
    if (this.state !== 'open') return
    this.state = 'closing'
    try {
      if (this.commit.failed === null) {
        await this.commit.drain()
        await Promise.all([...this.opened.values()].map((group) => group.settle()))
        await this.commit.drain()
      }
    } finally {
      this.commit.fail(new StoreClosedError('closed'))
      this.state = 'closed'
      await this.memtableFlushing
      this.files.close()
      await this.db.close()
    }
  }

  private async openGroup(id: GroupId, options: GroupOptions): Promise<GroupLog> {
    const runs = this.directory.groups.get(id) ?? []
    const recovered = await recover(this.db, id, runs).catch((error: unknown) => {
      if (error instanceof CorruptLogError) return error
      throw error
    })
    const group = new GroupLog(this.context, id, recovered, options)
    this.opened.set(id, group)
    return group
  }

  /**
   * A new segment begins: LevelDB is asked to start a new memtable now (CompactRange flushes the
   * memtable before compacting, and the range is one no key reaches, so it compacts nothing), so
   * that each level-0 table holds one segment and overlaps no other. Its null write usually enters
   * LevelDB's writer queue before the segment's first batch, which is handed over right after;
   * when it does not, a table straddles two segments and LevelDB merges it once. One at a time.
   */
  private segmentStarted(previous: number): void {
    // Every batch of the segment before is durable: if no run is left in it, neither is its data.
    if ((this.runsPerSegment.get(previous) ?? 0) === 0) this.removeDataFile(previous)
    if (this.memtableFlushing !== null || this.state !== 'open') return
    this.memtableFlushes++
    this.memtableFlushing = this.db
      .compactRange(BEYOND_EVERY_KEY, BEYOND_EVERY_KEY)
      .catch(() => {
        // Only a hint to LevelDB: a failure here changes where tables split, not what is stored.
      })
      .finally(() => {
        this.memtableFlushing = null
      })
  }

  /**
   * A run's directory row is gone for good. The segment's data file goes with its last run, once
   * no new batch can write into the segment (a later segment is being written).
   */
  private runRemoved(segment: number): void {
    const count = (this.runsPerSegment.get(segment) ?? 0) - 1
    if (count > 0) {
      this.runsPerSegment.set(segment, count)
      return
    }
    this.runsPerSegment.delete(segment)
    if (segment < this.commit.currentSegment) this.removeDataFile(segment)
  }

  private removeDataFile(segment: number): void {
    if (this.state !== 'closed') void this.files.remove(segment)
  }

  private batchDurable(batch: DurableBatch): void {
    for (const id of batch.groups) this.opened.get(id)?.batchDurable(batch.seq)
    for (const listener of this.listeners) {
      try {
        listener(batch.groups)
      } catch (error) {
        // A listener's bug must not stall group commit; surface it as an uncaught error.
        queueMicrotask(() => {
          throw error
        })
      }
    }
  }

  private assertWritable(): void {
    if (this.state !== 'open') throw new StoreClosedError('closed')
    const failed = this.commit.failed
    if (failed !== null) throw failed
  }
}

/**
 * A new database gets the format row; an existing one must have this version's. A database of
 * another layout is refused before anything is read or written, so nothing in it changes.
 */
async function checkFormat(db: Db, path: string): Promise<void> {
  const stored = await db.get(FORMAT_KEY)
  if (stored === undefined) {
    const [any] = await db.keys({ limit: 1 }).all()
    if (any !== undefined) {
      throw new StoreFormatError(
        path,
        `written by an older Cairn (keys of ${any.length} bytes, no format row); this version reads formats ${UPGRADES_FROM} and ${STORE_FORMAT} only: keep the directory for that version, or remove it to start empty`,
      )
    }
    await db.put(FORMAT_KEY, formatRow(), { sync: true })
    return
  }
  const version =
    stored.length === 4 ? new DataView(stored.buffer, stored.byteOffset, 4).getUint32(0) : undefined
  if (version === UPGRADES_FROM) {
    await db.put(FORMAT_KEY, formatRow(), { sync: true })
    return
  }
  if (version !== STORE_FORMAT) {
    throw new StoreFormatError(
      path,
      `format ${version ?? `unreadable (${stored.length} bytes)`}; this version reads formats ${UPGRADES_FROM} and ${STORE_FORMAT} only`,
    )
  }
}

function formatRow(): Uint8Array {
  const value = new Uint8Array(4)
  new DataView(value.buffer).setUint32(0, STORE_FORMAT)
  return value
}

function resolveLimits(options: LogStoreOptions): GroupLimits {
  const limits: GroupLimits = { ...DEFAULT_LIMITS }
  for (const name of Object.keys(DEFAULT_LIMITS) as (keyof GroupLimits)[]) {
    const value = options[name]
    if (value === undefined) continue
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(`${name} must be a non-negative integer`)
    limits[name] = value
  }
  if (limits.loadWindowsMax < 1) throw new RangeError('loadWindowsMax must be at least 1')
  if (limits.deleteBatchRowsMax < 1) throw new RangeError('deleteBatchRowsMax must be at least 1')
  return limits
}
