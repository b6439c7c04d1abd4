/**
 * The partition data path over three replicas (LevelDB stores, the in-memory network): offsets
 * assigned by the leader, the high watermark, fetches by offset, Kafka's errors for bad input,
 * min.insync.replicas, and contiguous offsets across a leader failover.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { decodeRecords, encodeRecordBatch, readBatchHeader } from '@cairn/protocol'
import type { NodeId } from '@cairn/raft'
import { LevelLogStore } from '@cairn/storage'
import { InMemoryNetwork } from '@cairn/transport'
import { type HostError, NotLeaderError, Partition, type PartitionConfig, RaftHost } from '../src/index.js'
import { waitFor } from './helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'cairn-partition-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const ids: NodeId[] = [1, 2, 3]
let clusterCount = 0

function batch(values: string[], producer?: { producerId: bigint; baseSequence: number }): Uint8Array {
  return encodeRecordBatch({
    ...(producer && {
      producerId: producer.producerId,
      producerEpoch: 0,
      baseSequence: producer.baseSequence,
    }),
    records: values.map((v, k) => ({
      key: null,
      value: new TextEncoder().encode(v),
      timestamp: 1_700_000_000_000 + k,
    })),
  })
}

function valuesOf(batches: Uint8Array[]): { offset: number; value: string }[] {
  return batches.flatMap((b) => {
    const d = decodeRecords(b)
    assert.ok(d.ok, d.ok ? '' : d.reason)
    return d.value.records.map((r) => ({ offset: r.offset, value: new TextDecoder().decode(r.value!) }))
  })
}

async function cluster(config?: Partial<PartitionConfig>, replicaLagTimeMs = 30_000) {
  const network = new InMemoryNetwork({ auto: true })
  const base = join(dir, `cluster-${++clusterCount}`)
  const nodes = await Promise.all(
    ids.map(async (id) => {
      const store = await LevelLogStore.open(join(base, `node-${id}`))
      let seed = id * 7907
      const host = new RaftHost({
        nodeId: id,
        store,
        transport: network.join(id),
        tickMs: 20,
        raft: { replicaLagTimeMs },
        random: () => {
          seed = (seed * 16807) % 2147483647
          return seed / 2147483647
        },
      })
      const partition = await Partition.open(
        host,
        5,
        { voters: ids, learners: [] },
        {
          maxMessageBytes: 1_048_588,
          minInsyncReplicas: 1,
          ...config,
        },
      )
      host.onCommitted((g, entries) => {
        if (g === 5) partition.applyCommitted(entries)
      })
      return { id, store, host, partition }
    }),
  )
  const leader = () => nodes.find((n) => n.host.status(5)?.role === 'leader')
  await waitFor('a leader', () => leader() !== undefined)
  const close = async () => {
    for (const n of nodes) {
      await n.host.close()
      await n.store.close()
    }
    network.close()
  }
  return { network, nodes, leader, close }
}

describe('Partition', () => {
  it('assigns offsets, serves fetches up to the high watermark, and answers Kafka errors', async () => {
    const c = await cluster()
    try {
      const p = c.leader()!.partition
      const a = await p.produce(batch(['a0', 'a1', 'a2']), -1)
      const b = await p.produce(batch(['b0']), 1)
      const z = await p.produce(batch(['c0', 'c1']), 0)
      assert.deepEqual([a.baseOffset, a.lastOffset, b.baseOffset, z.baseOffset], [0, 2, 3, 4])
      await waitFor('the high watermark to pass every batch', () => p.highWatermark === 6)
      const all = await p.fetch(0, 1 << 20)
      assert.deepEqual(
        valuesOf(all.batches).map((r) => `${r.offset}:${r.value}`),
        ['0:a0', '1:a1', '2:a2', '3:b0', '4:c0', '5:c1'],
      )
      const mid = await p.fetch(1, 1)
      assert.deepEqual(
        valuesOf(mid.batches)[0],
        { offset: 0, value: 'a0' },
        'the batch holding offset 1, whole',
      )
      assert.equal(mid.batches.length, 1, 'at least one whole batch, even past maxBytes')
      assert.deepEqual((await p.fetch(6, 1 << 20)).batches, [], 'at the high watermark: nothing yet')
      await assert.rejects(p.fetch(7, 100), (e: HostError) => e.code === 'OFFSET_OUT_OF_RANGE')

      const corrupt = batch(['x'])
      corrupt[corrupt.length - 1]! ^= 0xff
      await assert.rejects(p.produce(corrupt, -1), (e: HostError) => e.code === 'CORRUPT_MESSAGE')
      await assert.rejects(
        p.produce(batch(['y']), 2 as never),
        (e: HostError) => e.code === 'INVALID_REQUIRED_ACKS',
      )
      p.configure({ maxMessageBytes: 100, minInsyncReplicas: 1 })
      await assert.rejects(
        p.produce(batch(['z'.repeat(200)]), -1),
        (e: HostError) => e.code === 'MESSAGE_TOO_LARGE',
      )
      const follower = c.nodes.find((n) => n.partition !== p)!.partition
      await assert.rejects(follower.produce(batch(['f']), -1), NotLeaderError)
      // every replica applied the same committed batches
      for (const n of c.nodes) await waitFor(`node ${n.id} to apply`, () => n.partition.highWatermark === 6)
    } finally {
      await c.close()
    }
  })

  it("stamps a small batch's offsets into a copy: a view into a larger request is neither written nor kept", async () => {
    const c = await cluster()
    try {
      const p = c.leader()!.partition
      await p.produce(batch(['first']), -1)
      const bytes = batch(['second'])
      const request = Buffer.alloc(4 * bytes.length)
      request.set(bytes, 10)
      const view = request.subarray(10, 10 + bytes.length) // as the request decoder hands it out
      const r = await p.produce(view, -1)
      assert.equal(r.baseOffset, 1)
      assert.deepEqual([...view], [...bytes], "the producer's bytes untouched (its base offset stays 0)")
      request.fill(0)
      await waitFor('the high watermark', () => p.highWatermark === 2)
      const all = await p.fetch(0, 1 << 20)
      assert.ok(all.batches.every((b) => b.buffer !== request.buffer))
      assert.deepEqual(
        valuesOf(all.batches).map((v) => `${v.offset}:${v.value}`),
        ['0:first', '1:second'],
      )
    } finally {
      await c.close()
    }
  })

  it('stamps a batch that is most of its request in place, and keeps it without a copy', async () => {
    const c = await cluster()
    try {
      const p = c.leader()!.partition
      await p.produce(batch(['first']), -1)
      const second = 'x'.repeat(8000) // more than the tail cache copies (CACHED_VIEW_COPY_BYTES_MAX)
      const bytes = batch([second])
      const request = Buffer.alloc(bytes.length + 20)
      request.set(bytes, 10)
      const view = request.subarray(10, 10 + bytes.length)
      const r = await p.produce(view, -1)
      assert.equal(r.baseOffset, 1)
      const header = readBatchHeader(view)
      assert.ok(header.ok && header.value.baseOffset === 1, 'stamped where it is')
      await waitFor('the high watermark', () => p.highWatermark === 2)
      const all = await p.fetch(0, 1 << 20)
      assert.ok(
        all.batches.some((b) => b.buffer === request.buffer),
        'the request buffer is the entry',
      )
      assert.deepEqual(
        valuesOf(all.batches).map((v) => `${v.offset}:${v.value.length}`),
        ['0:5', '1:8000'],
      )
    } finally {
      await c.close()
    }
  })

  it('finds the first offset at or after a timestamp (ListOffsets by time)', async () => {
    const c = await cluster()
    try {
      const p = c.leader()!.partition
      const at = (ts: number[]) =>
        encodeRecordBatch({
          records: ts.map((timestamp, k) => ({
            key: null,
            value: new TextEncoder().encode(`v${k}`),
            timestamp,
          })),
        })
      await p.produce(at([1000, 1100]), -1)
      await p.produce(at([2000, 2500, 3000]), -1)
      await waitFor('the high watermark', () => p.highWatermark === 5)
      assert.equal(await p.offsetForTimestamp(0), 0)
      assert.equal(await p.offsetForTimestamp(1050), 1)
      assert.equal(await p.offsetForTimestamp(1500), 2)
      assert.equal(await p.offsetForTimestamp(2600), 4)
      assert.equal(await p.offsetForTimestamp(9999), 5, 'past every record: the high watermark')
    } finally {
      await c.close()
    }
  })

  it('keeps offsets contiguous across a leader failover', async () => {
    const c = await cluster()
    try {
      const first = c.leader()!
      await first.partition.produce(batch(['0', '1']), -1)
      for (const other of ids) if (other !== first.id) c.network.cut(first.id, other)
      await waitFor('a new leader', () =>
        c.nodes.some((n) => n !== first && n.host.status(5)?.role === 'leader'),
      )
      const second = c.nodes.find((n) => n !== first && n.host.status(5)?.role === 'leader')!
      const r = await second.partition.produce(batch(['2']), -1)
      assert.equal(r.baseOffset, 2, 'the new leader continues after the last batch in its log')
      c.network.healAll()
      await waitFor('every replica at the high watermark', () =>
        c.nodes.every((n) => n.partition.highWatermark === 3),
      )
    } finally {
      await c.close()
    }
  })

  it('answers a retried idempotent batch with its original offsets, also on a new leader', async () => {
    const c = await cluster()
    try {
      const first = c.leader()!
      const producer = { producerId: 9n, baseSequence: 0 }
      const a = await first.partition.produce(batch(['a', 'b'], producer), -1)
      const again = await first.partition.produce(batch(['a', 'b'], producer), -1)
      assert.deepEqual(
        [again.baseOffset, again.lastOffset],
        [a.baseOffset, a.lastOffset],
        'the retry is not appended',
      )
      await assert.rejects(
        first.partition.produce(batch(['gap'], { producerId: 9n, baseSequence: 5 }), -1),
        (e: HostError) => e.code === 'OUT_OF_ORDER_SEQUENCE_NUMBER',
      )
      const b = await first.partition.produce(batch(['c'], { producerId: 9n, baseSequence: 2 }), -1)
      assert.equal(b.baseOffset, 2)
      for (const other of ids) if (other !== first.id) c.network.cut(first.id, other)
      await waitFor('a new leader', () =>
        c.nodes.some((n) => n !== first && n.host.status(5)?.role === 'leader'),
      )
      const second = c.nodes.find((n) => n !== first && n.host.status(5)?.role === 'leader')!
      const retried = await second.partition.produce(batch(['c'], { producerId: 9n, baseSequence: 2 }), -1)
      assert.equal(retried.baseOffset, 2, 'the new leader rebuilt the producer state from its log')
      const next = await second.partition.produce(batch(['d'], { producerId: 9n, baseSequence: 3 }), -1)
      assert.equal(next.baseOffset, 3)
      c.network.healAll()
      await waitFor('every replica at the high watermark', () =>
        c.nodes.every((n) => n.partition.highWatermark === 4),
      )
    } finally {
      await c.close()
    }
  })

  it('refuses acks=all with NOT_ENOUGH_REPLICAS when the ISR is below min.insync.replicas, and appends nothing', async () => {
    const c = await cluster({ minInsyncReplicas: 3 }, 200)
    try {
      const leader = c.leader()!
      await waitFor('a full ISR', () => leader.host.status(5)?.isr.length === 3)
      await leader.partition.produce(batch(['ok']), -1)
      const cutOff = ids.find((id) => id !== leader.id)!
      c.network.isolate(cutOff)
      await waitFor('the ISR to shrink', () => (leader.host.status(5)?.isr.length ?? 0) < 3)
      const before = leader.host.status(5)!.lastIndex
      await assert.rejects(
        leader.partition.produce(batch(['no']), -1),
        (e: HostError) => e.code === 'NOT_ENOUGH_REPLICAS',
      )
      assert.equal(leader.host.status(5)!.lastIndex, before, 'nothing appended')
      const acks1 = await leader.partition.produce(batch(['one']), 1)
      assert.equal(acks1.baseOffset, 1, 'acks=1 does not need the ISR')
      c.network.healAll()
      await waitFor('the ISR to grow back', () => leader.host.status(5)?.isr.length === 3)
    } finally {
      await c.close()
    }
  })
})
