import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { murmur2, partitionForKey, toPositive } from '@cairn/protocol'
import fc from 'fast-check'
import {
  DefaultPartitioner,
  type Partitioner,
  type PartitionerInput,
  RoundRobinPartitioner,
  seededRandom,
  VirtualClock,
} from '../src/index.js'
import { FakeCluster, fcOptions, seed, text } from './helpers.js'

const input = (
  key: Uint8Array | null,
  partitionCount: number,
  extra: Partial<PartitionerInput> = {},
): PartitionerInput => ({
  topic: 't',
  key,
  value: null,
  partitionCount,
  ...extra,
})

describe('default partitioner: keyed records, byte for byte Kafka', () => {
  // Kafka's UtilsTest.testMurmur2 and DefaultPartitionerTest vectors.
  const vectors: [string, number][] = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
  ]
  for (const [key, hash] of vectors) {
    it(`"${key}" hashes to ${hash} and maps to toPositive(hash) % n for 1..12 partitions`, () => {
      assert.equal(murmur2(text(key)), hash)
      const partitioner = new DefaultPartitioner({ random: seededRandom(seed) })
      for (let n = 1; n <= 12; n++) {
        const expected = (hash & 0x7fffffff) % n
        assert.equal(toPositive(hash) % n, expected)
        assert.equal(partitioner.partition(input(text(key), n)), expected, `${key} with ${n} partitions`)
      }
    })
  }

  it('ignores availability and stickiness for keyed records (a key never moves)', () => {
    const partitioner = new DefaultPartitioner({ random: seededRandom(seed) })
    const key = text('foobar')
    const expected = partitionForKey(key, 12)
    partitioner.onNewBatch('t', expected)
    assert.equal(
      partitioner.partition(input(key, 12, { availablePartitions: [(expected + 1) % 12] })),
      expected,
    )
  })

  it('agrees with partitionForKey for any key and partition count', () => {
    const partitioner = new DefaultPartitioner({ random: seededRandom(seed) })
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), fc.integer({ min: 1, max: 10_000 }), (key, n) => {
        assert.equal(partitioner.partition(input(key, n)), partitionForKey(key, n))
      }),
      fcOptions(2_000),
    )
  })

  it('partitioner.ignore.keys makes keyed records sticky too', () => {
    const partitioner = new DefaultPartitioner({ random: seededRandom(seed), ignoreKeys: true })
    const chosen = new Set(['a', 'b', 'c', 'd'].map((k) => partitioner.partition(input(text(k), 100))))
    assert.equal(chosen.size, 1)
  })
})

describe('default partitioner: keyless records are uniform sticky', () => {
  it('sticks to one partition until onNewBatch, then moves to a different one', () => {
    const partitioner = new DefaultPartitioner({ random: seededRandom(seed) })
    const first = partitioner.partition(input(null, 6))
    for (let i = 0; i < 50; i++) assert.equal(partitioner.partition(input(null, 6)), first)
    let previous = first
    for (let batch = 0; batch < 200; batch++) {
      partitioner.onNewBatch('t', previous)
      const next = partitioner.partition(input(null, 6))
      assert.notEqual(next, previous, `batch ${batch}: stayed on ${previous}`)
      assert.equal(partitioner.partition(input(null, 6)), next)
      previous = next
    }
  })

  it('keeps one sticky partition per topic', () => {
    const partitioner = new DefaultPartitioner({ random: seededRandom(seed) })
    const a = partitioner.partition({ ...input(null, 50), topic: 'a' })
    const b = partitioner.partition({ ...input(null, 50), topic: 'b' })
    partitioner.onNewBatch('b', b)
    assert.equal(partitioner.partition({ ...input(null, 50), topic: 'a' }), a)
    assert.notEqual(partitioner.partition({ ...input(null, 50), topic: 'b' }), b)
  })

  it('ignores an onNewBatch for a partition it is no longer sticky to', () => {
    const partitioner = new DefaultPartitioner({ random: seededRandom(seed) })
    const p = partitioner.partition(input(null, 8))
    partitioner.onNewBatch('t', (p + 1) % 8)
    assert.equal(partitioner.partition(input(null, 8)), p)
  })

  it('spreads batches uniformly over many batches (chi-squared, seeded)', () => {
    const partitioner = new DefaultPartitioner({ random: seededRandom(seed) })
    const n = 10
    const batches = 20_000
    const counts = new Array<number>(n).fill(0)
    for (let i = 0; i < batches; i++) {
      const p = partitioner.partition(input(null, n))
      counts[p]!++
      partitioner.onNewBatch('t', p)
    }
    const expected = batches / n
    const chi2 = counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0)
    // 9 degrees of freedom: P(chi2 > 33.7) < 0.0001 for a uniform choice.
    assert.ok(chi2 < 33.7, `chi2 ${chi2.toFixed(1)} for counts ${counts.join(',')}`)
  })

  it('prefers available partitions, and leaves one that becomes unavailable', () => {
    const partitioner = new DefaultPartitioner({ random: seededRandom(seed) })
    const available = [1, 4, 7]
    for (let i = 0; i < 300; i++) {
      const p = partitioner.partition(input(null, 9, { availablePartitions: available }))
      assert.ok(available.includes(p), `chose unavailable ${p}`)
      partitioner.onNewBatch('t', p)
    }
    const p = partitioner.partition(input(null, 9, { availablePartitions: available }))
    const rest = available.filter((a) => a !== p)
    assert.ok(rest.includes(partitioner.partition(input(null, 9, { availablePartitions: rest }))))
    // No partition available: any partition.
    const q = partitioner.partition(input(null, 9, { availablePartitions: [] }))
    assert.ok(q >= 0 && q < 9)
  })

  it('uses the only partition of a one-partition topic after every batch', () => {
    const partitioner = new DefaultPartitioner({ random: seededRandom(seed) })
    for (let i = 0; i < 10; i++) {
      assert.equal(partitioner.partition(input(null, 1)), 0)
      partitioner.onNewBatch('t', 0)
    }
  })
})

describe('round-robin partitioner', () => {
  it('cycles through all partitions, keyed or not, per topic', () => {
    const partitioner = new RoundRobinPartitioner()
    const got = Array.from({ length: 8 }, (_, i) => partitioner.partition(input(i % 2 ? text('k') : null, 3)))
    assert.deepEqual(got, [0, 1, 2, 0, 1, 2, 0, 1])
    assert.equal(partitioner.partition({ ...input(null, 3), topic: 'other' }), 0)
  })

  it('cycles through the available partitions when some are', () => {
    const partitioner = new RoundRobinPartitioner()
    const got = Array.from({ length: 6 }, () =>
      partitioner.partition(input(null, 6, { availablePartitions: [2, 5] })),
    )
    assert.deepEqual(got, [2, 5, 2, 5, 2, 5])
  })
})

/**
 * Kafka's documentation of `partitioner.class` suggests a custom partitioner for skewed keys. Here:
 * VIP customers (keys "vip:…") get 8 of 10 partitions to themselves, everyone else shares 2.
 */
class VipPartitioner implements Partitioner {
  partition({ key, partitionCount }: PartitionerInput): number {
    if (partitionCount !== 10) throw new Error('VipPartitioner expects 10 partitions')
    if (key === null) return 8
    const hash = toPositive(murmur2(key))
    const vip = key.length >= 4 && key[0] === 0x76 && key[1] === 0x69 && key[2] === 0x70 && key[3] === 0x3a
    return vip ? hash % 8 : 8 + (hash % 2)
  }
}

describe('a custom partitioner through the producer (partitioner.class)', () => {
  it('VIP keys go to partitions 0..7, all others to 8..9, over thousands of records', async () => {
    const clock = new VirtualClock()
    const cluster = new FakeCluster(clock)
    cluster.createTopic('orders', 10)
    const producer = cluster.producer({ 'partitioner.class': VipPartitioner, 'linger.ms': 2 })
    const random = seededRandom(seed)
    const sent: { key: string; partition: number }[] = []
    const sends: Promise<unknown>[] = []
    for (let round = 0; round < 20; round++) {
      const messages = Array.from({ length: 250 }, (_, i) => {
        const vip = random() < 0.3
        const key = `${vip ? 'vip' : 'std'}:${Math.floor(random() * 1e6)}`
        return { key, value: `order ${round}/${i}` }
      })
      sends.push(
        producer.send({ topic: 'orders', messages }).then((metadata) => {
          for (const [i, m] of metadata.entries())
            sent.push({ key: messages[i]!.key, partition: m.partition })
        }),
      )
      await clock.advance(1)
    }
    await clock.runUntil(() => sent.length === 5_000, 10_000)
    await Promise.all(sends)
    assert.equal(sent.length, 5_000)
    const perPartition = new Array<number>(10).fill(0)
    for (const { key, partition } of sent) {
      perPartition[partition]!++
      if (key.startsWith('vip:')) assert.ok(partition < 8, `${key} went to ${partition}`)
      else assert.ok(partition >= 8, `${key} went to ${partition}`)
    }
    assert.ok(
      perPartition.every((c) => c > 0),
      `every partition gets records: ${perPartition.join(',')}`,
    )
    // What the broker stored agrees with what the producer reported.
    for (let p = 0; p < 10; p++) {
      for (const r of cluster.log('orders', p)) assert.equal(r.key!.startsWith('vip:'), p < 8)
    }
    assert.equal(
      Array.from({ length: 10 }, (_, p) => cluster.log('orders', p).length).reduce((a, b) => a + b),
      5_000,
    )
  })

  it('an explicit partition wins over the partitioner', async () => {
    const clock = new VirtualClock()
    const cluster = new FakeCluster(clock)
    cluster.createTopic('orders', 10)
    const producer = cluster.producer({ 'partitioner.class': new VipPartitioner() })
    const result = producer.send({ topic: 'orders', messages: [{ key: 'vip:1', value: 'x', partition: 9 }] })
    await clock.advance(10)
    assert.equal((await result)[0]!.partition, 9)
  })

  it('a partitioner that answers out of range fails the send with a clear error', async () => {
    const clock = new VirtualClock()
    const cluster = new FakeCluster(clock)
    cluster.createTopic('orders', 3)
    const producer = cluster.producer({ 'partitioner.class': { partition: () => 3 } })
    const rejected = assert.rejects(
      producer.send({ topic: 'orders', messages: [{ value: 'x' }] }),
      /chose partition 3 for topic orders, which has 3 partitions/,
    )
    await clock.advance(1)
    await rejected
  })
})
