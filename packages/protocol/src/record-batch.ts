/**
 * Kafka's RecordBatch v2 (magic 2): what producers send, the broker stores, and consumers fetch.
 * All integers big-endian; varints/varlongs zig-zag LEB128 (varint.ts).
 *
 *   at  field                 type    notes
 *    0  baseOffset            int64   outside the CRC: the broker writes it in place
 *    8  batchLength           int32   bytes after this field; the batch is 12 + batchLength
 *   12  partitionLeaderEpoch  int32   outside the CRC: the broker writes it in place
 *   16  magic                 int8    2
 *   17  crc                   uint32  CRC-32C of bytes 21 .. end of batch
 *   21  attributes            int16   bits 0-2 codec (0 none, 1 gzip, 2 snappy, 3 lz4, 4 zstd),
 *                                     3 timestamp type (1 = LogAppendTime), 4 transactional,
 *                                     5 control, 6 delete horizon
 *   23  lastOffsetDelta       int32
 *   27  baseTimestamp         int64   the first record's timestamp
 *   35  maxTimestamp          int64
 *   43  producerId            int64   −1: none
 *   51  producerEpoch         int16
 *   53  baseSequence          int32
 *   57  recordCount           int32
 *   61  records               recordCount × record
 *
 *   record: length varint (bytes after itself), attributes int8, timestampDelta varlong,
 *           offsetDelta varint, keyLength varint (−1 = null), key, valueLength varint (−1 = null),
 *           value, headerCount varint, headers
 *   header: keyLength varint, key (UTF-8, never null), valueLength varint (−1 = null), value
 *
 * Offsets and timestamps are JavaScript numbers: a header whose baseOffset, last offset or
 * timestamps are not safe integers (|n| ≤ 2^53 − 1) is refused; baseOffset must be ≥ 0. At a
 * million records a second, 2^53 offsets last 285 years. producerId stays a bigint: it is an id,
 * not arithmetic, and Kafka hands out the whole int64 range.
 *
 * Only compression "none" is encoded and decoded; a compressed batch's header still parses (a
 * fetch may carry one), and decodeRecords refuses it by name.
 */
import { crc32c, crc32cCombine } from './crc32c.js'
import { fail, ok, type Result } from './result.js'
import {
  type ByteCursor,
  readVarint,
  readVarlong,
  varintBytesMax,
  varintSize,
  varlongBytesMax,
  varlongSize,
  writeVarint,
  writeVarlong,
} from './varint.js'

export const recordBatchMagic = 2
/** baseOffset and batchLength: the bytes of a batch that batchLength does not count. */
export const recordBatchLogOverheadBytes = 12
/** Everything before the first record. */
export const recordBatchHeaderBytes = 61
/** The CRC covers [recordBatchCrcStart, end of batch): from attributes on. */
export const recordBatchCrcStart = 21
/** A record's fields after its length varint, when each takes its minimum of one byte. */
export const recordBodyBytesMin = 6
/** Kafka's default message.max.bytes: the largest batch, log overhead included. */
export const recordBatchBytesMax = 1_048_588

/** Bits of a batch's attributes. */
export const BatchAttributes = Object.freeze({
  compressionCodecMask: 0x07,
  logAppendTime: 0x08,
  transactional: 0x10,
  control: 0x20,
  deleteHorizon: 0x40,
})

export type TimestampType = 'CreateTime' | 'LogAppendTime'

export interface RecordHeader {
  key: string
  value: Uint8Array | null
}

/** One record to encode. `timestamp` is milliseconds since the epoch (any safe integer). */
export interface ProducerRecord {
  key: Uint8Array | null
  value: Uint8Array | null
  headers?: RecordHeader[]
  timestamp: number
}

export interface RecordBatchInput {
  /** Default 0: producers leave it to the broker. */
  baseOffset?: bigint | number
  /** Default −1, as Kafka's producers send it; the leader writes its epoch. */
  partitionLeaderEpoch?: number
  /** Only the timestamp-type bit ({@link BatchAttributes.logAppendTime}) may be set. */
  attributes?: number
  /** Default −1n: not an idempotent producer. */
  producerId?: bigint
  /** Default −1. */
  producerEpoch?: number
  /** Default −1. */
  baseSequence?: number
  /** Transactions are not supported. */
  isTransactional?: false
  /** At least one. */
  records: ProducerRecord[]
}

export interface BatchHeader {
  baseOffset: number
  /** baseOffset + lastOffsetDelta. */
  lastOffset: number
  batchLength: number
  /** 12 + batchLength: the bytes the batch occupies. */
  totalBytes: number
  partitionLeaderEpoch: number
  crc: number
  /** Raw int16. */
  attributes: number
  compressionCodec: number
  timestampType: TimestampType
  isTransactional: boolean
  isControl: boolean
  lastOffsetDelta: number
  /** May be below lastOffsetDelta + 1 after compaction, never above. */
  recordCount: number
  baseTimestamp: number
  maxTimestamp: number
  producerId: bigint
  producerEpoch: number
  baseSequence: number
}

export interface BatchRecord {
  offset: number
  timestamp: number
  /** A view into the decoded bytes, not a copy. */
  key: Uint8Array | null
  /** A view into the decoded bytes, not a copy. */
  value: Uint8Array | null
  headers: RecordHeader[]
}

export interface DecodedBatch {
  header: BatchHeader
  records: BatchRecord[]
}

export interface RecordBatchLimits {
  /** Largest batch accepted, log overhead included. */
  batchBytesMax: number
}

export const defaultRecordBatchLimits: Readonly<RecordBatchLimits> = Object.freeze({
  batchBytesMax: recordBatchBytesMax,
})

/** Where a whole batch starts in a concatenation, and its header. */
export interface BatchPosition {
  offset: number
  header: BatchHeader
}

/** The cut-off batch at the end of a fetch response; totalBytes is null when its length was cut too. */
export interface PartialBatch {
  offset: number
  availableBytes: number
  totalBytes: number | null
}

export interface SplitBatches {
  batches: BatchPosition[]
  partial: PartialBatch | null
}

const at = {
  baseOffset: 0,
  batchLength: 8,
  partitionLeaderEpoch: 12,
  magic: 16,
  crc: 17,
  attributes: 21,
  lastOffsetDelta: 23,
  baseTimestamp: 27,
  maxTimestamp: 35,
  producerId: 43,
  producerEpoch: 51,
  baseSequence: 53,
  recordCount: 57,
} as const

const batchLengthMin = recordBatchHeaderBytes - recordBatchLogOverheadBytes
const compressionCodecMax = 4
const twoTo32 = 0x1_0000_0000
const int64Min = -(2n ** 63n)
const int64Max = 2n ** 63n - 1n

const utf8Encoder = new TextEncoder()
// ignoreBOM keeps a leading U+FEFF in a header key instead of silently dropping it.
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

function viewOf(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}

/** An int64 as a number, or undefined if it is not a safe integer. */
function getSafeInt64(view: DataView, pos: number): number | undefined {
  const hi = view.getInt32(pos)
  if (hi < -0x20_0000 || hi > 0x1f_ffff) return undefined
  const n = hi * twoTo32 + view.getUint32(pos + 4)
  return n < -Number.MAX_SAFE_INTEGER ? undefined : n
}

function setSafeInt64(view: DataView, pos: number, n: number): void {
  const hi = Math.floor(n / twoTo32)
  view.setInt32(pos, hi)
  view.setUint32(pos + 4, n - hi * twoTo32)
}

function checkInt(name: string, n: number, bits: 16 | 32): void {
  const max = bits === 16 ? 0x7fff : 0x7fff_ffff
  if (!Number.isInteger(n) || n < -max - 1 || n > max)
    throw new RangeError(`${name} ${n} is not an int${bits}`)
}

/** A base offset as a safe non-negative number, or a RangeError. */
function toBaseOffset(baseOffset: bigint | number): number {
  const n = typeof baseOffset === 'bigint' ? Number(baseOffset) : baseOffset
  if (!Number.isSafeInteger(n) || n < 0 || (typeof baseOffset === 'bigint' && BigInt(n) !== baseOffset))
    throw new RangeError(`baseOffset ${baseOffset} is not in 0..2^53 - 1`)
  return n
}

// ---- Encoding

function bytesFieldSize(b: Uint8Array | null): number {
  return b === null ? 1 : varintSize(b.length) + b.length
}

function writeBytesField(out: Uint8Array, pos: number, b: Uint8Array | null): number {
  if (b === null) return writeVarint(out, pos, -1)
  pos = writeVarint(out, pos, b.length)
  out.set(b, pos)
  return pos + b.length
}

function checkInput(input: RecordBatchInput): void {
  if (input.records.length === 0) throw new RangeError('encodeRecordBatch: a batch holds at least one record')
  const attributes = input.attributes ?? 0
  if (!Number.isInteger(attributes) || (attributes & ~BatchAttributes.logAppendTime) !== 0 || attributes < 0)
    throw new RangeError(
      `encodeRecordBatch: attributes ${attributes}: only the timestamp-type bit may be set`,
    )
  if (input.isTransactional) throw new RangeError('encodeRecordBatch: transactions are not supported')
  checkInt('partitionLeaderEpoch', input.partitionLeaderEpoch ?? -1, 32)
  checkInt('producerEpoch', input.producerEpoch ?? -1, 16)
  checkInt('baseSequence', input.baseSequence ?? -1, 32)
  const producerId = input.producerId ?? -1n
  if (producerId < int64Min || producerId > int64Max)
    throw new RangeError(`producerId ${producerId} is not an int64`)
}

/**
 * Encode records as one batch with offset deltas 0..n−1 and baseTimestamp the first record's
 * timestamp. One pass sizes every record, the second writes into a single buffer. Throws a
 * RangeError on input the format cannot carry (no records, a field out of its range, a timestamp
 * that is not a safe integer); it does not apply batchBytesMax, which is the producer's to check
 * against the result's length. With a `target` at least as long as the batch, the batch is written
 * into its start (a producer's pooled buffer) and the result is a view of it.
 */
export function encodeRecordBatch(input: RecordBatchInput, target?: Uint8Array): Uint8Array {
  checkInput(input)
  const { records } = input
  const count = records.length
  const baseOffset = toBaseOffset(input.baseOffset ?? 0)
  if (!Number.isSafeInteger(baseOffset + count - 1))
    throw new RangeError(`baseOffset ${baseOffset}: the last offset is not a safe integer`)
  const baseTimestamp = records[0]!.timestamp
  let maxTimestamp = baseTimestamp
  const bodySizes = new Int32Array(count)
  const headerKeys: Uint8Array[] = []
  let total = recordBatchHeaderBytes
  for (let i = 0; i < count; i++) {
    const record = records[i]!
    const timestampDelta = record.timestamp - baseTimestamp
    if (!Number.isSafeInteger(record.timestamp) || !Number.isSafeInteger(timestampDelta))
      throw new RangeError(
        `record ${i}: timestamp ${record.timestamp} is not a safe integer near the first's`,
      )
    if (record.timestamp > maxTimestamp) maxTimestamp = record.timestamp
    let size =
      1 +
      varlongSize(timestampDelta) +
      varintSize(i) +
      bytesFieldSize(record.key) +
      bytesFieldSize(record.value)
    const headers = record.headers ?? []
    size += varintSize(headers.length)
    for (const header of headers) {
      const key = utf8Encoder.encode(header.key)
      headerKeys.push(key)
      size += varintSize(key.length) + key.length + bytesFieldSize(header.value)
    }
    bodySizes[i] = size
    total += varintSize(size) + size
  }
  if (total - recordBatchLogOverheadBytes > 0x7fff_ffff)
    throw new RangeError(`encodeRecordBatch: ${total} bytes do not fit batchLength`)

  // Every byte is written below, so a reused target needs no zeroing.
  const out =
    target !== undefined && target.length >= total ? target.subarray(0, total) : new Uint8Array(total)
  const view = viewOf(out)
  setSafeInt64(view, at.baseOffset, baseOffset)
  view.setInt32(at.batchLength, total - recordBatchLogOverheadBytes)
  view.setInt32(at.partitionLeaderEpoch, input.partitionLeaderEpoch ?? -1)
  view.setInt8(at.magic, recordBatchMagic)
  view.setInt16(at.attributes, input.attributes ?? 0)
  view.setInt32(at.lastOffsetDelta, count - 1)
  setSafeInt64(view, at.baseTimestamp, baseTimestamp)
  setSafeInt64(view, at.maxTimestamp, maxTimestamp)
  view.setBigInt64(at.producerId, input.producerId ?? -1n)
  view.setInt16(at.producerEpoch, input.producerEpoch ?? -1)
  view.setInt32(at.baseSequence, input.baseSequence ?? -1)
  view.setInt32(at.recordCount, count)

  let pos = recordBatchHeaderBytes
  let keyIndex = 0
  for (let i = 0; i < count; i++) {
    const record = records[i]!
    const start = pos
    pos = writeVarint(out, pos, bodySizes[i]!)
    const bodyStart = pos
    out[pos++] = 0 // record attributes: unused
    pos = writeVarlong(out, pos, record.timestamp - baseTimestamp)
    pos = writeVarint(out, pos, i)
    pos = writeBytesField(out, pos, record.key)
    pos = writeBytesField(out, pos, record.value)
    const headers = record.headers ?? []
    pos = writeVarint(out, pos, headers.length)
    for (const header of headers) {
      pos = writeBytesField(out, pos, headerKeys[keyIndex++]!)
      pos = writeBytesField(out, pos, header.value)
    }
    if (pos - bodyStart !== bodySizes[i])
      throw new Error(`encodeRecordBatch: record ${i} at ${start} mis-sized`)
  }
  if (pos !== total) throw new Error(`encodeRecordBatch: wrote ${pos} of ${total} bytes`)
  view.setUint32(at.crc, crc32c(out, recordBatchCrcStart, total))
  return out
}

// ---- The broker's per-batch work: read the header, check the CRC, write offsets in place

/**
 * Parse and check the 61-byte header of the batch at bytes[offset], without reading its records
 * or its CRC. Checks: magic 2; 49 ≤ batchLength; the batch fits both the bytes and batchBytesMax;
 * a known codec; 0 ≤ lastOffsetDelta; 0 ≤ recordCount ≤ lastOffsetDelta + 1 and, uncompressed,
 * recordCount records of at least 7 bytes fit; safe offsets and timestamps. Never throws.
 */
export function readBatchHeader(
  bytes: Uint8Array,
  offset = 0,
  limits: Readonly<RecordBatchLimits> = defaultRecordBatchLimits,
): Result<BatchHeader> {
  if (!Number.isSafeInteger(offset) || offset < 0 || offset > bytes.length)
    return fail(`offset ${offset} is outside the ${bytes.length} bytes`)
  const available = bytes.length - offset
  if (available < recordBatchHeaderBytes)
    return fail(`truncated: ${available} bytes, a batch header takes ${recordBatchHeaderBytes}`)
  const view = viewOf(bytes)
  const magic = view.getInt8(offset + at.magic)
  if (magic !== recordBatchMagic) return fail(`magic ${magic}, expected ${recordBatchMagic}`)
  const batchLength = view.getInt32(offset + at.batchLength)
  if (batchLength < batchLengthMin)
    return fail(`batchLength ${batchLength} is below the header's ${batchLengthMin}`)
  const totalBytes = recordBatchLogOverheadBytes + batchLength
  if (totalBytes > limits.batchBytesMax)
    return fail(`batch of ${totalBytes} bytes exceeds batchBytesMax ${limits.batchBytesMax}`)
  if (totalBytes > available)
    return fail(`truncated: the batch takes ${totalBytes} bytes, ${available} remain`)

  const attributes = view.getInt16(offset + at.attributes)
  const compressionCodec = attributes & BatchAttributes.compressionCodecMask
  if (compressionCodec > compressionCodecMax) return fail(`unknown compression codec ${compressionCodec}`)
  const lastOffsetDelta = view.getInt32(offset + at.lastOffsetDelta)
  if (lastOffsetDelta < 0) return fail(`lastOffsetDelta ${lastOffsetDelta} is negative`)
  const recordCount = view.getInt32(offset + at.recordCount)
  if (recordCount < 0 || recordCount > lastOffsetDelta + 1)
    return fail(`recordCount ${recordCount} is outside 0..lastOffsetDelta + 1 (${lastOffsetDelta + 1})`)
  const recordsBytes = batchLength - batchLengthMin
  if (compressionCodec === 0 && recordCount > recordsBytes / (recordBodyBytesMin + 1))
    return fail(`${recordCount} records cannot fit in ${recordsBytes} bytes`)

  const baseOffset = getSafeInt64(view, offset + at.baseOffset)
  if (baseOffset === undefined || baseOffset < 0 || !Number.isSafeInteger(baseOffset + lastOffsetDelta))
    return fail(
      `baseOffset ${view.getBigInt64(offset + at.baseOffset)} is outside 0..2^53 - 1 - lastOffsetDelta`,
    )
  const baseTimestamp = getSafeInt64(view, offset + at.baseTimestamp)
  if (baseTimestamp === undefined)
    return fail(`baseTimestamp ${view.getBigInt64(offset + at.baseTimestamp)} is not a safe integer`)
  const maxTimestamp = getSafeInt64(view, offset + at.maxTimestamp)
  if (maxTimestamp === undefined)
    return fail(`maxTimestamp ${view.getBigInt64(offset + at.maxTimestamp)} is not a safe integer`)

  return ok({
    baseOffset,
    lastOffset: baseOffset + lastOffsetDelta,
    batchLength,
    totalBytes,
    partitionLeaderEpoch: view.getInt32(offset + at.partitionLeaderEpoch),
    crc: view.getUint32(offset + at.crc),
    attributes,
    compressionCodec,
    timestampType: attributes & BatchAttributes.logAppendTime ? 'LogAppendTime' : 'CreateTime',
    isTransactional: (attributes & BatchAttributes.transactional) !== 0,
    isControl: (attributes & BatchAttributes.control) !== 0,
    lastOffsetDelta,
    recordCount,
    baseTimestamp,
    maxTimestamp,
    producerId: view.getBigInt64(offset + at.producerId),
    producerEpoch: view.getInt16(offset + at.producerEpoch),
    baseSequence: view.getInt32(offset + at.baseSequence),
  })
}

/** The stored CRC and the CRC-32C of bytes [offset + 21, end of batch), or null if no batch fits. */
function crcs(bytes: Uint8Array, offset: number): { stored: number; computed: number } | null {
  if (!Number.isSafeInteger(offset) || offset < 0 || bytes.length - offset < recordBatchHeaderBytes)
    return null
  const view = viewOf(bytes)
  const batchLength = view.getInt32(offset + at.batchLength)
  const end = offset + recordBatchLogOverheadBytes + batchLength
  if (batchLength < batchLengthMin || end > bytes.length) return null
  return {
    stored: view.getUint32(offset + at.crc),
    computed: crc32c(bytes, offset + recordBatchCrcStart, end),
  }
}

/** True if the batch at bytes[offset] fits in bytes and its stored CRC matches. Never throws. */
export function verifyBatchCrc(bytes: Uint8Array, offset = 0): boolean {
  const c = crcs(bytes, offset)
  return c !== null && c.stored === c.computed
}

function checkWritable(bytes: Uint8Array, offset: number, field: string): void {
  if (!Number.isSafeInteger(offset) || offset < 0 || bytes.length - offset < recordBatchHeaderBytes)
    throw new RangeError(`${field}: no batch header at offset ${offset} of ${bytes.length} bytes`)
}

/**
 * The CRC-32C of all of `bytes`, when they are exactly one v2 batch: its header's CRC covers bytes
 * 21 to the end, so only the first 21 are read (crc32cCombine). Undefined for anything else.
 * It trusts the header's CRC, so it is for batches a leader checked (validateProducedBatch): the
 * storage keeps the result as the entry's checksum, and a batch whose bytes did not match its
 * header's CRC then fails that check when read back, rather than being stored as if intact.
 */
export function recordBatchCrc32c(bytes: Uint8Array): number | undefined {
  if (bytes.length < recordBatchHeaderBytes) return undefined
  const view = viewOf(bytes)
  if (view.getInt8(at.magic) !== recordBatchMagic) return undefined
  if (view.getInt32(at.batchLength) + recordBatchLogOverheadBytes !== bytes.length) return undefined
  const head = crc32c(bytes, 0, recordBatchCrcStart)
  return crc32cCombine(head, view.getUint32(at.crc), bytes.length - recordBatchCrcStart)
}

/**
 * Write baseOffset into the batch at bytes[offset], in place. It lies outside the CRC, so the
 * batch stays valid. Throws a RangeError if baseOffset is not in 0..2^53 − 1 or no header fits.
 */
export function setBaseOffset(bytes: Uint8Array, baseOffset: bigint | number, offset = 0): void {
  checkWritable(bytes, offset, 'setBaseOffset')
  setSafeInt64(viewOf(bytes), offset + at.baseOffset, toBaseOffset(baseOffset))
}

/** Write partitionLeaderEpoch into the batch at bytes[offset], in place; it lies outside the CRC. */
export function setPartitionLeaderEpoch(bytes: Uint8Array, partitionLeaderEpoch: number, offset = 0): void {
  checkWritable(bytes, offset, 'setPartitionLeaderEpoch')
  checkInt('partitionLeaderEpoch', partitionLeaderEpoch, 32)
  viewOf(bytes).setInt32(offset + at.partitionLeaderEpoch, partitionLeaderEpoch)
}

/**
 * What a broker checks of a produced batch before it assigns offsets and appends it, as Kafka
 * does: exactly one batch in the bytes, its header (readBatchHeader), its CRC, records present
 * with recordCount = lastOffsetDelta + 1, not a control batch, baseSequence ≥ 0 when producerId
 * ≥ 0. Cairn also refuses what it cannot serve: compressed and transactional batches.
 */
export function validateProducedBatch(
  bytes: Uint8Array,
  limits: Readonly<RecordBatchLimits> = defaultRecordBatchLimits,
): Result<BatchHeader> {
  const read = readBatchHeader(bytes, 0, limits)
  if (!read.ok) return read
  const h = read.value
  if (h.totalBytes !== bytes.length)
    return fail(`${bytes.length - h.totalBytes} bytes after the batch: a produce carries one batch`)
  const c = crcs(bytes, 0)!
  if (c.stored !== c.computed)
    return fail(`CRC mismatch: stored ${hex(c.stored)}, computed ${hex(c.computed)}`)
  if (h.compressionCodec !== 0) return fail(`compression codec ${h.compressionCodec} is not supported`)
  if (h.isControl) return fail('control batches are written by the broker, not by producers')
  if (h.isTransactional) return fail('transactions are not supported')
  if (h.recordCount === 0 || h.recordCount !== h.lastOffsetDelta + 1)
    return fail(`recordCount ${h.recordCount} must be lastOffsetDelta + 1 (${h.lastOffsetDelta + 1}) and > 0`)
  if (h.producerId >= 0n && h.baseSequence < 0)
    return fail(`baseSequence ${h.baseSequence} is negative for producerId ${h.producerId}`)
  return ok(h)
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`
}

// ---- Walking a fetch response

/**
 * Find every whole batch in a concatenation of batches (a fetch response, a log segment), with
 * its parsed header. A batch cut off at the end, as a Kafka fetch may return, is `partial`, not an
 * error; anything else malformed is. CRCs are not checked here (decodeRecords checks them).
 */
export function splitBatches(
  bytes: Uint8Array,
  limits: Readonly<RecordBatchLimits> = defaultRecordBatchLimits,
): Result<SplitBatches> {
  const view = viewOf(bytes)
  const batches: BatchPosition[] = []
  let pos = 0
  while (pos < bytes.length) {
    const available = bytes.length - pos
    const where = `batch ${batches.length} at byte ${pos}`
    if (available < recordBatchLogOverheadBytes)
      return ok({ batches, partial: { offset: pos, availableBytes: available, totalBytes: null } })
    if (available > at.magic && view.getInt8(pos + at.magic) !== recordBatchMagic)
      return fail(`${where}: magic ${view.getInt8(pos + at.magic)}, expected ${recordBatchMagic}`)
    const batchLength = view.getInt32(pos + at.batchLength)
    if (batchLength < batchLengthMin)
      return fail(`${where}: batchLength ${batchLength} is below the header's ${batchLengthMin}`)
    const totalBytes = recordBatchLogOverheadBytes + batchLength
    if (totalBytes > limits.batchBytesMax)
      return fail(`${where}: batch of ${totalBytes} bytes exceeds batchBytesMax ${limits.batchBytesMax}`)
    if (totalBytes > available)
      return ok({ batches, partial: { offset: pos, availableBytes: available, totalBytes } })
    const header = readBatchHeader(bytes, pos, limits)
    if (!header.ok) return fail(`${where}: ${header.reason}`)
    batches.push({ offset: pos, header: header.value })
    pos += totalBytes
  }
  return ok({ batches, partial: null })
}

// ---- Decoding records (the consumer's side)

/** Why a varint/varlong at c.pos failed to read: the bytes ran out, it ran long, or its value is out of range. */
function badVarint(c: ByteCursor, field: string, bytesMax: number): string {
  let i = c.pos
  while (i < c.end && i - c.pos < bytesMax && c.bytes[i]! >= 0x80) i++
  if (i >= c.end) return `${field}: truncated varint`
  if (i - c.pos >= bytesMax) return `${field}: varint longer than ${bytesMax} bytes`
  return `${field}: varint out of range`
}

/** A length-prefixed byte field as a view: null for length −1; a reason string if malformed. */
function readBytesField(c: ByteCursor, field: string): Uint8Array | null | string {
  const length = readVarint(c)
  if (length === undefined) return badVarint(c, `${field} length`, varintBytesMax)
  if (length === -1) return null
  if (length < -1) return `${field} length ${length}`
  if (length > c.end - c.pos)
    return `${field} length ${length} runs past the record (${c.end - c.pos} bytes left)`
  const view = c.bytes.subarray(c.pos, c.pos + length)
  c.pos += length
  return view
}

function readHeader(c: ByteCursor): RecordHeader | string {
  const keyBytes = readBytesField(c, 'header key')
  if (typeof keyBytes === 'string') return keyBytes
  if (keyBytes === null) return 'header key is null'
  let key: string
  try {
    key = utf8Decoder.decode(keyBytes)
  } catch {
    return 'header key is not valid UTF-8'
  }
  const value = readBytesField(c, 'header value')
  if (typeof value === 'string') return value
  return { key, value }
}

/** One record at c.pos (c.end the batch end), whose offsetDelta must exceed previousOffsetDelta. */
function readRecord(c: ByteCursor, h: BatchHeader, previousOffsetDelta: number): BatchRecord | string {
  const length = readVarint(c)
  if (length === undefined) return badVarint(c, 'length', varintBytesMax)
  if (length < recordBodyBytesMin) return `length ${length} is below a record's ${recordBodyBytesMin}`
  const batchEnd = c.end
  if (length > batchEnd - c.pos)
    return `length ${length} runs past the batch (${batchEnd - c.pos} bytes left)`
  const recordEnd = c.pos + length
  c.end = recordEnd
  c.pos++ // record attributes: unused by Kafka
  const timestampDelta = readVarlong(c)
  if (timestampDelta === undefined) return badVarint(c, 'timestampDelta', varlongBytesMax)
  const timestamp = h.baseTimestamp + timestampDelta
  if (!Number.isSafeInteger(timestamp)) return `timestamp ${h.baseTimestamp} + ${timestampDelta} is not safe`
  const offsetDelta = readVarint(c)
  if (offsetDelta === undefined) return badVarint(c, 'offsetDelta', varintBytesMax)
  if (offsetDelta <= previousOffsetDelta || offsetDelta > h.lastOffsetDelta)
    return `offsetDelta ${offsetDelta} is outside ${previousOffsetDelta + 1}..lastOffsetDelta ${h.lastOffsetDelta}`
  const key = readBytesField(c, 'key')
  if (typeof key === 'string') return key
  const value = readBytesField(c, 'value')
  if (typeof value === 'string') return value
  const headerCount = readVarint(c)
  if (headerCount === undefined) return badVarint(c, 'headerCount', varintBytesMax)
  // A header takes at least two bytes: bound the count before allocating for it.
  if (headerCount < 0 || headerCount > (recordEnd - c.pos) / 2)
    return `headerCount ${headerCount} is outside 0..${Math.floor((recordEnd - c.pos) / 2)}`
  const headers: RecordHeader[] = []
  for (let i = 0; i < headerCount; i++) {
    const header = readHeader(c)
    if (typeof header === 'string') return `header ${i}: ${header}`
    headers.push(header)
  }
  if (c.pos !== recordEnd) return `length ${length}, but the fields end ${recordEnd - c.pos} bytes early`
  c.end = batchEnd
  return { offset: h.baseOffset + offsetDelta, timestamp, key, value, headers }
}

/**
 * Decode the batch at bytes[offset] for a consumer: its header (readBatchHeader), its CRC, then
 * every record, each field bounds-checked against its record and the record against the batch;
 * recordCount records must fill the batch exactly, with strictly increasing offset deltas.
 * Keys, values and header values are views into `bytes`. Never throws.
 */
export function decodeRecords(
  bytes: Uint8Array,
  offset = 0,
  limits: Readonly<RecordBatchLimits> = defaultRecordBatchLimits,
): Result<DecodedBatch> {
  const read = readBatchHeader(bytes, offset, limits)
  if (!read.ok) return read
  const header = read.value
  if (header.compressionCodec !== 0)
    return fail(`compression codec ${header.compressionCodec} is not supported`)
  const c = crcs(bytes, offset)!
  if (c.stored !== c.computed)
    return fail(`CRC mismatch: stored ${hex(c.stored)}, computed ${hex(c.computed)}`)
  const end = offset + header.totalBytes
  const cursor: ByteCursor = { bytes, pos: offset + recordBatchHeaderBytes, end }
  const records: BatchRecord[] = []
  let previousOffsetDelta = -1
  for (let i = 0; i < header.recordCount; i++) {
    const start = cursor.pos
    if (start >= end) return fail(`recordCount ${header.recordCount}, but the batch ends after ${i} records`)
    const record = readRecord(cursor, header, previousOffsetDelta)
    if (typeof record === 'string') return fail(`record ${i} at byte ${start - offset}: ${record}`)
    previousOffsetDelta = record.offset - header.baseOffset
    records.push(record)
  }
  if (cursor.pos !== end)
    return fail(`${end - cursor.pos} bytes after the last of ${header.recordCount} records`)
  return ok({ header, records })
}
