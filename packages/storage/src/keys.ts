/**
 * Key layout. Every key is 17 raw bytes:
 *
 *   [segment: u32 BE][group id: u32 BE][kind: u8][number: u64 BE]
 *
 * Big-endian fields make LevelDB's byte order equal numeric order, so one group's rows of one kind
 * in one segment are a contiguous key range and a range scan walks them by number. Numbers are JS
 * integers below 2^53; the high 32 bits are written from `Math.floor(n / 2^32)`.
 *
 * The segment is the node's, not the group's: the store starts a new one every `segmentBytes`
 * written (Kafka's log segments, in key space). Everything a group writes on every turn (entries,
 * offset rows, hard state) goes under the segment current at the time, so a LevelDB table of new
 * rows overlaps the tables of its own segment and its neighbour's, never older ones, and LevelDB
 * moves it down the levels instead of merging it again at each (BENCHMARKS.md: 3.9× bytes written
 * per byte stored with the group first, ~2× with the segment first). Rows written rarely (log
 * start, term runs, applied state) live under segment 0, {@link GROUP_ROWS}, below every log
 * segment: a table holding one of them reaches down over older segments (LevelDB merges it once
 * with what lies there), but never up over the segments still to come, which would make the file
 * that holds it catch and merge every later table on its way down.
 */

import type { GroupId } from '@cairn/raft'

export const KEY_BYTES = 17

/** What a key's number means depends on its kind. */
export const KeyKind = {
  /**
   * number = 0; value: the first entry index of the group's run in this segment and the last
   * offset of its first offset row. One per group per segment it wrote in: the directory.
   */
  segmentRun: 0x00,
  /** number = 0; value: term, vote, commit. In the group's latest segment only. */
  hardState: 0x01,
  /** number = 0; value: index, term, membership, payload. Under {@link GROUP_ROWS}. */
  logStart: 0x02,
  /** number = 0; value: the broker's applied state. Under {@link GROUP_ROWS}. */
  applied: 0x03,
  /** number = first index of a run of entries with one term; value: the term. Under {@link GROUP_ROWS}. */
  termRun: 0x10,
  /** number = Raft index; value: term, kind, data. */
  entry: 0x20,
  /** number = last offset of a record batch; value: base offset, Raft index, term. */
  offset: 0x30,
  /** number = 0, segment {@link GROUP_ROWS}, group 0: the store's format version (u32), once. */
  storeFormat: 0xfe,
} as const
export type KeyKind = (typeof KeyKind)[keyof typeof KeyKind]

export const GROUP_ID_MAX = 0xffff_ffff
/** The segment number of the rows a group writes rarely; log segments lie above it. */
export const GROUP_ROWS = 0
/** The first and the highest log segment numbers. */
export const SEGMENT_MIN = 1
export const SEGMENT_MAX = 0xffff_ffff
const TWO_POW_32 = 0x1_0000_0000

export function assertGroupId(group: number): asserts group is GroupId {
  if (!Number.isInteger(group) || group < 0 || group > GROUP_ID_MAX) {
    throw new RangeError(`group id must be an integer in [0, 2^32-1], got ${group}`)
  }
}

export function assertU64(n: number, what: string): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw new RangeError(`${what} must be a safe non-negative integer, got ${n}`)
}

export function writeU64(view: DataView, at: number, n: number): void {
  view.setUint32(at, Math.floor(n / TWO_POW_32))
  view.setUint32(at + 4, n >>> 0)
}

export function readU64(view: DataView, at: number): number {
  return view.getUint32(at) * TWO_POW_32 + view.getUint32(at + 4)
}

export function key(segment: number, group: GroupId, kind: KeyKind, n: number): Uint8Array {
  const bytes = new Uint8Array(KEY_BYTES)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, segment)
  view.setUint32(4, group)
  view.setUint8(8, kind)
  writeU64(view, 9, n)
  return bytes
}

/** A key of a rarely written row: {@link GROUP_ROWS} as its segment. */
export function groupKey(group: GroupId, kind: KeyKind, n: number): Uint8Array {
  return key(GROUP_ROWS, group, kind, n)
}

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** The number of a key (bytes 9..16). */
export function keyNumber(bytes: Uint8Array): number {
  return readU64(viewOf(bytes), 9)
}

/** The segment, group and kind of a key. */
export function keyParts(bytes: Uint8Array): { segment: number; group: number; kind: number } {
  const view = viewOf(bytes)
  return { segment: view.getUint32(0), group: view.getUint32(4), kind: view.getUint8(8) }
}

/** Bounds of all keys of `kind` in `group` and `segment`: `{ gte, lt }`, for iterators and clear. */
export function kindRange(
  segment: number,
  group: GroupId,
  kind: KeyKind,
): { gte: Uint8Array; lt: Uint8Array } {
  return { gte: key(segment, group, kind, 0), lt: key(segment, group, (kind + 1) as KeyKind, 0) }
}
