/**
 * One run: real `cairn node start` processes on 127.0.0.1 (cluster.ts), a workload that records
 * every operation (invoke, then ok / fail / info) in DIR/history.jsonl, a nemesis carrying out a
 * schedule drawn from the seed (nemesis.ts, executor.ts; DIR/schedule.json, --schedule replays
 * one), then a final phase — heal everything, wait for leaders, read every partition from the
 * start — the checker, DIR/results.json and the report DIR/index.html.
 */
import { createWriteStream, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { Cairn, type Consumer, seededRandom } from '@cairn/client'
import { type CheckResult, check } from './checker.js'
import { Cluster } from './cluster.js'
import { type AppliedEvent, NemesisExecutor } from './executor.js'
import type { Op } from './history.js'
import { drawSchedule, type Nemesis, type NemesisEvent, validateSchedule, windowsOf } from './nemesis.js'
import { reportFigures, writeReport } from './report.js'

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
  /** start every node with this deliberate defect (see @cairn/broker's test-bugs.ts) */
  unsafeTestBug?: string
  /** the nodes' log segment size: small ones make every fault land across segment changes */
  logSegmentBytes?: number
  /** the nodes' inline data bound: 0 puts every record's data in the log store's data files */
  inlineDataBytesMax?: number
  progress?: (line: string) => void
}

const PRODUCERS = 4
const CONSUMERS = 2
/** Members of one consumer group subscribed to the topic (each "crashes" now and then too). */
const GROUP_MEMBERS = 2
const GROUP = 'jepsen-group'
const KEYS = 16
const TOPIC = 'jepsen'
const FINAL_READ_MS_MAX = 60_000
const STARTUP_MS_MAX = 60_000
/** A consumer "crashes" (is dropped and made anew) after this many ms, give or take half. */
const CONSUMER_LIFE_MS = 6000

class History {
  readonly ops: Op[] = []
  private readonly file: ReturnType<typeof createWriteStream>
  private started = Date.now()

  constructor(path: string) {
    this.file = createWriteStream(path)
  }

  now(): number {
    return Date.now() - this.started
  }

  /** Time 0 is when the workload starts (the nemesis schedule counts from there too). */
  restart(): void {
    this.started = Date.now()
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
  applied: AppliedEvent[]
}

const decoder = new TextDecoder()

export async function run(o: RunOptions): Promise<RunResult> {
  const random = seededRandom(o.seed)
  mkdirSync(o.out, { recursive: true })
  const schedule = o.schedule ?? drawSchedule(o)
  const options = { ...o, schedule: undefined, progress: undefined }
  writeFileSync(join(o.out, 'schedule.json'), `${JSON.stringify({ options, schedule }, null, 2)}\n`)
  const uses = (...actions: string[]) => schedule.some((e) => actions.includes(e.action))
  const cluster = await Cluster.create({
    size: o.nodes,
    dir: o.out,
    random,
    proxies: uses('isolate', 'cut-out', 'cut-in', 'ring', 'slow', 'heal-network'),
    clocks: uses('clock-skew', 'clock-strobe'),
    ...(o.unsafeTestBug !== undefined && { unsafeTestBug: o.unsafeTestBug }),
    ...(o.logSegmentBytes !== undefined && { logSegmentBytes: o.logSegmentBytes }),
    ...(o.inlineDataBytesMax !== undefined && { inlineDataBytesMax: o.inlineDataBytesMax }),
  })
  for (const id of cluster.ids) cluster.start(id)
  const history = new History(join(o.out, 'history.jsonl'))
  const cairn = new Cairn({ bootstrap: cluster.bootstrap(), attemptsMax: 5 })
  const log = (line: string) => o.progress?.(`${(history.now() / 1000).toFixed(1)} s: ${line}`)
  const executor = new NemesisExecutor(cluster, cairn.admin(), TOPIC, () => history.now(), log)
  const timers: NodeJS.Timeout[] = []
  try {
    const admin = cairn.admin()
    await waitFor(
      'the topic',
      async () => {
        try {
          await admin.createTopics([
            { topic: TOPIC, numPartitions: o.partitions, replicationFactor: Math.min(3, o.nodes) },
          ])
        } catch (err) {
          if ((err as { code?: string }).code !== 'TOPIC_ALREADY_EXISTS') throw err
        }
        return (await admin.describeTopic(TOPIC)).every((p) => p.leaderId > 0) ? true : undefined
      },
      STARTUP_MS_MAX,
    )
    history.restart()
    log(
      `cluster of ${o.nodes} up; workload for ${o.timeS} s at ${o.rate} sends/s, nemesis ${o.nemesis.join(',') || 'none'} (${schedule.length} events)${o.unsafeTestBug ? `, UNSAFE TEST BUG ${o.unsafeTestBug}` : ''}`,
    )
    // Events run one after another, each when its time comes: a later one may name the nodes an
    // earlier one hit.
    let chain = Promise.resolve()
    for (const [index, e] of schedule.entries()) {
      timers.push(
        setTimeout(() => {
          chain = chain.then(() =>
            executor.apply(e, index).then(
              () => undefined,
              (err: unknown) => log(`nemesis: ${e.action} failed: ${String(err)}`),
            ),
          )
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
    let acked = 0
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
        const done = producer.send({ topic: TOPIC, messages: [{ key, value }] }).then(
          ([meta]) => {
            acked++
            history.add({
              process,
              type: 'ok',
              f: 'send',
              time: history.now(),
              key,
              value,
              partition: meta!.partition,
              offset: meta!.offset,
            })
          },
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
    const context = { cairn, history, random, deadline, partitions: o.partitions }
    const consumers = [
      ...Array.from({ length: CONSUMERS }, (_, c) => consume(100 + c, c, context)),
      ...Array.from({ length: GROUP_MEMBERS }, (_, m) => consumeInGroup(200 + m, context)),
    ]
    const progress = setInterval(
      () =>
        log(
          `${sent} sends, ${acked} acknowledged, ${executor.applied.length}/${schedule.length} nemesis events`,
        ),
      5000,
    )
    await Promise.all([...producers, ...consumers])
    clearInterval(progress)
    await Promise.allSettled(sends)

    // Final phase: heal everything, restart what is down, wait for leaders, read every partition.
    for (const t of timers) clearTimeout(t)
    await chain
    cluster.healAll()
    log('healed; final read of every partition')
    const ends = await waitFor(
      'leaders after the heal',
      async () => {
        await cairn.admin().describeTopic(TOPIC)
        return cairn.admin().listOffsets(TOPIC, 'latest')
      },
      FINAL_READ_MS_MAX,
    )
    for (const { partition, offset } of ends) {
      history.add({ process: 0, type: 'ok', f: 'hw', time: history.now(), partition, highWatermark: offset })
    }
    const reader = cairn.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 100 })
    reader.assign(ends.map(({ partition }) => ({ topic: TOPIC, partition })))
    for (const { partition } of ends) reader.seek({ topic: TOPIC, partition }, 'earliest')
    const finals = new Map<number, { offset: number; value: string }[]>(
      ends.map(({ partition }) => [partition, []]),
    )
    const target = ends.reduce((s, e) => s + e.offset, 0)
    let read = 0
    const finalDeadline = Date.now() + FINAL_READ_MS_MAX
    while (read < target && Date.now() < finalDeadline) {
      for (const r of await reader.poll().catch(() => [])) {
        finals.get(r.partition)!.push({ offset: r.offset, value: decoder.decode(r.value!) })
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
  const reportPath = join(o.out, 'index.html')
  const summary = `ops: ${s.sends}, ok: ${s.ok}, failed: ${s.failed}, indeterminate: ${s.indeterminate}, anomalies: ${result.anomalies.length}${names.length ? ` (${names.join(' ')})` : ''}, report: ${reportPath}`
  const nemesis = windowsOf(
    executor.applied.map((a) => ({
      at: a.time,
      action: a.action,
      window: a.window,
      ...(a.label && { label: a.label }),
    })),
  )
  const input = { summary, options, ops: history.ops, nemesis, check: result }
  writeFileSync(
    join(o.out, 'results.json'),
    `${JSON.stringify(
      {
        summary,
        ok: result.ok,
        forbidden: result.forbidden,
        counts: result.counts,
        stats: s,
        nemesis: executor.applied,
        figures: reportFigures(input),
        anomalies: result.anomalies.slice(0, 200),
      },
      null,
      2,
    )}\n`,
  )
  await writeReport(o.out, input)
  return { check: result, history: history.ops, summary, applied: executor.applied }
}

interface ConsumeContext {
  cairn: Cairn
  history: History
  random: () => number
  deadline: number
  partitions: number
}

/**
 * One consumer process: reads its share of the partitions, and every few seconds "crashes" —
 * drops its consumer and makes a new one that resumes where the old one stopped (so a skip
 * across the restart is still a poll-skip), or, now and then, from the earliest offset.
 */
async function consume(process: number, c: number, x: ConsumeContext): Promise<void> {
  const { history } = x
  const mine = Array.from({ length: x.partitions }, (_, p) => p).filter((p) => p % CONSUMERS === c)
  const next = new Map<number, number>()
  let consumer: Consumer | null = null
  let seek = false
  let lifeEnds = 0
  while (Date.now() < x.deadline) {
    if (consumer === null || Date.now() > lifeEnds) {
      consumer = x.cairn.consumer({ autoOffsetReset: 'earliest', maxWaitMs: 200 })
      consumer.assign(mine.map((partition) => ({ topic: TOPIC, partition })))
      const fromStart = next.size === 0 || x.random() < 0.2
      for (const partition of mine) {
        const at = next.get(partition)
        consumer.seek({ topic: TOPIC, partition }, fromStart || at === undefined ? 'earliest' : at)
      }
      seek ||= fromStart
      lifeEnds = Date.now() + CONSUMER_LIFE_MS * (0.5 + x.random())
    }
    history.add({ process, type: 'invoke', f: 'poll', time: history.now(), ...(seek && { seek: true }) })
    seek = false
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
          value: decoder.decode(r.value!),
        })),
      })
      for (const r of records) next.set(r.partition, r.offset + 1)
      for (const partition of mine) {
        const highWatermark = consumer.highWatermark({ topic: TOPIC, partition })
        if (highWatermark > 0)
          history.add({ process, type: 'ok', f: 'hw', time: history.now(), partition, highWatermark })
      }
    } catch (err) {
      history.add({ process, type: 'info', f: 'poll', time: history.now(), error: String(err) })
      // Its position is unknown now (the checker forgets it too): start over from the earliest.
      consumer = null
      next.clear()
      await new Promise((r) => setTimeout(r, 100))
    }
  }
}

/**
 * One member of a consumer group: subscribes, records each batch it is handed as a poll (invoke and
 * ok), and every few seconds stops (committing what it finished, leaving the group) and joins
 * again. A rebalance or a restart moves its positions (a partition comes back at its committed
 * offset, maybe one another member read past): the next poll carries `seek`.
 */
async function consumeInGroup(process: number, x: ConsumeContext): Promise<void> {
  const { history } = x
  while (Date.now() < x.deadline) {
    let moved = true
    const member = x.cairn.consumer({
      groupId: GROUP,
      'auto.offset.reset': 'earliest',
      'session.timeout.ms': 6000,
      'heartbeat.interval.ms': 500,
      'auto.commit.interval.ms': 1000,
      'partition.assignment.strategy': ['cooperative-sticky'],
    })
    member.subscribe(
      { topics: [TOPIC] },
      {
        onPartitionsAssigned: () => {
          moved = true
        },
        onPartitionsRevoked: () => {
          moved = true
        },
        onPartitionsLost: () => {
          moved = true
        },
      },
    )
    const lifeEnds = Math.min(x.deadline, Date.now() + CONSUMER_LIFE_MS * (0.5 + x.random()))
    const stopper = setTimeout(() => void member.stop().catch(() => undefined), lifeEnds - Date.now())
    try {
      await member.run({
        eachBatch: ({ batch }) => {
          history.add({
            process,
            type: 'invoke',
            f: 'poll',
            time: history.now(),
            ...(moved && { seek: true }),
          })
          moved = false
          history.add({
            process,
            type: 'ok',
            f: 'poll',
            time: history.now(),
            reads: batch.messages.map((r) => ({
              partition: r.partition,
              offset: r.offset,
              value: decoder.decode(r.value!),
            })),
          })
        },
      })
    } catch (err) {
      history.add({ process, type: 'invoke', f: 'poll', time: history.now(), seek: true })
      history.add({ process, type: 'info', f: 'poll', time: history.now(), error: String(err) })
      await new Promise((r) => setTimeout(r, 100))
    } finally {
      clearTimeout(stopper)
      await member.close().catch(() => undefined)
    }
  }
}

export function readSchedule(path: string, nodes: number): NemesisEvent[] {
  const parsed = JSON.parse(readFileSync(path, 'utf8')) as { schedule?: unknown }
  return validateSchedule(parsed.schedule, { nodes })
}
