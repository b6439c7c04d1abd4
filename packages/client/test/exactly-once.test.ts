/**
 * The idempotent producer's promise, checked against random fault schedules: whatever mix of lost
 * requests, lost answers, leader moves and retriable errors, and however many requests are in
 * flight, every record lands exactly once, each partition holds its records in send order, and
 * every send resolves with the offsets the broker actually gave.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ErrorCode, partitionForKey } from '@cairn/protocol'
import fc from 'fast-check'
import { seededRandom, VirtualClock } from '../src/index.js'
import { FakeCluster, fcOptions, outcome, text } from './helpers.js'

const faults = [
  'ok',
  'ok',
  'ok',
  'drop-request',
  'drop-response',
  'leader-move',
  'not-enough-replicas',
  'request-timed-out',
] as const

const scenario = fc.record({
  partitions: fc.integer({ min: 1, max: 4 }),
  responseDelayMs: fc.integer({ min: 0, max: 30 }),
  batchSizeBytes: fc.constantFrom(0, 150, 400, 16_384),
  lingerMs: fc.integer({ min: 0, max: 10 }),
  maxInFlight: fc.integer({ min: 1, max: 5 }),
  schedule: fc.array(fc.constantFrom(...faults), { maxLength: 120 }),
  sends: fc.array(fc.record({ count: fc.integer({ min: 1, max: 4 }), key: fc.nat(7), gapMs: fc.nat(8) }), {
    minLength: 1,
    maxLength: 30,
  }),
  randomSeed: fc.integer(),
  lenientBroker: fc.boolean(),
})

describe('exactly once, in order, under random faults', () => {
  it('every record lands once, in send order per partition, at the offset its send reported', async () => {
    await fc.assert(
      fc.asyncProperty(scenario, async (s) => {
        const clock = new VirtualClock()
        const cluster = new FakeCluster(clock)
        cluster.createTopic('t', s.partitions)
        cluster.responseDelayMs = s.responseDelayMs
        cluster.acceptAnySequenceFromUnknownProducer = s.lenientBroker
        const fault = (n: number) => s.schedule[n] ?? 'ok'
        cluster.requestFault = (call) => {
          const f = fault(call.n)
          if (f === 'leader-move') {
            const p = call.batches[0]!.partition
            const leaders = cluster.leaders.get('t')!
            leaders[p] = (leaders[p]! % 3) + 1
          }
          return f === 'drop-request' || f === 'drop-response' ? f : undefined
        }
        cluster.batchFault = (call) => {
          const f = fault(call.n)
          if (f === 'not-enough-replicas') return { errorCode: ErrorCode.NOT_ENOUGH_REPLICAS.code }
          if (f === 'request-timed-out') return { errorCode: ErrorCode.REQUEST_TIMED_OUT.code }
          return undefined
        }
        const producer = cluster.producer(
          {
            'linger.ms': s.lingerMs,
            'batch.size': s.batchSizeBytes,
            'max.in.flight.requests.per.connection': s.maxInFlight,
          },
          seededRandom(s.randomSeed),
        )

        const expected = Array.from({ length: s.partitions }, () => [] as string[])
        const sends: { values: string[]; result: ReturnType<typeof outcome<unknown>> }[] = []
        for (const [i, send] of s.sends.entries()) {
          const key = `key-${send.key}`
          const values = Array.from({ length: send.count }, (_, j) => `s${i}r${j}`)
          expected[partitionForKey(text(key), s.partitions)]!.push(...values)
          const result = outcome(
            producer.send({ topic: 't', messages: values.map((value) => ({ key, value })) }),
          )
          sends.push({ values, result })
          await clock.advance(send.gapMs)
        }
        const done = await clock.runUntil(() => sends.every((x) => x.result.done), 120_000, 10)
        assert.ok(done, 'every send settles')

        for (let p = 0; p < s.partitions; p++)
          assert.deepEqual(
            cluster.log('t', p).map((r) => r.value),
            expected[p],
            `partition ${p}`,
          )
        for (const { values, result } of sends) {
          assert.ok(result.value !== undefined, `send failed: ${String(result.error)}`)
          const metadata = result.value as { partition: number; offset: number }[]
          for (const [j, m] of metadata.entries())
            assert.equal(cluster.log('t', m.partition)[m.offset]?.value, values[j])
        }
        assert.equal(producer.bufferedBytes, 0)
      }),
      fcOptions(Number(process.env.RUNS ?? 200)),
    )
  })
})
