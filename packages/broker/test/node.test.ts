/**
 * Three nodes in one process (real LevelDB stores, real WebSocket transports and client API on
 * 127.0.0.1): topic admin through the controller, produce to leaders, fetch and list offsets,
 * Kafka's errors, and a client that sends garbage losing its connection while the node serves on.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  type ApiName,
  type ApiRequest,
  type ApiResponse,
  decodeRecords,
  decodeResponseById,
  EARLIEST_TIMESTAMP,
  encodeRecordBatch,
  encodeRequest,
  LATEST_TIMESTAMP,
  splitBatches,
} from '@cairn/protocol'
import WebSocket from 'ws'
import { CairnNode, type PeerAddress } from '../src/index.js'

const dir = mkdtempSync(join(tmpdir(), 'cairn-node-'))
const nodes: CairnNode[] = []
const ids = [1, 2, 3]
let peers: Map<number, PeerAddress>

async function freePort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const address = server.address()
  await new Promise((resolve) => server.close(resolve))
  if (typeof address !== 'object' || !address) throw new Error('no port')
  return address.port
}

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** A bare client: one socket per node, requests matched by id. */
class Client {
  private next = 1
  private readonly pending = new Map<
    number,
    { api: ApiName; resolve: (v: unknown) => void; reject: (e: Error) => void }
  >()
  closed: { code: number; reason: string } | null = null

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const decoded = decodeResponseById(data as Buffer, (id) => this.pending.get(id)?.api)
      if (!decoded.ok || !decoded.value) return
      const p = this.pending.get(decoded.value.id)!
      this.pending.delete(decoded.value.id)
      if (decoded.value.error)
        p.reject(Object.assign(new Error(decoded.value.message ?? ''), { code: decoded.value.error }))
      else p.resolve(decoded.value.body)
    })
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() }
    })
  }

  static async to(port: number): Promise<Client> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`)
    await new Promise((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    return new Client(ws)
  }

  request<A extends ApiName>(api: A, body: ApiRequest<A>): Promise<ApiResponse<A>> {
    const id = this.next++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { api, resolve: resolve as (v: unknown) => void, reject })
      this.ws.send(encodeRequest({ id, api, body }))
    })
  }
}

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
    const deleted = await c.request('deleteTopics', { topics: ['orders', 'nope'] })
    assert.deepEqual(
      deleted.topics.map((t) => t.error),
      [null, 'UNKNOWN_TOPIC_OR_PARTITION'],
    )
    await waitFor('every node to close the deleted partitions', () =>
      nodes.every((n) => n.partitions.size === 0) ? true : undefined,
    )
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
