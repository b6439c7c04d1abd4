import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { inspect } from 'node:util'
import fc from 'fast-check'
import { defaultFrameLimits, type RaftMessage, raftMessageTypes, validateRaftMessage } from '../src/index.js'
import { anyMessageArb } from './arbitraries.js'
import { fcOptions } from './seed.js'

const base = { group: 4, from: 1, to: 2, term: 7 }
const examples: RaftMessage[] = [
  { type: 'preVote', ...base, lastIndex: 10, lastTerm: 6, transfer: false },
  { type: 'vote', ...base, lastIndex: 10, lastTerm: 6, transfer: true },
  { type: 'preVoteResponse', ...base, granted: true },
  { type: 'voteResponse', ...base, granted: false },
  {
    type: 'append',
    ...base,
    prevIndex: 9,
    prevTerm: 6,
    commit: 8,
    entries: [
      { index: 10, term: 6, kind: 0, data: new Uint8Array([1, 2]) },
      { index: 11, term: 7, kind: 1, data: new Uint8Array(0) },
    ],
  },
  { type: 'appendResponse', ...base, index: 11, reject: false, hintIndex: 0, hintTerm: 0 },
  { type: 'heartbeat', ...base, commit: 11 },
  { type: 'heartbeatResponse', ...base },
  {
    type: 'snapshot',
    ...base,
    logStart: {
      index: 100,
      term: 5,
      payload: new Uint8Array([9]),
      membership: { voters: [1, 2, 3], learners: [4] },
    },
  },
  { type: 'timeoutNow', ...base },
  { type: 'quiesce', ...base, commit: 11 },
]

function reject(x: unknown, pattern: RegExp): void {
  const result = validateRaftMessage(x)
  assert.equal(result.ok, false, `accepted ${inspect(x)}`)
  if (!result.ok) assert.match(result.reason, pattern)
}

const append = examples[4] as Extract<RaftMessage, { type: 'append' }>
const snapshot = examples[8] as Extract<RaftMessage, { type: 'snapshot' }>

describe('validateRaftMessage', () => {
  it('accepts one example of every message type', () => {
    assert.deepEqual(new Set(examples.map((m) => m.type)), new Set(raftMessageTypes))
    for (const m of examples) {
      const result = validateRaftMessage(m)
      assert.ok(result.ok, result.ok ? '' : result.reason)
      assert.equal(result.value, m)
    }
  })

  it('accepts every generated message', () => {
    fc.assert(
      fc.property(anyMessageArb, (m) => {
        const result = validateRaftMessage(m)
        assert.ok(result.ok, result.ok ? '' : result.reason)
      }),
      fcOptions(3_000),
    )
  })

  it('rejects what is not a plain map', () => {
    for (const x of [null, undefined, 3, 'vote', [], new Uint8Array(3), new Map(), new (class Vote {})()]) {
      reject(x, /message: expected a map/)
    }
    // Fields inherited through a prototype do not count: only own keys of a plain map do.
    reject(Object.create({ ...examples[7] }), /message: expected a map/)
  })

  it('rejects unknown types and extra or missing keys', () => {
    reject({ ...base, type: 'install' }, /unknown message type "install"/)
    reject({ ...base, type: 'toString' }, /unknown message type/)
    reject({ ...base, type: '__proto__' }, /unknown message type/)
    reject({ ...examples[7], extra: 1 }, /unexpected key "extra"/)
    const noGranted: Record<string, unknown> = { ...examples[2] }
    delete noGranted.granted
    reject(noGranted, /missing granted/)
    reject({ ...examples[7], type: 'heartbeat' }, /missing commit/)
  })

  it('checks envelope ranges', () => {
    reject({ ...examples[9], group: -1 }, /\.group/)
    reject({ ...examples[9], group: 2 ** 32 }, /\.group/)
    reject({ ...examples[9], group: 1.5 }, /\.group/)
    reject({ ...examples[9], from: 0 }, /\.from: expected a positive node id/)
    reject({ ...examples[9], to: -2 }, /\.to/)
    reject({ ...examples[9], term: -1 }, /\.term/)
    reject({ ...examples[9], term: 2 ** 53 }, /\.term/)
    reject({ ...examples[9], term: Number.NaN }, /\.term/)
    reject({ ...examples[9], term: '7' }, /\.term: expected a non-negative safe integer, got "7"/)
    reject({ ...examples[9], term: 7n }, /\.term/)
  })

  it('checks bodies field by field', () => {
    reject({ ...examples[0], transfer: 1 }, /\.transfer: expected a boolean/)
    reject({ ...examples[2], granted: null }, /\.granted/)
    reject({ ...examples[5], hintTerm: -3 }, /\.hintTerm/)
    reject({ ...examples[6], commit: Infinity }, /\.commit/)
  })

  it('checks entries: shape, kind, bytes, contiguity, terms', () => {
    const entry = (patch: object) => ({ ...append, entries: [{ ...append.entries[0], ...patch }] })
    reject(entry({ kind: 3 }), /entries\[0\]\.kind: expected 0\.\.2/)
    reject(entry({ data: [1, 2] }), /entries\[0\]\.data: expected bytes/)
    reject(entry({ data: 'ab' }), /entries\[0\]\.data/)
    reject(entry({ index: 11 }), /entries\[0\]\.index: expected 10/)
    reject(entry({ term: 8 }), /entries\[0\]\.term/)
    reject(entry({ term: 5 }), /entries\[0\]\.term/)
    reject({ ...append, entries: [append.entries[1], append.entries[0]] }, /entries\[0\]\.index/)
    reject({ ...append, entries: {} }, /\.entries: expected an array/)
    reject({ ...append, entries: [{ ...append.entries[0], extra: true }] }, /unexpected key "extra"/)
    const tooMany = Array.from({ length: defaultFrameLimits.entriesPerMessageMax + 1 }, (_, i) => ({
      index: 10 + i,
      term: 7,
      kind: 0,
      data: new Uint8Array(0),
    }))
    reject({ ...append, entries: tooMany }, /exceed entriesPerMessageMax/)
  })

  it('checks log starts and memberships', () => {
    const withLogStart = (patch: object) => ({ ...snapshot, logStart: { ...snapshot.logStart, ...patch } })
    reject(withLogStart({ payload: 'x' }), /logStart\.payload: expected bytes/)
    reject(withLogStart({ payload: new Uint8Array(64 * 1024 + 1) }), /logStartPayloadBytesMax/)
    reject(withLogStart({ membership: { voters: [1, 1], learners: [] } }), /duplicate node id/)
    reject(withLogStart({ membership: { voters: [1, 2], learners: [2] } }), /both voter and learner/)
    reject(withLogStart({ membership: { voters: [0], learners: [] } }), /voters\[0\]/)
    reject(withLogStart({ membership: { voters: [1] } }), /missing learners/)
    const many = Array.from({ length: 1025 }, (_, i) => i + 1)
    reject(withLogStart({ membership: { voters: many, learners: [] } }), /membersMax/)
  })
})
