import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Packr } from 'msgpackr'
import {
  decodeFrame,
  encodeFrame,
  estimateMessageBytes,
  type Frame,
  frameOverheadBytesMax,
  type Heartbeat,
  type HeartbeatResponse,
  packHeartbeatResponses,
  packHeartbeats,
  type RaftMessage,
  unpackHeartbeatResponses,
  unpackHeartbeats,
} from '../src/index.js'
import { canonicalOrder, frameArb, groupArb, messageArb, nodeIdArb, plain, uintArb } from './arbitraries.js'
import { fcOptions } from './seed.js'

const packr = new Packr({ useRecords: false })

function decoded(bytes: Uint8Array): Frame {
  const result = decodeFrame(bytes)
  assert.ok(result.ok, result.ok ? '' : result.reason)
  return result.value
}

describe('frame codec', () => {
  for (const type of [
    'preVote',
    'vote',
    'preVoteResponse',
    'voteResponse',
    'append',
    'appendResponse',
    'heartbeat',
    'heartbeatResponse',
    'snapshot',
    'timeoutNow',
    'quiesce',
  ] as const) {
    it(`round-trips ${type}`, () => {
      const arb = fc.tuple(nodeIdArb, nodeIdArb).chain(([from, to]) =>
        fc.array(
          messageArb(from, to).filter((m) => m.type === type),
          { minLength: 1, maxLength: 4 },
        ),
      )
      fc.assert(
        fc.property(arb, (messages) => {
          const { from, to } = messages[0]!
          const frame = decoded(encodeFrame({ from, to, messages }))
          assert.equal(frame.from, from)
          assert.equal(frame.to, to)
          assert.deepStrictEqual(plain(frame.messages), plain(canonicalOrder(messages)))
        }),
        fcOptions(300),
      )
    })
  }

  it('round-trips frames mixing every kind', () => {
    fc.assert(
      fc.property(frameArb, (frame) => {
        const back = decoded(encodeFrame(frame))
        assert.deepStrictEqual(plain(back), plain({ ...frame, messages: canonicalOrder(frame.messages) }))
      }),
      fcOptions(2_000),
    )
  })

  it('returns entry data as views into the frame, not copies (the tail cache charges what they pin)', () => {
    const bytes = encodeFrame({
      from: 1,
      to: 2,
      messages: [
        {
          type: 'append',
          group: 0,
          from: 1,
          to: 2,
          term: 1,
          prevIndex: 0,
          prevTerm: 0,
          commit: 0,
          entries: [{ index: 1, term: 1, kind: 0, data: new Uint8Array([7, 7, 7]) }],
        },
      ],
    })
    const frame = decoded(bytes)
    const data = (frame.messages[0] as Extract<RaftMessage, { type: 'append' }>).entries[0]!.data
    assert.equal(data.buffer, bytes.buffer)
    assert.deepEqual(Array.from(data), [7, 7, 7])
  })

  it('size estimates bound the encoded size', () => {
    fc.assert(
      fc.property(frameArb, (frame) => {
        const bound =
          frameOverheadBytesMax + frame.messages.reduce((sum, m) => sum + estimateMessageBytes(m), 0)
        assert.ok(encodeFrame(frame).length <= bound, `${encodeFrame(frame).length} > ${bound}`)
        for (const m of frame.messages) {
          const one = encodeFrame({ from: frame.from, to: frame.to, messages: [m] }).length
          assert.ok(one <= frameOverheadBytesMax + estimateMessageBytes(m), `${m.type}: ${one}`)
        }
      }),
      fcOptions(1_000),
    )
  })

  it('refuses to encode a message whose from/to differ from the frame', () => {
    const m: RaftMessage = { type: 'timeoutNow', group: 1, from: 3, to: 2, term: 1 }
    assert.throws(() => encodeFrame({ from: 1, to: 2, messages: [m] }), /message 3->2 in frame 1->2/)
  })

  it("gives every message the frame's from and to (a message cannot claim another sender)", () => {
    const frame = decoded(packr.pack([1, 4, 5, [[9, 1, 1]], null, null]))
    assert.deepEqual(frame.messages, [{ type: 'timeoutNow', group: 1, from: 4, to: 5, term: 1 }])
  })

  it('numbers entries from prevIndex + 1', () => {
    const data = new Uint8Array([1])
    const frame = decoded(
      packr.pack([
        1,
        1,
        2,
        [
          [
            4,
            0,
            2,
            10,
            1,
            0,
            [
              [1, 0, data],
              [2, 1, data],
            ],
          ],
        ],
        null,
        null,
      ]),
    )
    const m = frame.messages[0] as Extract<RaftMessage, { type: 'append' }>
    assert.deepEqual(
      m.entries.map((e) => [e.index, e.term, e.kind]),
      [
        [11, 1, 0],
        [12, 2, 1],
      ],
    )
  })

  it('rejects bad frames clearly', () => {
    const ok = [9, 1, 1] // timeoutNow, group 1, term 1
    const cases: [unknown, RegExp][] = [
      [[2, 1, 2, [], null, null], /frame\[0\]: unsupported version 2/],
      [[1, 0, 2, [], null, null], /frame\[1\] \(from\)/],
      [[1, 1, 2.5, [], null, null], /frame\[2\] \(to\)/],
      [[1, 1, 2, {}, null, null], /frame\[3\] \(messages\): expected an array/],
      [[1, 1, 2, []], /frame: expected 6 fields, got 4/],
      [[1, 1, 2, [], null, null, 7], /frame: expected 6 fields, got 7/],
      [{ v: 1 }, /frame: expected an array/],
      [[1, 1, 2, [[11, 1, 1]], null, null], /frame\[3\]\[0\]\[0\]: unknown message type code 11/],
      [[1, 1, 2, [ok, [9, 1, 1, 'x']], null, null], /frame\[3\]\[1\]: timeoutNow has 3 fields, got 4/],
      [
        [1, 1, 2, [[5, 1, 1, 0, 'no', 0, 0]], null, null],
        /frame\[3\]\[0\]\.reject: expected a boolean, got "no"/,
      ],
      [
        [1, 1, 2, [[4, 1, 1, 0, 0, 0, [[1, 3, new Uint8Array(1)]]]], null, null],
        /entries\[0\]\.kind: expected 0\.\.2, got 3/,
      ],
      [[1, 1, 2, [[4, 1, 1, 0, 0, 0, [[1, 0]]]], null, null], /entries\[0\]: expected \[term, kind, data\]/],
      [[1, 1, 2, [[8, 1, 1, 5, 1, new Uint8Array(0), [1, 1], []]], null, null], /voters: duplicate node id/],
      [[1, 1, 2, [], [[1], [2]], null], /frame\[4\] \(heartbeats\): expected 3 columns/],
      [[1, 1, 2, [], [[1], [2], []], null], /frame\[4\] \(heartbeats\)\[2\]: expected an array of 1/],
      [[1, 1, 2, [], [[1], [-2], [0]], null], /frame\[4\] \(heartbeats\)\[1\]\[0\]/],
      [
        [
          1,
          1,
          2,
          [],
          null,
          [
            [2 ** 32 - 1, 1],
            [0, 0],
          ],
        ],
        /group id 4294967296 exceeds/,
      ],
    ]
    for (const [value, pattern] of cases) {
      const result = decodeFrame(packr.pack(value))
      assert.equal(result.ok, false, JSON.stringify(value))
      if (!result.ok) assert.match(result.reason, pattern)
    }
  })
})

describe('coalesced heartbeats', () => {
  const heartbeatsArb = fc.array(fc.record({ group: groupArb, term: uintArb, commit: uintArb }), {
    maxLength: 200,
  })

  it('round-trip through the columns, sorted by group', () => {
    fc.assert(
      fc.property(heartbeatsArb, (rows) => {
        const heartbeats: Heartbeat[] = rows.map((r) => ({ type: 'heartbeat', from: 1, to: 2, ...r }))
        const back = unpackHeartbeats(packHeartbeats(heartbeats), 1, 2, 100_000)
        assert.ok(back.ok)
        assert.deepStrictEqual(
          back.value,
          [...heartbeats].sort((a, b) => a.group - b.group),
        )
        const responses: HeartbeatResponse[] = rows.map((r) => ({
          type: 'heartbeatResponse',
          from: 2,
          to: 1,
          group: r.group,
          term: r.term,
        }))
        const backResponses = unpackHeartbeatResponses(packHeartbeatResponses(responses), 2, 1, 100_000)
        assert.ok(backResponses.ok)
        assert.deepStrictEqual(
          backResponses.value,
          [...responses].sort((a, b) => a.group - b.group),
        )
      }),
      fcOptions(1_000),
    )
  })

  it('cost a few bytes per group: 3,000 heartbeats and 3,000 responses in under 24 KiB', () => {
    const messages: RaftMessage[] = []
    for (let group = 0; group < 3_000; group++) {
      messages.push({ type: 'heartbeat', group, from: 1, to: 2, term: 3, commit: 1_000 + group })
      messages.push({ type: 'heartbeatResponse', group: group + 5_000, from: 1, to: 2, term: 3 })
    }
    const bytes = encodeFrame({ from: 1, to: 2, messages })
    assert.ok(bytes.length < 24 * 1024, `${bytes.length} bytes`)
    assert.equal(decoded(bytes).messages.length, 6_000)
  })

  it('refuse more heartbeats than the limit', () => {
    const n = 11
    const columns = [new Array(n).fill(1), new Array(n).fill(1), new Array(n).fill(1)]
    const result = unpackHeartbeats(columns, 1, 2, 10)
    assert.equal(result.ok, false)
    if (!result.ok) assert.match(result.reason, /exceed heartbeatsPerFrameMax 10/)
  })
})
