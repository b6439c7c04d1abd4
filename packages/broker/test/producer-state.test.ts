import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { PRODUCER_BATCHES_KEPT, ProducerStateTable } from '../src/producer-state.js'

const pid = 42n
const batch = (baseSequence: number, count: number, baseOffset: number, producerEpoch = 0) => ({
  producerId: pid,
  producerEpoch,
  baseSequence,
  lastOffsetDelta: count - 1,
  baseOffset,
})

describe('ProducerStateTable', () => {
  it('accepts the next sequence, returns a duplicate its offsets, refuses a gap', () => {
    const t = new ProducerStateTable()
    assert.deepEqual(t.check(batch(0, 3, 0)), { kind: 'append' })
    t.record(batch(0, 3, 0))
    assert.deepEqual(t.check(batch(0, 3, 99)), { kind: 'duplicate', baseOffset: 0, lastOffset: 2 })
    assert.deepEqual(t.check(batch(3, 1, 99)), { kind: 'append' })
    const gap = t.check(batch(5, 1, 99))
    assert.equal(gap.kind === 'error' && gap.code, 'OUT_OF_ORDER_SEQUENCE_NUMBER')
  })

  it('remembers the last five batches only', () => {
    const t = new ProducerStateTable()
    for (let k = 0; k < PRODUCER_BATCHES_KEPT + 2; k++) t.record(batch(k, 1, k * 10))
    assert.equal(t.check(batch(0, 1, 0)).kind, 'error', 'the first batch is forgotten: a gap now')
    assert.deepEqual(t.check(batch(6, 1, 0)), { kind: 'duplicate', baseOffset: 60, lastOffset: 60 })
  })

  it('fences an older epoch and starts a newer one at sequence 0', () => {
    const t = new ProducerStateTable()
    t.record(batch(0, 1, 0, 3))
    const old = t.check(batch(1, 1, 0, 2))
    assert.equal(old.kind === 'error' && old.code, 'INVALID_PRODUCER_EPOCH')
    const bad = t.check(batch(5, 1, 0, 4))
    assert.equal(bad.kind === 'error' && bad.code, 'OUT_OF_ORDER_SEQUENCE_NUMBER')
    assert.deepEqual(t.check(batch(0, 1, 0, 4)), { kind: 'append' })
  })

  it('wraps the sequence after 2^31 - 1, as Kafka does', () => {
    const t = new ProducerStateTable()
    t.record(batch(2 ** 31 - 2, 2, 0))
    assert.deepEqual(t.check(batch(0, 1, 5)), { kind: 'append' })
  })
})
