/**
 * The notifier: incidents open at the threshold and close below it (the pure tracker), then
 * delivery to a real local HTTP receiver — open and close with the incident's id and start,
 * send-once, retries that stop at their bound, and a receiver that never answers.
 */
import assert from 'node:assert/strict'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { after, before, describe, it } from 'node:test'
import {
  type GroupStatus,
  type GroupStatusName,
  IncidentTracker,
  type Notification,
  Notifier,
  type NotifierConfig,
  notFoundStatus,
} from '../src/index.js'

const status = (group: string, s: GroupStatusName, cluster = 'local'): GroupStatus => ({
  ...notFoundStatus(cluster, group),
  status: s,
})

const base: NotifierConfig = {
  name: 'hook',
  url: 'http://127.0.0.1:1/',
  threshold: 'WARN',
  intervalMs: 1000,
  sendOnce: false,
  sendClose: true,
  retries: 3,
  backoffMs: 10,
  timeoutMs: 1000,
  cluster: null,
  groupAllowlist: null,
  groupDenylist: null,
  extras: { team: 'payments' },
}

function ids() {
  let n = 0
  return () => `incident-${++n}`
}

describe('IncidentTracker', () => {
  it('opens at the threshold, repeats while open, closes when back to OK, with one id', () => {
    const t = new IncidentTracker(base, ids())
    assert.deepEqual(t.check([status('g', 'OK')], 1000), [])
    const [open] = t.check([status('g', 'WARN')], 2000)
    assert.equal(open!.event, 'open')
    assert.equal(open!.id, 'incident-1')
    assert.equal(open!.start_ms, 2000)
    assert.equal(open!.start, new Date(2000).toISOString())
    assert.deepEqual(open!.extras, { team: 'payments' })
    const [again] = t.check([status('g', 'ERR')], 3000)
    assert.deepEqual(
      [again!.event, again!.id, again!.start_ms, again!.status],
      ['open', 'incident-1', 2000, 'ERR'],
    )
    const [close] = t.check([status('g', 'OK')], 4000)
    assert.deepEqual(
      [close!.event, close!.id, close!.start_ms, close!.status],
      ['close', 'incident-1', 2000, 'OK'],
    )
    assert.deepEqual(t.check([status('g', 'OK')], 5000), [])
    assert.equal(t.check([status('g', 'WARN')], 6000)[0]!.id, 'incident-2')
  })

  it('send-once: one open per incident', () => {
    const t = new IncidentTracker({ ...base, sendOnce: true }, ids())
    assert.equal(t.check([status('g', 'WARN')], 1).length, 1)
    assert.equal(t.check([status('g', 'ERR')], 2).length, 0)
    assert.equal(t.check([status('g', 'ERR')], 3).length, 0)
    assert.equal(t.check([status('g', 'OK')], 4)[0]!.event, 'close')
  })

  it('threshold ERR ignores WARN; send-close false sends no close', () => {
    const t = new IncidentTracker({ ...base, threshold: 'ERR', sendClose: false }, ids())
    assert.deepEqual(t.check([status('g', 'WARN')], 1), [])
    assert.equal(t.check([status('g', 'ERR')], 2)[0]!.event, 'open')
    assert.deepEqual(t.check([status('g', 'WARN')], 3), [])
    assert.deepEqual(t.open(), [])
  })

  it('a group that disappears (deleted, expired, NOTFOUND) closes its incident', () => {
    const t = new IncidentTracker(base, ids())
    t.check([status('a', 'ERR'), status('b', 'ERR')], 1)
    const closed = t.check([status('b', 'ERR')], 2).filter((n) => n.event === 'close')
    assert.deepEqual(
      closed.map((n) => [n.group, n.status]),
      [['a', 'NOTFOUND']],
    )
    assert.equal(t.check([status('b', 'NOTFOUND')], 3)[0]!.event, 'close')
  })

  it('watches only its cluster and the groups its lists let through', () => {
    const t = new IncidentTracker(
      { ...base, cluster: 'local', groupAllowlist: /^app-/, groupDenylist: /-test$/ },
      ids(),
    )
    const sent = t.check(
      [
        status('app-1', 'ERR'),
        status('app-1-test', 'ERR'),
        status('other', 'ERR'),
        status('app-2', 'ERR', 'dr'),
      ],
      1,
    )
    assert.deepEqual(
      sent.map((n) => `${n.cluster}/${n.group}`),
      ['local/app-1'],
    )
  })
})

describe('Notifier over HTTP', () => {
  let server: Server
  let url = ''
  const received: Notification[] = []
  /** Answers for the next requests (status codes, or 'hang'); then 200. */
  const script: (number | 'hang')[] = []
  let requests = 0

  before(async () => {
    server = createServer((req: IncomingMessage, res) => {
      let body = ''
      req.on('data', (d) => {
        body += d
      })
      req.on('end', () => {
        requests++
        const next = script.shift() ?? 200
        if (next === 'hang') return
        if (next === 200) received.push(JSON.parse(body))
        res.writeHead(next).end()
      })
    })
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`
  })
  after(async () => {
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
  })

  const reset = () => {
    received.length = 0
    script.length = 0
    requests = 0
  }

  it('POSTs open and close with the incident id and start time', async () => {
    reset()
    const logs: string[] = []
    const n = new Notifier({ ...base, url, sendOnce: true }, { newId: ids(), log: (l) => logs.push(l) })
    n.check([status('g', 'WARN')], 1000)
    n.check([status('g', 'ERR')], 2000)
    n.check([status('g', 'OK')], 3000)
    await n.idle()
    assert.deepEqual(
      received.map((r) => [r.event, r.id, r.start_ms, r.group, r.status, r.notifier]),
      [
        ['open', 'incident-1', 1000, 'g', 'WARN', 'hook'],
        ['close', 'incident-1', 1000, 'g', 'OK', 'hook'],
      ],
    )
    assert.equal(received[0]!.result.cluster, 'local')
    assert.deepEqual(n.stats, { sent: 2, failed: 0, dropped: 0, attempts: 2 })
    assert.deepEqual(logs, [])
  })

  it('retries with backoff until it is taken, in order', async () => {
    reset()
    script.push(500, 503)
    const n = new Notifier({ ...base, url, retries: 3, backoffMs: 20 }, { newId: ids(), log: () => {} })
    const started = Date.now()
    n.check([status('g', 'ERR')], 1)
    n.check([status('g', 'OK')], 2)
    await n.idle()
    assert.ok(Date.now() - started >= 60, 'backoff 20 ms then 40 ms')
    assert.deepEqual(
      received.map((r) => r.event),
      ['open', 'close'],
    )
    assert.deepEqual(n.stats, { sent: 2, failed: 0, dropped: 0, attempts: 4 })
  })

  it('gives up after `retries` retries, says so in one line, and goes on with the next', async () => {
    reset()
    script.push(500, 500, 500)
    const logs: string[] = []
    const n = new Notifier(
      { ...base, url, retries: 2, backoffMs: 5 },
      { newId: ids(), log: (l) => logs.push(l) },
    )
    n.check([status('g', 'ERR')], 1)
    n.check([status('g', 'OK')], 2)
    await n.idle()
    assert.equal(requests, 4)
    assert.deepEqual(n.stats, { sent: 1, failed: 1, dropped: 0, attempts: 4 })
    assert.deepEqual(
      received.map((r) => r.event),
      ['close'],
    )
    assert.equal(logs.length, 3)
    assert.match(
      logs[2]!,
      /lag notifier hook: open local\/g \(incident incident-1\) to .* failed: HTTP 500; giving up after 3 attempt\(s\)/,
    )
  })

  it('times out a receiver that never answers', async () => {
    reset()
    script.push('hang')
    const n = new Notifier(
      { ...base, url, retries: 1, backoffMs: 5, timeoutMs: 200 },
      { newId: ids(), log: () => {} },
    )
    const started = Date.now()
    n.check([status('g', 'ERR')], 1)
    await n.idle()
    const took = Date.now() - started
    assert.ok(took >= 200 && took < 5000, `${took} ms`)
    assert.deepEqual(n.stats, { sent: 1, failed: 0, dropped: 0, attempts: 2 })
  })

  it('bounds its queue, dropping the oldest', async () => {
    reset()
    const n = new Notifier({ ...base, url, retries: 0 }, { newId: ids(), log: () => {}, pendingMax: 2 })
    n.check(
      Array.from({ length: 6 }, (_, i) => status(`g${i}`, 'ERR')),
      1,
    )
    await n.idle()
    // One check queues all six before sending starts: the last two stay.
    assert.equal(n.stats.dropped, 4)
    assert.deepEqual(
      received.map((r) => r.group),
      ['g4', 'g5'],
    )
  })

  it('close() stops retrying', async () => {
    reset()
    script.push(500, 500, 500, 500)
    const n = new Notifier({ ...base, url, retries: 3, backoffMs: 10_000 }, { newId: ids(), log: () => {} })
    n.check([status('g', 'ERR')], 1)
    await new Promise((r) => setTimeout(r, 100))
    const started = Date.now()
    await n.close()
    assert.ok(Date.now() - started < 1000)
    assert.equal(n.stats.attempts, 1)
  })
})
