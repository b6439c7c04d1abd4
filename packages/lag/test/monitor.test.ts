/**
 * The driver: the monitor's loops read a fake cluster on their own, record and clear source
 * errors, fall back from the offsets topic to the admin API, run the notifier, and close promptly.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  AutoSource,
  type ClusterSource,
  FakeClusterSource,
  fallbackAfterFailures,
  LagMonitor,
  type Notification,
  resolveConfig,
} from '../src/index.js'

async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = probe()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

const config = (extra: Record<string, unknown> = {}) =>
  resolveConfig({
    clusters: { local: { bootstrap: '127.0.0.1:9091', offsetRefresh: 0.05 } },
    evaluator: { intervals: 5 },
    storage: { minDistance: 0 },
    http: { listen: '127.0.0.1:0' },
    ...extra,
  })

describe('LagMonitor', () => {
  it('reads log ends, commits and members on its own', async () => {
    const fake = new FakeClusterSource()
    fake.setLogEnd('orders', [10, 10])
    fake.commit('g', 'orders', 0, 4)
    fake.setMembers('g', [
      { memberId: 'm', clientId: 'c', clientHost: '/h', assignments: [{ topic: 'orders', partitions: [0] }] },
    ])
    const monitor = new LagMonitor(config(), { sources: { local: fake }, idlePollMs: 10, log: () => {} })
    monitor.start()
    try {
      const s = await waitFor('the group', () => {
        const st = monitor.groupStatus('local', 'g')
        return st?.status !== 'NOTFOUND' && st?.partitions[0]?.owner === '/h' ? st : undefined
      })
      assert.equal(s.partition_count, 2)
      // The history read at start gets its lag: log ends are read first.
      assert.equal(s.partitions[0]!.end!.lag, 6)
      assert.equal(s.totallag, 6)
      fake.deleteGroup('g')
      await waitFor('the deletion', () => monitor.groupStatus('local', 'g')?.status === 'NOTFOUND')
    } finally {
      await monitor.close()
    }
    assert.ok(fake.closed)
  })

  it('records a source error once, keeps its data, and clears the error on recovery', async () => {
    const fake = new FakeClusterSource()
    fake.setLogEnd('orders', [10])
    fake.commit('g', 'orders', 0, 10)
    const logs: string[] = []
    const monitor = new LagMonitor(config(), {
      sources: { local: fake },
      idlePollMs: 10,
      errorBackoffMs: 10,
      log: (l) => logs.push(l),
    })
    monitor.start()
    try {
      await waitFor('the group', () => monitor.groupStatus('local', 'g')?.status === 'OK')
      fake.failing = new Error('connect ECONNREFUSED')
      const w = monitor.cluster('local')!
      await waitFor('the error', () => w.health.lastError?.includes('ECONNREFUSED'))
      await new Promise((r) => setTimeout(r, 200))
      assert.equal(monitor.groupStatus('local', 'g')?.status, 'OK')
      assert.equal(logs.filter((l) => l.includes('reading log-end offsets')).length, 1, logs.join('\n'))
      fake.failing = null
      await waitFor('recovery', () => w.health.lastError === null)
      assert.ok(logs.some((l) => /readable again/.test(l)))
    } finally {
      await monitor.close()
    }
  })

  it('runs its notifiers: open when a group goes bad, close when it recovers', async () => {
    let now = 1_000_000
    const fake = new FakeClusterSource(() => now)
    const sent: Notification[] = []
    const monitor = new LagMonitor(
      config({ notifiers: { ops: { url: 'http://127.0.0.1:1/hook', interval: 0.02, sendOnce: true } } }),
      {
        sources: { local: fake },
        now: () => now,
        idlePollMs: 10,
        log: () => {},
        deliver: async (_url, body) => {
          sent.push(JSON.parse(body))
        },
      },
    )
    const w = monitor.cluster('local')!
    fake.setLogEnd('orders', [0])
    // A consumer that falls further behind at every commit: WARN.
    for (let k = 1; k <= 5; k++) {
      now += 1000
      fake.produce('orders', 100)
      await w.refresh()
      fake.commit('g', 'orders', 0, 50 * k)
      await w.readEvents()
    }
    assert.equal(monitor.groupStatus('local', 'g')?.status, 'WARN')
    monitor.start()
    try {
      await waitFor('the open', () => sent.length >= 1)
      // It catches up: a commit with lag 0 in the window makes it OK.
      fake.commit('g', 'orders', 0, 500)
      await waitFor('the close', () => sent.length >= 2)
      assert.deepEqual(
        sent.map((n) => [n.event, n.group, n.status]),
        [
          ['open', 'g', 'WARN'],
          ['close', 'g', 'OK'],
        ],
      )
      assert.equal(sent[0]!.id, sent[1]!.id)
    } finally {
      await monitor.close()
    }
  })

  it('closes within a bound even while its source hangs', async () => {
    const hanging: ClusterSource = {
      kind: 'hanging',
      logEndOffsets: () => new Promise((r) => setTimeout(() => r([]), 300)),
      readEvents: () => new Promise((r) => setTimeout(() => r([]), 300)),
      describeGroups: async () => [],
      close: async () => {},
    }
    const monitor = new LagMonitor(config(), { sources: { local: hanging }, log: () => {} })
    monitor.start()
    await new Promise((r) => setTimeout(r, 50))
    const started = Date.now()
    await monitor.close()
    assert.ok(Date.now() - started < 2000)
  })
})

describe('AutoSource', () => {
  it('falls back to the admin API after repeated failures to read the offsets topic', async () => {
    const primary = new FakeClusterSource()
    const fallback = new FakeClusterSource()
    primary.failing = new Error('fetch of __consumer_offsets: TOPIC_AUTHORIZATION_FAILED')
    fallback.commit('g', 't', 0, 5)
    const logs: string[] = []
    const auto = new AutoSource(primary, fallback, (l) => logs.push(l), 'local')
    assert.equal(auto.kind, 'fake')
    for (let i = 0; i < fallbackAfterFailures; i++) await assert.rejects(auto.readEvents(), /AUTHORIZATION/)
    assert.equal(auto.kind, 'fake (fallback)')
    assert.equal((await auto.readEvents()).length, 1)
    assert.equal(logs.length, 1)
    assert.match(logs[0]!, /cannot read __consumer_offsets .*; falling back to the admin API/)
  })

  it('stays on the offsets topic after occasional failures', async () => {
    const primary = new FakeClusterSource()
    const auto = new AutoSource(primary, new FakeClusterSource(), () => {}, 'local')
    for (let round = 0; round < 3; round++) {
      primary.failing = new Error('NOT_LEADER_OR_FOLLOWER')
      for (let i = 0; i < fallbackAfterFailures - 1; i++) await assert.rejects(auto.readEvents())
      primary.failing = null
      await auto.readEvents()
    }
    assert.equal(auto.kind, 'fake')
  })
})
