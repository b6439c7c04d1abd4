/**
 * The proof over real processes: a 3-node cluster (`cairn cluster up`), a producer, group
 * consumers as child processes, and the monitor reading `__consumer_offsets`:
 *   - a group consuming at the produce rate stays OK;
 *   - a consumer slower than the producers turns its group WARN;
 *   - a SIGKILLed consumer turns its group ERR (STOP) within about intervals × commit interval;
 *   - a reset to an earlier offset shows REWIND;
 *   - the consumer back and caught up, the group is OK again, and the notifier has sent the
 *     incident's open and close.
 * Every wait is bounded; the tests share one cluster and run in order.
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { createServer as createNetServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { Cairn, type Producer } from '@cairn/client'
import { type GroupStatus, type Notification, type RunningMonitor, startMonitor } from '../src/index.js'

const CLI = fileURLToPath(new URL('../../cli/dist/bin.js', import.meta.url))
const FIXTURE = fileURLToPath(new URL('./fixtures/group-consumer.ts', import.meta.url))
const LAG_DIR = fileURLToPath(new URL('..', import.meta.url))
const TOPIC = 'lag-e2e'
const PARTITIONS = 2
const INTERVALS = 5
const COMMIT_MS = 400
const SLOW_COMMIT_MS = 500
const OFFSET_REFRESH_S = 0.1

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createNetServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

/** `count` consecutive free ports whose +10000 twins are free too (`cluster up` uses both). */
async function freePortRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Below Linux's ephemeral range (32768+), twins included: no outgoing connection takes them.
    const base = 12_000 + Math.floor(Math.random() * 10_000)
    const ports = Array.from({ length: count }, (_, k) => [base + k, base + k + 10_000]).flat()
    if ((await Promise.all(ports.map(isFree))).every(Boolean)) return base
  }
  throw new Error('no free port run found in 50 attempts')
}

async function waitFor<T>(
  what: string,
  probe: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs: number,
  state: () => unknown = () => '',
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline)
      assert.fail(
        `timed out after ${timeoutMs} ms waiting for ${what}; last seen: ${JSON.stringify(state())}`,
      )
    await new Promise((r) => setTimeout(r, 50))
  }
}

interface Proc {
  child: ChildProcess
  output: () => string
}

function run(args: string[], cwd?: string): Proc {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'], cwd })
  let out = ''
  child.stdout?.on('data', (d) => {
    out += d
  })
  child.stderr?.on('data', (d) => {
    out += d
  })
  return { child, output: () => out }
}

function exited(child: ChildProcess, timeoutMs = 20_000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve()
  return new Promise((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`pid ${child.pid} did not exit in ${timeoutMs} ms`)),
      timeoutMs,
    )
    child.once('exit', () => {
      clearTimeout(t)
      resolve()
    })
  })
}

const data = mkdtempSync(join(tmpdir(), 'cairn-lag-e2e-'))
let cluster: Proc | null = null
let bootstrap = ''
let cairn: Cairn | null = null
let producer: Producer | null = null
let producing: NodeJS.Timeout | null = null
let monitor: RunningMonitor | null = null
let receiver: Server | null = null
const notifications: Notification[] = []
const consumers = new Set<Proc>()

function consumer(group: string, delayMs: number, commitMs: number): Proc {
  const p = run(
    ['--import', 'tsx', FIXTURE, bootstrap, group, TOPIC, String(delayMs), String(commitMs)],
    LAG_DIR,
  )
  consumers.add(p)
  return p
}

const status = (group: string): GroupStatus => monitor!.monitor.groupStatus('local', group)!

async function joined(p: Proc, what: string) {
  await waitFor(
    `${what} to join its group`,
    () => {
      if (p.output().includes('joined')) return true
      if (p.child.exitCode !== null) assert.fail(`${what} exited:\n${p.output()}`)
      return undefined
    },
    40_000,
  )
}

describe('the monitor over a real cluster', {
  skip: !existsSync(CLI) && `no ${CLI}: build @cairn/cli first`,
}, () => {
  before(async () => {
    const port = await freePortRun(3)
    bootstrap = `127.0.0.1:${port}`
    cluster = run([CLI, 'cluster', 'up', '--nodes', '3', '--data', data, '--port', String(port)])
    await waitFor('the cluster to come up', () => cluster!.output().includes('nodes up'), 60_000)
    cairn = new Cairn({ bootstrap: [bootstrap] })
    const admin = cairn.admin()
    await waitFor(
      'the topic to be created',
      () =>
        admin
          .createTopics([{ topic: TOPIC, numPartitions: PARTITIONS, replicationFactor: 3 }])
          .then(() => true)
          .catch((err) => (/TOPIC_ALREADY_EXISTS/.test(String(err)) ? true : undefined)),
      30_000,
    )

    receiver = createServer((req, res) => {
      let body = ''
      req.on('data', (d) => {
        body += d
      })
      req.on('end', () => {
        notifications.push(JSON.parse(body))
        res.writeHead(204).end()
      })
    })
    await new Promise<void>((r) => receiver!.listen(0, '127.0.0.1', r))
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`

    monitor = await startMonitor(
      {
        clusters: { local: { bootstrap, offsetRefresh: OFFSET_REFRESH_S, source: 'offsets-topic' } },
        // Two commits before a window is judged: a lone first commit behind the log end would be
        // a STALL by Burrow's rules.
        evaluator: { intervals: INTERVALS, minimumComplete: 0.4 },
        storage: { minDistance: 0.05 },
        notifiers: { test: { url: hook, interval: 0.2, sendOnce: true, backoff: 0.05 } },
        http: { listen: '127.0.0.1:0' },
      },
      { log: () => {}, idlePollMs: 50 },
    )

    // 100 records per partition per second, steadily.
    producer = cairn.producer({ 'linger.ms': 5 })
    producing = setInterval(() => {
      const messages = Array.from({ length: 2 * PARTITIONS }, (_, i) => ({
        value: `r-${Date.now()}`,
        partition: i % PARTITIONS,
      }))
      producer!.send({ topic: TOPIC, messages }).catch(() => undefined)
    }, 20)
  })

  after(async () => {
    if (producing) clearInterval(producing)
    for (const c of consumers) c.child.kill('SIGKILL')
    await producer?.close().catch(() => undefined)
    await cairn?.close().catch(() => undefined)
    await monitor?.close()
    receiver?.closeAllConnections()
    receiver?.close()
    if (cluster) {
      cluster.child.kill('SIGINT')
      await exited(cluster.child, 30_000).catch(() => cluster!.child.kill('SIGKILL'))
    }
    rmSync(data, { recursive: true, force: true })
  })

  let fast: Proc
  /** The steps build on each other: after a failure the rest are skipped, not waited out. */
  let failed: string | null = null
  const step = (name: string, fn: () => Promise<void>) =>
    it(name, async (t) => {
      if (failed) return t.skip(`an earlier step failed: ${failed}`)
      try {
        await fn()
      } catch (err) {
        failed = name
        throw err
      }
    })

  step('a group consuming at the produce rate stays OK', async () => {
    fast = consumer('fast', 0, COMMIT_MS)
    consumer('slow', 15, SLOW_COMMIT_MS) // for the next test: it needs time to fall behind
    await joined(fast, 'the fast consumer')
    await waitFor(
      'a full window, OK',
      () => status('fast').status === 'OK' && status('fast').complete === 1,
      30_000,
      () => status('fast'),
    )
    const notOk: GroupStatus[] = []
    for (const until = Date.now() + 3000; Date.now() < until; ) {
      const s = status('fast')
      if (s.status !== 'OK') notOk.push(s)
      await new Promise((r) => setTimeout(r, 100))
    }
    assert.deepEqual(notOk, [], 'stays OK')
    const s = status('fast')
    assert.equal(s.partition_count, PARTITIONS)
    assert.ok(
      s.partitions.every((p) => p.owner !== '' && p.client_id === 'fast-client'),
      JSON.stringify(s.partitions),
    )
  })

  step('a consumer slower than the producers turns its group WARN', async () => {
    const s = await waitFor(
      'slow to turn WARN',
      () => (status('slow').status === 'WARN' ? status('slow') : undefined),
      30_000,
      () => monitor!.monitor.cluster('local')!.store.partitionInputs('slow', Date.now()),
    )
    assert.ok(s.partitions.some((p) => p.status === 'WARN'))
    assert.ok(s.totallag > 0)
    assert.ok((s.maxlag_seconds ?? 0) > 0)
    for (const c of consumers) if (c !== fast) c.child.kill('SIGKILL')
  })

  step('a SIGKILLed consumer turns its group ERR (STOP) within intervals × commit interval', async () => {
    fast.child.kill('SIGKILL')
    const killedAt = Date.now()
    await waitFor(
      'fast to turn ERR',
      () => status('fast').status === 'ERR',
      20_000,
      () => status('fast'),
    )
    const took = Date.now() - killedAt
    console.log(
      `e2e: fast turned ERR ${took} ms after SIGKILL (intervals × commit interval = ${INTERVALS * COMMIT_MS} ms)`,
    )
    assert.ok(status('fast').partitions.every((p) => p.status === 'STOP'))
    // The window spans (intervals − 1) commit intervals; the monitor notices within its polls.
    assert.ok(took <= INTERVALS * COMMIT_MS + 2000, `${took} ms`)
  })

  step('a reset to an earlier offset shows REWIND', async () => {
    const admin = cairn!.admin()
    let lastResetError = ''
    // The killed member leaves the group when its session times out; only then may offsets move.
    await waitFor(
      'the reset',
      () =>
        admin
          .resetOffsets('fast', TOPIC, 'earliest', true)
          .then(() => true)
          .catch((err) => {
            lastResetError = (err as Error).message
            return (err as { code?: string }).code === 'NON_EMPTY_GROUP' ? undefined : Promise.reject(err)
          }),
      30_000,
      () => lastResetError,
    )
    let seen: GroupStatus | null = null
    const r = await waitFor(
      'REWIND on the API',
      async () => {
        const body = (await (await fetch(`${monitor!.url}/v3/kafka/local/consumer/fast/lag`)).json()) as {
          status: GroupStatus
        }
        seen = body.status
        return body.status.partitions.some((p) => p.status === 'REWIND') ? body.status : undefined
      },
      10_000,
      () => seen,
    )
    assert.equal(r.status, 'ERR')
  })

  step('back and caught up, the group is OK again, and the notifier sent open and close', async () => {
    fast = consumer('fast', 0, COMMIT_MS)
    await joined(fast, 'the fast consumer, again')
    await waitFor(
      'fast to be OK again',
      () => status('fast').status === 'OK' && status('fast').totallag < 1000,
      30_000,
      () => status('fast'),
    )
    const mine = await waitFor(
      'the incident to close',
      () => {
        const n = notifications.filter((x) => x.group === 'fast')
        return n.some((x) => x.event === 'close') ? n : undefined
      },
      5_000,
      () => notifications.map((n) => [n.group, n.event, n.status]),
    )
    const open = mine.find((n) => n.event === 'open' && n.status === 'ERR')
    assert.ok(open, JSON.stringify(mine.map((n) => [n.event, n.status])))
    const close = mine.find((n) => n.event === 'close' && n.id === open.id)
    assert.ok(close, 'the close carries the open incident’s id')
    assert.equal(close.status, 'OK')
    assert.equal(close.start_ms, open.start_ms)
  })
})
