/**
 * RecordBatch v2: byte-exact fixtures written field by field from Kafka's layout (with a writer
 * and a CRC of the test's own, sharing no code with src), round trips of random batches, the
 * broker's in-place writes, hand-made defects with their reasons, and 55,000 random and mutated
 * inputs that must never make a reader throw.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  type BatchHeader,
  type BatchRecord,
  crc32c,
  decodeRecords,
  encodeRecordBatch,
  type ProducerRecord,
  type RecordBatchInput,
  type Result,
  readBatchHeader,
  readVarint,
  readVarlong,
  recordBatchCrc32c,
  recordBatchHeaderBytes,
  setBaseOffset,
  setPartitionLeaderEpoch,
  splitBatches,
  validateProducedBatch,
  varintSize,
  varlongSize,
  verifyBatchCrc,
  writeVarint,
  writeVarlong,
  zigZagDecode32,
  zigZagEncode32,
} from '../src/index.js'
import { fcOptions, seed } from './seed.js'

const utf8 = (s: string) => new TextEncoder().encode(s)

// Every assert.ok here carries a message: without one, a failing assert.ok makes Node re-read and
// parse this file to quote the expression, which under tsx took minutes (and quoted the wrong line).

// ---- The test's own reference implementations: slow, obvious, and independent of src.

/** Bit-at-a-time CRC-32C (reflected polynomial 0x82F63B78). */
function crc32cBitwise(bytes: ArrayLike<number>): number {
  let crc = 0xffffffff
  for (let i = 0; i < bytes.length; i++) {
    crc ^= bytes[i]!
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1
  }
  return (crc ^ 0xffffffff) >>> 0
}

/** Zig-zag then LEB128, in bigint arithmetic, for any int64. */
function referenceVarint(n: bigint): number[] {
  let z = BigInt.asUintN(64, (n << 1n) ^ (n >> 63n))
  const out: number[] = []
  do {
    const group = Number(z & 0x7fn)
    z >>= 7n
    out.push(z > 0n ? group | 0x80 : group)
  } while (z > 0n)
  return out
}

/** Writes one field at a time, big-endian, exactly as the layout table in kafka-formats.md reads. */
class FixtureWriter {
  readonly out: number[] = []
  int8(n: number): this {
    return this.int(BigInt(n), 1)
  }
  int16(n: number): this {
    return this.int(BigInt(n), 2)
  }
  int32(n: number): this {
    return this.int(BigInt(n), 4)
  }
  int64(n: bigint): this {
    return this.int(n, 8)
  }
  varint(n: number | bigint): this {
    this.out.push(...referenceVarint(BigInt(n)))
    return this
  }
  raw(bytes: ArrayLike<number> | string): this {
    const b = typeof bytes === 'string' ? utf8(bytes) : bytes
    for (let i = 0; i < b.length; i++) this.out.push(b[i]!)
    return this
  }
  /** Length varint (−1 for null), then the bytes. */
  field(bytes: ArrayLike<number> | string | null): this {
    if (bytes === null) return this.varint(-1)
    const b = typeof bytes === 'string' ? utf8(bytes) : bytes
    return this.varint(b.length).raw(b)
  }
  private int(n: bigint, width: number): this {
    const u = BigInt.asUintN(width * 8, n)
    for (let i = width - 1; i >= 0; i--) this.out.push(Number((u >> BigInt(8 * i)) & 0xffn))
    return this
  }
}

/** A record: its length varint, then the body the callback writes. */
function fixtureRecord(body: (w: FixtureWriter) => void): number[] {
  const w = new FixtureWriter()
  body(w)
  return new FixtureWriter().varint(w.out.length).raw(w.out).out
}

interface FixtureHeader {
  baseOffset: bigint
  partitionLeaderEpoch: number
  magic?: number
  attributes: number
  lastOffsetDelta: number
  baseTimestamp: bigint
  maxTimestamp: bigint
  producerId: bigint
  producerEpoch: number
  baseSequence: number
  recordCount: number
  records: number[][]
}

/** A whole batch: the CRC'd part first (attributes .. end), then what precedes it. */
function fixtureBatch(h: FixtureHeader): Uint8Array {
  const crcd = new FixtureWriter()
    .int16(h.attributes)
    .int32(h.lastOffsetDelta)
    .int64(h.baseTimestamp)
    .int64(h.maxTimestamp)
    .int64(h.producerId)
    .int16(h.producerEpoch)
    .int32(h.baseSequence)
    .int32(h.recordCount)
  for (const r of h.records) crcd.raw(r)
  const batch = new FixtureWriter()
    .int64(h.baseOffset)
    .int32(4 + 1 + 4 + crcd.out.length) // batchLength: leader epoch, magic, crc, then the CRC'd part
    .int32(h.partitionLeaderEpoch)
    .int8(h.magic ?? 2)
    .int32(crc32cBitwise(crcd.out) | 0)
    .raw(crcd.out)
  return Uint8Array.from(batch.out)
}

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

function assertBytes(actual: Uint8Array, expected: Uint8Array): void {
  assert.equal(hex(actual), hex(expected))
}

function expectOk<T>(r: Result<T>): T {
  if (!r.ok) assert.fail(r.reason)
  return r.value
}

function expectFail<T>(r: Result<T>, pattern: RegExp): void {
  assert.equal(r.ok, false, 'expected a refusal')
  if (!r.ok) assert.match(r.reason, pattern)
}

// ---- Fixtures

const t0 = 1_700_000_000_000

const oneRecordFixture = fixtureBatch({
  baseOffset: 0n,
  partitionLeaderEpoch: -1,
  attributes: 0,
  lastOffsetDelta: 0,
  baseTimestamp: BigInt(t0),
  maxTimestamp: BigInt(t0),
  producerId: -1n,
  producerEpoch: -1,
  baseSequence: -1,
  recordCount: 1,
  records: [
    fixtureRecord((r) =>
      r
        .int8(0) // attributes
        .varint(0) // timestampDelta
        .varint(0) // offsetDelta
        .field(null) // key
        .field('hello') // value
        .varint(0),
    ), // header count
  ],
})

const bigValue = Uint8Array.from({ length: 200 }, (_, i) => (i * 7) & 0xff)

const threeRecordsInput: RecordBatchInput = {
  partitionLeaderEpoch: 7,
  producerId: 123_456_789_012n,
  producerEpoch: 3,
  baseSequence: 17,
  records: [
    {
      key: utf8('k0'),
      value: utf8('v0'),
      headers: [{ key: 'trace', value: utf8('abc') }],
      timestamp: t0 + 500,
    },
    {
      key: utf8('key-1'),
      value: bigValue,
      headers: [
        { key: 'a', value: null },
        { key: 'ü', value: new Uint8Array(0) },
      ],
      timestamp: t0,
    },
    { key: new Uint8Array(0), value: null, timestamp: t0 + 3_000 },
  ],
}

const threeRecordsFixture = fixtureBatch({
  baseOffset: 0n,
  partitionLeaderEpoch: 7,
  attributes: 0,
  lastOffsetDelta: 2,
  baseTimestamp: BigInt(t0 + 500),
  maxTimestamp: BigInt(t0 + 3_000),
  producerId: 123_456_789_012n,
  producerEpoch: 3,
  baseSequence: 17,
  recordCount: 3,
  records: [
    fixtureRecord((r) =>
      r.int8(0).varint(0).varint(0).field('k0').field('v0').varint(1).field('trace').field('abc'),
    ),
    fixtureRecord((r) =>
      r
        .int8(0)
        .varint(-500) // before the first record's timestamp
        .varint(1)
        .field('key-1')
        .field(bigValue) // 200 bytes: a two-byte length, and a two-byte record length
        .varint(2)
        .field('a')
        .field(null)
        .field('ü') // two UTF-8 bytes
        .field(new Uint8Array(0)),
    ),
    fixtureRecord((r) => r.int8(0).varint(2500).varint(2).field(new Uint8Array(0)).field(null).varint(0)),
  ],
})

// LogAppendTime, a bigint base offset, and a timestamp delta beyond 32 bits (the varlong slow path).
const farDelta = 2 ** 40 + 12_345
const logAppendTimeInput: RecordBatchInput = {
  baseOffset: 9_007_199_254_740_000n,
  attributes: 0x08,
  records: [
    { key: utf8('x'), value: utf8('1'), timestamp: t0 },
    { key: utf8('y'), value: utf8('2'), timestamp: t0 + farDelta },
  ],
}
const logAppendTimeFixture = fixtureBatch({
  baseOffset: 9_007_199_254_740_000n,
  partitionLeaderEpoch: -1,
  attributes: 0x08,
  lastOffsetDelta: 1,
  baseTimestamp: BigInt(t0),
  maxTimestamp: BigInt(t0 + farDelta),
  producerId: -1n,
  producerEpoch: -1,
  baseSequence: -1,
  recordCount: 2,
  records: [
    fixtureRecord((r) => r.int8(0).varint(0).varint(0).field('x').field('1').varint(0)),
    fixtureRecord((r) => r.int8(0).varint(farDelta).varint(1).field('y').field('2').varint(0)),
  ],
})

describe('RecordBatch v2 fixtures, byte for byte', () => {
  it("the test's bitwise CRC-32C gives the standard check value", () => {
    assert.equal(crc32cBitwise(utf8('123456789')), 0xe3069283)
  })

  it('one record with a null key', () => {
    // The record, by hand: length 11, attributes 0, timestampDelta 0, offsetDelta 0,
    // key −1 (zig-zag 1), value length 5 (zig-zag 10), "hello", no headers.
    assert.deepEqual(
      [...oneRecordFixture.subarray(recordBatchHeaderBytes)],
      [0x16, 0x00, 0x00, 0x00, 0x01, 0x0a, 0x68, 0x65, 0x6c, 0x6c, 0x6f, 0x00],
    )
    assert.equal(oneRecordFixture.length, 73)
    const encoded = encodeRecordBatch({ records: [{ key: null, value: utf8('hello'), timestamp: t0 }] })
    assertBytes(encoded, oneRecordFixture)
    // The CRC at bytes 17..20, pinned: a change to any byte of the layout changes it.
    assert.equal(Buffer.from(encoded).readUInt32BE(17), 0xe641a44b)
    assert.equal(crc32cBitwise(encoded.subarray(21)), 0xe641a44b)
  })

  it('three records with keys, headers, out-of-order timestamps and a producer id, epoch and sequence', () => {
    const encoded = encodeRecordBatch(threeRecordsInput)
    assertBytes(encoded, threeRecordsFixture)
    const record1 = threeRecordsFixture.subarray(61 + 1 + 20) // after record 0 (length varint 1 + body 20)
    assert.deepEqual([...record1.subarray(0, 2)], [0xb8, 0x03], 'record 1 is 220 bytes: a two-byte length')
    assert.equal(Buffer.from(encoded).readUInt32BE(17), crc32cBitwise(encoded.subarray(21)))
  })

  it('LogAppendTime, a large base offset and a timestamp delta beyond 32 bits', () => {
    assertBytes(encodeRecordBatch(logAppendTimeInput), logAppendTimeFixture)
  })

  it('decodes the fixtures back to their records and header', () => {
    const one = expectOk(decodeRecords(oneRecordFixture))
    assert.deepEqual(one.records, [
      { offset: 0, timestamp: t0, key: null, value: utf8('hello'), headers: [] },
    ])
    const three = expectOk(decodeRecords(threeRecordsFixture))
    assert.deepEqual(
      three.records,
      threeRecordsInput.records.map((r, i) => ({
        offset: i,
        timestamp: r.timestamp,
        key: r.key,
        value: r.value,
        headers: r.headers ?? [],
      })),
    )
    const h = three.header
    assert.deepEqual(
      [h.baseOffset, h.lastOffset, h.lastOffsetDelta, h.recordCount, h.batchLength, h.totalBytes],
      [0, 2, 2, 3, threeRecordsFixture.length - 12, threeRecordsFixture.length],
    )
    assert.deepEqual(
      [
        h.partitionLeaderEpoch,
        h.producerId,
        h.producerEpoch,
        h.baseSequence,
        h.baseTimestamp,
        h.maxTimestamp,
      ],
      [7, 123_456_789_012n, 3, 17, t0 + 500, t0 + 3_000],
    )
    assert.deepEqual(
      [h.compressionCodec, h.timestampType, h.isTransactional, h.isControl],
      [0, 'CreateTime', false, false],
    )
    const far = expectOk(decodeRecords(logAppendTimeFixture))
    assert.equal(far.header.timestampType, 'LogAppendTime')
    assert.deepEqual(
      far.records.map((r) => [r.offset, r.timestamp]),
      [
        [9_007_199_254_740_000, t0],
        [9_007_199_254_740_001, t0 + farDelta],
      ],
    )
  })
})

// ---- Varints

describe('zig-zag varints', () => {
  it("zig-zags as Kafka's ByteUtils does", () => {
    const vectors: [number, number][] = [
      [0, 0],
      [-1, 1],
      [1, 2],
      [-2, 3],
      [2147483647, 4294967294],
      [-2147483648, 4294967295],
    ]
    for (const [n, z] of vectors) {
      assert.equal(zigZagEncode32(n), z, `zigzag(${n})`)
      assert.equal(zigZagDecode32(z), n, `unzigzag(${z})`)
    }
  })

  it('encodes sizes at every 7-bit boundary', () => {
    // [value, bytes]: a group boundary is where the zig-zag crosses 2^7k.
    const vectors: [number, number[]][] = [
      [0, [0x00]],
      [-1, [0x01]],
      [1, [0x02]],
      [63, [0x7e]],
      [-64, [0x7f]],
      [64, [0x80, 0x01]],
      [-65, [0x81, 0x01]],
      [300, [0xd8, 0x04]],
      [8191, [0xfe, 0x7f]],
      [8192, [0x80, 0x80, 0x01]],
      [-8193, [0x81, 0x80, 0x01]],
      [1048575, [0xfe, 0xff, 0x7f]],
      [1048576, [0x80, 0x80, 0x80, 0x01]],
      [134217727, [0xfe, 0xff, 0xff, 0x7f]],
      [134217728, [0x80, 0x80, 0x80, 0x80, 0x01]],
      [2147483647, [0xfe, 0xff, 0xff, 0xff, 0x0f]],
      [-2147483648, [0xff, 0xff, 0xff, 0xff, 0x0f]],
    ]
    for (const [n, expected] of vectors) {
      assert.deepEqual(referenceVarint(BigInt(n)), expected, `reference ${n}`)
      const out = new Uint8Array(10)
      const end = writeVarint(out, 0, n)
      assert.deepEqual([...out.subarray(0, end)], expected, `writeVarint ${n}`)
      assert.equal(varintSize(n), expected.length)
      assert.equal(varlongSize(n), expected.length)
      const c = { bytes: out, pos: 0, end }
      assert.equal(readVarint(c), n)
      assert.equal(c.pos, end)
      const c2 = { bytes: out, pos: 0, end }
      assert.equal(readVarlong(c2), n)
    }
  })

  it('refuses truncated, over-long and out-of-range varints', () => {
    const read = (bytes: number[], long = false) => {
      const c = { bytes: Uint8Array.from(bytes), pos: 0, end: bytes.length }
      return long ? readVarlong(c) : readVarint(c)
    }
    assert.equal(read([]), undefined)
    assert.equal(read([0x80]), undefined)
    assert.equal(read([0xff, 0xff, 0xff, 0xff]), undefined)
    assert.equal(read([0x80, 0x80, 0x80, 0x80, 0x80, 0x00]), undefined, 'six bytes')
    assert.equal(read([0xfe, 0xff, 0xff, 0xff, 0x1f]), undefined, 'bit 32')
    assert.equal(read([0x80, 0x80, 0x80, 0x80, 0x00]), 0, 'non-minimal five bytes, as Kafka accepts')
    assert.equal(read(Array(10).fill(0x80).concat([0x00]), true), undefined, 'eleven bytes')
    assert.equal(read(Array(9).fill(0x80).concat([0x00]), true), 0, 'non-minimal ten bytes')
    assert.equal(read(referenceVarint(2n ** 53n), true), undefined, '2^53')
    assert.equal(read(referenceVarint(-(2n ** 53n)), true), undefined, '−2^53')
    assert.equal(read(referenceVarint(2n ** 63n - 1n), true), undefined, 'int64 max')
    assert.equal(read(referenceVarint(2n ** 53n - 1n), true), Number.MAX_SAFE_INTEGER)
    assert.equal(read(referenceVarint(-(2n ** 53n) + 1n), true), -Number.MAX_SAFE_INTEGER)
    assert.throws(() => varlongSize(2 ** 53), RangeError)
    assert.throws(() => writeVarlong(new Uint8Array(10), 0, 0.5), RangeError)
  })

  it('varints agree with the bigint reference for every int32', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }), (n) => {
        const out = new Uint8Array(5)
        const end = writeVarint(out, 0, n)
        assert.deepEqual([...out.subarray(0, end)], referenceVarint(BigInt(n)))
        assert.equal(readVarint({ bytes: out, pos: 0, end }), n)
      }),
      fcOptions(5_000),
    )
  })

  it('varlongs agree with the bigint reference for every safe integer', () => {
    const safeArb = fc.oneof(
      fc.maxSafeInteger(),
      fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
      fc.constantFrom(
        Number.MAX_SAFE_INTEGER,
        -Number.MAX_SAFE_INTEGER,
        2 ** 31,
        -(2 ** 31) - 1,
        2 ** 52 + 1,
      ),
    )
    fc.assert(
      fc.property(safeArb, (n) => {
        const out = new Uint8Array(10)
        const end = writeVarlong(out, 0, n)
        assert.deepEqual([...out.subarray(0, end)], referenceVarint(BigInt(n)))
        assert.equal(varlongSize(n), end)
        const c = { bytes: out, pos: 0, end }
        assert.equal(readVarlong(c), n)
        assert.equal(c.pos, end)
      }),
      fcOptions(5_000),
    )
  })
})

// ---- Round trips

const bytesOrNullArb = (maxLength: number) =>
  fc.oneof(fc.constant(null), fc.constant(new Uint8Array(0)), fc.uint8Array({ minLength: 1, maxLength }))

const timestampArb = fc.oneof(
  { weight: 4, arbitrary: fc.integer({ min: t0 - 10_000, max: t0 + 10_000 }) },
  { weight: 1, arbitrary: fc.integer({ min: -(2 ** 51), max: 2 ** 51 }) },
)

const recordArb: fc.Arbitrary<ProducerRecord> = fc.record(
  {
    key: bytesOrNullArb(40),
    value: bytesOrNullArb(300),
    headers: fc.array(
      fc.record({ key: fc.string({ unit: 'binary', maxLength: 10 }), value: bytesOrNullArb(20) }),
      {
        maxLength: 3,
      },
    ),
    timestamp: timestampArb,
  },
  { requiredKeys: ['key', 'value', 'timestamp'] },
)

const batchInputArb: fc.Arbitrary<RecordBatchInput> = fc.record(
  {
    baseOffset: fc.oneof(
      fc.nat(1_000),
      fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 1_000 }),
      fc.bigInt({ min: 0n, max: 2n ** 53n - 1_000n }),
    ),
    partitionLeaderEpoch: fc.integer({ min: -1, max: 2 ** 31 - 1 }),
    attributes: fc.constantFrom(0, 0x08),
    producerId: fc.oneof(fc.constant(-1n), fc.bigInt({ min: 0n, max: 2n ** 63n - 1n })),
    producerEpoch: fc.integer({ min: -1, max: 0x7fff }),
    baseSequence: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    records: fc.array(recordArb, { minLength: 1, maxLength: 12 }),
  },
  { requiredKeys: ['records'] },
)

function expectedRecords(input: RecordBatchInput, baseOffset: number): BatchRecord[] {
  return input.records.map((r, i) => ({
    offset: baseOffset + i,
    timestamp: r.timestamp,
    key: r.key,
    value: r.value,
    headers: (r.headers ?? []).map((h) => ({ key: h.key, value: h.value })), // fast-check's have no prototype
  }))
}

describe('RecordBatch v2 round trips', () => {
  it('encode → readBatchHeader, verifyBatchCrc, decodeRecords give the input back', () => {
    fc.assert(
      fc.property(batchInputArb, (input) => {
        const bytes = encodeRecordBatch(input)
        const h = expectOk(readBatchHeader(bytes))
        const timestamps = input.records.map((r) => r.timestamp)
        const baseOffset = Number(input.baseOffset ?? 0)
        assert.equal(h.totalBytes, bytes.length)
        assert.equal(h.baseOffset, baseOffset)
        assert.equal(h.recordCount, input.records.length)
        assert.equal(h.lastOffsetDelta, input.records.length - 1)
        assert.equal(h.lastOffset, baseOffset + input.records.length - 1)
        assert.equal(h.baseTimestamp, timestamps[0])
        assert.equal(h.maxTimestamp, Math.max(...timestamps))
        assert.equal(h.partitionLeaderEpoch, input.partitionLeaderEpoch ?? -1)
        assert.equal(h.producerId, input.producerId ?? -1n)
        assert.equal(h.producerEpoch, input.producerEpoch ?? -1)
        assert.equal(h.baseSequence, input.baseSequence ?? -1)
        assert.equal(h.timestampType, input.attributes === 0x08 ? 'LogAppendTime' : 'CreateTime')
        assert.ok(verifyBatchCrc(bytes), 'CRC')
        const decoded = expectOk(decodeRecords(bytes))
        assert.deepEqual(decoded.header, h)
        assert.deepEqual(decoded.records, expectedRecords(input, baseOffset))
        // Kafka refuses an idempotent producer's batch without a sequence; nothing else here.
        const sequenced = (input.producerId ?? -1n) < 0n || (input.baseSequence ?? -1) >= 0
        assert.equal(validateProducedBatch(bytes).ok, sequenced)
      }),
      fcOptions(1_500),
    )
  })

  it('finds every batch of a concatenation, at any offset and in a view with a byteOffset', () => {
    fc.assert(
      fc.property(fc.array(batchInputArb, { minLength: 1, maxLength: 4 }), fc.nat(7), (inputs, pad) => {
        const batches = inputs.map((input) => encodeRecordBatch(input))
        const total = batches.reduce((n, b) => n + b.length, 0)
        const backing = new Uint8Array(pad + total + 3)
        const all = backing.subarray(pad, pad + total)
        let at = 0
        const starts: number[] = []
        for (const b of batches) {
          starts.push(at)
          all.set(b, at)
          at += b.length
        }
        const split = expectOk(splitBatches(all))
        assert.equal(split.partial, null)
        assert.deepEqual(
          split.batches.map((b) => b.offset),
          starts,
        )
        for (const [i, { offset }] of split.batches.entries()) {
          assert.ok(verifyBatchCrc(all, offset), `CRC of the batch at ${offset}`)
          const decoded = expectOk(decodeRecords(all, offset))
          const input = inputs[i]!
          assert.deepEqual(decoded.records, expectedRecords(input, Number(input.baseOffset ?? 0)))
        }
      }),
      fcOptions(300),
    )
  })

  it('reports the batch cut off at the end of a fetch as partial, at every cut point', () => {
    const batches = [oneRecordFixture, threeRecordsFixture, logAppendTimeFixture]
    const all = new Uint8Array(batches.reduce((n, b) => n + b.length, 0))
    const ends: number[] = []
    let at = 0
    for (const b of batches) {
      all.set(b, at)
      at += b.length
      ends.push(at)
    }
    for (let cut = 0; cut <= all.length; cut++) {
      const split = expectOk(splitBatches(all.subarray(0, cut)))
      const whole = ends.filter((end) => end <= cut).length
      assert.equal(split.batches.length, whole, `cut ${cut}`)
      const start = whole === 0 ? 0 : ends[whole - 1]!
      if (start === cut) assert.equal(split.partial, null, `cut ${cut}`)
      else {
        assert.equal(split.partial?.offset, start, `cut ${cut}`)
        assert.equal(split.partial?.availableBytes, cut - start)
        const length = cut - start >= 12 ? batches[whole]!.length : null
        assert.equal(split.partial?.totalBytes, length)
      }
    }
  })
})

// ---- The broker's work

describe("the broker's in-place writes and checks", () => {
  it('setBaseOffset and setPartitionLeaderEpoch keep the CRC valid and show in the decoded batch', () => {
    fc.assert(
      fc.property(
        batchInputArb,
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 1_000 }),
        fc.integer({ min: -1, max: 2 ** 31 - 1 }),
        (input, baseOffset, leaderEpoch) => {
          const bytes = encodeRecordBatch(input)
          const before = Uint8Array.from(bytes)
          setBaseOffset(bytes, baseOffset)
          setPartitionLeaderEpoch(bytes, leaderEpoch)
          assert.ok(verifyBatchCrc(bytes), 'CRC after the writes')
          assertBytes(bytes.subarray(16), before.subarray(16)) // magic, CRC and the CRC'd part untouched
          assertBytes(bytes.subarray(8, 12), before.subarray(8, 12))
          const decoded = expectOk(decodeRecords(bytes))
          assert.equal(decoded.header.baseOffset, baseOffset)
          assert.equal(decoded.header.partitionLeaderEpoch, leaderEpoch)
          assert.deepEqual(decoded.records, expectedRecords(input, baseOffset))
        },
      ),
      fcOptions(500),
    )
  })

  it('recordBatchCrc32c: the CRC of a whole stamped batch from its header, and nothing for non-batches', () => {
    fc.assert(
      fc.property(batchInputArb, fc.nat(2 ** 40), (input, baseOffset) => {
        const bytes = encodeRecordBatch(input)
        setBaseOffset(bytes, baseOffset)
        assert.equal(recordBatchCrc32c(bytes), crc32c(bytes))
        assert.equal(recordBatchCrc32c(bytes.subarray(0, bytes.length - 1)), undefined, 'one byte short')
        const longer = new Uint8Array(bytes.length + 1)
        longer.set(bytes)
        assert.equal(recordBatchCrc32c(longer), undefined, 'one byte more')
        const otherMagic = Uint8Array.from(bytes)
        otherMagic[16] = 1
        assert.equal(recordBatchCrc32c(otherMagic), undefined, 'not magic 2')
      }),
      fcOptions(300),
    )
    assert.equal(recordBatchCrc32c(new Uint8Array(10)), undefined, 'shorter than a header')
  })

  it('sets the base offset of a batch inside a larger buffer, and refuses offsets it cannot represent', () => {
    const buffer = new Uint8Array(5 + threeRecordsFixture.length)
    buffer.set(threeRecordsFixture, 5)
    setBaseOffset(buffer, 41n, 5)
    assert.equal(expectOk(decodeRecords(buffer, 5)).records[2]!.offset, 43)
    assert.throws(() => setBaseOffset(buffer, -1, 5), RangeError)
    assert.throws(() => setBaseOffset(buffer, 2 ** 53, 5), RangeError)
    assert.throws(() => setBaseOffset(buffer, 2n ** 63n, 5), RangeError)
    assert.throws(() => setBaseOffset(buffer, 0, buffer.length - 60), RangeError)
    assert.throws(() => setPartitionLeaderEpoch(buffer, 2 ** 31, 5), RangeError)
  })

  it('a flip of any bit in the CRC range, or in the CRC, fails verifyBatchCrc; outside it does not', () => {
    const bytes = encodeRecordBatch(threeRecordsInput)
    for (let i = 0; i < bytes.length; i++) {
      const bit = 1 << (i % 8)
      bytes[i]! ^= bit
      const verified = verifyBatchCrc(bytes)
      bytes[i]! ^= bit
      const outsideCrc = i < 8 || (i >= 12 && i < 17) // baseOffset, partitionLeaderEpoch, magic
      assert.equal(verified, outsideCrc, `byte ${i}`)
    }
    assert.ok(verifyBatchCrc(bytes), 'CRC after flipping back')
  })

  it('a flip of any byte in the CRC range of random batches fails verifyBatchCrc', () => {
    fc.assert(
      fc.property(batchInputArb, fc.nat(), fc.integer({ min: 1, max: 255 }), (input, at, xor) => {
        const bytes = encodeRecordBatch(input)
        const i = 17 + (at % (bytes.length - 17))
        bytes[i]! ^= xor
        assert.equal(verifyBatchCrc(bytes), false)
        assert.equal(decodeRecords(bytes).ok, false)
      }),
      fcOptions(1_000),
    )
  })

  it('validateProducedBatch refuses what a broker must not append', () => {
    const valid = encodeRecordBatch(threeRecordsInput)
    assert.ok(validateProducedBatch(valid).ok, 'the valid batch')
    const reCrc = (b: Uint8Array) => {
      new DataView(b.buffer, b.byteOffset).setUint32(17, crc32c(b, 21))
      return b
    }
    const withAttributes = (attributes: number) => {
      const b = Uint8Array.from(valid)
      new DataView(b.buffer).setInt16(21, attributes)
      return reCrc(b)
    }
    expectFail(validateProducedBatch(Uint8Array.from([...valid, 0])), /1 bytes after the batch/)
    const flipped = Uint8Array.from(valid)
    flipped[100]! ^= 1
    expectFail(validateProducedBatch(flipped), /CRC mismatch/)
    expectFail(validateProducedBatch(withAttributes(0x20)), /control batches/)
    expectFail(validateProducedBatch(withAttributes(0x10)), /transactions are not supported/)
    expectFail(validateProducedBatch(withAttributes(3)), /compression codec 3 is not supported/)
    const noSequence = encodeRecordBatch({ ...threeRecordsInput, baseSequence: -1 })
    expectFail(validateProducedBatch(noSequence), /baseSequence -1 is negative for producerId 123456789012/)
    const producerZero = encodeRecordBatch({ ...threeRecordsInput, producerId: 0n, baseSequence: -1 })
    expectFail(validateProducedBatch(producerZero), /baseSequence -1 is negative for producerId 0/)
    const empty = fixtureBatch({ ...fixtureHeader([]), lastOffsetDelta: 0 }) // as compaction may leave
    assert.equal(expectOk(decodeRecords(empty)).records.length, 0)
    expectFail(validateProducedBatch(empty), /recordCount 0 must be lastOffsetDelta \+ 1 \(1\) and > 0/)
    const gap = Uint8Array.from(valid)
    new DataView(gap.buffer).setInt32(23, 3) // lastOffsetDelta 3 for 3 records
    expectFail(validateProducedBatch(reCrc(gap)), /recordCount 3 must be lastOffsetDelta \+ 1 \(4\)/)
    expectFail(validateProducedBatch(valid, { batchBytesMax: valid.length - 1 }), /exceeds batchBytesMax/)
  })

  it('encodeRecordBatch refuses input the format cannot carry', () => {
    const record = { key: null, value: null, timestamp: t0 }
    assert.throws(() => encodeRecordBatch({ records: [] }), /at least one record/)
    assert.throws(() => encodeRecordBatch({ attributes: 1, records: [record] }), /timestamp-type bit/)
    assert.throws(() => encodeRecordBatch({ attributes: 0x10, records: [record] }), /timestamp-type bit/)
    assert.throws(() => encodeRecordBatch({ producerEpoch: 0x8000, records: [record] }), /int16/)
    assert.throws(() => encodeRecordBatch({ producerId: 2n ** 63n, records: [record] }), /int64/)
    assert.throws(() => encodeRecordBatch({ baseOffset: -1, records: [record] }), /baseOffset/)
    assert.throws(() => encodeRecordBatch({ records: [{ ...record, timestamp: 1.5 }] }), /timestamp/)
    assert.throws(
      () =>
        encodeRecordBatch({
          records: [
            record,
            { ...record, timestamp: -Number.MAX_SAFE_INTEGER },
            { ...record, timestamp: 2 ** 52 },
          ],
        }),
      /not a safe integer/,
    )
  })
})

// ---- Defects, one at a time, with their reasons

const fixtureHeader = (records: number[][], recordCount = records.length): FixtureHeader => ({
  baseOffset: 0n,
  partitionLeaderEpoch: 0,
  attributes: 0,
  lastOffsetDelta: Math.max(records.length, recordCount) - 1,
  baseTimestamp: BigInt(t0),
  maxTimestamp: BigInt(t0),
  producerId: -1n,
  producerEpoch: -1,
  baseSequence: -1,
  recordCount,
  records,
})

const plainRecord = (offsetDelta: number) =>
  fixtureRecord((r) => r.int8(0).varint(0).varint(offsetDelta).field('k').field('v').varint(0))

/** Big enough that two of them leave room, by the header's bound, for a third. */
const wideRecord = (offsetDelta: number) =>
  fixtureRecord((r) => r.int8(0).varint(0).varint(offsetDelta).field('k').field('v'.repeat(20)).varint(0))

describe('defects are refused with a reason', () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ['magic 1', fixtureBatch({ ...fixtureHeader([plainRecord(0)]), magic: 1 }), /^magic 1, expected 2/],
    ['a truncated header', oneRecordFixture.subarray(0, 60), /truncated: 60 bytes, a batch header takes 61/],
    ['a truncated batch', oneRecordFixture.subarray(0, 72), /truncated: the batch takes 73 bytes, 72 remain/],
    [
      'recordCount above lastOffsetDelta + 1',
      fixtureBatch({ ...fixtureHeader([plainRecord(0)]), lastOffsetDelta: 0, recordCount: 2 }),
      /recordCount 2 is outside 0..lastOffsetDelta \+ 1 \(1\)/,
    ],
    [
      'more records than the bytes can hold',
      fixtureBatch({ ...fixtureHeader([plainRecord(0)]), lastOffsetDelta: 99, recordCount: 99 }),
      /99 records cannot fit in 9 bytes/,
    ],
    [
      'a negative base offset',
      fixtureBatch({ ...fixtureHeader([plainRecord(0)]), baseOffset: -5n }),
      /baseOffset -5 is outside/,
    ],
    [
      'a base timestamp beyond the safe integers',
      fixtureBatch({ ...fixtureHeader([plainRecord(0)]), baseTimestamp: 2n ** 60n }),
      /baseTimestamp 1152921504606846976 is not a safe integer/,
    ],
    [
      'a compressed batch',
      fixtureBatch({ ...fixtureHeader([plainRecord(0)]), attributes: 2 }),
      /^compression codec 2 is not supported$/,
    ],
    [
      'an unknown codec',
      fixtureBatch({ ...fixtureHeader([plainRecord(0)]), attributes: 6 }),
      /unknown compression codec 6/,
    ],
    [
      'fewer records than recordCount',
      fixtureBatch(fixtureHeader([wideRecord(0), wideRecord(1)], 3)),
      /recordCount 3, but the batch ends after 2 records/,
    ],
    [
      'bytes after the last record',
      fixtureBatch(fixtureHeader([plainRecord(0), [0, 0, 0, 0, 0, 0, 0, 0]], 1)),
      /8 bytes after the last of 1 records/,
    ],
    [
      'a key length varint of six bytes',
      fixtureBatch(
        fixtureHeader([
          fixtureRecord((r) =>
            r.int8(0).varint(0).varint(0).raw([0x82, 0x80, 0x80, 0x80, 0x80, 0x00]).raw('k'),
          ),
        ]),
      ),
      /record 0 at byte 61: key length: varint longer than 5 bytes/,
    ],
    [
      'a timestamp delta varlong of eleven bytes',
      fixtureBatch(
        fixtureHeader([
          fixtureRecord((r) =>
            r
              .int8(0)
              .raw([...Array(10).fill(0x80), 0])
              .varint(0)
              .varint(0),
          ),
        ]),
      ),
      /timestampDelta: varint longer than 10 bytes/,
    ],
    [
      'a key length below −1',
      fixtureBatch(
        fixtureHeader([fixtureRecord((r) => r.int8(0).varint(0).varint(0).varint(-2).field('v'))]),
      ),
      /key length -2/,
    ],
    [
      'a value longer than its record',
      fixtureBatch(
        fixtureHeader([
          fixtureRecord((r) => r.int8(0).varint(0).varint(0).field(null).varint(50).raw('v').varint(0)),
        ]),
      ),
      /value length 50 runs past the record \(2 bytes left\)/,
    ],
    [
      'a record length beyond the batch',
      fixtureBatch(fixtureHeader([[...referenceVarint(90n), 0, 0, 0, 1, 1, 0]])),
      /record 0 at byte 61: length 90 runs past the batch \(6 bytes left\)/,
    ],
    [
      'a record whose fields end before its length',
      fixtureBatch(
        fixtureHeader([
          fixtureRecord((r) => r.int8(0).varint(0).varint(0).field('k').field('v').varint(0).raw([0, 0])),
        ]),
      ),
      /length 10, but the fields end 2 bytes early/,
    ],
    [
      'offset deltas that do not increase',
      fixtureBatch(fixtureHeader([plainRecord(1), plainRecord(1)])),
      /record 1 at byte \d+: offsetDelta 1 is outside 2..lastOffsetDelta 1/,
    ],
    [
      'a null header key',
      fixtureBatch(
        fixtureHeader([
          fixtureRecord((r) =>
            r.int8(0).varint(0).varint(0).field('k').field('v').varint(1).varint(-1).varint(-1),
          ),
        ]),
      ),
      /header 0: header key is null/,
    ],
    [
      'a header key that is not UTF-8',
      fixtureBatch(
        fixtureHeader([
          fixtureRecord((r) =>
            r.int8(0).varint(0).varint(0).field('k').field('v').varint(1).field([0xc3, 0x28]).field(null),
          ),
        ]),
      ),
      /header key is not valid UTF-8/,
    ],
    [
      'a header count the record cannot hold',
      fixtureBatch(
        fixtureHeader([
          fixtureRecord((r) => r.int8(0).varint(0).varint(0).field('k').field('v').varint(1000)),
        ]),
      ),
      /headerCount 1000 is outside 0..0/,
    ],
  ]
  for (const [name, bytes, reason] of cases) {
    it(name, () => {
      expectFail(decodeRecords(bytes), reason)
    })
  }

  it('int64 header fields: 2^53 − 1 and −(2^53 − 1) pass, 2^53 and −2^53 are refused', () => {
    const header = fixtureHeader([plainRecord(0)])
    const max = 2n ** 53n - 1n
    const edges = expectOk(
      readBatchHeader(fixtureBatch({ ...header, baseOffset: max, baseTimestamp: -max, maxTimestamp: max })),
    )
    assert.deepEqual(
      [edges.baseOffset, edges.baseTimestamp, edges.maxTimestamp],
      [Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
    )
    expectFail(
      readBatchHeader(fixtureBatch({ ...header, maxTimestamp: max + 1n })),
      /maxTimestamp 9007199254740992/,
    )
    expectFail(
      readBatchHeader(fixtureBatch({ ...header, baseTimestamp: -max - 1n })),
      /baseTimestamp -9007199254740992/,
    )
    expectFail(
      readBatchHeader(fixtureBatch({ ...header, baseOffset: max + 1n })),
      /baseOffset 9007199254740992/,
    )
  })

  it('a header key that starts with a byte order mark keeps it', () => {
    const key = '\ufeffbom'
    const bytes = encodeRecordBatch({
      records: [{ key: null, value: null, headers: [{ key, value: null }], timestamp: 0 }],
    })
    assert.equal(expectOk(decodeRecords(bytes)).records[0]!.headers[0]!.key, key)
  })

  it('offsets that are not a position in the bytes', () => {
    for (const offset of [-1, 1.5, Number.NaN, oneRecordFixture.length + 1, 13]) {
      expectFail(readBatchHeader(oneRecordFixture, offset), /outside the 73 bytes|truncated/)
      expectFail(decodeRecords(oneRecordFixture, offset), /outside the 73 bytes|truncated/)
      assert.equal(verifyBatchCrc(oneRecordFixture, offset), false)
    }
  })

  it('a CRC mismatch', () => {
    const bytes = Uint8Array.from(oneRecordFixture)
    bytes[70]! ^= 0x20
    expectFail(decodeRecords(bytes), /CRC mismatch: stored 0xe641a44b, computed 0x[0-9a-f]{8}/)
  })

  it('splitBatches names the batch and position of a defect that is not a cut-off', () => {
    const bad = fixtureBatch({ ...fixtureHeader([plainRecord(0)]), magic: 0 })
    const all = new Uint8Array([...oneRecordFixture, ...bad])
    expectFail(splitBatches(all), /^batch 1 at byte 73: magic 0, expected 2/)
    const short = Uint8Array.from(oneRecordFixture)
    new DataView(short.buffer).setInt32(8, 48)
    expectFail(splitBatches(short), /^batch 0 at byte 0: batchLength 48 is below the header's 49/)
    expectFail(splitBatches(oneRecordFixture, { batchBytesMax: 72 }), /exceeds batchBytesMax 72/)
    // Cut off, but impossible even whole: an error, not a partial batch.
    expectFail(splitBatches(short.subarray(0, 40)), /batchLength 48 is below the header's 49/)
  })
})

// ---- Garbage: random and mutated inputs must never make a reader throw

const pool: Uint8Array[] = fc
  .sample(batchInputArb, { seed, numRuns: 256 })
  .map((input) => encodeRecordBatch(input))
const poolIndexArb = fc.nat(pool.length - 1)

type Mutation =
  | { kind: 'flip'; bits: number[] }
  | { kind: 'truncate'; at: number }
  | { kind: 'extend'; bytes: Uint8Array }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'overwrite'; at: number; bytes: number[] }
  | { kind: 'splice'; other: number; at: number; otherAt: number }
  | { kind: 'headerField'; field: number; value: number }

// Bytes that make varints long, negative, zero or maximal.
const varintByteArb = fc.constantFrom(0x00, 0x01, 0x02, 0x7e, 0x7f, 0x80, 0x81, 0xfe, 0xff)
const int32FieldAt = [8, 12, 23, 53, 57, 0, 4, 27, 31, 35, 39, 43, 47] // int32 halves of every header field
const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), bits: fc.array(fc.nat(), { minLength: 1, maxLength: 4 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('extend' as const), bytes: fc.uint8Array({ minLength: 1, maxLength: 80 }) }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 9 }),
  }),
  fc.record({
    kind: fc.constant('overwrite' as const),
    at: fc.nat(),
    bytes: fc.array(varintByteArb, { minLength: 1, maxLength: 11 }),
  }),
  fc.record({ kind: fc.constant('splice' as const), other: poolIndexArb, at: fc.nat(), otherAt: fc.nat() }),
  fc.record({
    kind: fc.constant('headerField' as const),
    field: fc.constantFrom(...int32FieldAt),
    value: fc.constantFrom(-1, 0, 1, 2, 48, 49, 50, 0x7fff_ffff, -0x8000_0000, 0x20_0000),
  }),
)

function mutate(original: Uint8Array, m: Mutation): Uint8Array {
  const bytes = Uint8Array.from(original)
  const at = (n: number) => n % (bytes.length + 1)
  switch (m.kind) {
    case 'flip':
      for (const bit of m.bits) if (bytes.length > 0) bytes[(bit >>> 3) % bytes.length]! ^= 1 << (bit & 7)
      return bytes
    case 'truncate':
      return bytes.subarray(0, at(m.at))
    case 'extend':
      return new Uint8Array([...bytes, ...m.bytes])
    case 'insert':
      return new Uint8Array([...bytes.subarray(0, at(m.at)), ...m.bytes, ...bytes.subarray(at(m.at))])
    case 'overwrite':
      for (let i = 0; i < m.bytes.length && bytes.length > 0; i++)
        bytes[(m.at + i) % bytes.length] = m.bytes[i]!
      return bytes
    case 'splice': {
      const other = pool[m.other]!
      return new Uint8Array([
        ...bytes.subarray(0, at(m.at)),
        ...other.subarray(m.otherAt % (other.length + 1)),
      ])
    }
    case 'headerField':
      if (bytes.length >= m.field + 4) new DataView(bytes.buffer).setInt32(m.field, m.value)
      return bytes
  }
}

/** Make a mutant consistent again where it is cheap to, so it gets past the length and CRC gates. */
function repair(bytes: Uint8Array, fixLength: boolean): Uint8Array {
  if (bytes.length < recordBatchHeaderBytes) return bytes
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (fixLength) view.setInt32(8, bytes.length - 12)
  const end = 12 + view.getInt32(8)
  if (end >= recordBatchHeaderBytes && end <= bytes.length) view.setUint32(17, crc32c(bytes, 21, end))
  return bytes
}

const stats = { runs: 0, decoded: 0, refused: 0, reachedRecords: 0, partial: 0 }

function checkReason(r: Result<unknown>): void {
  if (!r.ok) {
    assert.equal(typeof r.reason, 'string')
    assert.ok(r.reason.length > 0 && r.reason.length < 300, r.reason)
  }
}

function checkHeader(h: BatchHeader, available: number): void {
  assert.ok(h.totalBytes <= available && h.totalBytes >= recordBatchHeaderBytes, `totalBytes ${h.totalBytes}`)
  assert.ok(h.recordCount >= 0 && h.recordCount <= h.lastOffsetDelta + 1, `recordCount ${h.recordCount}`)
  assert.ok(
    Number.isSafeInteger(h.lastOffset) && h.baseOffset >= 0,
    `offsets ${h.baseOffset}..${h.lastOffset}`,
  )
}

/** The contract for any input: results, never exceptions; what is accepted is consistent. */
function checkGarbage(bytes: Uint8Array): void {
  stats.runs++
  const header = readBatchHeader(bytes)
  checkReason(header)
  if (header.ok) checkHeader(header.value, bytes.length)
  const crcOk = verifyBatchCrc(bytes)
  const decoded = decodeRecords(bytes)
  checkReason(decoded)
  if (decoded.ok) {
    stats.decoded++
    const { header: h, records } = decoded.value
    assert.ok(header.ok && crcOk, 'decoded, so the header and CRC are valid')
    assert.equal(records.length, h.recordCount)
    let previous = h.baseOffset - 1
    for (const r of records) {
      assert.ok(r.offset > previous && r.offset <= h.lastOffset, `offset ${r.offset}`)
      assert.ok(Number.isSafeInteger(r.timestamp), `timestamp ${r.timestamp}`)
      previous = r.offset
    }
  } else {
    stats.refused++
    if (decoded.reason.startsWith('record ')) stats.reachedRecords++
  }
  const split = splitBatches(bytes)
  checkReason(split)
  if (split.ok) {
    let pos = 0
    for (const b of split.value.batches) {
      assert.equal(b.offset, pos)
      checkHeader(b.header, bytes.length - pos)
      pos += b.header.totalBytes
    }
    const partial = split.value.partial
    if (partial) stats.partial++
    assert.equal(pos + (partial?.availableBytes ?? 0), bytes.length)
  }
}

describe('garbage never makes a reader throw', () => {
  const started = performance.now()

  it('survives 40,000 byte-level mutations of valid batches, half of them re-checksummed', () => {
    fc.assert(
      fc.property(
        poolIndexArb,
        fc.array(mutationArb, { minLength: 1, maxLength: 3 }),
        fc.constantFrom('none', 'crc', 'length-and-crc'),
        (index, mutations, repairs) => {
          const mutant = mutations.reduce(mutate, pool[index]!)
          checkGarbage(repairs === 'none' ? mutant : repair(mutant, repairs === 'length-and-crc'))
        },
      ),
      fcOptions(40_000),
    )
  })

  it('survives 10,000 random byte strings, with and without a valid-looking header', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), fc.boolean(), (bytes, dress) => {
        if (dress && bytes.length >= recordBatchHeaderBytes) {
          bytes[16] = 2
          bytes[21] = 0
          bytes[22] = bytes[22]! & 0xf8
          repair(bytes, true)
        }
        checkGarbage(bytes)
      }),
      fcOptions(10_000),
    )
  })

  it('survives 5,000 concatenations of valid and mutated batches', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(poolIndexArb, fc.option(mutationArb, { freq: 4 })), { minLength: 1, maxLength: 4 }),
        (parts) => {
          const pieces = parts.map(([i, m]) => (m === null ? pool[i]! : mutate(pool[i]!, m)))
          checkGarbage(new Uint8Array(pieces.flatMap((p) => [...p])))
        },
      ),
      fcOptions(5_000),
    )
  })

  it('ran 55,000 inputs quickly, and some mutants still decoded while others failed deep inside records', () => {
    const seconds = (performance.now() - started) / 1000
    console.log(
      `record-batch fuzz: ${stats.runs} inputs (${stats.decoded} decoded, ${stats.reachedRecords} refused inside a record, ${stats.partial} with a partial batch) in ${seconds.toFixed(1)} s, seed ${seed}`,
    )
    assert.ok(stats.runs >= 55_000, `${stats.runs} inputs`)
    assert.ok(seconds < 15, `${seconds} s`)
    assert.ok(
      stats.decoded > 100 && stats.refused > 1_000 && stats.reachedRecords > 100 && stats.partial > 100,
      JSON.stringify(stats),
    )
  })
})
