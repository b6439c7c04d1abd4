/**
 * Three nodes in one process (real LevelDB stores, real WebSocket transports and client API on
 * 127.0.0.1): topic admin through the controller, produce to leaders, fetch and list offsets,
 * Kafka's errors, and a client that sends garbage losing its connection while the node serves on.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  decodeRecords,
  EARLIEST_TIMESTAMP,
  encodeRecordBatch,
  encodeRequest,
  LATEST_TIMESTAMP,
  splitBatches,
} from '@cairn/protocol'
import fc from 'fast-check'
import WebSocket from 'ws'
import { CairnNode, type PeerAddress } from '../src/index.js'
import { Client, freePort, waitFor } from './helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'cairn-node-'))
const nodes: CairnNode[] = []
const ids = [1, 2, 3]
let peers: Map<number, PeerAddress>

const clients = new Map<number, Client>()
const client = (id: number) => clients.get(id)!

async function controller(): Promise<Client> {
  const id = await waitFor('a controller', () => nodes.find((n) => n.isController())?.nodeId)
  return client(id)
}

async function leaderOf(topic: string, partition: number): Promise<Client> {
  const id = await waitFor(`a leader for ${topic}-${partition}`, () => {
    const n = nodes.find((x) => {
      const p = x.partition(topic, partition)
      return p && x.host.status(p.group)?.role === 'leader'
    })
    return n?.nodeId
  })
  return client(id)
}

function batch(values: string[]): Uint8Array {
  return encodeRecordBatch({
    records: values.map((v) => ({ key: null, value: new TextEncoder().encode(v), timestamp: Date.now() })),
  })
}

before(async () => {
  peers = new Map()
  for (const id of ids)
    peers.set(id, { host: '127.0.0.1', port: await freePort(), raftPort: await freePort() })
  for (const id of ids) {
    nodes.push(
      await CairnNode.start({
        nodeId: id,
        dataDir: join(dir, `node-${id}`),
        peers,
        secret: 'node-test-secret-0123456789',
        tickMs: 20,
        retentionCheckIntervalMs: 100,
      }),
    )
  }
  for (const id of ids) clients.set(id, await Client.to(peers.get(id)!.port))
  await waitFor('every node registered', () =>
    nodes.every((n) => n.metadata.brokers.size === 3) ? true : undefined,
  )
})

after(async () => {
  for (const c of clients.values()) c.ws.terminate()
  for (const n of nodes) await n.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('a three-node cluster in one process', () => {
  it('creates topics through the controller with Kafka errors for bad ones', async () => {
    const c = await controller()
    const r = await c.request('createTopics', {
      topics: [
        { name: 'orders', partitions: 3, replicationFactor: 3, configs: { 'retention.ms': '60000' } },
        { name: 'bad name!', partitions: 1, replicationFactor: 1, configs: {} },
        { name: 'too-many-replicas', partitions: 1, replicationFactor: 4, configs: {} },
        { name: 'zero', partitions: 0, replicationFactor: 1, configs: {} },
        { name: 'bad-config', partitions: 1, replicationFactor: 1, configs: { 'retention.mss': '1' } },
      ],
      validateOnly: false,
    })
    assert.deepEqual(
      r.topics.map((t) => [t.name, t.error]),
      [
        ['orders', null],
        ['bad name!', 'INVALID_TOPIC_EXCEPTION'],
        ['too-many-replicas', 'INVALID_REPLICATION_FACTOR'],
        ['zero', 'INVALID_PARTITIONS'],
        ['bad-config', 'INVALID_CONFIG'],
      ],
    )
    const again = await c.request('createTopics', {
      topics: [{ name: 'orders', partitions: 1, replicationFactor: 1, configs: {} }],
      validateOnly: false,
    })
    assert.equal(again.topics[0]!.error, 'TOPIC_ALREADY_EXISTS')
    const notController = client(nodes.find((n) => !n.isController())!.nodeId)
    const refused = await notController.request('createTopics', {
      topics: [{ name: 'elsewhere', partitions: 1, replicationFactor: 1, configs: {} }],
      validateOnly: false,
    })
    assert.equal(refused.topics[0]!.error, 'NOT_CONTROLLER')
    const configs = await c.request('describeConfigs', { topics: ['orders', 'nope'] })
    assert.equal(configs.topics[0]!.configs['retention.ms'], '60000')
    assert.equal(configs.topics[0]!.configs['min.insync.replicas'], '1')
    assert.equal(configs.topics[1]!.error, 'UNKNOWN_TOPIC_OR_PARTITION')
  })

  it('produces to leaders and fetches back, with offsets, the high watermark and list offsets', async () => {
    for (let p = 0; p < 3; p++) {
      const leader = await leaderOf('orders', p)
      const r = await leader.request('produce', {
        acks: -1,
        timeoutMs: 5000,
        topics: [{ name: 'orders', partitions: [{ partition: p, records: batch([`p${p}-a`, `p${p}-b`]) }] }],
      })
      assert.deepEqual(r.topics[0]!.partitions[0]!, {
        partition: p,
        error: null,
        baseOffset: 0,
        logStartOffset: 0,
        leaderId: r.topics[0]!.partitions[0]!.leaderId,
      })
    }
    const leader = await leaderOf('orders', 1)
    const fetched = await leader.request('fetch', {
      maxWaitMs: 100,
      minBytes: 1,
      maxBytes: 1 << 20,
      topics: [
        { name: 'orders', partitions: [{ partition: 1, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] },
      ],
    })
    const part = fetched.topics[0]!.partitions[0]!
    assert.equal(part.error, null)
    assert.equal(part.highWatermark, 2)
    const split = splitBatches(part.records)
    assert.ok(split.ok)
    const values = split.value.batches.flatMap((b) => {
      const d = decodeRecords(part.records, b.offset)
      assert.ok(d.ok)
      return d.value.records.map((x) => `${x.offset}:${new TextDecoder().decode(x.value!)}`)
    })
    assert.deepEqual(values, ['0:p1-a', '1:p1-b'])
    const offsets = await leader.request('listOffsets', {
      topics: [
        {
          name: 'orders',
          partitions: [
            { partition: 1, timestamp: EARLIEST_TIMESTAMP },
            { partition: 1, timestamp: LATEST_TIMESTAMP },
          ],
        },
      ],
    })
    assert.deepEqual(
      offsets.topics[0]!.partitions.map((x) => x.offset),
      [0, 2],
    )
    const follower = client(
      nodes.find((n) => {
        const p = n.partition('orders', 1)
        return p && n.host.status(p.group)?.role !== 'leader'
      })!.nodeId,
    )
    const wrong = await follower.request('produce', {
      acks: -1,
      timeoutMs: 5000,
      topics: [{ name: 'orders', partitions: [{ partition: 1, records: batch(['x']) }] }],
    })
    assert.equal(wrong.topics[0]!.partitions[0]!.error, 'NOT_LEADER_OR_FOLLOWER')
    const acks2 = await leader
      .request('produce', {
        acks: 2,
        timeoutMs: 5000,
        topics: [{ name: 'orders', partitions: [{ partition: 1, records: batch(['x']) }] }],
      })
      .catch((e: { code?: string }) => e.code)
    assert.equal(acks2, 'INVALID_REQUIRED_ACKS')
    const unknown = await leader.request('produce', {
      acks: -1,
      timeoutMs: 5000,
      topics: [{ name: 'nope', partitions: [{ partition: 0, records: batch(['x']) }] }],
    })
    assert.equal(unknown.topics[0]!.partitions[0]!.error, 'UNKNOWN_TOPIC_OR_PARTITION')
    const out = await leader.request('fetch', {
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1000,
      topics: [{ name: 'orders', partitions: [{ partition: 1, fetchOffset: 99, partitionMaxBytes: 1000 }] }],
    })
    assert.equal(out.topics[0]!.partitions[0]!.error, 'OFFSET_OUT_OF_RANGE')
  })

  it("times every answer in /metrics by api, a fetch's long poll included", async () => {
    const leaderId = await waitFor('a leader for orders-2', () => {
      const n = nodes.find((x) => {
        const p = x.partition('orders', 2)
        return p && x.host.status(p.group)?.role === 'leader'
      })
      return n?.nodeId
    })
    const leader = client(leaderId)
    const latest = await leader.request('listOffsets', {
      topics: [{ name: 'orders', partitions: [{ partition: 2, timestamp: LATEST_TIMESTAMP }] }],
    })
    const end = latest.topics[0]!.partitions[0]!.offset
    const longPollMs = 300
    const startMs = performance.now()
    const waited = await leader.request('fetch', {
      maxWaitMs: longPollMs,
      minBytes: 1,
      maxBytes: 1000,
      topics: [{ name: 'orders', partitions: [{ partition: 2, fetchOffset: end, partitionMaxBytes: 1000 }] }],
    })
    assert.equal(waited.topics[0]!.partitions[0]!.records.byteLength, 0, 'nothing to read: it waited')
    assert.ok(performance.now() - startMs >= longPollMs - 20, 'the long poll ran its course')
    await leader.request('produce', {
      acks: -1,
      timeoutMs: 5000,
      topics: [{ name: 'orders', partitions: [{ partition: 2, records: batch(['timed']) }] }],
    })
    const port = peers.get(leaderId)!.port
    const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    const series = (name: string, labels: RegExp) =>
      text
        .split('\n')
        .filter((l) => l.startsWith(`${name}{`) && labels.test(l))
        .map((l) => Number(l.slice(l.lastIndexOf(' ') + 1)))
    const fetchCount = series('cairn_client_request_duration_seconds_count', /api="fetch"/)[0] ?? 0
    const fetchFast = series(
      'cairn_client_request_duration_seconds_bucket',
      /le="0.25".*api="fetch"|api="fetch".*le="0.25"/,
    )[0]
    assert.ok(fetchCount >= 1, text)
    assert.ok(
      fetchFast !== undefined && fetchFast < fetchCount,
      `the ${longPollMs} ms long poll is above 0.25 s:\n${text}`,
    )
    const produced = series('cairn_client_request_duration_seconds_count', /api="produce"/)[0] ?? 0
    assert.ok(produced >= 1, 'the produce is timed')
    const produceSum = series('cairn_client_request_duration_seconds_sum', /api="produce"/)[0] ?? 0
    assert.ok(produceSum > 0 && produceSum < produced * 5, `produce time: ${produceSum} s over ${produced}`)
  })

  it('adds partitions but never removes them, alters configs, deletes topics, hands out producer ids', async () => {
    const c = await controller()
    const grow = await c.request('createPartitions', { topics: [{ name: 'orders', count: 5 }] })
    assert.equal(grow.topics[0]!.error, null)
    const shrink = await c.request('createPartitions', { topics: [{ name: 'orders', count: 2 }] })
    assert.equal(shrink.topics[0]!.error, 'INVALID_PARTITIONS')
    await leaderOf('orders', 4)
    const altered = await c.request('alterConfigs', {
      topics: [{ name: 'orders', configs: { 'min.insync.replicas': '2' } }],
    })
    assert.equal(altered.topics[0]!.error, null)
    const ids1 = await c.request('initProducerId', {})
    const ids2 = await c.request('initProducerId', {})
    assert.equal(BigInt(ids2.producerId), BigInt(ids1.producerId) + 1n)
    const meta = await c.request('metadata', { topics: ['orders'] })
    assert.equal(meta.topics[0]!.partitions.length, 5)
    assert.equal(meta.brokers.length, 3)
    const groups = nodes[0]!.metadata.topics.get('orders')!.partitions.map((a) => a.group)
    const deleted = await c.request('deleteTopics', { topics: ['orders', 'nope'] })
    assert.deepEqual(
      deleted.topics.map((t) => t.error),
      [null, 'UNKNOWN_TOPIC_OR_PARTITION'],
    )
    await waitFor('every node to close the deleted partitions', () =>
      nodes.every((n) => groups.every((g) => !n.partitions.has(g))) ? true : undefined,
    )
  })

  it('deletes old batches by retention.bytes and retention.ms on every replica', async () => {
    const c = await controller()
    const created = await c.request('createTopics', {
      topics: [
        { name: 'small', partitions: 1, replicationFactor: 3, configs: { 'retention.bytes': '2000' } },
        { name: 'young', partitions: 1, replicationFactor: 3, configs: { 'retention.ms': '60000' } },
      ],
      validateOnly: false,
    })
    assert.deepEqual(
      created.topics.map((t) => t.error),
      [null, null],
    )
    const small = await leaderOf('small', 0)
    for (let k = 0; k < 30; k++) {
      const r = await small.request('produce', {
        acks: -1,
        timeoutMs: 5000,
        topics: [
          {
            name: 'small',
            partitions: [{ partition: 0, records: batch([`value-${k}-${'x'.repeat(150)}`]) }],
          },
        ],
      })
      assert.equal(r.topics[0]!.partitions[0]!.error, null)
    }
    await waitFor('every replica to delete the oldest batches', () =>
      nodes.every((n) => (n.partition('small', 0)?.logStartOffset ?? 0) >= 10) ? true : undefined,
    )
    const gone = await small.request('fetch', {
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1 << 20,
      topics: [{ name: 'small', partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] }],
    })
    assert.equal(gone.topics[0]!.partitions[0]!.error, 'OFFSET_OUT_OF_RANGE')
    const earliest = await small.request('listOffsets', {
      topics: [{ name: 'small', partitions: [{ partition: 0, timestamp: EARLIEST_TIMESTAMP }] }],
    })
    const start = earliest.topics[0]!.partitions[0]!.offset
    assert.ok(start >= 10 && start < 30, `log start ${start}`)
    const kept = await small.request('fetch', {
      maxWaitMs: 0,
      minBytes: 1,
      maxBytes: 1 << 20,
      topics: [
        { name: 'small', partitions: [{ partition: 0, fetchOffset: start, partitionMaxBytes: 1 << 20 }] },
      ],
    })
    assert.equal(kept.topics[0]!.partitions[0]!.error, null)
    assert.ok(kept.topics[0]!.partitions[0]!.records.byteLength > 0)

    const young = await leaderOf('young', 0)
    const old = encodeRecordBatch({
      records: [{ key: null, value: new TextEncoder().encode('old'), timestamp: Date.now() - 3_600_000 }],
    })
    for (const records of [old, batch(['new'])]) {
      await young.request('produce', {
        acks: -1,
        timeoutMs: 5000,
        topics: [{ name: 'young', partitions: [{ partition: 0, records }] }],
      })
    }
    await waitFor('the hour-old batch to go', () =>
      nodes.every((n) => n.partition('young', 0)?.logStartOffset === 1) ? true : undefined,
    )
  })

  it('survives 10,000 random and mutated requests, then serves a correct produce and fetch', async () => {
    const seed = Number(process.env.SEED ?? Date.now() % 1_000_000)
    const random = fc.sample(fc.integer({ min: 0, max: 2 ** 31 - 1 }), { seed, numRuns: 10_000 * 4 })
    let r = 0
    const next = (n: number) => random[r++ % random.length]! % n
    const c = await controller()
    await c.request('createTopics', {
      topics: [{ name: 'fuzzed', partitions: 1, replicationFactor: 3, configs: {} }],
      validateOnly: false,
    })
    const leader = await leaderOf('fuzzed', 0)
    const first = await leader.request('produce', {
      acks: -1,
      timeoutMs: 5000,
      topics: [{ name: 'fuzzed', partitions: [{ partition: 0, records: batch(['kept']) }] }],
    })
    assert.equal(first.topics[0]!.partitions[0]!.error, null, `seed ${seed}`)
    const port = peers.get(nodes.find((n) => client(n.nodeId) === leader)!.nodeId)!.port
    const valid = (): Uint8Array => {
      const id = next(1000)
      switch (next(5)) {
        case 0:
          return encodeRequest({ id, api: 'metadata', body: { topics: null } })
        case 1:
          return encodeRequest({
            id,
            api: 'produce',
            body: {
              acks: next(3) - 1,
              timeoutMs: 1000,
              topics: [{ name: 'fuzzed', partitions: [{ partition: next(2), records: batch([`f${id}`]) }] }],
            },
          })
        case 2:
          return encodeRequest({
            id,
            api: 'fetch',
            body: {
              maxWaitMs: 0,
              minBytes: 1,
              maxBytes: 1 << 16,
              topics: [
                {
                  name: 'fuzzed',
                  partitions: [{ partition: 0, fetchOffset: next(5), partitionMaxBytes: 1 << 16 }],
                },
              ],
            },
          })
        case 3:
          return encodeRequest({
            id,
            api: 'listOffsets',
            body: { topics: [{ name: 'fuzzed', partitions: [{ partition: 0, timestamp: next(3) - 2 }] }] },
          })
        default:
          return encodeRequest({ id, api: 'describeConfigs', body: { topics: ['fuzzed'] } })
      }
    }
    let ws = (await Client.to(port)).ws
    let reconnects = 0
    for (let k = 0; k < 10_000; k++) {
      if (ws.readyState !== WebSocket.OPEN) {
        ws.terminate()
        ws = (await Client.to(port)).ws
        reconnects++
      }
      let frame: Uint8Array
      if (next(10) === 0) frame = Uint8Array.from({ length: next(64) }, () => next(256))
      else {
        frame = valid()
        const mutations = next(4)
        for (let m = 0; m < mutations; m++) {
          const kind = next(3)
          if (kind === 0 && frame.length > 0) {
            const at = next(frame.length)
            frame[at] = frame[at]! ^ (1 << next(8))
          } else if (kind === 1) frame = frame.slice(0, next(frame.length + 1))
          else frame = Uint8Array.from([...frame, next(256)])
        }
      }
      ws.send(frame)
      if (k % 250 === 249) await new Promise((resolve) => setTimeout(resolve, 5))
    }
    ws.terminate()
    {
      const after = await leader.request('produce', {
        acks: -1,
        timeoutMs: 5000,
        topics: [{ name: 'fuzzed', partitions: [{ partition: 0, records: batch(['after']) }] }],
      })
      assert.equal(after.topics[0]!.partitions[0]!.error, null, `seed ${seed}`)
      const fetched = await leader.request('fetch', {
        maxWaitMs: 0,
        minBytes: 1,
        maxBytes: 1 << 24,
        topics: [
          { name: 'fuzzed', partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 24 }] },
        ],
      })
      const records = fetched.topics[0]!.partitions[0]!.records
      const split = splitBatches(records)
      assert.ok(split.ok)
      const values = split.value.batches.flatMap((b) => {
        const d = decodeRecords(records, b.offset)
        assert.ok(d.ok, `seed ${seed}: a stored batch does not decode`)
        return d.value.records.map((x) => new TextDecoder().decode(x.value!))
      })
      assert.equal(values[0], 'kept', `seed ${seed}: the record produced before the fuzz is gone`)
      // Fuzzed produces still in flight may land after it: 'after' need not be last.
      assert.ok(values.includes('after'), `seed ${seed}: the record produced after the fuzz is missing`)
    }
    assert.ok(reconnects > 10, `the garbage closed connections (${reconnects} reconnects)`)
  })

  it('closes the connection of a client that sends garbage, and serves the others', async () => {
    const bad = await Client.to(peers.get(1)!.port)
    bad.ws.send(Buffer.from([0xc1, 0xff, 0x00, 0x13]))
    await waitFor('the bad client to be closed', () => bad.closed ?? undefined)
    assert.equal(bad.closed!.code, 1008)
    const meta = await client(1).request('metadata', { topics: [] })
    assert.equal(meta.brokers.length, 3)
  })
})
