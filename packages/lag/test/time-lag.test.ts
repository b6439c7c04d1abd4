/**
 * Lag in time: interpolation over the log-end history, as kafka-lag-exporter does it, and the
 * history's bounds (runs of equal log ends, resets when the log end goes back).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { ClusterStore, LogEndHistory, timeLagSeconds } from '../src/index.js'

const samples = (...xs: [number, number][]) => xs.map(([offset, t]) => ({ offset, time: t * 1000 }))

describe('timeLagSeconds', () => {
  it('is 0 when the consumer is at or past the log end, null with no history', () => {
    assert.equal(timeLagSeconds(samples([100, 10]), 100, 20_000), 0)
    assert.equal(timeLagSeconds(samples([100, 10]), 150, 20_000), 0)
    assert.equal(timeLagSeconds([], 5, 20_000), null)
  })

  it('interpolates between the polls around the committed offset', () => {
    // 100 records/s from 0 at t=0: record 250 was appended at 2.5 s; at 10 s it is 7.5 s old.
    const h = samples([0, 0], [100, 1], [200, 2], [300, 3], [1000, 10])
    assert.equal(timeLagSeconds(h, 250, 10_000), 7.5)
    assert.equal(timeLagSeconds(h, 200, 10_000), 8)
    assert.equal(timeLagSeconds(h, 0, 10_000), 10)
  })

  it('extrapolates at the average rate below the oldest poll; a single poll cannot say', () => {
    const h = samples([1000, 10], [2000, 20])
    assert.equal(timeLagSeconds(h, 500, 20_000), 15)
    assert.equal(timeLagSeconds(samples([1000, 10]), 500, 20_000), null)
  })

  it('never reports a negative age', () => {
    assert.equal(timeLagSeconds(samples([0, 10], [100, 20]), 50, 0), 0)
  })
})

describe('LogEndHistory', () => {
  it('keeps the first and the last poll of a run of equal log ends', () => {
    const h = new LogEndHistory(10)
    for (const [o, t] of [
      [50, 0],
      [50, 50],
      [50, 100],
      [60, 110],
    ])
      h.add(o!, t! * 1000)
    assert.deepEqual(h.toArray(), samples([50, 0], [50, 100], [60, 110]))
    // Record 50 arrived after 100 s, when the log end was still 50.
    assert.equal(timeLagSeconds(h.toArray(), 50, 120_000), 20)
  })

  it("a stopped consumer's time lag grows with the clock, not with more idle polls", () => {
    const h = new LogEndHistory(10)
    h.add(0, 0)
    h.add(100, 10_000)
    const before = timeLagSeconds(h.toArray(), 50, 60_000)
    for (let t = 20; t <= 60; t += 10) h.add(100, t * 1000)
    assert.equal(timeLagSeconds(h.toArray(), 50, 60_000), before)
    assert.equal(before, 55)
  })

  it('is bounded, and starts over when the log end or the clock goes back', () => {
    const h = new LogEndHistory(3)
    for (let i = 1; i <= 5; i++) h.add(i * 10, i)
    assert.deepEqual(
      h.toArray().map((x) => x.offset),
      [30, 40, 50],
    )
    h.add(5, 6)
    assert.deepEqual(h.toArray(), [{ offset: 5, time: 6 }])
    h.add(7, 2)
    assert.deepEqual(h.toArray(), [{ offset: 7, time: 2 }])
    assert.throws(() => new LogEndHistory(1), /samplesMax/)
  })

  it('property: at a constant produce rate, the estimate is the true age', () => {
    const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31)
    console.log(`time-lag properties: seed ${seed} (FC_SEED=${seed} to replay)`)
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1000 }), // records per second
        fc.integer({ min: 2, max: 60 }), // polls
        fc.double({ min: 0, max: 1, noNaN: true }), // where the consumer is
        (rate, polls, at) => {
          const h = new LogEndHistory(60)
          for (let k = 0; k < polls; k++) h.add(rate * k, k * 1000)
          const end = rate * (polls - 1)
          const committed = Math.floor(at * end)
          const now = (polls - 1) * 1000
          const truth = (now - (committed / rate) * 1000) / 1000
          const got = timeLagSeconds(h.toArray(), committed, now)
          assert.ok(
            got !== null && Math.abs(got - (committed >= end ? 0 : truth)) < 0.002,
            `${got} vs ${truth}`,
          )
        },
      ),
      { seed, numRuns: 300 },
    )
  })
})

describe('time lag in the store', () => {
  it('reports current_lag_seconds per partition from the polls', () => {
    const store = new ClusterStore({ intervals: 5 })
    for (let k = 0; k <= 10; k++) store.setLogEndOffsets([{ topic: 't', offsets: [k * 100] }], k * 1000)
    store.addCommit({ group: 'g', topic: 't', partition: 0, offset: 400, timestamp: 10_000 }, 10_000)
    const [p] = store.partitionInputs('g', 12_000)!
    assert.equal(p!.currentLag, 600)
    assert.equal(p!.currentLagSeconds, 8)
    store.addCommit({ group: 'g', topic: 't', partition: 0, offset: 1000, timestamp: 12_000 }, 12_000)
    assert.equal(store.partitionInputs('g', 12_000)![0]!.currentLagSeconds, 0)
  })
})
