/**
 * The bench's load generator without a cluster: producers that answer after a latency the test
 * chooses per record, so the warm-up's split of the figures can be checked exactly.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { Producer, RecordMetadata, SendRequest } from '@cairn/client'
import { LoadGenerator } from '../src/bench-load.js'

/** Bound on a whole run here: a load that never finishes fails instead of hanging. */
const RUN_MS_MAX = 10_000

/**
 * A producer whose k-th send (over every fake of a run) is acknowledged after `latencyMs(k)`; each
 * send is a request of its own.
 */
function fakeProducers(count: number, latencyMs: (k: number) => number): Producer[] {
  let k = 0
  const metrics = () => ({
    'request-total': k,
    'record-send-total': k,
    'record-retry-total': 0,
    'record-error-total': 0,
  })
  const send = (request: SendRequest): Promise<RecordMetadata[]> => {
    const delay = latencyMs(k++)
    const metadata: RecordMetadata[] = [
      { topic: request.topic, partition: 0, offset: k, timestamp: Date.now() } as RecordMetadata,
    ]
    return new Promise((resolve) => setTimeout(() => resolve(metadata), delay))
  }
  // One counter for all of them: metrics() of the first tells the run's requests.
  return Array.from(
    { length: count },
    (_, i) => ({ send, metrics: i === 0 ? metrics : zero }) as unknown as Producer,
  )
}

const zero = () => ({
  'request-total': 0,
  'record-send-total': 0,
  'record-retry-total': 0,
  'record-error-total': 0,
})

async function runBounded(load: LoadGenerator): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const overrun = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the load ran over ${RUN_MS_MAX} ms`)), RUN_MS_MAX)
  })
  try {
    await Promise.race([load.run(), overrun])
  } finally {
    clearTimeout(timer)
  }
}

const SLOW_MS = 60

describe('LoadGenerator: --warmup-records', () => {
  it('at max rate, the first N records are in the whole run only', async () => {
    // One in flight: record k is sent when k - 1 is acknowledged, so order and timing are exact.
    const warmup = 20
    const load = new LoadGenerator(
      fakeProducers(1, (k) => (k < warmup ? SLOW_MS : 1)),
      {
        topic: 't',
        recordSizeBytes: 100,
        records: 100,
        ratePerS: 0,
        inFlightMax: 1,
        timestampInValue: false,
        warmupRecords: warmup,
      },
    )
    await runBounded(load)
    assert.equal(load.acked, 100)
    assert.equal(load.steadyAcked, 80, 'the records after the warm-up')
    assert.equal(load.publish.totalCount, 100)
    assert.equal(load.steadyPublish.totalCount, 80)
    assert.ok(load.publish.maxValue >= SLOW_MS * 1000, 'the whole run has the slow warm-up')
    assert.ok(
      load.steadyPublish.maxValue < SLOW_MS * 1000,
      `the steady state has none of it (max ${load.steadyPublish.maxValue} µs)`,
    )
    assert.ok(
      load.steadyFromMs > load.startedMs + warmup * SLOW_MS * 0.9,
      'the steady state starts after the warm-up',
    )
    assert.ok(load.isSteady(load.steadyFromMs) && !load.isSteady(load.steadyFromMs - 0.001))
  })

  it('at a fixed rate, the steady state starts when record N was due, for every producer', async () => {
    const rate = 1000
    const warmup = 30
    const load = new LoadGenerator(
      fakeProducers(3, () => 1),
      {
        topic: 't',
        recordSizeBytes: 100,
        records: 90,
        ratePerS: rate,
        inFlightMax: 100,
        timestampInValue: true,
        warmupRecords: warmup,
      },
    )
    await runBounded(load)
    assert.equal(load.acked, 90)
    assert.equal(load.steadyFromMs, load.startedMs + (warmup * 1000) / rate)
    assert.equal(load.steadyAcked, 60, 'records 30 to 89 were due at or after record 30')
    assert.equal(load.steadyPublish.totalCount, 60)
  })

  it('without a warm-up every record is steady', async () => {
    const load = new LoadGenerator(
      fakeProducers(2, () => 1),
      { topic: 't', recordSizeBytes: 100, records: 40, ratePerS: 0, inFlightMax: 5, timestampInValue: false },
    )
    await runBounded(load)
    assert.equal(load.steadyFromMs, load.startedMs)
    assert.equal(load.steadyAcked, 40)
    assert.equal(load.steadyPublish, load.publish, 'one histogram: no record is counted twice')
    assert.equal(load.publish.totalCount, 40)
  })
})
