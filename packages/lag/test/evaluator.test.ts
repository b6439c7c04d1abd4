/**
 * The evaluator: Burrow's own conformance cases, then every status and both sides of every
 * comparison in its rules, then properties over random windows (fast-check, seed printed).
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  type CommitSample,
  evaluateGroup,
  evaluatePartition,
  groupStatusOf,
  notFoundStatus,
  type PartitionInput,
  type PartitionWindow,
  statusCodes,
} from '../src/index.js'

/** Rows as Burrow's tests write them: offset / timestamp in s / lag. */
function rows(...r: [number, number, number | null][]): CommitSample[] {
  return r.map(([offset, ts, lag]) => ({ offset, timestamp: ts * 1000, lag }))
}

const status = (w: Omit<PartitionWindow, 'now'> & { nowS: number }) =>
  evaluatePartition({ ...w, now: w.nowS * 1000 }).status

const steady = rows([1000, 100, 0], [2000, 200, 50], [3000, 300, 100], [4000, 400, 150], [5000, 500, 200])

describe("Burrow's conformance cases", () => {
  it('a consumer moving along with lag that was once zero is OK', () => {
    assert.equal(status({ offsets: steady, brokerOffsets: [5200], currentLag: 200, nowS: 600 }), 'OK')
  })
  it('the same window is still OK at 900 s, and STOP at 1000 s', () => {
    assert.equal(status({ offsets: steady, brokerOffsets: [5200], currentLag: 200, nowS: 900 }), 'OK')
    assert.equal(status({ offsets: steady, brokerOffsets: [5200], currentLag: 200, nowS: 1000 }), 'STOP')
  })
  it('the same offset five times with growing lag is STALL', () => {
    const offsets = rows(
      [1000, 100, 100],
      [1000, 200, 150],
      [1000, 300, 200],
      [1000, 400, 250],
      [1000, 500, 300],
    )
    assert.equal(status({ offsets, brokerOffsets: [1300], currentLag: 300, nowS: 600 }), 'STALL')
  })
  it('a drop that a later commit recovers from is not REWIND, and falling lag keeps it OK', () => {
    const offsets = rows(
      [1000, 100, 100],
      [2000, 200, 150],
      [3000, 300, 200],
      [2000, 400, 1250],
      [4000, 500, 300],
    )
    assert.equal(status({ offsets, brokerOffsets: [4300], currentLag: 300, nowS: 600 }), 'OK')
  })
  it('a current lag within allowedLag is OK', () => {
    const offsets = rows([1000, 100, 2], [2000, 200, 1], [2000, 300, 1])
    assert.equal(status({ offsets, brokerOffsets: [2001], currentLag: 1, nowS: 550, allowedLag: 1 }), 'OK')
  })
})

describe('the rules, status by status and at each boundary', () => {
  const growing = rows(
    [1000, 100, 100],
    [1100, 200, 200],
    [1200, 300, 300],
    [1300, 400, 400],
    [1400, 500, 500],
  )

  it('an empty window is OK with complete 0', () => {
    assert.deepEqual(evaluatePartition({ offsets: [], brokerOffsets: [], currentLag: 10, now: 0 }), {
      status: 'OK',
      complete: 0,
    })
    assert.deepEqual(
      evaluatePartition({ offsets: [null, null], brokerOffsets: [5], currentLag: 10, now: 0, intervals: 2 }),
      { status: 'OK', complete: 0 },
    )
  })

  it('complete counts filled slots over intervals, leading empty slots dropped', () => {
    const r = evaluatePartition({
      offsets: [null, null, null, ...steady.slice(0, 2)],
      brokerOffsets: [],
      currentLag: 0,
      now: 0,
      intervals: 5,
    })
    assert.equal(r.complete, 0.4)
    assert.equal(
      evaluatePartition({ offsets: steady, brokerOffsets: [], currentLag: 0, now: 0, intervals: 10 })
        .complete,
      0.5,
    )
    assert.equal(evaluatePartition({ offsets: steady, brokerOffsets: [], currentLag: 0, now: 0 }).complete, 1)
  })

  it('below minimumComplete it is OK; at exactly minimumComplete the rules apply', () => {
    const w = { offsets: steady, brokerOffsets: [5200], currentLag: 200, now: 1_000_000, intervals: 10 }
    assert.equal(evaluatePartition({ ...w, minimumComplete: 0.6 }).status, 'OK')
    assert.equal(evaluatePartition({ ...w, minimumComplete: 0.5 }).status, 'STOP')
  })

  it('currentLag equal to allowedLag is OK; one more applies the rules', () => {
    const w = { offsets: growing, brokerOffsets: [1900], nowS: 550 }
    assert.equal(status({ ...w, currentLag: 500, allowedLag: 500 }), 'OK')
    assert.equal(status({ ...w, currentLag: 501, allowedLag: 99 }), 'WARN')
    assert.equal(status({ ...w, currentLag: 0 }), 'OK')
  })

  it('STOP needs now − last strictly greater than last − first', () => {
    const w = { offsets: growing, brokerOffsets: [1900], currentLag: 500 }
    assert.equal(status({ ...w, nowS: 900 }), 'WARN') // 400 = 400
    assert.equal(evaluatePartition({ ...w, now: 900_001 }).status, 'STOP')
  })

  it('STOP is not called when a recent log-end offset is at or below the last commit', () => {
    const w = { offsets: growing, currentLag: 500, nowS: 2000 }
    assert.equal(status({ ...w, brokerOffsets: [1400, 1900] }), 'WARN')
    assert.equal(status({ ...w, brokerOffsets: [1300, 1900] }), 'WARN')
    assert.equal(status({ ...w, brokerOffsets: [1401, 1900] }), 'STOP')
    assert.equal(status({ ...w, brokerOffsets: [] }), 'STOP')
  })

  it('a single commit is STALL while no time passes, STOP as soon as any does', () => {
    const one = rows([1000, 100, 10])
    assert.equal(
      evaluatePartition({ offsets: one, brokerOffsets: [1010], currentLag: 10, now: 100_000 }).status,
      'STALL',
    )
    assert.equal(
      evaluatePartition({ offsets: one, brokerOffsets: [1010], currentLag: 10, now: 100_001 }).status,
      'STOP',
    )
  })

  it('STOP wins over REWIND', () => {
    const offsets = rows([1000, 100, 10], [900, 200, 110])
    assert.equal(status({ offsets, brokerOffsets: [1010], currentLag: 110, nowS: 301 }), 'STOP')
    assert.equal(status({ offsets, brokerOffsets: [1010], currentLag: 110, nowS: 300 }), 'REWIND')
  })

  it('REWIND: a drop with no later recovery; recovering to exactly the old offset clears it', () => {
    const w = { brokerOffsets: [5000], currentLag: 100, nowS: 500 }
    const dropped = rows([1000, 100, 0], [2000, 200, 0], [1500, 300, 500], [1900, 400, 100])
    assert.equal(status({ ...w, offsets: dropped }), 'REWIND')
    const recovered = rows([1000, 100, 0], [2000, 200, 0], [1500, 300, 500], [2000, 400, 100])
    assert.equal(status({ ...w, offsets: recovered }), 'OK')
    const dropAtEnd = rows([1000, 100, 0], [2000, 200, 0], [1999, 400, 100])
    assert.equal(status({ ...w, offsets: dropAtEnd }), 'REWIND')
  })

  it('REWIND looks at every drop: a recovered one does not hide a later one', () => {
    const offsets = rows([1000, 100, 0], [500, 200, 0], [1000, 300, 0], [800, 400, 100])
    assert.equal(status({ offsets, brokerOffsets: [5000], currentLag: 100, nowS: 500 }), 'REWIND')
  })

  it('REWIND wins over STALL and WARN', () => {
    const offsets = rows([1000, 100, 100], [900, 200, 300], [900, 300, 400])
    assert.equal(status({ offsets, brokerOffsets: [1300], currentLag: 400, nowS: 350 }), 'REWIND')
  })

  it('STALL and WARN need every lag above allowedLag; one at allowedLag makes it OK', () => {
    const stalled = rows([1000, 100, 50], [1000, 200, 60], [1000, 300, 70])
    const w = { brokerOffsets: [1070], currentLag: 70, nowS: 400 }
    assert.equal(status({ ...w, offsets: stalled }), 'STALL')
    assert.equal(status({ ...w, offsets: stalled, allowedLag: 49 }), 'STALL')
    assert.equal(status({ ...w, offsets: stalled, allowedLag: 50 }), 'OK')
    assert.equal(status({ ...w, offsets: growing, currentLag: 500, allowedLag: 100 }), 'OK')
    assert.equal(status({ ...w, offsets: growing, currentLag: 500, allowedLag: 99 }), 'WARN')
  })

  it('WARN: equal lags count as not decreasing; one decrease makes it OK', () => {
    const w = { brokerOffsets: [5000], currentLag: 300, nowS: 350 }
    assert.equal(
      status({ ...w, offsets: rows([1000, 100, 300], [1100, 200, 300], [1200, 300, 300]) }),
      'WARN',
    )
    assert.equal(status({ ...w, offsets: rows([1000, 100, 300], [1100, 200, 299], [1200, 300, 300]) }), 'OK')
  })

  it('STALL wins over WARN (a stalled consumer also has a lag that never falls)', () => {
    const offsets = rows([1000, 100, 10], [1000, 200, 10])
    assert.equal(status({ offsets, brokerOffsets: [1010], currentLag: 10, nowS: 250 }), 'STALL')
  })

  it('unknown lags are no evidence: with none known, the lag rules do not fire', () => {
    const w = { brokerOffsets: [1500], currentLag: 500, nowS: 350 }
    assert.equal(
      status({ ...w, offsets: rows([1000, 100, null], [1000, 200, null], [1000, 300, null]) }),
      'OK',
    )
    assert.equal(
      status({ ...w, offsets: rows([1000, 100, null], [1000, 200, 60], [1000, 300, 70]) }),
      'STALL',
    )
    assert.equal(status({ ...w, offsets: rows([1000, 100, 70], [1100, 200, null], [1200, 300, 80]) }), 'WARN')
    assert.equal(status({ ...w, offsets: rows([1000, 100, 80], [1100, 200, null], [1200, 300, 70]) }), 'OK')
  })

  it('only the last `intervals` slots count', () => {
    const offsets = [...rows([1, 10, 0]), ...growing]
    assert.equal(status({ offsets, brokerOffsets: [1900], currentLag: 500, nowS: 550, intervals: 6 }), 'OK')
    assert.equal(status({ offsets, brokerOffsets: [1900], currentLag: 500, nowS: 550, intervals: 5 }), 'WARN')
  })

  it('rejects nonsense with a clear error', () => {
    const base: PartitionWindow = { offsets: steady, brokerOffsets: [], currentLag: 0, now: 0 }
    assert.throws(() => evaluatePartition({ ...base, currentLag: -1 }), /currentLag must be ≥ 0/)
    assert.throws(() => evaluatePartition({ ...base, now: Number.NaN }), /now must be/)
    assert.throws(() => evaluatePartition({ ...base, minimumComplete: 2 }), /minimumComplete/)
    assert.throws(() => evaluatePartition({ ...base, intervals: 1.5 }), /intervals/)
    assert.throws(
      () => evaluatePartition({ ...base, offsets: [{ offset: 1, timestamp: 1, lag: -3 }] }),
      /lag must be ≥ 0 or null/,
    )
  })
})

describe('properties', () => {
  const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31)
  console.log(`evaluator properties: seed ${seed} (FC_SEED=${seed} to replay)`)
  const params = { seed, numRuns: 500 }

  const sample = fc.record({
    offset: fc.integer({ min: 0, max: 10_000 }),
    timestamp: fc.integer({ min: 0, max: 1_000_000 }),
    lag: fc.option(fc.integer({ min: 0, max: 10_000 }), { nil: null }),
  })
  const windowArb = fc
    .record({
      samples: fc.array(sample, { maxLength: 12 }),
      empty: fc.nat({ max: 4 }),
      brokerOffsets: fc.array(fc.integer({ min: 0, max: 12_000 }), { maxLength: 12 }),
      currentLag: fc.integer({ min: 0, max: 10_000 }),
      now: fc.integer({ min: 0, max: 2_000_000 }),
      allowedLag: fc.integer({ min: 0, max: 500 }),
      minimumComplete: fc.double({ min: 0, max: 1, noNaN: true }),
    })
    .map(({ samples, empty, ...rest }) => {
      const sorted = [...samples].sort((a, b) => a.timestamp - b.timestamp)
      const offsets: (CommitSample | null)[] = [...Array<null>(empty).fill(null), ...sorted]
      return { ...rest, offsets, intervals: offsets.length }
    })

  it('always returns a known status and complete within 0..1', () => {
    fc.assert(
      fc.property(windowArb, (w) => {
        const r = evaluatePartition(w)
        assert.ok(['OK', 'WARN', 'STOP', 'STALL', 'REWIND'].includes(r.status))
        assert.ok(r.complete >= 0 && r.complete <= 1)
      }),
      params,
    )
  })

  it('a lag within allowedLag, or an incomplete window, is always OK', () => {
    fc.assert(
      fc.property(windowArb, (w) => {
        const r = evaluatePartition({ ...w, currentLag: Math.min(w.currentLag, w.allowedLag) })
        assert.equal(r.status, 'OK')
        const full = evaluatePartition(w)
        if (full.complete < w.minimumComplete) assert.equal(full.status, 'OK')
      }),
      params,
    )
  })

  it('each non-OK status implies its rule held', () => {
    fc.assert(
      fc.property(windowArb, (w) => {
        const filled = w.offsets.filter((o): o is CommitSample => o !== null)
        const r = evaluatePartition(w)
        if (r.status === 'OK') return
        assert.ok(w.currentLag > w.allowedLag)
        const first = filled[0]!
        const last = filled[filled.length - 1]!
        const stopped = w.now - last.timestamp > last.timestamp - first.timestamp
        if (r.status === 'STOP') {
          assert.ok(stopped)
          assert.ok(w.brokerOffsets.every((b) => b > last.offset))
        }
        if (r.status === 'REWIND') assert.ok(filled.some((o, i) => i > 0 && o.offset < filled[i - 1]!.offset))
        if (r.status === 'STALL') assert.ok(filled.every((o) => o.offset === first.offset))
        if (r.status === 'STALL' || r.status === 'WARN') {
          const lags = filled.map((o) => o.lag).filter((l) => l !== null)
          assert.ok(lags.length > 0 && lags.every((l) => l > w.allowedLag))
        }
      }),
      params,
    )
  })

  it('offsets that never go down are never REWIND', () => {
    fc.assert(
      fc.property(windowArb, (w) => {
        let floor = 0
        const offsets = w.offsets.map((o) => {
          if (o === null) return null
          floor = Math.max(floor, o.offset)
          return { ...o, offset: floor }
        })
        assert.notEqual(evaluatePartition({ ...w, offsets }).status, 'REWIND')
      }),
      params,
    )
  })

  it('more leading empty slots beyond the window change nothing', () => {
    fc.assert(
      fc.property(windowArb, fc.nat({ max: 5 }), (w, extra) => {
        const padded = { ...w, offsets: [...Array<null>(extra).fill(null), ...w.offsets] }
        assert.deepEqual(evaluatePartition(padded), evaluatePartition(w))
      }),
      params,
    )
  })
})

describe('group status', () => {
  const part = (topic: string, partition: number, p: Partial<PartitionInput>): PartitionInput => ({
    topic,
    partition,
    owner: '',
    clientId: '',
    offsets: [],
    brokerOffsets: [],
    currentLag: 0,
    currentLagSeconds: null,
    ...p,
  })
  const withTimes = (s: CommitSample[]) => s.map((o) => ({ ...o, observedAt: o.timestamp }))
  const options = { intervals: 5, allowedLag: 0, minimumComplete: 0 }

  it('the codes are Burrow’s', () => {
    assert.deepEqual(statusCodes, { NOTFOUND: 0, OK: 1, WARN: 2, ERR: 3, STOP: 4, STALL: 5, REWIND: 6 })
  })

  it('is the worst partition, with STOP, STALL and REWIND as ERR', () => {
    assert.equal(groupStatusOf([]), 'OK')
    assert.equal(groupStatusOf(['OK', 'OK']), 'OK')
    assert.equal(groupStatusOf(['OK', 'WARN']), 'WARN')
    for (const bad of ['STOP', 'STALL', 'REWIND'] as const) {
      assert.equal(groupStatusOf(['OK', bad]), 'ERR')
      assert.equal(groupStatusOf([bad, 'WARN']), 'ERR')
    }
  })

  it('sums the lag, names the partition with the most, and counts full windows', () => {
    const g = evaluateGroup(
      'local',
      'billing',
      [
        part('orders', 0, {
          offsets: withTimes(steady),
          brokerOffsets: [5200],
          currentLag: 200,
          currentLagSeconds: 4,
        }),
        part('orders', 1, {
          offsets: [null, null, ...withTimes(steady.slice(0, 3))],
          currentLag: 700,
          owner: '10.0.0.1',
          clientId: 'c-1',
          currentLagSeconds: 9,
        }),
        part('orders', 2, { currentLag: 50 }),
      ],
      1_000_000,
      options,
    )
    assert.equal(g.status, 'ERR') // partition 0 STOPs at 1000 s
    assert.equal(g.totallag, 950)
    assert.equal(g.partition_count, 3)
    assert.equal(g.maxlag?.partition, 1)
    assert.equal(g.maxlag?.owner, '10.0.0.1')
    assert.equal(g.maxlag?.client_id, 'c-1')
    assert.equal(g.maxlag_seconds, 9)
    assert.equal(g.complete, 1 / 3)
    assert.deepEqual(g.partitions[0]!.start, {
      offset: 1000,
      timestamp: 100_000,
      observedAt: 100_000,
      lag: 0,
    })
    assert.deepEqual(g.partitions[0]!.end, {
      offset: 5000,
      timestamp: 500_000,
      observedAt: 500_000,
      lag: 200,
    })
    assert.equal(g.partitions[2]!.start, null)
    assert.deepEqual(Object.keys(g).sort(), [
      'cluster',
      'complete',
      'group',
      'maxlag',
      'maxlag_seconds',
      'partition_count',
      'partitions',
      'status',
      'totallag',
    ])
  })

  it('NOTFOUND has the same shape', () => {
    const n = notFoundStatus('local', 'nobody')
    assert.equal(n.status, 'NOTFOUND')
    assert.deepEqual(Object.keys(n).sort(), Object.keys(evaluateGroup('c', 'g', [], 0, options)).sort())
  })
})
