import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { estimateMessageBytes, frameOverheadBytesMax, type RaftMessage } from '@cairn/protocol'
import fc from 'fast-check'
import { PeerQueue } from '../src/peer-queue.js'
import { fcOptions } from './helpers.js'

const counts = { messagesPerFrameMax: 16_384, heartbeatsPerFrameMax: 100_000 }
const heartbeat = (group: number): RaftMessage => ({
  type: 'heartbeat',
  group,
  from: 1,
  to: 2,
  term: 1,
  commit: 0,
})
const response = (group: number): RaftMessage => ({
  type: 'heartbeatResponse',
  group,
  from: 1,
  to: 2,
  term: 1,
})
const append = (group: number, bytes = 0): RaftMessage => ({
  type: 'append',
  group,
  from: 1,
  to: 2,
  term: 1,
  prevIndex: 0,
  prevTerm: 0,
  commit: 0,
  entries: bytes > 0 ? [{ index: 1, term: 1, kind: 0, data: new Uint8Array(bytes) }] : [],
})

function queue(over: Partial<ConstructorParameters<typeof PeerQueue>[0]> = {}): PeerQueue {
  return new PeerQueue(
    {
      queueBytesMax: 1 << 20,
      queueMessagesMax: 100,
      frameBytesMax: 64 * 1024,
      heartbeatResponseLingerMs: 50,
      ...over,
    },
    counts,
  )
}

describe('PeerQueue', () => {
  it('drops the oldest heartbeats first, then responses, then replication', () => {
    const q = queue({ queueMessagesMax: 4 })
    q.push(append(1), 0)
    q.push(heartbeat(1), 0)
    q.push(response(1), 0)
    q.push(heartbeat(2), 0)
    q.push(append(2), 0) // 5 > 4: heartbeat 1 goes
    assert.deepEqual(q.drops, { heartbeats: 1, replication: 0, oversize: 0 })
    q.push(append(3), 0) // heartbeat 2 goes
    q.push(append(4), 0) // then the response
    q.push(append(5), 0) // then the oldest append (group 1)
    assert.deepEqual(q.drops, { heartbeats: 3, replication: 1, oversize: 0 })
    assert.deepEqual(
      q.takeFrame().map((m) => m.group),
      [2, 3, 4, 5],
    )
  })

  it('bounds bytes as well as messages', () => {
    const q = queue({ queueBytesMax: 40_000 })
    for (let i = 0; i < 10; i++) q.push(append(i, 10_000), 0)
    assert.ok(q.bytes <= 40_000)
    assert.equal(q.length, 3)
    assert.equal(q.drops.replication, 7)
  })

  it('refuses a message that can never fit a frame', () => {
    const q = queue({ frameBytesMax: 10_000 })
    assert.equal(q.push(append(1, 20_000), 0), false)
    assert.equal(q.drops.oversize, 1)
    assert.equal(q.length, 0)
  })

  it('fills a frame up to its budget, in order', () => {
    const q = queue({ frameBytesMax: 50_000, queueMessagesMax: 1_000 })
    for (let i = 0; i < 10; i++) q.push(append(i, 10_000), 0)
    const first = q.takeFrame()
    const budget = 50_000 - frameOverheadBytesMax
    assert.ok(first.reduce((s, m) => s + estimateMessageBytes(m), 0) <= budget)
    assert.deepEqual(
      first.map((m) => m.group),
      [0, 1, 2, 3],
    )
    assert.equal(q.takeFrame()[0]?.group, 4)
  })

  it('lets heartbeat responses linger until due, or ride with anything else', () => {
    const q = queue({ heartbeatResponseLingerMs: 50 })
    q.push(response(1), 1_000)
    assert.equal(q.hasDue(1_049), false)
    assert.equal(q.dueAtMs, 1_050)
    assert.equal(q.hasDue(1_050), true)
    q.push(heartbeat(2), 1_010)
    assert.equal(q.hasDue(1_010), true)
    assert.deepEqual(
      q.takeFrame().map((m) => m.type),
      ['heartbeat', 'heartbeatResponse'],
    )
    assert.equal(q.length, 0)
  })

  it('never exceeds its bounds, and accounts for every message', () => {
    const op = fc.oneof(
      fc.record({ push: fc.constantFrom('heartbeat', 'response', 'append'), bytes: fc.nat(20_000) }),
      fc.record({ take: fc.constant(true) }),
    )
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops) => {
        const q = queue({ queueBytesMax: 60_000, queueMessagesMax: 20, frameBytesMax: 30_000 })
        let pushed = 0
        let taken = 0
        for (const o of ops) {
          if ('take' in o) taken += q.takeFrame().length
          else {
            const m =
              o.push === 'heartbeat' ? heartbeat(1) : o.push === 'response' ? response(1) : append(1, o.bytes)
            q.push(m, 0)
            pushed++
          }
          assert.ok(q.length <= 20 && q.bytes <= 60_000)
        }
        const { heartbeats, replication, oversize } = q.drops
        assert.equal(pushed, taken + q.length + heartbeats + replication + oversize)
      }),
      fcOptions(500),
    )
  })
})
