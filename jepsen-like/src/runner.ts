/**
 * One run: real `cairn node start` processes on 127.0.0.1, a workload that records every
 * operation (invoke, then ok / fail / info) in DIR/history.jsonl, a nemesis that kills and pauses
 * nodes on a schedule drawn from the seed (DIR/schedule.json; --schedule replays one), then a
 * final phase — heal everything, wait for leaders, read every partition from the start — and the
 * checker.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Cairn, seededRandom } from '@cairn/client'
import { type CheckResult, check } from './checker.js'
import type { Op } from './history.js'

export const NEMESES = ['kill', 'pause'] as const
export type Nemesis = (typeof NEMESES)[number]

export interface RunOptions {
  nodes: number
  timeS: number
  /** Sends per second, all producers together. */
  rate: number
  nemesis: Nemesis[]
  acks: 'all' | '1'
  idempotence: boolean
  partitions: number
  seed: number
  out: string
  schedule?: NemesisEvent[]
  progress?: (line: string) => void
}

export interface NemesisEvent {
  /** ms after the workload starts */
  at: number
  action: 'kill' | 'restart' | 'pause' | 'resume'
  node: number
}

const CAIRN_BIN = fileURLToPath(new URL('../../packages/cli/dist/bin.js', import.meta.url))
const PRODUCERS = 4
const CONSUMERS = 2
const KEYS = 16
/** Each nemesis window lasts this long before it heals. */
const FAULT_MS_MIN = 1000
const FAULT_MS_MAX = 4000
const FINAL_READ_MS_MAX = 60_000
const STARTUP_MS_MAX = 60_000

/** kill or pause one node at a time, then heal it; the fault windows leave the cluster a quorum. */
export function drawSchedule(o: Pick<RunOptions, 'nodes' | 'timeS' | 'nemesis' | 'seed'>): NemesisEvent[] {
  const random = seededRandom(o.seed)
  const events: NemesisEvent[] = []
  if (o.nemesis.length === 0) return events
  let t = 1000 + Math.floor(random() * 1000)
  const end = o.timeS * 1000 - 1000
  while (t < end) {
    const kind = o.nemesis[Math.floor(random() * o.nemesis.length)]!
    const node = 1 + Math.floor(random() * o.nodes)
    const length = FAULT_MS_MIN + Math.floor(random() * (FAULT_MS_MAX - FAULT_MS_MIN))
    const heal = Math.min(end, t + length)
    events.push({ at: t, action: kind === 'kill' ? 'kill' : 'pause', node })
    events.push({ at: heal, action: kind === 'kill' ? 'restart' : 'resume', node })
    t = heal + 500 + Math.floor(random() * 1500)
  }
  return events
}

async function freePortRun(count: number, random: () => number): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = createServer()
      s.once('error', () => resolve(false))
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
    })
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + Math.floor(random() * 20_000)
    const ports = Array.from({ length: count }, (_, k) => [base + k, base + k + 10_000]).flat()
    if ((await Promise.all(ports.map(free))).every(Boolean)) return base
  }
  throw new Error('no free ports on 127.0.0.1 in 50 attempts')
}

class Cluster {
  readonly procs = new Map<number, ChildProcess>()
  private readonly secretFile: string

  constructor(
    readonly size: number,
    readonly base: number,
    readonly dir: string,
  ) {
    this.secretFile = join(dir, 'secret')
    writeFileSync(this.secretFile, randomBytes(24).toString('hex'))
  }

  bootstrap(): string[] {
    return Array.from({ length: this.size }, (_, k) => `127.0.0.1:${this.base + k}`)
  }

  start(id: number): void {
    const peers = Array.from({ length: this.size }, (_, k) => `${k + 1}@127.0.0.1:${this.base + k}`).join(',')
    const log = createWriteStream(join(this.dir, `node-${id}.log`), { flags: 'a' })
    const child = spawn(
      process.execPath,
      [
        CAIRN_BIN,
        'node',
        'start',
        '--id',
        String(id),
        '--data',
        join(this.dir, `node-${id}`),
        '--listen',
        `127.0.0.1:${this.base + id - 1}`,
        '--peers',
        peers,
        '--secret-file',
        this.secretFile,
        '--tick-ms',
        '50',
        '--replica-lag-time-max-ms',
        '3000',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    )
    child.stdout?.pipe(log)
    child.stderr?.pipe(log)
    this.procs.set(id, child)
  }

  signal(id: number, signal: NodeJS.Signals): void {
    this.procs.get(id)?.kill(signal)
  }

  async stopAll(): Promise<void> {
    await Promise.all(
      [...this.procs.values()].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve()
            c.once('exit', () => resolve())
            c.kill('SIGCONT')
            c.kill('SIGKILL')
          }),
      ),
    )
  }
}

class History {
  readonly ops: Op[] = []
  private readonly file: ReturnType<typeof createWriteStream>
  private readonly started = Date.now()

  constructor(path: string) {
    this.file = createWriteStream(path)
  }

  now(): number {
    return Date.now() - this.started
  }

  add(op: Op): void {
    this.ops.push(op)
    this.file.write(`${JSON.stringify(op)}\n`)
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.file.end(resolve))
  }
}

function isIndeterminate(err: unknown): boolean {
  const code = (err as { code?: string }).code ?? ''
  return (
    ['NETWORK_EXCEPTION', 'REQUEST_TIMED_OUT', 'DELIVERY_TIMEOUT', 'TIMEOUT', 'OUTCOME_UNKNOWN'].includes(
      code,
    ) || /timed out|closed/i.test(String(err))
  )
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe().catch(() => undefined)
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

export interface RunResult {
  check: CheckResult
  history: Op[]
  summary: string
}

export async function run(o: RunOptions): Promise<RunResult> {
  const random = seededRandom(o.seed)
  mkdirSync(o.out, { recursive: true })
  const schedule = o.schedule ?? drawSchedule(o)
  writeFileSync(
    join(o.out, 'schedule.json'),
    `${JSON.stringify({ options: { ...o, schedule: undefined, progress: undefined }, schedule }, null, 2)}\n`,
  )
  const cluster = new Cluster(o.nodes, await freePortRun(o.nodes, random), o.out)
  for (let id = 1; id <= o.nodes; id++) cluster.start(id)
  const history = new History(join(o.out, 'history.jsonl'))
  const cairn = new Cairn({ bootstrap: cluster.bootstrap(), attemptsMax: 5 })
  const timers: NodeJS.Timeout[] = []
  try {
    const admin = cairn.admin()
    await waitFor(
      'the topic',
      async () => {
        try {
          await admin.createTopics([
            { topic: 'jepsen', numPartitions: o.partitions, replicationFactor: Math.min(3, o.nodes) },
          ])
        } catch (err) {
          if ((err as { code?: string }).code !== 'TOPIC_ALREADY_EXISTS') throw err
        }
        return (await admin.describeTopic('jepsen')).every((p) => p.leaderId > 0) ? true : undefined
      },
      STARTUP_MS_MAX,
    )
    o.progress?.(
      `cluster of ${o.nodes} up; workload for ${o.timeS} s at ${o.rate} sends/s, nemesis ${o.nemesis.join(',') || 'none'}`,
    )
    for (const e of schedule) {
      timers.push(
        setTimeout(() => {
          if (e.action === 'kill') cluster.signal(e.node, 'SIGKILL')
          else if (e.action === 'pause') cluster.signal(e.node, 'SIGSTOP')
          else if (e.action === 'resume') cluster.signal(e.node, 'SIGCONT')
          else cluster.start(e.node)
          o.progress?.(`nemesis: ${e.action} node ${e.node}`)
        }, e.at),
      )
    }
    const deadline = Date.now() + o.timeS * 1000
    const producer = cairn.producer({
      acks: o.acks === 'all' ? 'all' : 1,
      'enable.idempotence': o.idempotence && o.acks === 'all',
      'delivery.timeout.ms': 10_000,
      'request.timeout.ms': 3000,
      'linger.ms': 5,
    })
    let sent = 0
    const sends: Promise<void>[] = []
    const producers = Array.from({ length: PRODUCERS }, async (_, p) => {
      const process = p + 1
      const gapMs = (1000 * PRODUCERS) / o.rate
      let n = 0
      while (Date.now() < deadline) {
        const key = `k${Math.floor(random() * KEYS)}`
        const value = `p${process}-${n++}`
        history.add({ process, type: 'invoke', f: 'send', time: history.now(), key, value })
        sent++
        const done = producer.send({ topic: 'jepsen', messages: [{ key, value }] }).then(
          ([meta]) =>
            history.add({
              process,
              type: 'ok',
              f: 'send',
              time: history.now(),
              key,
              value,
              partition: meta!.partition,
              offset: meta!.offset,
            }),
          (err: unknown) =>
            history.add({
              process,
              type: isIndeterminate(err) ? 'info' : 'fail',
              f: 'send',
              time: history.now(),
              key,
              value,
              error: String((err as { code?: string }).code ?? err),
            }),
        )
        sends.push(done)
        await new Promise((r) => setTimeout(r, gapMs))
      }
    })
    const consumers = Array.from({ length: CONSUMERS }, async (_, c) => {
      const process = 100 + c
      const consumer = cairn.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 200 })
      const mine = Array.from({ length: o.partitions }, (_, p) => p).filter((p) => p % CONSUMERS === c)
      consumer.assign(mine.map((partition) => ({ topic: 'jepsen', partition })))
      for (const partition of mine) consumer.seek({ topic: 'jepsen', partition }, 'earliest')
      while (Date.now() < deadline) {
        history.add({ process, type: 'invoke', f: 'poll', time: history.now() })
        try {
          const records = await consumer.poll()
          history.add({
            process,
            type: 'ok',
            f: 'poll',
            time: history.now(),
            reads: records.map((r) => ({
              partition: r.partition,
              offset: r.offset,
              value: new TextDecoder().decode(r.value!),
            })),
          })
        } catch (err) {
          history.add({ process, type: 'info', f: 'poll', time: history.now(), error: String(err) })
          await new Promise((r) => setTimeout(r, 100))
        }
      }
    })
    const progress = setInterval(
      () => o.progress?.(`${Math.round((o.timeS * 1000 - (deadline - Date.now())) / 1000)} s: ${sent} sends`),
      5000,
    )
    await Promise.all([...producers, ...consumers])
    clearInterval(progress)
    await Promise.allSettled(sends)

    // Final phase: heal everything, restart what is down, wait for leaders, read every partition.
    for (const t of timers) clearTimeout(t)
    for (let id = 1; id <= o.nodes; id++) {
      const c = cluster.procs.get(id)!
      c.kill('SIGCONT')
      if (c.exitCode !== null || c.signalCode !== null) cluster.start(id)
    }
    o.progress?.('healed; final read of every partition')
    const ends = await waitFor(
      'leaders after the heal',
      async () => {
        await cairn.admin().describeTopic('jepsen')
        return cairn.admin().listOffsets('jepsen', 'latest')
      },
      FINAL_READ_MS_MAX,
    )
    for (const { partition, offset } of ends) {
      history.add({ process: 0, type: 'ok', f: 'hw', time: history.now(), partition, highWatermark: offset })
    }
    const reader = cairn.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 })
    reader.assign(ends.map(({ partition }) => ({ topic: 'jepsen', partition })))
    for (const { partition } of ends) reader.seek({ topic: 'jepsen', partition }, 'earliest')
    const finals = new Map<number, { offset: number; value: string }[]>(
      ends.map(({ partition }) => [partition, []]),
    )
    const target = ends.reduce((s, e) => s + e.offset, 0)
    let read = 0
    const finalDeadline = Date.now() + FINAL_READ_MS_MAX
    while (read < target && Date.now() < finalDeadline) {
      for (const r of await reader.poll()) {
        finals.get(r.partition)!.push({ offset: r.offset, value: new TextDecoder().decode(r.value!) })
        read++
      }
    }
    for (const [partition, reads] of finals) {
      history.add({ process: 0, type: 'ok', f: 'final-read', time: history.now(), partition, reads })
    }
  } finally {
    for (const t of timers) clearTimeout(t)
    await cairn.close().catch(() => undefined)
    await cluster.stopAll()
    await history.close()
  }
  // The producer is idempotent only with acks=all: judge duplicates by what it really was.
  const result = check(history.ops, { acks: o.acks, idempotence: o.idempotence && o.acks === 'all' })
  const s = result.stats
  const names = Object.entries(result.counts)
    .filter(([, n]) => n > 0)
    .map(([name, n]) => `${name}×${n}`)
  const summary = `ops: ${s.sends}, ok: ${s.ok}, failed: ${s.failed}, indeterminate: ${s.indeterminate}, anomalies: ${result.anomalies.length}${names.length ? ` (${names.join(' ')})` : ''}, report: ${join(o.out, 'results.json')}`
  writeFileSync(
    join(o.out, 'results.json'),
    `${JSON.stringify({ summary, ok: result.ok, forbidden: result.forbidden, counts: result.counts, stats: s, anomalies: result.anomalies.slice(0, 200) }, null, 2)}\n`,
  )
  return { check: result, history: history.ops, summary }
}

export function readSchedule(path: string): NemesisEvent[] {
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as { schedule?: NemesisEvent[] }
  if (!Array.isArray(parsed.schedule)) throw new Error(`${path} has no "schedule" array`)
  return parsed.schedule
}
