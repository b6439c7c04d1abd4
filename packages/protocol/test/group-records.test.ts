/**
 * `__consumer_offsets` records: Kafka's coordinator partition (Java's String.hashCode and
 * Utils.abs, against known Java values), every record kind through a record batch and back with
 * its offset and timestamp, the snapshot marker, and a decoder that refuses anything malformed
 * with a reason — for hand-made bad keys and values and for thousands of mutated batches.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Packr } from 'msgpackr'
import { crc32c } from '../src/crc32c.js'
import {
  coordinatorPartition,
  decodeGroupRecord,
  decodeGroupRecords,
  encodeGroupRecord,
  encodeGroupRecordBatch,
  type GroupRecord,
  groupRecordProblem,
  javaStringHashCode,
  SNAPSHOT_RECORDS_HEADER,
  SNAPSHOT_START_HEADER,
} from '../src/group-records.js'
import { encodeRecordBatch, setBaseOffset } from '../src/record-batch.js'
import { fcOptions } from './seed.js'

const packr = new Packr({ useRecords: false })
const bytes = (...b: number[]) => Uint8Array.from(b)

const offset: GroupRecord = {
  type: 'offset',
  group: 'billing',
  topic: 'orders',
  partition: 3,
  offset: 42,
  metadata: 'node-7',
  commitTimestamp: 1_700_000_000_000,
}
const group: GroupRecord = {
  type: 'group',
  group: 'billing',
  generation: 4,
  protocolType: 'consumer',
  protocol: 'range',
  leader: 'c-1',
  members: [
    {
      memberId: 'c-1',
      clientId: 'c',
      clientHost: '127.0.0.1',
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 60_000,
      subscription: bytes(1, 2),
      assignment: bytes(3),
    },
    {
      memberId: 'c-2',
      clientId: 'c',
      clientHost: '::1',
      sessionTimeoutMs: 10_000,
      rebalanceTimeoutMs: 60_000,
      subscription: bytes(),
      assignment: bytes(4, 5),
    },
  ],
}
const empty: GroupRecord = {
  type: 'group',
  group: 'idle',
  generation: 7,
  protocolType: '',
  protocol: null,
  leader: null,
  members: [],
}
const deleteOffset: GroupRecord = { type: 'delete-offset', group: 'billing', topic: 'orders', partition: 3 }
const deleteGroup: GroupRecord = { type: 'delete-group', group: 'billing' }
const all = [offset, group, empty, deleteOffset, deleteGroup]

/** A record batch at `baseOffset` as a leader would store it. */
function stored(
  records: GroupRecord[],
  baseOffset: number,
  timestamp = 1_000,
  snapshot?: { startOffset: number; records: number },
) {
  const batch = encodeGroupRecordBatch(records, snapshot ? { timestamp, snapshot } : { timestamp })
  setBaseOffset(batch, baseOffset)
  return batch
}

function accepted<T>(r: { ok: true; value: T } | { ok: false; reason: string }): T {
  assert.ok(r.ok, r.ok ? '' : r.reason)
  return r.value
}

function refused(r: { ok: boolean; reason?: string }, start: string): void {
  assert.equal(r.ok, false, `accepted, expected ${start}`)
  assert.ok(r.reason!.startsWith(start), `reason ${JSON.stringify(r.reason)}, expected ${start}…`)
}

describe("the coordinator's partition: Kafka's abs(String.hashCode) % partitions", () => {
  it("computes Java's String.hashCode", () => {
    // Values from the JDK: "".hashCode() == 0, "a" == 97, "hello" == 99162322, …
    const java: [string, number][] = [
      ['', 0],
      ['a', 97],
      ['hello', 99_162_322],
      ['hello world', 1_794_106_052],
      ['Hello World', -862_545_276],
      ['Aa', 2112],
      ['BB', 2112],
      ['polygenelubricants', -2_147_483_648],
      // UTF-16 code units, a surrogate pair as two: (('é'·31 + '€')·31 + 0xD83D)·31 + 0xDE00.
      ['é€😀', 16_752_006],
    ]
    for (const [s, h] of java) assert.equal(javaStringHashCode(s), h, JSON.stringify(s))
  })

  it('maps a group to abs(hash) % partitions, with Utils.abs(Integer.MIN_VALUE) = 0', () => {
    assert.equal(coordinatorPartition('', 50), 0)
    assert.equal(coordinatorPartition('a', 50), 47)
    assert.equal(coordinatorPartition('hello', 16), 99_162_322 % 16)
    // Negative hashes use Math.abs (Kafka's Utils.abs), not the sign-bit mask of Utils.toPositive.
    assert.equal(coordinatorPartition('Hello World', 50), 862_545_276 % 50)
    assert.notEqual(coordinatorPartition('Hello World', 50), (-862_545_276 & 0x7fffffff) % 50)
    assert.equal(coordinatorPartition('polygenelubricants', 7), 0)
    assert.throws(() => coordinatorPartition('g', 0), RangeError)
    assert.throws(() => coordinatorPartition('g', 1.5), RangeError)
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), fc.integer({ min: 1, max: 1000 }), (id, n) => {
        const p = coordinatorPartition(id, n)
        assert.ok(Number.isInteger(p) && p >= 0 && p < n)
      }),
      fcOptions(500),
    )
  })
})

describe('group records in a record batch', () => {
  it('round-trips every kind with its offset and timestamp; deletions are tombstones', () => {
    const batch = stored(all, 100, 1_700_000_000_123)
    const decoded = accepted(decodeGroupRecords(batch))
    assert.deepEqual(
      decoded.map((d) => [d.offset, d.timestamp, d.snapshot]),
      all.map((_, i) => [100 + i, 1_700_000_000_123, null]),
    )
    assert.deepEqual(
      decoded.map((d) => d.record),
      all,
    )
    assert.equal(encodeGroupRecord(deleteOffset).value, null)
    assert.equal(encodeGroupRecord(deleteGroup).value, null)
    // An offset and its deletion share a key, as Kafka's compaction needs.
    assert.deepEqual(encodeGroupRecord(offset).key, encodeGroupRecord(deleteOffset).key)
  })

  it('reads a fetch response: several batches, a cut-off last one left out', () => {
    const first = stored([offset], 0)
    const second = stored([group, deleteGroup], 1)
    const third = stored([empty], 3)
    const fetched = new Uint8Array([...first, ...second, ...third.subarray(0, 30)])
    const decoded = accepted(decodeGroupRecords(fetched))
    assert.deepEqual(
      decoded.map((d) => [d.offset, d.record.type]),
      [
        [0, 'offset'],
        [1, 'group'],
        [2, 'delete-group'],
      ],
    )
    assert.deepEqual(accepted(decodeGroupRecords(new Uint8Array(0))), [])
  })

  it('marks the last record of a snapshot with where it started and how many records it has', () => {
    const batch = stored([group, offset], 40, 5, { startOffset: 40, records: 2 })
    const decoded = accepted(decodeGroupRecords(batch))
    assert.deepEqual(
      decoded.map((d) => d.snapshot),
      [null, { startOffset: 40, records: 2 }],
    )
    assert.throws(
      () => encodeGroupRecordBatch([offset], { timestamp: 1, snapshot: { startOffset: -1, records: 1 } }),
      RangeError,
    )
    assert.throws(() => encodeGroupRecordBatch([], { timestamp: 1 }), RangeError)
  })

  it('refuses to encode an invalid record', () => {
    assert.throws(() => encodeGroupRecord({ ...offset, offset: -1 }), /encodeGroupRecord: offset: bad offset/)
    assert.throws(
      () => encodeGroupRecord({ ...group, leader: 'nobody' }),
      /the leader "nobody" is not a member/,
    )
  })
})

describe('group records refuse what is malformed', () => {
  const key = (k: unknown) => packr.pack(k)
  const value = (v: unknown) => packr.pack(v)
  const offsetValue = { offset: 1, metadata: '', commitTimestamp: 5 }
  const cases: [string, Uint8Array | null, Uint8Array | null, string][] = [
    ['no key', null, null, 'key: expected bytes, got null'],
    ['a key that is not msgpack', bytes(0xc1), null, 'key: '],
    ['a key that is a map', key({ type: 'offset' }), null, 'key: expected an array, got object'],
    ['an unknown kind', key(['member', 'g']), null, "key: expected ['offset', group, topic, partition]"],
    ['an offset key too short', key(['offset', 'g', 't']), null, "key: expected ['offset'"],
    ['an empty group', key(['group', '']), null, 'group: expected 1..4096 chars, got ""'],
    ['a negative partition', key(['offset', 'g', 't', -1]), value(offsetValue), 'offset: bad partition -1'],
    ['a float partition', key(['offset', 'g', 't', 0.5]), null, 'delete-offset: bad partition 0.5'],
    ['a value that is a string', key(['offset', 'g', 't', 0]), value('x'), 'value: expected a map, got "x"'],
    [
      'a value with a key too many',
      key(['offset', 'g', 't', 0]),
      value({ ...offsetValue, leaderEpoch: 3 }),
      'value: expected exactly the keys offset, metadata, commitTimestamp',
    ],
    [
      'a value that names its group',
      key(['offset', 'g', 't', 0]),
      value({ ...offsetValue, group: 'other' }),
      'value: expected exactly the keys',
    ],
    [
      'a value missing a key',
      key(['offset', 'g', 't', 0]),
      value({ offset: 1, metadata: '' }),
      'value: expected exactly the keys',
    ],
    [
      'a negative offset',
      key(['offset', 'g', 't', 0]),
      value({ ...offsetValue, offset: -1 }),
      'offset: bad offset -1',
    ],
    [
      'an unsafe timestamp',
      key(['offset', 'g', 't', 0]),
      value({ ...offsetValue, commitTimestamp: 2 ** 60 }),
      'offset: bad commitTimestamp',
    ],
    [
      'a group whose leader is not a member',
      key(['group', 'g']),
      value({ generation: 1, protocolType: 'consumer', protocol: 'range', leader: 'x', members: [] }),
      'group: empty, yet with a protocol or leader',
    ],
    [
      'a member with string bytes',
      key(['group', 'g']),
      value({
        generation: 1,
        protocolType: 'consumer',
        protocol: 'range',
        leader: 'm',
        members: [
          {
            memberId: 'm',
            clientId: 'c',
            clientHost: 'h',
            sessionTimeoutMs: 1,
            rebalanceTimeoutMs: 1,
            subscription: 'x',
            assignment: bytes(),
          },
        ],
      }),
      'group: members[0]: subscription and assignment must be bytes',
    ],
    [
      'a deep value',
      key(['group', 'g']),
      value({ generation: 1, protocolType: '', protocol: null, leader: null, members: [[[[[1]]]]] }),
      'value: ',
    ],
  ]
  for (const [what, k, v, reason] of cases)
    it(`refuses ${what}`, () => refused(decodeGroupRecord(k, v), reason))

  it('refuses a bad batch, a bad record in a good batch, and stray headers', () => {
    const batch = stored([offset, group], 0)
    const flipped = batch.slice()
    flipped[batch.length - 3]! ^= 0x40
    refused(decodeGroupRecords(flipped), 'batch at offset 0: CRC mismatch')
    refused(decodeGroupRecords('x' as unknown as Uint8Array), 'expected bytes, got "x"')
    const foreign = encodeRecordBatch({ records: [{ key: null, value: bytes(1), timestamp: 0 }] })
    refused(decodeGroupRecords(foreign), 'record at offset 0: key: expected bytes, got null')
    const headers = encodeRecordBatch({
      records: [
        {
          ...encodeGroupRecord(offset),
          timestamp: 0,
          headers: [{ key: SNAPSHOT_START_HEADER, value: new TextEncoder().encode('5') }],
        },
      ],
    })
    refused(decodeGroupRecords(headers), 'record at offset 0: headers: expected none, or')
    const late = encodeRecordBatch({
      records: [
        {
          ...encodeGroupRecord(offset),
          timestamp: 0,
          headers: [
            { key: SNAPSHOT_START_HEADER, value: new TextEncoder().encode('5') },
            { key: SNAPSHOT_RECORDS_HEADER, value: new TextEncoder().encode('1') },
          ],
        },
      ],
    })
    refused(
      decodeGroupRecords(late),
      'record at offset 0: headers: a snapshot marker must hold a start offset ≤ 0',
    )
  })

  it('groupRecordProblem names what is wrong and accepts every valid record', () => {
    for (const r of all) assert.equal(groupRecordProblem(r), null)
    assert.equal(groupRecordProblem(null), 'expected a record, got null')
    assert.equal(
      groupRecordProblem({ ...deleteGroup, extra: 1 }),
      'delete-group: expected exactly the keys type, group',
    )
    assert.equal(groupRecordProblem({ type: 'snapshot', group: 'g' }), 'unknown type "snapshot"')
  })

  it('decodes thousands of mutated batches to records or a reason, never an exception', () => {
    const samples = [stored(all, 7), stored([group, offset], 0, 9, { startOffset: 0, records: 2 })]
    let decoded = 0
    fc.assert(
      fc.property(
        fc.nat(samples.length - 1),
        fc.array(fc.record({ at: fc.nat(), bit: fc.nat(7) }), { minLength: 1, maxLength: 4 }),
        fc.boolean(),
        (which, flips, fixCrc) => {
          const b = samples[which]!.slice()
          for (const { at, bit } of flips) b[at % b.length]! ^= 1 << bit
          // Half the time, repair the CRC so the mutation reaches the records' keys and values.
          const mutated = fixCrc ? recrc(b) : b
          const r = decodeGroupRecords(mutated)
          if (r.ok) {
            decoded++
            for (const d of r.value) assert.equal(groupRecordProblem(d.record), null)
          } else assert.ok(typeof r.reason === 'string' && r.reason.length < 400, r.reason)
        },
      ),
      fcOptions(3_000),
    )
    assert.ok(decoded > 0)
  })
})

/** The batch with its CRC recomputed (a mutation past the CRC check). */
function recrc(batch: Uint8Array): Uint8Array {
  if (batch.length < 61) return batch
  const view = new DataView(batch.buffer, batch.byteOffset, batch.byteLength)
  const length = view.getInt32(8)
  if (length < 49 || 12 + length > batch.length) return batch
  view.setUint32(17, crc32c(batch, 21, 12 + length))
  return batch
}
