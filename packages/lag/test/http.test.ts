/**
 * The HTTP API against a fake cluster, field by field as Burrow v3 answers, and /metrics with
 * Burrow's Prometheus names. The monitor's clock is a variable; its loops are not started: the
 * test reads the fake source into the store itself, so every status is exact.
 */
import assert from 'node:assert/strict'
import { hostname } from 'node:os'
import { after, before, describe, it } from 'node:test'
import {
  FakeClusterSource,
  LagMonitor,
  type LagServer,
  pageSnapshot,
  resolveConfig,
  startServer,
} from '../src/index.js'

let now = 1_700_000_000_000
const local = new FakeClusterSource(() => now)
const dr = new FakeClusterSource(() => now)
const config = resolveConfig({
  general: { accessControlAllowOrigin: '*' },
  clusters: {
    local: { bootstrap: '127.0.0.1:9091', offsetRefresh: 10 },
    dr: { bootstrap: ['10.0.0.1:9091'] },
  },
  evaluator: { intervals: 5 },
  storage: { minDistance: 0 },
  http: { listen: '127.0.0.1:0' },
})
const monitor = new LagMonitor(config, { sources: { local, dr }, now: () => now, log: () => {} })
let server: LagServer

async function get(path: string, method = 'GET') {
  const r = await fetch(`${server.url}${path}`, { method })
  const text = await r.text()
  // biome-ignore lint/suspicious/noExplicitAny: the API's JSON, checked field by field below
  let body: any
  try {
    body = JSON.parse(text)
  } catch {
    body = text
  }
  return { status: r.status, body, headers: r.headers }
}

before(async () => {
  const w = monitor.cluster('local')!
  local.setLogEnd('orders', [0, 0, 0])
  local.setLogEnd('audit', [5])
  local.setMembers('billing', [
    {
      memberId: 'm-1',
      clientId: 'billing-1',
      clientHost: '/10.1.2.3',
      assignments: [{ topic: 'orders', partitions: [0, 1, 2] }],
    },
  ])
  for (let k = 1; k <= 8; k++) {
    now += 10_000
    local.produce('orders', 100)
    local.produce('audit', 100)
    await w.refresh()
    local.commit('billing', 'orders', 0, 100 * k) // caught up
    if (k <= 3) local.commit('billing', 'orders', 1, 100 * k) // then stops
    local.commit('slow', 'audit', 0, 30 * k) // falls behind
    local.commit('a/b', 'audit', 0, 100 * k + 5)
    await w.readEvents()
  }
  await w.refresh()
  // p1's last commit (at k = 3) is older than its window spans (20 s), and every recent log end
  // is past it: STOP.
  now += 1_000
  server = await startServer(monitor, {
    ...config.http,
    accessControlAllowOrigin: config.general.accessControlAllowOrigin,
  })
})
after(async () => {
  await server.close()
  await monitor.close()
})

const request = (url: string) => ({ url, host: hostname() })

describe('Burrow v3 API', () => {
  it('GET /burrow/admin is GOOD', async () => {
    const r = await get('/burrow/admin')
    assert.equal(r.status, 200)
    assert.equal(r.body, 'GOOD')
  })

  it('lists clusters, and one cluster’s module', async () => {
    const r = await get('/v3/kafka')
    assert.deepEqual(r.body, {
      error: false,
      message: 'cluster list returned',
      clusters: ['local', 'dr'],
      request: request('/v3/kafka'),
    })
    assert.equal(r.headers.get('access-control-allow-origin'), '*')
    const c = await get('/v3/kafka/local')
    assert.equal(c.body.message, 'cluster module detail returned')
    assert.deepEqual(c.body.module.servers, ['127.0.0.1:9091'])
    assert.equal(c.body.module['offset-refresh'], 10)
    assert.equal(c.body.module.source, 'fake')
    const none = await get('/v3/kafka/nope')
    assert.equal(none.status, 404)
    assert.deepEqual(none.body, {
      error: true,
      message: 'cluster not found',
      request: request('/v3/kafka/nope'),
    })
  })

  it('lists topics and their log-end offsets', async () => {
    assert.deepEqual((await get('/v3/kafka/local/topic')).body.topics, ['audit', 'orders'])
    const t = await get('/v3/kafka/local/topic/orders')
    assert.equal(t.body.message, 'topic offsets returned')
    assert.deepEqual(t.body.offsets, [800, 800, 800])
    assert.deepEqual((await get('/v3/kafka/local/topic/orders/consumers')).body.consumers, ['billing'])
    const none = await get('/v3/kafka/local/topic/nope')
    assert.equal(none.status, 404)
    assert.equal(none.body.message, 'topic not found')
  })

  it('lists consumers, and one consumer’s detail with its rings', async () => {
    assert.deepEqual((await get('/v3/kafka/local/consumer')).body.consumers, ['a/b', 'billing', 'slow'])
    const d = await get('/v3/kafka/local/consumer/billing')
    assert.equal(d.body.message, 'consumer detail returned')
    const [p0, p1, p2] = d.body.topics.orders
    assert.equal(p0.offsets.length, 5)
    assert.deepEqual(p0.offsets[4], { offset: 800, timestamp: now - 1_000, observedAt: now - 1_000, lag: 0 })
    assert.equal(p0.owner, '/10.1.2.3')
    assert.equal(p0.client_id, 'billing-1')
    assert.equal(p0['current-lag'], 0)
    assert.deepEqual(
      p1.offsets.map((o: { offset: number } | null) => o?.offset ?? null),
      [null, null, 100, 200, 300],
    )
    assert.equal(p1['current-lag'], 500)
    assert.deepEqual(p2.offsets, [null, null, null, null, null])
    const none = await get('/v3/kafka/local/consumer/nobody')
    assert.equal(none.status, 404)
    assert.equal(none.body.message, 'cluster or consumer not found')
  })

  it('/status: the group status object, with only partitions worse than OK', async () => {
    const r = await get('/v3/kafka/local/consumer/billing/status')
    assert.equal(r.status, 200)
    assert.equal(r.body.error, false)
    assert.equal(r.body.message, 'consumer status returned')
    assert.deepEqual(r.body.request, request('/v3/kafka/local/consumer/billing/status'))
    const s = r.body.status
    for (const key of [
      'cluster',
      'group',
      'status',
      'complete',
      'partitions',
      'partition_count',
      'maxlag',
      'totallag',
    ])
      assert.ok(key in s, key)
    assert.equal(s.cluster, 'local')
    assert.equal(s.group, 'billing')
    assert.equal(s.status, 'ERR')
    assert.equal(s.partition_count, 3)
    assert.equal(s.totallag, 500) // p1: 800 − 300; p0 caught up; p2 never committed
    assert.equal(s.complete, 1 / 3)
    assert.deepEqual(
      s.partitions.map((p: { partition: number; status: string }) => [p.partition, p.status]),
      [[1, 'STOP']],
    )
    const p = s.partitions[0]
    for (const key of [
      'topic',
      'partition',
      'owner',
      'client_id',
      'status',
      'start',
      'end',
      'current_lag',
      'complete',
    ])
      assert.ok(key in p, key)
    assert.deepEqual(p.start, { offset: 100, timestamp: now - 71_000, observedAt: now - 71_000, lag: 0 })
    assert.equal(p.end.offset, 300)
    assert.equal(p.current_lag, 500)
    assert.equal(p.complete, 0.6)
    assert.equal(s.maxlag.partition, 1)
    assert.equal(typeof p.current_lag_seconds, 'number')
  })

  it('/lag lists every partition', async () => {
    const s = (await get('/v3/kafka/local/consumer/billing/lag')).body.status
    assert.deepEqual(
      s.partitions.map((p: { partition: number; status: string }) => [p.partition, p.status]),
      [
        [0, 'OK'],
        [1, 'STOP'],
        [2, 'OK'],
      ],
    )
    const slow = (await get('/v3/kafka/local/consumer/slow/lag')).body.status
    assert.equal(slow.status, 'WARN')
    assert.equal(slow.partitions[0].status, 'WARN')
    assert.equal(slow.totallag, 805 - 240)
    assert.ok(slow.maxlag_seconds > 0)
    const slashed = await get(`/v3/kafka/local/consumer/${encodeURIComponent('a/b')}/status`)
    assert.equal(slashed.body.status.status, 'OK')
    assert.deepEqual(slashed.body.status.partitions, [])
  })

  it('an unknown group is 404 with status NOTFOUND', async () => {
    for (const path of ['/v3/kafka/local/consumer/nobody/status', '/v3/kafka/nope/consumer/nobody/lag']) {
      const r = await get(path)
      assert.equal(r.status, 404)
      assert.equal(r.body.error, true)
      assert.equal(r.body.message, 'cluster or consumer not found')
      assert.equal(r.body.status.status, 'NOTFOUND')
      assert.equal(r.body.status.partition_count, 0)
    }
  })

  it('DELETE removes a group until it commits again', async () => {
    const r = await get('/v3/kafka/local/consumer/a%2Fb', 'DELETE')
    assert.deepEqual(r.body, {
      error: false,
      message: 'consumer group removed',
      request: request('/v3/kafka/local/consumer/a%2Fb'),
    })
    assert.equal((await get('/v3/kafka/local/consumer/a%2Fb/status')).status, 404)
    assert.equal((await get('/v3/kafka/local/consumer/a%2Fb', 'DELETE')).status, 404)
    local.commit('a/b', 'audit', 0, 805)
    await monitor.cluster('local')!.readEvents()
    assert.equal((await get('/v3/kafka/local/consumer/a%2Fb/status')).status, 200)
  })

  it('answers unknown paths and methods in the same shape', async () => {
    const r = await get('/v3/kafka', 'POST')
    assert.equal(r.status, 405)
    assert.equal(r.body.error, true)
    const n = await get('/nope')
    assert.equal(n.status, 404)
    assert.deepEqual(n.body, { error: true, message: 'invalid request type', request: request('/nope') })
    assert.equal((await get('/v3/kafka/local/consumer/billing/what')).status, 404)
    assert.equal((await get('/v3/kafka/local/consumer/%E0%A4%A')).status, 400)
  })
})

describe('/metrics', () => {
  it("carries Burrow's names with their labels, and the lag in time", async () => {
    const r = await get('/metrics')
    assert.equal(r.status, 200)
    const text: string = r.body
    const line = (re: RegExp) => {
      const m = text.split('\n').find((l) => re.test(l))
      assert.ok(m, `no line matching ${re}`)
      return Number(m.split(' ').pop())
    }
    assert.equal(line(/^burrow_kafka_consumer_status\{cluster="local",consumer_group="billing"\}/), 3)
    assert.equal(line(/^burrow_kafka_consumer_status\{cluster="local",consumer_group="slow"\}/), 2)
    assert.equal(line(/^burrow_kafka_consumer_lag_total\{cluster="local",consumer_group="billing"\}/), 500)
    const p1 = 'cluster="local",consumer_group="billing",topic="orders",partition="1"'
    assert.equal(line(new RegExp(`^burrow_kafka_consumer_partition_lag\\{${p1}\\}`)), 500)
    assert.equal(line(new RegExp(`^burrow_kafka_consumer_current_offset\\{${p1}\\}`)), 300)
    assert.equal(line(new RegExp(`^burrow_kafka_consumer_partition_current_offset\\{${p1}\\}`)), 300)
    assert.equal(line(new RegExp(`^burrow_kafka_consumer_partition_max_offset\\{${p1}\\}`)), 800)
    assert.equal(line(new RegExp(`^burrow_kafka_topic_partition_status\\{${p1}\\}`)), 4)
    assert.ok(line(new RegExp(`^burrow_kafka_consumer_partition_lag_seconds\\{${p1}\\}`)) > 20)
    assert.ok(line(/^burrow_kafka_consumer_max_lag_seconds\{cluster="local",consumer_group="billing"\}/) > 20)
    assert.equal(
      line(/^burrow_kafka_topic_partition_offset\{cluster="local",topic="orders",partition="2"\}/),
      800,
    )
    assert.equal(line(/^cairn_lag_cluster_up\{cluster="local"\}/), 1)
    assert.match(text, /# TYPE burrow_kafka_consumer_lag_total gauge/)
  })
})

describe('page snapshot', () => {
  it('has every cluster and group, with the lag history for the chart', () => {
    const snap = pageSnapshot(monitor)
    assert.deepEqual(
      snap.clusters.map((c) => c.name),
      ['local', 'dr'],
    )
    const billing = snap.clusters[0]!.groups.find((g) => g.group === 'billing')!
    assert.equal(billing.partitions.length, 3)
    assert.deepEqual(
      billing.history.filter((h) => h.p === 'orders-1').map((h) => h.lag),
      [0, 0, 0],
    )
  })
})
