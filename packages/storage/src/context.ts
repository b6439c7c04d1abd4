import type { ClassicLevel } from 'classic-level'
import type { DataFiles } from './data-files.js'
import type { GroupCommit } from './group-commit.js'

export type Db = ClassicLevel<Uint8Array, Uint8Array>

/** Limits that apply to every group of a store; all are bounds, each with its unit in its name. */
export interface GroupLimits {
  /** Bytes of entries each group keeps in memory at the end of its log. */
  tailCacheBytesMax: number
  /** Bytes of older entries one disk load reads (at least one entry). */
  loadBytesMax: number
  /** Loaded runs of older entries each group keeps; also the bound on its concurrent loads. */
  loadWindowsMax: number
  /** Offset-index rows read from disk that each group keeps for repeated lookups. */
  offsetCacheRowsMax: number
  /** Offset-index rows one lookup may skip as stale (left by truncated entries) before it gives up. */
  offsetScanRowsMax: number
  /** Offset-index rows deleted per batch when retention removes a prefix. */
  deleteBatchRowsMax: number
}

/** What a group needs from its store. */
export interface StoreContext {
  readonly db: Db
  readonly commit: GroupCommit
  readonly limits: GroupLimits
  /** Where entries' data outside LevelDB is (data-files.ts). */
  readonly files: DataFiles
  /** A group began a run in `segment` (its directory row is in the batch now open). */
  runAdded(segment: number): void
  /** The deletion of a group's directory row in `segment` is durable. */
  runRemoved(segment: number): void
  /** Throws if the store is closed or failed. */
  assertWritable(): void
  /** True once LevelDB is closing or closed: background work stops quietly. */
  isClosed(): boolean
}
