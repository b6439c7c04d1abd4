import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { decodeRecords, recordBatchHeaderBytes } from '@cairn/protocol'
import fc from 'fast-check'
import {
  type AccumulatorConfig,
  BATCH_BUFFERS_FREE_MAX,
  BatchBuffers,
  incrementSequence,
  type PendingRecord,
  ProducerBatch,
  RecordAccumulator,
  type RecordOwner,
  recordFixedBytes,
  sequenceMax,
} from '../src/index.js'
import { fcOptions, text } from './helpers.js'

const owner: RecordOwner = { recordDone: () => {}, recordFailed: () => {} }

function record(value: string, timestamp = 1_000, key: string | null = null): PendingRecord {
  const k = key === null ? null : text(key)
  const v = text(value)
  return { key: k, value: v, headers: [], timestamp, fixedBytes: recordFixedBytes(k, v, []), owner, index: 0 }
}

function accumulator(config: Partial<AccumulatorConfig> = {}): RecordAccumulator {
  return new RecordAccumulator({
    batchSizeBytes: 16_384,
    lingerMs: 5,
    bufferMemoryBytes: 32 << 20,
    maxRequestSizeBytes: 1 << 20,
    maxInFlightRequestsPerConnection: 5,
    deliveryTimeoutMs: 120_000,
    idempotent: true,
    ...config,
  })
}

const leaderIsPartitionMod3 = {
  leaderFor: (_topic: string, partition: number) => (partition % 3) + 1,
  metadataGeneration: 0,
  sendAll: false,
}

describe('batching by size', () => {
  it('closes a batch when the next record would pass batch.size; sizes are exact encoded sizes', () => {
    const acc = accumulator({ batchSizeBytes: 1_000 })
    for (let i = 0; i < 100; i++) acc.append('t', 0, record(`value-${i}`.padEnd(50, '.')), 0, false)
    const pq = acc.partitionQueue('t', 0)
    assert.ok(pq.queue.length > 1)
    for (const batch of pq.queue) {
      assert.ok(batch.sizeBytes <= 1_000, `batch of ${batch.sizeBytes}`)
      const bytes = batch.encode(7n, 0)
      assert.equal(bytes.length, batch.sizeBytes)
      assert.ok(decodeRecords(bytes).ok)
    }
    // Every batch but the last is closed, and full: the next record did not fit.
    for (const batch of pq.queue.slice(0, -1)) assert.ok(batch.closed && batch.sizeBytes + 60 > 1_000)
    assert.equal(
      pq.queue.reduce((n, b) => n + b.recordCount, 0),
      100,
    )
  })

  it('a full batch is ready at once; a partial one only after linger.ms', () => {
    const acc = accumulator({ batchSizeBytes: 200, lingerMs: 5, idempotent: false })
    acc.append('t', 0, record('x'.repeat(100)), 0, false)
    acc.append('t', 1, record('small'), 0, false)
    acc.append('t', 0, record('x'.repeat(100)), 0, false) // does not fit: closes partition 0's first batch
    let requests = acc.drain(1, leaderIsPartitionMod3)
    assert.deepEqual(
      requests.flatMap((r) => r.batches.map((b) => [b.partition, b.recordCount])),
      [[0, 1]],
    )
    requests = acc.drain(4, leaderIsPartitionMod3)
    assert.equal(requests.length, 0, 'nothing is ready before linger.ms')
    requests = acc.drain(5, leaderIsPartitionMod3)
    assert.deepEqual(requests.flatMap((r) => r.batches.map((b) => b.partition)).sort(), [0, 1])
  })

  it('sendAll (flush) makes every batch ready', () => {
    const acc = accumulator({ lingerMs: 1_000 })
    acc.append('t', 0, record('a'), 0, false)
    assert.equal(acc.drain(0, leaderIsPartitionMod3).length, 0)
    assert.equal(acc.drain(0, { ...leaderIsPartitionMod3, sendAll: true }).length, 1)
  })

  it('a record larger than batch.size gets a batch of its own', () => {
    const acc = accumulator({ batchSizeBytes: 100 })
    acc.append('t', 0, record('a'), 0, false)
    acc.append('t', 0, record('b'.repeat(500)), 0, false)
    acc.append('t', 0, record('c'), 0, false)
    const sizes = acc.partitionQueue('t', 0).queue.map((b) => b.recordCount)
    assert.deepEqual(sizes, [1, 1, 1])
  })

  it('batch.size = 0: one record per batch', () => {
    const acc = accumulator({ batchSizeBytes: 0 })
    for (let i = 0; i < 5; i++) acc.append('t', 0, record('a'), 0, false)
    assert.deepEqual(
      acc.partitionQueue('t', 0).queue.map((b) => b.recordCount),
      [1, 1, 1, 1, 1],
    )
  })

  it('abortOnNewBatch appends nothing when a new batch would be needed', () => {
    const acc = accumulator({ batchSizeBytes: 200 })
    assert.equal(acc.append('t', 0, record('a'.repeat(30)), 0, true), 'new-batch-needed')
    assert.equal(acc.append('t', 0, record('a'.repeat(30)), 0, false), 'appended')
    assert.equal(acc.append('t', 0, record('a'.repeat(10)), 0, true), 'appended')
    assert.equal(acc.append('t', 0, record('a'.repeat(90)), 0, true), 'new-batch-needed')
    assert.equal(acc.bufferBytesUsed, acc.partitionQueue('t', 0).queue[0]!.sizeBytes)
  })

  it('property: any records, any batch.size: every batch encodes to exactly its counted size, within limits', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            key: fc.option(fc.string({ maxLength: 20 })),
            value: fc.string({ maxLength: 300 }),
            partition: fc.nat(2),
            timestampDelta: fc.integer({ min: -100_000, max: 100_000 }),
            headers: fc.array(fc.tuple(fc.string({ maxLength: 8 }), fc.option(fc.string({ maxLength: 8 }))), {
              maxLength: 3,
            }),
          }),
          { minLength: 1, maxLength: 80 },
        ),
        fc.integer({ min: 0, max: 3_000 }),
        (records, batchSizeBytes) => {
          const acc = accumulator({ batchSizeBytes })
          let expectedBytes = 0
          for (const r of records) {
            const key = r.key === null ? null : text(r.key)
            const value = text(r.value)
            const headers = r.headers.map(([k, v]) => ({ key: k, value: v === null ? null : text(v) }))
            const pending: PendingRecord = {
              key,
              value,
              headers,
              timestamp: 1_700_000_000_000 + r.timestampDelta,
              fixedBytes: recordFixedBytes(key, value, headers),
              owner,
              index: 0,
            }
            acc.append('t', r.partition, pending, 0, false)
          }
          for (const pq of acc.allPartitions()) {
            for (const batch of pq.queue) {
              const bytes = batch.encode(1n, 0)
              assert.equal(bytes.length, batch.sizeBytes)
              assert.ok(
                batch.recordCount === 1 ||
                  batch.sizeBytes <= Math.max(batchSizeBytes, recordBatchHeaderBytes),
              )
              expectedBytes += bytes.length
            }
          }
          assert.equal(acc.bufferBytesUsed, expectedBytes)
        },
      ),
      fcOptions(300),
    )
  })
})

describe('draining', () => {
  it('groups ready batches by leader, one batch per partition per request', () => {
    const acc = accumulator({ lingerMs: 0, batchSizeBytes: 100 })
    for (let p = 0; p < 6; p++)
      for (let i = 0; i < 3; i++) acc.append('t', p, record('y'.repeat(40)), 0, false)
    const requests = acc.drain(0, leaderIsPartitionMod3)
    assert.deepEqual(requests.map((r) => [r.nodeId, r.batches.map((b) => b.partition).sort()]).sort(), [
      [1, [0, 3]],
      [2, [1, 4]],
      [3, [2, 5]],
    ])
  })

  it("a node with one ready batch also takes its other partitions' lingering batches, as Kafka's drain does", () => {
    const acc = accumulator({ lingerMs: 5, idempotent: false })
    // Partitions 0 and 3 lead on node 1, 1 and 4 on node 2, 2 on node 3.
    acc.append('t', 0, record('first'), 0, false)
    for (const p of [1, 2, 3, 4]) acc.append('t', p, record('later'), 3, false)
    const requests = acc.drain(5, leaderIsPartitionMod3)
    assert.deepEqual(
      requests.map((r) => [r.nodeId, r.batches.map((b) => b.partition).sort()]),
      [[1, [0, 3]]],
      'only node 1 has a batch past linger.ms; nodes 2 and 3 keep lingering',
    )
    assert.equal(acc.drain(7, leaderIsPartitionMod3).length, 0)
    assert.deepEqual(
      acc
        .drain(8, leaderIsPartitionMod3)
        .map((r) => [r.nodeId, r.batches.map((b) => b.partition).sort()])
        .sort(),
      [
        [2, [1, 4]],
        [3, [2]],
      ],
    )
  })

  it('a batch in its retry backoff does not go with its node', () => {
    const acc = accumulator({ lingerMs: 0, idempotent: false })
    acc.append('t', 0, record('a'), 0, false)
    acc.append('t', 3, record('b'), 0, false)
    const [first] = acc.drain(0, leaderIsPartitionMod3)
    const retried = first!.batches.find((b) => b.partition === 3)!
    acc.requeue(retried, 100)
    acc.requestDone(1)
    acc.append('t', 0, record('c'), 10, false)
    const again = acc.drain(10, leaderIsPartitionMod3)
    assert.deepEqual(
      again.flatMap((r) => r.batches.map((b) => b.partition)),
      [0],
    )
    assert.deepEqual(
      acc.drain(100, leaderIsPartitionMod3).flatMap((r) => r.batches.map((b) => b.partition)),
      [3],
    )
  })

  it('keeps a request within max.request.size and a node within max.in.flight.requests.per.connection', () => {
    const acc = accumulator({
      lingerMs: 0,
      batchSizeBytes: 200,
      maxRequestSizeBytes: 450,
      maxInFlightRequestsPerConnection: 2,
      idempotent: false,
    })
    for (let p = 0; p < 4; p++)
      for (let i = 0; i < 3; i++) acc.append('t', p, record('z'.repeat(150)), 0, false)
    const oneNode = { ...leaderIsPartitionMod3, leaderFor: () => 1 }
    const first = acc.drain(0, oneNode)
    assert.equal(first.length, 1)
    assert.ok(first[0]!.batches.reduce((n, b) => n + b.sizeBytes, 0) <= 450)
    assert.equal(first[0]!.batches.length, 2)
    assert.equal(acc.drain(0, oneNode).length, 1)
    assert.equal(acc.drain(0, oneNode).length, 0, 'two requests in flight to node 1')
    acc.requestDone(1)
    assert.equal(acc.drain(0, oneNode).length, 1)
  })

  it("with idempotence, pipelines a partition only once the epoch's first batch is acknowledged", () => {
    const acc = accumulator({ lingerMs: 0, batchSizeBytes: 0 })
    for (let i = 0; i < 4; i++) acc.append('t', 0, record('a'), 0, false)
    const [first] = acc.drain(0, leaderIsPartitionMod3)
    assert.equal(acc.drain(0, leaderIsPartitionMod3).length, 0, 'one batch until the first is confirmed')
    acc.requestDone(1)
    acc.complete(first!.batches[0]!, 0)
    assert.equal(acc.drain(0, leaderIsPartitionMod3).length, 1)
    assert.equal(acc.drain(0, leaderIsPartitionMod3).length, 1, 'then several in flight')
  })

  it('skips partitions without a leader and reports their topics', () => {
    const acc = accumulator({ lingerMs: 0 })
    acc.append('t', 0, record('a'), 0, false)
    const requests = acc.drain(0, { ...leaderIsPartitionMod3, leaderFor: () => undefined })
    assert.equal(requests.length, 0)
    assert.deepEqual([...acc.leaderUnknownTopics], ['t'])
  })

  it('waits for metadata marked stale', () => {
    const acc = accumulator({ lingerMs: 0 })
    acc.append('t', 0, record('a'), 0, false)
    acc.partitionQueue('t', 0).staleUntilGeneration = 1
    assert.equal(acc.drain(0, leaderIsPartitionMod3).length, 0)
    assert.equal(acc.drain(0, { ...leaderIsPartitionMod3, metadataGeneration: 1 }).length, 1)
  })

  it('a requeued batch goes back before younger ones, and its partition sends one batch at a time until it is acknowledged', () => {
    const acc = accumulator({ lingerMs: 0, batchSizeBytes: 100, idempotent: false })
    for (let i = 0; i < 4; i++) acc.append('t', 0, record('w'.repeat(60)), 0, false)
    const [a, b] = [acc.drain(0, leaderIsPartitionMod3), acc.drain(0, leaderIsPartitionMod3)]
    const first = a[0]!.batches[0]!
    const second = b[0]!.batches[0]!
    acc.requestDone(1)
    acc.requestDone(1)
    acc.requeue(second, 0)
    acc.requeue(first, 10)
    const pq = acc.partitionQueue('t', 0)
    assert.deepEqual(
      pq.queue.map((x) => x.id),
      [first.id, second.id, first.id + 2, first.id + 3],
    )
    assert.equal(acc.drain(5, leaderIsPartitionMod3).length, 0, 'the head backs off until 10')
    const retry = acc.drain(10, leaderIsPartitionMod3)
    assert.deepEqual(
      retry[0]!.batches.map((x) => x.id),
      [first.id],
    )
    assert.equal(acc.drain(10, leaderIsPartitionMod3).length, 0, 'one in flight while retrying')
    acc.requestDone(1)
    acc.complete(first, 0)
    assert.deepEqual(
      acc.drain(10, leaderIsPartitionMod3)[0]!.batches.map((x) => x.id),
      [second.id],
    )
  })
})

describe('sequence numbers', () => {
  it('are assigned at batch creation, contiguous per partition', () => {
    const acc = accumulator({ batchSizeBytes: 120 })
    for (let i = 0; i < 20; i++) acc.append('t', i % 2, record(`r${i}`.padEnd(30)), 0, false)
    for (const p of [0, 1]) {
      let expected = 0
      for (const batch of acc.partitionQueue('t', p).queue) {
        assert.equal(batch.baseSequence, expected)
        if (batch.closed) expected += batch.recordCount
      }
    }
  })

  it('wrap from 2^31 - 1 to 0 as Kafka', () => {
    assert.equal(incrementSequence(sequenceMax, 1), 0)
    assert.equal(incrementSequence(sequenceMax - 2, 5), 2)
    assert.equal(incrementSequence(-1, 1), 0)
    const acc = accumulator({ batchSizeBytes: 0 })
    const pq = acc.partitionQueue('t', 0)
    pq.nextSequence = sequenceMax - 1
    for (let i = 0; i < 4; i++) acc.append('t', 0, record('a'), 0, false)
    assert.deepEqual(
      pq.queue.map((b) => b.baseSequence),
      [sequenceMax - 1, sequenceMax, 0, 1],
    )
  })

  it('without idempotence stay -1', () => {
    const acc = accumulator({ idempotent: false })
    acc.append('t', 0, record('a'), 0, false)
    assert.equal(acc.partitionQueue('t', 0).queue[0]!.baseSequence, -1)
  })

  it('an epoch bump re-stamps queued batches from 0 and gives back those possibly written', () => {
    const acc = accumulator({ batchSizeBytes: 0, lingerMs: 0 })
    for (let i = 0; i < 4; i++) acc.append('t', 0, record('a'), 0, false)
    const [sent] = acc.drain(0, leaderIsPartitionMod3)
    const batch = sent!.batches[0]!
    acc.requestDone(1)
    batch.maybeWritten = true
    acc.requeue(batch, 0)
    const unsafe = acc.resetSequences()
    assert.deepEqual(unsafe, [batch])
    assert.deepEqual(
      acc.partitionQueue('t', 0).queue.map((b) => b.baseSequence),
      [0, 1, 2],
    )
  })
})

describe('buffer accounting', () => {
  it('counts exact bytes, released on completion and failure', () => {
    const acc = accumulator({ lingerMs: 0, batchSizeBytes: 0, bufferMemoryBytes: 10_000 })
    acc.append('t', 0, record('a'), 0, false)
    acc.append('t', 0, record('b'), 0, false)
    const [x, y] = acc.partitionQueue('t', 0).queue
    assert.equal(acc.bufferBytesUsed, x!.sizeBytes + y!.sizeBytes)
    const [request] = acc.drain(0, leaderIsPartitionMod3)
    acc.complete(request!.batches[0]!, 0)
    assert.equal(acc.bufferBytesUsed, y!.sizeBytes)
    acc.fail(y!)
    assert.equal(acc.bufferBytesUsed, 0)
  })

  it('hasRoomFor reserves the worst case of a new batch', () => {
    const acc = accumulator({ bufferMemoryBytes: 200 })
    const r = record('x'.repeat(100))
    assert.ok(acc.hasRoomFor(r.fixedBytes))
    acc.append('t', 0, r, 0, false)
    assert.ok(!acc.hasRoomFor(r.fixedBytes))
  })
})

describe('batch buffers', () => {
  it('pools only batches of half to all of batch.size, and keeps at most what buffer.memory holds', () => {
    const pool = new BatchBuffers(1000, 3500)
    assert.equal(pool.take(499), undefined, 'less than half: a buffer of its own')
    assert.equal(pool.take(1001), undefined, 'larger than batch.size: a buffer of its own')
    const taken = [pool.take(500), pool.take(1000), pool.take(700), pool.take(800)]
    for (const buffer of taken) assert.equal(buffer?.length, 1000)
    for (const buffer of taken) pool.give(buffer!)
    assert.equal(pool.freeCount, 3, 'buffer.memory holds 3 buffers of batch.size')
    assert.equal(pool.take(600), taken[2], 'the last given back is used again')
    const many = new BatchBuffers(10, 1 << 20)
    const out = Array.from({ length: BATCH_BUFFERS_FREE_MAX + 5 }, () => many.take(10)!)
    for (const buffer of out) many.give(buffer)
    assert.equal(many.freeCount, BATCH_BUFFERS_FREE_MAX)
  })

  function fullBatch(pool: BatchBuffers): ProducerBatch {
    const batch = new ProducerBatch(1, 't', 0, 0)
    for (let i = 0; i < 10; i++) {
      const r = record(`value ${i}`)
      batch.append(r, batch.bytesFor(r))
    }
    assert.ok(batch.sizeBytes <= pool.bufferBytes && batch.sizeBytes * 2 >= pool.bufferBytes, 'a pooled size')
    return batch
  }

  it('a batch gives its buffer back only when acknowledged and no request still carries it', () => {
    const pool = new BatchBuffers(256, 1 << 20)
    const batch = fullBatch(pool)
    const bytes = batch.encode(7n, 0, pool)
    const decoded = decodeRecords(bytes)
    assert.ok(decoded.ok)
    assert.equal(decoded.value.records.length, 10)
    batch.sent()
    batch.answered()
    assert.equal(pool.freeCount, 0, 'answered but not acknowledged: a retry sends these bytes again')
    batch.sent()
    batch.finish()
    assert.equal(pool.freeCount, 0, 'acknowledged while a request still carries it')
    batch.answered()
    assert.equal(pool.freeCount, 1)
    assert.throws(() => batch.answered(), /answered more often than sent/)
  })

  it('a re-stamped batch gives its buffer back and is encoded again', () => {
    const pool = new BatchBuffers(256, 1 << 20)
    const batch = fullBatch(pool)
    batch.encode(7n, 0, pool)
    batch.sent()
    assert.throws(() => batch.forgetBytes(), /re-stamped while a request carries it/)
    batch.answered()
    batch.forgetBytes()
    assert.equal(batch.bytes, null)
    assert.equal(pool.freeCount, 1)
    const again = batch.encode(7n, 1, pool)
    assert.equal(pool.freeCount, 0, 'encoded into the buffer it gave back')
    assert.ok(decodeRecords(again).ok)
  })
})

describe('partition queues', () => {
  it('one queue per topic-partition, found again by topic and number; iteration keeps creation order', () => {
    const acc = accumulator()
    const a1 = acc.partitionQueue('a', 1)
    const b1 = acc.partitionQueue('b', 1)
    const a0 = acc.partitionQueue('a', 0)
    assert.notEqual(a1, b1)
    assert.notEqual(a0, a1)
    assert.equal(acc.partitionQueue('a', 0), a0)
    assert.equal(acc.partitionQueue('a', 1), a1)
    assert.equal(acc.partitionQueue('b', 1), b1)
    assert.deepEqual(
      [...acc.allPartitions()].map((pq) => `${pq.topic}-${pq.partition}`),
      ['a-1', 'b-1', 'a-0'],
    )
    acc.append('b', 1, record('x'), 0, false)
    assert.equal(b1.queue.length, 1)
    assert.equal(a1.queue.length, 0)
  })
})
