/**
 * Value layouts. Every value opens with a CRC32C over the key and the rest of the value, so a
 * value that is damaged, truncated or stored under the wrong key fails its check:
 *
 *   value     = [crc32c(key ‖ body): u32 BE][body]
 *   entry     body = [term: u64][kind: u8][data]                       (data inline)
 *             body = [term: u64][kind | 0x80: u8][position: u64][length: u32][crc32c(data): u32]
 *                                         (data in the key's segment's data file, data-files.ts)
 *   hardState body = [term: u64][vote: u32][commit: u64]
 *   logStart  body = [index: u64][term: u64][voters: u32 n][n × u32][learners: u32 m][m × u32][payload]
 *   termRun   body = [term: u64]
 *   offset    body = [baseOffset: u64][index: u64][term: u64]
 *   applied   body = [index: u64][data]
 *   segmentRun body = [firstIndex: u64][has offset: u8][offsetLo: u64]
 */

import { crc32c, crc32cCombine, crc32cUpdate } from '@cairn/protocol'
import type { EntryKind, GroupId, HardState, LogStart } from '@cairn/raft'
import { CorruptLogError } from './errors.js'
import { readU64, writeU64 } from './keys.js'

const CRC_BYTES = 4
export const ENTRY_HEADER_BYTES = CRC_BYTES + 8 + 1
const ENTRY_KIND_MAX = 2
/** Set in an entry's kind byte when its data is in the segment's data file, not in the row. */
const KIND_IN_FILE = 0x80
const ENTRY_REF_BYTES = ENTRY_HEADER_BYTES + 8 + 4 + 4

/** The broker's applied state, kept beside the log so a restart resumes from it. */
export interface AppliedState {
  index: number
  data: Uint8Array
}

/** One row of the offset index: the record batch at Raft `index` holds [baseOffset, lastOffset]. */
export interface OffsetRow {
  baseOffset: number
  lastOffset: number
  index: number
  /** The entry's term: a row is current only while the log still has this term at `index`. */
  term: number
}

interface Body {
  bytes: Uint8Array
  view: DataView
}

function allocate(bodyBytes: number): Body {
  const bytes = new Uint8Array(CRC_BYTES + bodyBytes)
  return { bytes, view: new DataView(bytes.buffer) }
}

/** Seals a value: computes the CRC over key ‖ body into the first four bytes. */
function seal(key: Uint8Array, value: Body): Uint8Array {
  value.view.setUint32(0, crc32cUpdate(crc32c(key), value.bytes.subarray(CRC_BYTES)))
  return value.bytes
}

/** Checks a value's CRC and returns a view of its body; throws CorruptLogError on mismatch. */
function open(group: GroupId, key: Uint8Array, value: Uint8Array, what: string): DataView {
  if (value.length < CRC_BYTES) throw new CorruptLogError(group, `${what}: value of ${value.length} bytes`)
  const view = new DataView(value.buffer, value.byteOffset, value.byteLength)
  const stored = view.getUint32(0)
  const computed = crc32cUpdate(crc32c(key), value.subarray(CRC_BYTES))
  if (stored !== computed) {
    throw new CorruptLogError(
      group,
      `${what}: checksum mismatch (stored ${hex(stored)}, computed ${hex(computed)})`,
    )
  }
  return view
}

/** A plain Uint8Array view of `bytes` from `at` (LevelDB hands out Buffers; callers get Uint8Arrays). */
function viewFrom(bytes: Uint8Array, at: number): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset + at, bytes.byteLength - at)
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`
}

function requireLength(group: GroupId, view: DataView, bytes: number, what: string): void {
  if (view.byteLength < bytes)
    throw new CorruptLogError(group, `${what}: ${view.byteLength} bytes, need ${bytes}`)
}

// ---- entry ----------------------------------------------------------------------------------

/**
 * Where entries are encoded: one buffer, reused. An encoded entry goes straight to `Batch.put`,
 * and classic-level copies every key and value into its native WriteBatch before `put` returns, so
 * the next entry can overwrite it. A fresh buffer per entry was, at 1 KiB max rate, one more
 * zero-filled ArrayBuffer per byte a node stores, and the bytes of ArrayBuffers allocated are what
 * set off V8's scavenges there ("external memory pressure"). It grows to the largest entry seen.
 */
let entryScratch = new Uint8Array(64 * 1024)

/**
 * An entry's stored value, in a buffer that the next call overwrites: hand it to `Batch.put`
 * (which copies it) before encoding another entry. `dataCrc`, if given, is crc32c(data): the
 * value's CRC is then combined from it instead of read off every byte of the data.
 */
export function encodeEntryForPut(
  key: Uint8Array,
  term: number,
  kind: EntryKind,
  data: Uint8Array,
  dataCrc?: number,
): Uint8Array {
  const length = ENTRY_HEADER_BYTES + data.length
  if (entryScratch.length < length) entryScratch = new Uint8Array(Math.max(length, 2 * entryScratch.length))
  const bytes = entryScratch.subarray(0, length)
  const value = { bytes, view: new DataView(bytes.buffer, 0, length) }
  writeU64(value.view, 4, term)
  value.view.setUint8(12, kind)
  value.bytes.set(data, ENTRY_HEADER_BYTES)
  if (dataCrc === undefined) return seal(key, value)
  const head = crc32cUpdate(crc32c(key), bytes, CRC_BYTES, ENTRY_HEADER_BYTES)
  value.view.setUint32(0, crc32cCombine(head, dataCrc, data.length))
  return bytes
}

/** Where an entry's data lies in its segment's data file, and its checksum. */
export interface DataRef {
  position: number
  length: number
  crc: number
}

/** An entry row read back: its data inline, or where it is in the segment's data file. */
export type StoredEntry =
  | { term: number; kind: EntryKind; data: Uint8Array; ref: undefined }
  | { term: number; kind: EntryKind; data: undefined; ref: DataRef }

/**
 * The row of an entry whose data is in the segment's data file at `ref`, in the same reused
 * buffer as {@link encodeEntryForPut}: hand it to `Batch.put` before encoding another entry.
 */
export function encodeEntryRefForPut(
  key: Uint8Array,
  term: number,
  kind: EntryKind,
  ref: DataRef,
): Uint8Array {
  const bytes = entryScratch.subarray(0, ENTRY_REF_BYTES)
  const view = new DataView(bytes.buffer, 0, ENTRY_REF_BYTES)
  writeU64(view, 4, term)
  view.setUint8(12, kind | KIND_IN_FILE)
  writeU64(view, 13, ref.position)
  view.setUint32(21, ref.length)
  view.setUint32(25, ref.crc)
  return seal(key, { bytes, view })
}

export function decodeEntry(group: GroupId, key: Uint8Array, value: Uint8Array, index: number): StoredEntry {
  const what = `entry ${index}`
  const view = open(group, key, value, what)
  requireLength(group, view, ENTRY_HEADER_BYTES, what)
  const stored = view.getUint8(12)
  const kind = stored & ~KIND_IN_FILE
  if (kind > ENTRY_KIND_MAX) throw new CorruptLogError(group, `${what}: unknown kind ${stored}`)
  const term = readU64(view, 4)
  if ((stored & KIND_IN_FILE) === 0)
    return { term, kind: kind as EntryKind, data: viewFrom(value, ENTRY_HEADER_BYTES), ref: undefined }
  if (view.byteLength !== ENTRY_REF_BYTES)
    throw new CorruptLogError(
      group,
      `${what}: data reference of ${view.byteLength} bytes, need ${ENTRY_REF_BYTES}`,
    )
  const ref = { position: readU64(view, 13), length: view.getUint32(21), crc: view.getUint32(25) }
  return { term, kind: kind as EntryKind, data: undefined, ref }
}

/** Checks data read from a data file against its reference; throws CorruptLogError on mismatch. */
export function checkData(group: GroupId, index: number, ref: DataRef, data: Uint8Array): Uint8Array {
  if (data.length !== ref.length) {
    throw new CorruptLogError(
      group,
      `entry ${index}: data file holds ${data.length} of its ${ref.length} bytes at ${ref.position}`,
    )
  }
  const computed = crc32c(data)
  if (computed !== ref.crc) {
    throw new CorruptLogError(
      group,
      `entry ${index}: data checksum mismatch (stored ${hex(ref.crc)}, computed ${hex(computed)})`,
    )
  }
  return data
}

// ---- hard state -----------------------------------------------------------------------------

export function encodeHardState(key: Uint8Array, hardState: HardState): Uint8Array {
  const value = allocate(20)
  writeU64(value.view, 4, hardState.term)
  value.view.setUint32(12, hardState.vote)
  writeU64(value.view, 16, hardState.commit)
  return seal(key, value)
}

export function decodeHardState(group: GroupId, key: Uint8Array, value: Uint8Array): HardState {
  const view = open(group, key, value, 'hard state')
  requireLength(group, view, 24, 'hard state')
  return { term: readU64(view, 4), vote: view.getUint32(12), commit: readU64(view, 16) }
}

// ---- log start ------------------------------------------------------------------------------

export function encodeLogStart(key: Uint8Array, logStart: LogStart): Uint8Array {
  const { voters, learners } = logStart.membership
  const value = allocate(16 + 4 + voters.length * 4 + 4 + learners.length * 4 + logStart.payload.length)
  writeU64(value.view, 4, logStart.index)
  writeU64(value.view, 12, logStart.term)
  let at = writeIds(value.view, 20, voters)
  at = writeIds(value.view, at, learners)
  value.bytes.set(logStart.payload, at)
  return seal(key, value)
}

function writeIds(view: DataView, at: number, ids: readonly number[]): number {
  view.setUint32(at, ids.length)
  ids.forEach((id, i) => {
    view.setUint32(at + 4 + i * 4, id)
  })
  return at + 4 + ids.length * 4
}

export function decodeLogStart(group: GroupId, key: Uint8Array, value: Uint8Array): LogStart {
  const view = open(group, key, value, 'log start')
  requireLength(group, view, 24, 'log start')
  const voters = readIds(group, view, 20)
  const learners = readIds(group, view, voters.end)
  return {
    index: readU64(view, 4),
    term: readU64(view, 12),
    membership: { voters: voters.ids, learners: learners.ids },
    payload: viewFrom(value, learners.end),
  }
}

function readIds(group: GroupId, view: DataView, at: number): { ids: number[]; end: number } {
  requireLength(group, view, at + 4, 'log start membership')
  const count = view.getUint32(at)
  const end = at + 4 + count * 4
  requireLength(group, view, end, 'log start membership')
  const ids = Array.from({ length: count }, (_, i) => view.getUint32(at + 4 + i * 4))
  return { ids, end }
}

// ---- term run -------------------------------------------------------------------------------

export function encodeTermRun(key: Uint8Array, term: number): Uint8Array {
  const value = allocate(8)
  writeU64(value.view, 4, term)
  return seal(key, value)
}

export function decodeTermRun(group: GroupId, key: Uint8Array, value: Uint8Array): number {
  const view = open(group, key, value, 'term run')
  requireLength(group, view, 12, 'term run')
  return readU64(view, 4)
}

// ---- offset index ---------------------------------------------------------------------------

export function encodeOffsetRow(key: Uint8Array, row: OffsetRow): Uint8Array {
  const value = allocate(24)
  writeU64(value.view, 4, row.baseOffset)
  writeU64(value.view, 12, row.index)
  writeU64(value.view, 20, row.term)
  return seal(key, value)
}

export function decodeOffsetRow(
  group: GroupId,
  key: Uint8Array,
  value: Uint8Array,
  lastOffset: number,
): OffsetRow {
  const view = open(group, key, value, `offset row ${lastOffset}`)
  requireLength(group, view, 28, 'offset row')
  return { baseOffset: readU64(view, 4), lastOffset, index: readU64(view, 12), term: readU64(view, 20) }
}

// ---- applied --------------------------------------------------------------------------------

export function encodeApplied(key: Uint8Array, applied: AppliedState): Uint8Array {
  const value = allocate(8 + applied.data.length)
  writeU64(value.view, 4, applied.index)
  value.bytes.set(applied.data, 12)
  return seal(key, value)
}

export function decodeApplied(group: GroupId, key: Uint8Array, value: Uint8Array): AppliedState {
  const view = open(group, key, value, 'applied state')
  requireLength(group, view, 12, 'applied state')
  return { index: readU64(view, 4), data: viewFrom(value, 12) }
}

// ---- segment run ----------------------------------------------------------------------------

/** A group's run of rows in one segment, as its directory row records it. */
export interface SegmentRunRow {
  /** The first entry index the group wrote (or re-based to) in this segment. */
  firstIndex: number
  /** The last offset of the first offset row written in this segment, if any. */
  offsetLo: number | undefined
}

export function encodeSegmentRun(key: Uint8Array, run: SegmentRunRow): Uint8Array {
  const value = allocate(17)
  writeU64(value.view, 4, run.firstIndex)
  value.view.setUint8(12, run.offsetLo === undefined ? 0 : 1)
  writeU64(value.view, 13, run.offsetLo ?? 0)
  return seal(key, value)
}

export function decodeSegmentRun(group: GroupId, key: Uint8Array, value: Uint8Array): SegmentRunRow {
  const view = open(group, key, value, 'segment run')
  requireLength(group, view, 21, 'segment run')
  const hasOffset = view.getUint8(12)
  if (hasOffset > 1) throw new CorruptLogError(group, `segment run: offset flag ${hasOffset}`)
  return { firstIndex: readU64(view, 4), offsetLo: hasOffset === 1 ? readU64(view, 13) : undefined }
}
