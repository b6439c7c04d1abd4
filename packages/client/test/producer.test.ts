import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ErrorCode, partitionForKey } from '@cairn/protocol'
import {
  BufferExhaustedError,
  DeliveryTimeoutError,
  LEADER_HINT_RETRIES_MAX,
  ProduceError,
  Producer,
  ProducerClosedError,
  type ProducerConfig,
  type ProducerIo,
  RecordTooLargeError,
  seededRandom,
  TimeoutError,
  VirtualClock,
} from '../src/index.js'
import { FakeCluster, outcome } from './helpers.js'

function setup(partitions = 1) {
  const clock = new VirtualClock()
  const cluster = new FakeCluster(clock)
  cluster.createTopic('t', partitions)
  return { clock, cluster, t0: clock.now() }
}

const values = (cluster: FakeCluster, partition = 0) => cluster.log('t', partition).map((r) => r.value)

describe('batching', () => {
  it('by linger.ms: a partial batch leaves exactly linger.ms after its first record', async () => {
    const { clock, cluster } = setup()
    const producer = cluster.producer({ 'linger.ms': 5 })
    const first = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
    await clock.advance(2)
    const second = outcome(producer.send({ topic: 't', messages: [{ value: 'b' }, { value: 'c' }] }))
    await clock.advance(2)
    assert.equal(cluster.calls.length, 0, 'nothing sent before linger.ms')
    await clock.advance(1)
    assert.equal(cluster.calls.length, 1)
    assert.equal(cluster.calls[0]!.batches[0]!.recordCount, 3, 'one batch for both sends')
    assert.ok(first.done && second.done)
    assert.deepEqual(
      first.value!.map((m) => m.offset),
      [0],
    )
    assert.deepEqual(
      second.value!.map((m) => [m.topic, m.partition, m.offset]),
      [
        ['t', 0, 1],
        ['t', 0, 2],
      ],
    )
  })

  it('by batch.size: full batches leave at once, the rest after linger.ms', async () => {
    const { clock, cluster } = setup()
    const producer = cluster.producer({ 'batch.size': 1_024, 'linger.ms': 1_000 })
    const messages = Array.from({ length: 50 }, (_, i) => ({ value: `record-${i}`.padEnd(100, '.') }))
    const sent = outcome(producer.send({ topic: 't', messages }))
    await clock.advance(0)
    const early = cluster.calls.length
    assert.ok(early >= 4, `full batches sent before linger: ${early}`)
    for (const call of cluster.calls) for (const b of call.batches) assert.ok(b.bytes.length <= 1_024)
    assert.ok(!sent.done)
    await clock.advance(1_000)
    assert.ok(sent.done)
    assert.deepEqual(
      values(cluster),
      messages.map((m) => m.value),
    )
    assert.deepEqual(
      sent.value!.map((m) => m.offset),
      messages.map((_, i) => i),
    )
  })

  it('resolves each message with its topic, partition, offset and timestamp', async () => {
    const { clock, cluster } = setup(4)
    const producer = cluster.producer({ 'linger.ms': 0 })
    const sent = outcome(
      producer.send({
        topic: 't',
        messages: [
          { key: 'foobar', value: 'v1', timestamp: 1_600_000_000_000 },
          { value: 'v2', partition: 3, headers: { trace: 'abc', empty: null } },
        ],
      }),
    )
    await clock.advance(1)
    const [m1, m2] = sent.value!
    const foobarPartition = partitionForKey(new TextEncoder().encode('foobar'), 4)
    assert.deepEqual(m1, { topic: 't', partition: foobarPartition, offset: 0, timestamp: 1_600_000_000_000 })
    assert.deepEqual(m2, { topic: 't', partition: 3, offset: 0, timestamp: clock.now() - 1 })
  })

  it('flush() sends at once and resolves when earlier sends have settled', async () => {
    const { clock, cluster } = setup()
    const producer = cluster.producer({ 'linger.ms': 60_000 })
    const sent = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
    const flushed = outcome(producer.flush())
    await clock.advance(0)
    assert.ok(sent.done && flushed.done)
  })
})

describe('per-partition order under retries', () => {
  /** A producer that has had one batch acknowledged on t-0, so it pipelines from now on. */
  async function warmedUp(cluster: FakeCluster, clock: VirtualClock, config: ProducerConfig) {
    const producer = cluster.producer(config)
    const warmUp = outcome(producer.send({ topic: 't', messages: [{ value: 'warm-up' }] }))
    await clock.advance(cluster.responseDelayMs + 1)
    assert.ok(warmUp.value, 'warm-up acknowledged')
    cluster.calls.length = 0
    return producer
  }

  it('NOT_LEADER_OR_FOLLOWER: metadata is refreshed, the batch is resent with the same bytes and sequence, and later batches do not overtake', async () => {
    const { clock, cluster } = setup()
    cluster.responseDelayMs = 10
    const producer = await warmedUp(cluster, clock, { 'linger.ms': 0, 'batch.size': 200 })
    const events: string[] = []
    cluster.batchFault = (call) => {
      if (call.n === 0) {
        // The leader moved: node 1 refuses this and every later request; the truth says node 2.
        cluster.leaders.set('t', [2])
        return { errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER.code }
      }
      return undefined
    }
    const { refreshMetadata, sender } = cluster.io
    cluster.io.refreshMetadata = (topics) => {
      events.push('refresh')
      return refreshMetadata(topics)
    }
    cluster.io.sender = (nodeId, batches, options) => {
      events.push(`produce to ${nodeId}: ${batches.map((b) => b.baseSequence).join(',')}`)
      return sender(nodeId, batches, options)
    }
    const sends = Array.from({ length: 8 }, (_, i) =>
      outcome(
        producer.send({
          topic: 't',
          messages: [{ value: `m${i}a`.padEnd(60) }, { value: `m${i}b`.padEnd(60) }],
        }),
      ),
    )
    await clock.advance(1)
    assert.ok(cluster.calls.length >= 3, `several batches in flight to node 1: ${cluster.calls.length}`)
    await clock.runUntil(() => sends.every((s) => s.done), 5_000)
    assert.ok(
      sends.every((s) => s.value !== undefined),
      'every send succeeds',
    )

    // The log holds each record once, in send order, and the offsets reported agree with it.
    const expected = Array.from({ length: 8 }, (_, i) => [`m${i}a`.padEnd(60), `m${i}b`.padEnd(60)]).flat()
    assert.deepEqual(values(cluster), ['warm-up', ...expected])
    for (const [i, s] of sends.entries())
      assert.deepEqual(
        s.value!.map((m) => m.offset),
        [1 + 2 * i, 2 + 2 * i],
      )

    // Sequence 1 (the first batch after the warm-up) failed and was resent with the same bytes.
    const first = cluster.sentBatches().filter((b) => b.baseSequence === 1)
    assert.equal(first.length, 2, 'sequence 1 was sent twice')
    assert.deepEqual(first[1]!.bytes, first[0]!.bytes, 'the retry resends the same bytes')
    // Metadata was refreshed before the retry, and the retry went to the new leader, alone.
    const retry = events.indexOf('produce to 2: 1')
    assert.ok(retry > 0 && events.slice(0, retry).includes('refresh'), events.join('; '))
    const toNode2 = events.filter((e) => e.startsWith('produce to 2'))
    assert.equal(toNode2[0], 'produce to 2: 1', 'nothing overtakes the retried batch')
  })

  it('NOT_LEADER_OR_FOLLOWER naming the new leader (KIP-951): the batch goes there at once, without a backoff or a refresh first', async () => {
    const { clock, cluster } = setup()
    cluster.responseDelayMs = 10
    cluster.hintLeaders = true
    const producer = await warmedUp(cluster, clock, { 'linger.ms': 0, 'retry.backoff.ms': 100 })
    cluster.leaders.set('t', [2]) // the producer's cache still says node 1
    const sent = outcome(producer.send({ topic: 't', messages: [{ value: 'moved' }] }))
    await clock.runUntil(() => sent.done, 1_000)
    assert.ok(sent.value, `acknowledged: ${sent.error}`)
    const [first, second, ...rest] = cluster.calls
    assert.deepEqual(
      [first?.nodeId, second?.nodeId, rest.length],
      [1, 2, 0],
      'refused by node 1, then sent to node 2, once',
    )
    assert.equal(second!.atMs - first!.atMs, cluster.responseDelayMs, 'resent as soon as the answer came')
    assert.deepEqual(values(cluster), ['warm-up', 'moved'])
  })

  it(`follows leader hints at most ${LEADER_HINT_RETRIES_MAX} times per batch, then backs off`, async () => {
    // Two nodes that name each other (a hand-off under way): a few round trips, then the backoff.
    const { clock, cluster } = setup()
    cluster.responseDelayMs = 10
    cluster.hintLeaders = true
    const producer = await warmedUp(cluster, clock, { 'linger.ms': 0, 'retry.backoff.ms': 100 })
    const lies = LEADER_HINT_RETRIES_MAX + 2
    cluster.batchFault = (call) =>
      call.n < lies ? { errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER.code, leaderId: 2 } : undefined
    const sent = outcome(producer.send({ topic: 't', messages: [{ value: 'x' }] }))
    await clock.runUntil(() => sent.done, 5_000)
    assert.ok(sent.value, `acknowledged: ${sent.error}`)
    // Node 1 names 2, node 2 names 1 (the truth), and so on; each resend is a hinted retry.
    const gaps = cluster.calls.slice(1).map((c, i) => c.atMs - cluster.calls[i]!.atMs)
    assert.deepEqual(
      gaps.slice(0, LEADER_HINT_RETRIES_MAX),
      Array(LEADER_HINT_RETRIES_MAX).fill(cluster.responseDelayMs),
      `the first ${LEADER_HINT_RETRIES_MAX} resends go as soon as the answer comes: ${gaps}`,
    )
    assert.ok(
      gaps[LEADER_HINT_RETRIES_MAX]! >= 0.8 * 100 + cluster.responseDelayMs,
      `then a backoff of retry.backoff.ms (±20 %): ${gaps}`,
    )
  })

  it('later batches in flight with the failed one are refused out of order and resent after it, pipelined behind it', async () => {
    const { clock, cluster } = setup()
    cluster.responseDelayMs = 20
    const producer = await warmedUp(cluster, clock, { 'linger.ms': 0, 'batch.size': 0 })
    let failed = false
    cluster.batchFault = (_call, batch) => {
      if (!failed && batch.baseSequence === 1) {
        failed = true
        return { errorCode: ErrorCode.NOT_ENOUGH_REPLICAS.code }
      }
      return undefined
    }
    const sends = Array.from({ length: 5 }, (_, i) =>
      outcome(producer.send({ topic: 't', messages: [{ value: `${i}` }] })),
    )
    await clock.advance(1)
    assert.equal(cluster.calls.length, 5, 'five requests in flight at once')
    await clock.runUntil(() => sends.every((s) => s.done), 5_000)
    assert.deepEqual(values(cluster), ['warm-up', '0', '1', '2', '3', '4'])
    const attempts = cluster.sentBatches().map((b) => b.baseSequence)
    assert.deepEqual(attempts.slice(0, 5), [1, 2, 3, 4, 5])
    // After the failure: sequence 1 after its backoff, the rest right behind it, in order, each
    // without waiting for the answer to the one before (Kafka's producer waits for each).
    assert.deepEqual(attempts.slice(5), [1, 2, 3, 4, 5])
    const retries = cluster.calls.slice(5)
    assert.ok(
      retries.every((call) => call.atMs < retries[0]!.atMs + cluster.responseDelayMs),
      `the retries go out within one round trip: ${retries.map((c) => c.atMs)}`,
    )
  })

  it('pipelined retries behind a batch that keeps failing are refused out of order until it lands; the log stays in order, once each', async () => {
    const { clock, cluster } = setup()
    cluster.responseDelayMs = 20
    const producer = await warmedUp(cluster, clock, { 'linger.ms': 0, 'batch.size': 0 })
    let failures = 0
    cluster.batchFault = (_call, batch) => {
      if (batch.baseSequence === 1 && failures < 3) {
        failures++
        return { errorCode: ErrorCode.NOT_ENOUGH_REPLICAS.code }
      }
      return undefined
    }
    const sends = Array.from({ length: 5 }, (_, i) =>
      outcome(producer.send({ topic: 't', messages: [{ value: `${i}` }] })),
    )
    await clock.runUntil(() => sends.every((s) => s.done), 10_000)
    assert.ok(
      sends.every((s) => s.value !== undefined),
      'every send succeeds',
    )
    assert.equal(failures, 3)
    assert.deepEqual(values(cluster), ['warm-up', '0', '1', '2', '3', '4'])
    // Four rounds: the first sends and three retries of sequence 1, each with 2..5 behind it.
    const attempts = cluster.sentBatches().map((b) => b.baseSequence)
    assert.deepEqual(attempts, [1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5, 1, 2, 3, 4, 5])
  })

  it('a refusal as out of order behind an unconfirmed older batch is not an attempt of its own', async () => {
    // retries = 1: sequence 2 is refused out of order behind sequence 1, then fails once of its
    // own. Were the refusal an attempt, that failure would be its third and exceed the retries.
    const { clock, cluster } = setup()
    cluster.responseDelayMs = 20
    const producer = await warmedUp(cluster, clock, { 'linger.ms': 0, 'batch.size': 0, retries: 1 })
    const sent = new Map<number, number>()
    cluster.batchFault = (_call, batch) => {
      const n = (sent.get(batch.baseSequence) ?? 0) + 1
      sent.set(batch.baseSequence, n)
      if ((batch.baseSequence === 1 && n === 1) || (batch.baseSequence === 2 && n === 2))
        return { errorCode: ErrorCode.NOT_ENOUGH_REPLICAS.code }
      return undefined
    }
    const sends = Array.from({ length: 3 }, (_, i) =>
      outcome(producer.send({ topic: 't', messages: [{ value: `${i}` }] })),
    )
    await clock.runUntil(() => sends.every((s) => s.done), 10_000)
    assert.deepEqual(
      sends.map((s) => s.error?.message),
      [undefined, undefined, undefined],
    )
    assert.deepEqual(values(cluster), ['warm-up', '0', '1', '2'])
    assert.equal(sent.get(2), 3, 'sequence 2: refused out of order, failed once, then written')
  })

  it('a retry refused as out of order by a node other than the one its older batch went to waits out its backoff, not a round trip', async () => {
    const { clock, cluster } = setup()
    cluster.responseDelayMs = 10
    const producer = await warmedUp(cluster, clock, {
      'linger.ms': 0,
      'batch.size': 0,
      'request.timeout.ms': 1000,
      'retry.backoff.ms': 100,
    })
    // Sequence 1 reaches node 1, which never answers (the request times out after 1 s); meanwhile
    // the leader moves to node 2, which refuses sequence 2 as out of order until 1 is there.
    let hungAtMs: number | undefined
    const { sender } = cluster.io
    cluster.io.sender = (nodeId, batches, options) => {
      if (hungAtMs === undefined && nodeId === 1 && batches.some((b) => b.baseSequence === 1)) {
        hungAtMs = clock.now()
        cluster.leaders.set('t', [2])
        return new Promise((_, reject) => clock.setTimer(1000, () => reject(new Error('request timed out'))))
      }
      return sender(nodeId, batches, options)
    }
    const sends = ['0', '1'].map((value) => outcome(producer.send({ topic: 't', messages: [{ value }] })))
    await clock.runUntil(() => sends.every((s) => s.done), 10_000)
    assert.ok(
      sends.every((s) => s.value !== undefined),
      'both succeed',
    )
    assert.deepEqual(values(cluster), ['warm-up', '0', '1'])
    const whileHung = cluster.calls.filter((c) => c.nodeId === 2 && c.atMs < hungAtMs! + 1000)
    assert.ok(
      whileHung.length >= 2 && whileHung.length <= 15,
      `sequence 2 tried node 2 ${whileHung.length} times in the second sequence 1 hung (one per backoff, not per round trip)`,
    )
  })

  it("with idempotence, the epoch's first batch is confirmed before a second is sent", async () => {
    const { clock, cluster } = setup()
    cluster.responseDelayMs = 20
    cluster.acceptAnySequenceFromUnknownProducer = true // as Cairn's broker and Kafka >= 2.5
    let failed = false
    cluster.batchFault = () => {
      if (failed) return undefined
      failed = true
      return { errorCode: ErrorCode.NOT_ENOUGH_REPLICAS.code }
    }
    const producer = cluster.producer({ 'linger.ms': 0, 'batch.size': 0 })
    const sends = Array.from({ length: 4 }, (_, i) =>
      outcome(producer.send({ topic: 't', messages: [{ value: `${i}` }] })),
    )
    await clock.advance(1)
    assert.equal(cluster.calls.length, 1)
    await clock.runUntil(() => sends.every((s) => s.done), 5_000)
    assert.deepEqual(values(cluster), ['0', '1', '2', '3'])
  })
})

describe('idempotence', () => {
  it('stamps producer id, epoch 0 and contiguous sequences per partition', async () => {
    const { clock, cluster } = setup(3)
    const producer = cluster.producer({ 'linger.ms': 1, 'batch.size': 300 })
    const sends = Array.from({ length: 30 }, (_, i) =>
      outcome(producer.send({ topic: 't', messages: [{ key: `k${i}`, value: 'x'.repeat(40) }] })),
    )
    await clock.runUntil(() => sends.every((s) => s.done), 1_000)
    assert.deepEqual(cluster.initCalls, [null])
    assert.deepEqual(producer.producerId, { producerId: 1000n, producerEpoch: 0 })
    const byPartition = new Map<string, number>()
    for (const call of cluster.calls) {
      for (const b of call.batches) {
        const tp = `${b.topic}-${b.partition}`
        assert.equal(b.baseSequence, byPartition.get(tp) ?? 0, tp)
        byPartition.set(tp, b.baseSequence + b.recordCount)
      }
    }
    assert.equal(
      [...byPartition.values()].reduce((a, b) => a + b),
      30,
    )
    for (const b of cluster.sentBatches()) assert.equal(b.producerEpoch, 0)
  })

  it('a lost answer is retried, and the broker answers the duplicate with the original offsets', async () => {
    const { clock, cluster } = setup()
    cluster.requestFault = (call) => (call.n === 1 ? 'drop-response' : undefined)
    const producer = cluster.producer({ 'linger.ms': 0 })
    const a = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
    await clock.advance(1)
    const b = outcome(producer.send({ topic: 't', messages: [{ value: 'b1' }, { value: 'b2' }] }))
    await clock.runUntil(() => b.done, 5_000)
    assert.deepEqual(values(cluster), ['a', 'b1', 'b2'], 'no duplicate in the log')
    assert.deepEqual(
      b.value!.map((m) => m.offset),
      [1, 2],
    )
    assert.ok(a.done)
    const seqs = cluster.sentBatches().map((x) => x.baseSequence)
    assert.deepEqual(seqs, [0, 1, 1])
  })

  it('a DUPLICATE_SEQUENCE_NUMBER answer is a success without offsets', async () => {
    const { clock, cluster } = setup()
    cluster.batchFault = () => ({ errorCode: 46 })
    const producer = cluster.producer({ 'linger.ms': 0 })
    const sent = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
    await clock.advance(1)
    assert.deepEqual(
      sent.value!.map((m) => m.offset),
      [-1],
    )
    assert.equal(cluster.calls.length, 1)
  })

  it('OUT_OF_ORDER_SEQUENCE_NUMBER for the next batch in line fails it and bumps the epoch', async () => {
    const { clock, cluster } = setup()
    const producer = cluster.producer({ 'linger.ms': 0 })
    const a = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
    await clock.advance(1)
    assert.ok(a.value)
    cluster.forgetProducers() // the broker lost our state: sequence 1 is now a gap
    const b = outcome(producer.send({ topic: 't', messages: [{ value: 'b' }] }))
    await clock.advance(1)
    assert.ok(b.error instanceof ProduceError)
    assert.equal(b.error.code, 'OUT_OF_ORDER_SEQUENCE_NUMBER')
    assert.match(b.error.message, /^Produce to t-0 failed: OUT_OF_ORDER_SEQUENCE_NUMBER \(45\)/)
    const c = outcome(producer.send({ topic: 't', messages: [{ value: 'c' }] }))
    await clock.advance(1)
    assert.ok(c.value, String(c.error))
    assert.deepEqual(cluster.initCalls, [null, { producerId: 1000n, producerEpoch: 0 }])
    assert.deepEqual(producer.producerId, { producerId: 1000n, producerEpoch: 1 })
    const last = cluster.sentBatches().at(-1)!
    assert.deepEqual([last.producerEpoch, last.baseSequence], [1, 0])
    assert.deepEqual(values(cluster), ['a', 'c'])
  })

  it('OUT_OF_ORDER_SEQUENCE_NUMBER answered after the older batch was acknowledged, for a batch sent behind it: retried, not failed', async () => {
    // The broker refuses b1 (not appended), checks b2 sent right behind it (a gap: out of order),
    // then appends b1's retry and answers it first; b2's answer comes last, as it does when b2's
    // request also waits for a slower partition. b2 was sent while b1 was unacknowledged, so the
    // gap is b1's, not a sign that the broker lost our state.
    const { clock, cluster } = setup()
    cluster.holdAnswers = true
    cluster.batchFault = (call) =>
      call.n === 1 ? { errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER.code } : undefined
    const producer = cluster.producer({ 'linger.ms': 0, 'retry.backoff.ms': 10, 'retry.backoff.max.ms': 10 })
    const a = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
    await clock.advance(1)
    cluster.release(0)
    await clock.advance(1)
    assert.ok(a.value, String(a.error))
    const b1 = outcome(producer.send({ topic: 't', messages: [{ value: 'b1' }] }))
    await clock.advance(1)
    const b2 = outcome(producer.send({ topic: 't', messages: [{ value: 'b2' }] }))
    await clock.advance(1)
    assert.deepEqual(
      cluster.sentBatches().map((x) => [x.n, x.baseSequence]),
      [
        [0, 0],
        [1, 1],
        [2, 2],
      ],
    )
    cluster.release(1) // b1: NOT_LEADER_OR_FOLLOWER, retried after the backoff
    await clock.runUntil(() => cluster.calls.length === 4, 1_000)
    cluster.release(3) // b1's retry: appended
    await clock.advance(1)
    assert.ok(b1.value, String(b1.error))
    cluster.holdAnswers = false
    cluster.release(2) // b2: OUT_OF_ORDER_SEQUENCE_NUMBER, checked before b1's retry
    await clock.runUntil(() => b2.done, 1_000)
    assert.ok(b2.value, String(b2.error))
    assert.deepEqual(values(cluster), ['a', 'b1', 'b2'])
    assert.deepEqual(producer.producerId, { producerId: 1000n, producerEpoch: 0 }, 'no epoch bump')
  })

  it('UNKNOWN_PRODUCER_ID after retention (log start past our last offset): bump the epoch and retry', async () => {
    const { clock, cluster } = setup()
    const producer = cluster.producer({ 'linger.ms': 0 })
    const a = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
    await clock.advance(1)
    assert.ok(a.value)
    let once = true
    cluster.batchFault = () => {
      if (!once) return undefined
      once = false
      return { errorCode: 59, logStartOffset: 1 }
    }
    cluster.forgetProducers()
    const b = outcome(producer.send({ topic: 't', messages: [{ value: 'b' }] }))
    await clock.runUntil(() => b.done, 5_000)
    assert.ok(b.value, String(b.error))
    assert.deepEqual(values(cluster), ['a', 'b'])
    assert.deepEqual(producer.producerId, { producerId: 1000n, producerEpoch: 1 })
  })

  it('UNKNOWN_PRODUCER_ID without a log start past our offsets fails the batch', async () => {
    const { clock, cluster } = setup()
    const producer = cluster.producer({ 'linger.ms': 0 })
    const a = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
    await clock.advance(1)
    assert.equal(a.value?.[0]?.offset, 0)
    cluster.batchFault = () => ({ errorCode: 59, logStartOffset: 0 })
    const b = outcome(producer.send({ topic: 't', messages: [{ value: 'b' }] }))
    await clock.advance(1)
    assert.equal(b.error?.message, 'Produce to t-0 failed: UNKNOWN_PRODUCER_ID (59): producer state lost')
    assert.equal(cluster.initCalls.length, 2, 'the epoch was bumped all the same')
  })
})

describe('retries and failures', () => {
  it('delivery.timeout.ms bounds retries: the send rejects naming the partition and the last error', async () => {
    const { clock, cluster, t0 } = setup()
    cluster.batchFault = () => ({ errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER.code })
    const producer = cluster.producer({
      'linger.ms': 0,
      'delivery.timeout.ms': 5_000,
      'request.timeout.ms': 1_000,
    })
    const sent = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }, { value: 'b' }] }))
    await clock.advance(4_999)
    assert.ok(!sent.done)
    await clock.advance(1)
    assert.ok(sent.error instanceof DeliveryTimeoutError, String(sent.error))
    assert.equal(
      sent.error.message,
      'Expiring 2 record(s) for t-0: 5000 ms has passed since batch creation (delivery.timeout.ms 5000); last error: NOT_LEADER_OR_FOLLOWER (6)',
    )
    assert.equal(sent.error.code, 'DELIVERY_TIMEOUT')
    // Backoff grew from ~100 ms toward 1000 ms: a handful of attempts, not a hot loop.
    const times = cluster.calls.map((c) => c.atMs - t0)
    assert.ok(times.length >= 6 && times.length <= 14, `attempts at ${times.join(',')}`)
    const gaps = times.slice(1).map((t, i) => t - times[i]!)
    gaps.forEach((gap, i) => {
      const term = Math.min(1_000, 100 * 2 ** i)
      assert.ok(gap >= Math.floor(term * 0.8), `gap ${i}: ${gap} < 80% of ${term}`)
      assert.ok(gap <= 1_000 + 100, `gap ${i}: ${gap}`)
    })
    assert.ok(gaps.at(-1)! >= 800)
    // Each retry followed a metadata refresh.
    assert.ok(cluster.refreshes.length >= times.length - 1)
  })

  it('a batch that never gets a leader expires too', async () => {
    const { clock, cluster } = setup()
    cluster.cache.set('t', [undefined])
    cluster.leaders.set('t', [undefined])
    const producer = cluster.producer({
      'linger.ms': 0,
      'delivery.timeout.ms': 2_000,
      'request.timeout.ms': 1_000,
    })
    const sent = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
    await clock.advance(2_000)
    assert.ok(sent.error instanceof DeliveryTimeoutError)
    assert.match(sent.error.message, /for t-0: 2000 ms .* last error: none$/)
    assert.equal(cluster.calls.length, 0)
    assert.ok(
      cluster.refreshes.length > 3 && cluster.refreshes.length < 30,
      `${cluster.refreshes.length} refreshes`,
    )
  })

  for (const name of ['MESSAGE_TOO_LARGE', 'CORRUPT_MESSAGE', 'INVALID_REQUIRED_ACKS'] as const) {
    it(`${name} fails the send at once`, async () => {
      const { clock, cluster } = setup()
      cluster.batchFault = () => ({ errorCode: ErrorCode[name].code })
      const producer = cluster.producer({ 'linger.ms': 0 })
      const sent = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
      await clock.advance(1)
      assert.ok(sent.error instanceof ProduceError)
      assert.equal(sent.error.code, name)
      assert.equal(sent.error.message, `Produce to t-0 failed: ${name} (${ErrorCode[name].code})`)
      assert.equal(cluster.calls.length, 1)
    })
  }

  it('UNKNOWN_TOPIC_OR_PARTITION fails at once when refreshed metadata confirms the topic is gone', async () => {
    const { clock, cluster } = setup()
    const producer = cluster.producer({ 'linger.ms': 0 })
    cluster.deleteTopic('t')
    const sent = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
    await clock.advance(1)
    assert.ok(sent.error instanceof ProduceError, String(sent.error))
    assert.equal(
      sent.error.message,
      'Produce to t-0 failed: UNKNOWN_TOPIC_OR_PARTITION (3): metadata has no such topic-partition',
    )
    assert.equal(cluster.refreshes.length, 1)
  })

  it('UNKNOWN_TOPIC_OR_PARTITION while metadata still has the topic is retried', async () => {
    const { clock, cluster } = setup()
    cluster.batchFault = (call) =>
      call.n === 0 ? { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION.code } : undefined
    const producer = cluster.producer({ 'linger.ms': 0 })
    const sent = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
    await clock.advance(500)
    assert.ok(sent.value, String(sent.error))
    assert.equal(cluster.calls.length, 2)
  })

  it('retries bounds resends (without idempotence): retries = 2 means three attempts', async () => {
    const { clock, cluster } = setup()
    cluster.batchFault = () => ({ errorCode: ErrorCode.REQUEST_TIMED_OUT.code })
    const producer = cluster.producer({ 'linger.ms': 0, retries: 2, acks: 1 })
    assert.equal(producer.config.idempotent, false)
    const sent = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
    await clock.advance(2_000)
    assert.equal(sent.error?.message, 'Produce to t-0 failed after 3 attempt(s): REQUEST_TIMED_OUT (7)')
    assert.equal(cluster.calls.length, 3)
    assert.equal(cluster.sentBatches()[0]!.baseSequence, -1)
  })

  it('a network error (no answer) is retried', async () => {
    const { clock, cluster } = setup()
    cluster.requestFault = (call) => (call.n < 2 ? 'drop-request' : undefined)
    const producer = cluster.producer({ 'linger.ms': 0 })
    const sent = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
    await clock.advance(1_000)
    assert.ok(sent.value, String(sent.error))
    assert.deepEqual(values(cluster), ['a'])
  })

  it("metrics(): Kafka's request, record-send, record-retry and record-error totals", async () => {
    const { clock, cluster } = setup()
    // The first request is lost and retried; later ones time out for good (retries = 1).
    cluster.requestFault = (call) => (call.n === 0 ? 'drop-request' : undefined)
    const producer = cluster.producer({ 'linger.ms': 0, retries: 1, acks: 1 })
    const first = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }, { value: 'b' }] }))
    await clock.advance(1_000)
    assert.ok(first.value, String(first.error))
    assert.deepEqual(producer.metrics(), {
      'request-total': 2,
      'record-send-total': 4,
      'record-retry-total': 2,
      'record-error-total': 0,
    })
    cluster.batchFault = () => ({ errorCode: ErrorCode.REQUEST_TIMED_OUT.code })
    const second = outcome(producer.send({ topic: 't', messages: [{ value: 'c' }] }))
    await clock.advance(2_000)
    assert.ok(second.error, 'the send failed')
    assert.deepEqual(producer.metrics(), {
      'request-total': 4,
      'record-send-total': 6,
      'record-retry-total': 3,
      'record-error-total': 1,
    })
  })

  it('acks = 0 resolves with offset -1', async () => {
    const { clock, cluster } = setup()
    const producer = cluster.producer({ 'linger.ms': 0, acks: 0 })
    const sent = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
    await clock.advance(1)
    assert.equal(sent.value![0]!.offset, -1)
    assert.equal(cluster.calls[0]!.options.acks, 0)
  })
})

describe('buffer.memory and max.block.ms', () => {
  it('sends wait for memory, never exceeding buffer.memory, and all complete in order', async () => {
    const { clock, cluster } = setup()
    cluster.responseDelayMs = 50
    const producer = cluster.producer({ 'linger.ms': 0, 'batch.size': 1_024, 'buffer.memory': 4_096 })
    const messages = Array.from({ length: 100 }, (_, i) => `message-${i}`.padEnd(200, '.'))
    const sends = messages.map((value) => outcome(producer.send({ topic: 't', messages: [{ value }] })))
    let peak = 0
    let waited = false
    const done = await clock.runUntil(
      () => {
        peak = Math.max(peak, producer.bufferedBytes)
        if (sends.some((s) => !s.done) && producer.bufferedBytes > 4_096 - 400) waited = true
        return sends.every((s) => s.done)
      },
      10_000,
      5,
    )
    assert.ok(done)
    assert.ok(peak <= 4_096, `peak ${peak}`)
    assert.ok(waited, 'the buffer filled up')
    assert.ok(sends.every((s) => s.value !== undefined))
    assert.deepEqual(values(cluster), messages)
    assert.equal(producer.bufferedBytes, 0)
  })

  it('rejects with BufferExhaustedError after max.block.ms when memory never frees', async () => {
    const { clock, cluster } = setup()
    cluster.answering = false
    const producer = cluster.producer({ 'linger.ms': 0, 'buffer.memory': 1_000, 'max.block.ms': 300 })
    const first = outcome(producer.send({ topic: 't', messages: [{ value: 'x'.repeat(600) }] }))
    await clock.advance(10)
    const second = outcome(producer.send({ topic: 't', messages: [{ value: 'y'.repeat(600) }] }))
    await clock.advance(299)
    assert.ok(!second.done)
    await clock.advance(1)
    assert.ok(second.error instanceof BufferExhaustedError)
    assert.equal(second.error.code, 'BUFFER_EXHAUSTED')
    assert.match(
      second.error.message,
      /^Failed to allocate \d+ bytes within the configured max blocking time 300 ms\. Total memory: 1000 bytes\. Available memory: \d+ bytes\.$/,
    )
    assert.ok(!first.done)
  })

  it('rejects with TimeoutError when the topic is not in metadata within max.block.ms', async () => {
    const { clock, cluster } = setup()
    const producer = cluster.producer({ 'max.block.ms': 1_000 })
    const sent = outcome(producer.send({ topic: 'missing', messages: [{ value: 'a' }] }))
    const other = outcome(producer.send({ topic: 't', messages: [{ value: 'b' }] }))
    await clock.advance(999)
    assert.ok(!sent.done)
    assert.ok(other.value, 'a send to another topic is not held up')
    await clock.advance(1)
    assert.ok(sent.error instanceof TimeoutError)
    assert.equal(sent.error.message, 'Topic missing not present in metadata after 1000 ms.')
    assert.ok(cluster.refreshes.length >= 2)
  })

  it('says the topic is not in metadata, not that memory ran out, when the cluster does not know it', async () => {
    const { clock, cluster } = setup()
    // Metadata names the topic with no partitions: what Cairn's client caches for a topic the
    // cluster answered UNKNOWN_TOPIC_OR_PARTITION for.
    cluster.leaders.set('unknown', [])
    cluster.cache.set('unknown', [])
    const producer = cluster.producer({ 'max.block.ms': 500 })
    const sent = outcome(producer.send({ topic: 'unknown', messages: [{ value: 'a' }] }))
    await clock.advance(500)
    assert.ok(sent.error instanceof TimeoutError, `${sent.error}`)
    assert.equal(sent.error.message, 'Topic unknown not present in metadata after 500 ms.')
  })

  it('a send waits for its topic to appear in metadata', async () => {
    const { clock, cluster } = setup()
    const producer = cluster.producer({ 'linger.ms': 0 })
    cluster.cache.delete('t')
    const sent = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
    await clock.advance(5)
    assert.ok(sent.value)
  })

  it('refuses a record larger than max.request.size or buffer.memory', async () => {
    const { cluster } = setup()
    const producer = cluster.producer({ 'max.request.size': 1_000, 'buffer.memory': 2_000 })
    await assert.rejects(
      producer.send({ topic: 't', messages: [{ value: 'x'.repeat(1_000) }] }),
      (e: Error) => {
        assert.ok(e instanceof RecordTooLargeError)
        assert.match(
          e.message,
          /^The message is 1070 bytes when serialized which is larger than 1000, which is the value of the max.request.size configuration\.$/,
        )
        return true
      },
    )
    const small = cluster.producer({ 'buffer.memory': 500 })
    await assert.rejects(small.send({ topic: 't', messages: [{ value: 'x'.repeat(600) }] }), /buffer\.memory/)
  })

  it('refuses bad input at once', async () => {
    const { cluster } = setup()
    const producer = cluster.producer()
    await assert.rejects(
      producer.send({ topic: 'a b', messages: [{ value: 'a' }] }),
      /Invalid topic name "a b"/,
    )
    await assert.rejects(
      producer.send({ topic: 't', messages: [{ value: 'a', timestamp: -1 }] }),
      /Invalid timestamp: -1/,
    )
    await assert.rejects(
      producer.send({ topic: 't', messages: [{ value: 'a', partition: 1.5 }] }),
      /Invalid partition/,
    )
    assert.deepEqual(await producer.send({ topic: 't', messages: [] }), [])
  })

  it('a topic accepted once does not let a bad name through later', async () => {
    const { clock, cluster } = setup()
    const producer = cluster.producer({ 'linger.ms': 0 })
    const ok = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
    await assert.rejects(
      producer.send({ topic: 't!', messages: [{ value: 'b' }] }),
      /Invalid topic name "t!"/,
    )
    await assert.rejects(producer.send({ topic: '..', messages: [{ value: 'c' }] }), /Invalid topic name/)
    await clock.advance(1)
    assert.equal(ok.value?.[0]?.offset, 0)
    assert.deepEqual(values(cluster), ['a'])
  })
})

describe('many sends in one pass', () => {
  it('keyless records of many sends, to two topics, go only to partitions with a leader', async () => {
    const clock = new VirtualClock()
    const cluster = new FakeCluster(clock)
    cluster.createTopic('t', 4)
    cluster.createTopic('u', 3)
    // Partitions 1 and 3 of t have no leader in the metadata the producer sees.
    cluster.leaders.set('t', [1, undefined as unknown as number, 3, undefined as unknown as number])
    await cluster.io.refreshMetadata(['t'])
    const producer = cluster.producer({ 'linger.ms': 0, 'batch.size': 200 })
    const sends = []
    for (let k = 0; k < 60; k++)
      sends.push(outcome(producer.send({ topic: k % 2 === 0 ? 't' : 'u', messages: [{ value: `v${k}` }] })))
    await clock.advance(1)
    assert.ok(sends.every((s) => s.done && s.value !== undefined))
    for (const s of sends.filter((_, k) => k % 2 === 0)) assert.ok([0, 2].includes(s.value![0]!.partition))
    const inT = [0, 1, 2, 3].reduce((n, p) => n + values(cluster, p).length, 0)
    assert.equal(inT, 30)
    assert.deepEqual(
      [1, 3].map((p) => values(cluster, p).length),
      [0, 0],
    )
    const inU = [0, 1, 2].reduce((n, p) => n + cluster.log('u', p).length, 0)
    assert.equal(inU, 30)
  })
})

/**
 * A producer whose requests to node 1 wait until the test releases them, one at a time in the
 * order they were sent; other nodes answer at once.
 */
function holdingNode1(partitions: number) {
  const { clock, cluster } = setup(partitions)
  const held: (() => void)[] = []
  const io: ProducerIo = {
    ...cluster.io,
    sender: (nodeId, batches, options) =>
      nodeId !== 1
        ? cluster.io.sender(nodeId, batches, options)
        : new Promise((resolve, reject) => {
            held.push(() => {
              cluster.io.sender(nodeId, batches, options).then(resolve, reject)
            })
          }),
  }
  const producer = new Producer({ 'linger.ms': 0 }, io, { clock, random: seededRandom(1) })
  const release = async () => {
    held.shift()!()
    await clock.advance(0)
  }
  return { clock, cluster, producer, held, release }
}

describe('flush', () => {
  it('waits for the sends made before it, not after; a later flush also waits for the earlier ones', async () => {
    // Partition 0 is led by node 1 (held), partition 1 by node 2.
    const { clock, producer, held, release } = holdingNode1(2)
    assert.equal(outcome(producer.flush()).done, false, 'settles in a microtask, not synchronously')
    await clock.advance(0)
    const events: string[] = []
    const track = <T>(name: string, p: Promise<T>) => {
      const o = outcome(p)
      p.then(
        () => events.push(name),
        () => events.push(`${name} failed`),
      )
      return o
    }
    const a = track('a', producer.send({ topic: 't', messages: [{ value: 'a', partition: 0 }] }))
    const first = track('first flush', producer.flush())
    await clock.advance(0)
    const b = track('b', producer.send({ topic: 't', messages: [{ value: 'b', partition: 1 }] }))
    const c = track('c', producer.send({ topic: 't', messages: [{ value: 'c', partition: 0 }] }))
    const second = track('second flush', producer.flush())
    await clock.advance(0)
    assert.deepEqual(events, ['b'])
    assert.equal(held.length, 1, "a's request; c waits for a's acknowledgement (idempotence)")
    await release()
    assert.ok(a.done && first.done && !c.done && !second.done)
    await release()
    assert.ok(c.done && second.done)
    assert.deepEqual(events, ['b', 'a', 'first flush', 'c', 'second flush'])
    assert.ok(b.value && a.value && c.value)
  })

  it('counts a failed send as settled', async () => {
    const { clock, cluster } = setup()
    cluster.batchFault = () => ({ errorCode: ErrorCode.CORRUPT_MESSAGE.code })
    const producer = cluster.producer({ 'linger.ms': 0, retries: 0 })
    const sent = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
    const flushed = outcome(producer.flush())
    await clock.advance(0)
    assert.ok(sent.error instanceof ProduceError)
    assert.ok(flushed.done)
  })
})

describe('send', () => {
  it('reads its request before returning: the caller may reuse the request and its messages', async () => {
    const { clock, cluster } = setup()
    const producer = cluster.producer({ 'linger.ms': 5 })
    const message: { value: string; partition?: number } = { value: 'a' }
    const request = { topic: 't', messages: [message] }
    const first = outcome(producer.send(request))
    message.value = 'b'
    const second = outcome(producer.send(request))
    message.partition = 7
    request.topic = 'elsewhere'
    request.messages.length = 0
    await clock.advance(5)
    assert.deepEqual(values(cluster), ['a', 'b'])
    assert.deepEqual([first.value?.[0]?.offset, second.value?.[0]?.offset], [0, 1])
  })

  it('resolves with each record where it landed, in message order, whichever batch is answered first', async () => {
    const { clock, cluster, producer, held, release } = holdingNode1(2)
    const sent = outcome(
      producer.send({
        topic: 't',
        messages: [
          { value: 'x', partition: 0 },
          { value: 'y', partition: 1 },
          { value: 'z', partition: 0 },
        ],
      }),
    )
    await clock.advance(0)
    assert.deepEqual(values(cluster, 1), ['y'], 'the batch of partition 1 is answered')
    assert.ok(!sent.done && held.length === 1)
    await release()
    assert.deepEqual(
      sent.value?.map((m) => [m.partition, m.offset]),
      [
        [0, 0],
        [1, 0],
        [0, 1],
      ],
    )
  })
})

describe('the fake cluster without recording (benchmarks)', () => {
  it('keeps no calls nor records, and still assigns offsets and checks sequences', async () => {
    const { clock, cluster } = setup()
    cluster.recording = false
    const producer = cluster.producer({ 'linger.ms': 0 })
    const first = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }, { value: 'b' }] }))
    await clock.advance(0)
    const second = outcome(producer.send({ topic: 't', messages: [{ value: 'c' }] }))
    await clock.advance(0)
    assert.deepEqual(
      [...first.value!, ...second.value!].map((m) => m.offset),
      [0, 1, 2],
    )
    assert.deepEqual([cluster.calls.length, values(cluster).length], [0, 0])
    cluster.forgetProducers()
    const third = outcome(producer.send({ topic: 't', messages: [{ value: 'd' }] }))
    await clock.advance(0)
    assert.ok(third.error instanceof ProduceError, 'a sequence past 0 from an unknown producer is refused')
  })
})

describe('close', () => {
  it('flushes, then refuses sends', async () => {
    const { clock, cluster } = setup()
    const producer = cluster.producer({ 'linger.ms': 10_000 })
    const sent = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
    const closed = outcome(producer.close())
    await clock.advance(0)
    assert.ok(sent.value && closed.done)
    await assert.rejects(producer.send({ topic: 't', messages: [{ value: 'b' }] }), ProducerClosedError)
    assert.equal(clock.pendingTimers, 0)
  })

  it('close({ timeoutMs }) fails what is still unacknowledged', async () => {
    const { clock, cluster } = setup()
    cluster.answering = false
    const producer = cluster.producer({ 'linger.ms': 0 })
    const sent = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
    const closed = outcome(producer.close({ timeoutMs: 100 }))
    await clock.advance(100)
    assert.ok(closed.done)
    assert.ok(sent.error instanceof ProducerClosedError)
  })

  it('a closed producer stops trying to bump its epoch: nothing keeps the process alive', async () => {
    const { clock, cluster } = setup()
    const producer = cluster.producer({ 'linger.ms': 0 })
    const a = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
    await clock.advance(1)
    assert.ok(a.value, String(a.error))
    // A batch fails for good, so the epoch is to be bumped; the coordinator does not answer.
    cluster.batchFault = () => ({ errorCode: ErrorCode.MESSAGE_TOO_LARGE.code })
    const bumps: unknown[] = []
    cluster.io.initProducerId = async (current) => {
      bumps.push(current)
      await new Promise<void>((resolve) => clock.setTimer(50, () => resolve()))
      throw new Error('coordinator not available')
    }
    const b = outcome(producer.send({ topic: 't', messages: [{ value: 'b' }] }))
    await clock.advance(1)
    assert.equal(b.error?.name, 'ProduceError')
    assert.equal(bumps.length, 1, 'the bump is under way')
    const closed = outcome(producer.close()) // while the bump is in flight
    await clock.advance(1)
    assert.ok(closed.done)
    const tried = bumps.length
    await clock.advance(10_000)
    assert.equal(bumps.length, tried, 'no bump after close')
    assert.equal(clock.pendingTimers, 0)
  })
})

describe('producer id', () => {
  it('connect() gets the producer id up front', async () => {
    const { clock, cluster } = setup()
    const producer = cluster.producer()
    assert.equal(producer.producerId, null)
    const connected = outcome(producer.connect())
    await clock.advance(0)
    assert.ok(connected.done && connected.error === undefined)
    assert.deepEqual(producer.producerId, { producerId: 1000n, producerEpoch: 0 })
    assert.deepEqual(cluster.initCalls, [null])
  })

  it('a failing initProducerId is retried with backoff; sends wait, then go', async () => {
    const { clock, cluster } = setup()
    const init = cluster.io.initProducerId!
    let failures = 3
    const attempts: number[] = []
    cluster.io.initProducerId = (current) => {
      attempts.push(clock.now())
      return failures-- > 0 ? Promise.reject(new Error('coordinator not available')) : init(current)
    }
    const producer = cluster.producer({ 'linger.ms': 0 })
    const sent = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
    await clock.runUntil(() => sent.done, 5_000)
    assert.ok(sent.value, String(sent.error))
    assert.equal(attempts.length, 4)
    const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!)
    assert.ok(gaps[0]! >= 80 && gaps[2]! >= 320, `gaps ${gaps.join(',')}`)
  })

  it('sends expire with the init error as the last error when no producer id comes', async () => {
    const { clock, cluster } = setup()
    cluster.io.initProducerId = () => Promise.reject(new Error('coordinator not available'))
    const producer = cluster.producer({
      'linger.ms': 0,
      'delivery.timeout.ms': 2_000,
      'request.timeout.ms': 1_000,
    })
    const sent = outcome(producer.send({ topic: 't', messages: [{ value: 'a' }] }))
    await clock.advance(2_000)
    assert.ok(sent.error instanceof DeliveryTimeoutError)
    assert.match(sent.error.message, /last error: initProducerId failed: coordinator not available$/)
    assert.equal(cluster.calls.length, 0)
    await assert.rejects(
      producer.connect(),
      /^CairnError: Could not get a producer id: coordinator not available$/,
    )
  })
})
