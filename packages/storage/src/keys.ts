/**
 * Key layout. Every key is 13 raw bytes:
 *
 *   [group id: u32 BE][kind: u8][number: u64 BE]
 *
 * Big-endian fields make LevelDB's byte order equal numeric order, so one group's rows of one kind
 * are a contiguous key range and a range scan walks them by number. Numbers are JS integers below
 * 2^53; the high 32 bits are written from `Math.floor(n / 2^32)`.
 */

import type { GroupId } from '@cairn/raft'

export const KEY_BYTES = 13

/** What a key's number means depends on its kind. */
export const KeyKind = {
  /** number = 0; value: term, vote, commit. */
  hardState: 0x01,
  /** number = 0; value: index, term, membership, payload. */
  logStart: 0x02,
  /** number = 0; value: the broker's applied state. */
  applied: 0x03,
  /** number = first index of a run of entries with one term; value: the term. */
  termRun: 0x10,
  /** number = Raft index; value: term, kind, data. */
  entry: 0x20,
  /** number = last offset of a record batch; value: base offset, Raft index, term. */
  offset: 0x30,
} as const
export type KeyKind = (typeof KeyKind)[keyof typeof KeyKind]

export const GROUP_ID_MAX = 0xffff_ffff
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

export function key(group: GroupId, kind: KeyKind, n: number): Uint8Array {
  const bytes = new Uint8Array(KEY_BYTES)
  const view = new DataView(bytes.buffer)
  view.setUint32(0, group)
  view.setUint8(4, kind)
  writeU64(view, 5, n)
  return bytes
}

/** The number of a key (bytes 5..12). */
export function keyNumber(bytes: Uint8Array): number {
  return readU64(new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength), 5)
}

/** Bounds of all keys of `kind` in `group`: `{ gte, lt }`, for iterators and clear. */
export function kindRange(group: GroupId, kind: KeyKind): { gte: Uint8Array; lt: Uint8Array } {
  return { gte: key(group, kind, 0), lt: key(group, (kind + 1) as KeyKind, 0) }
}
