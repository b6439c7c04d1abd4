/**
 * cairn bench idle: a topic of N partitions, RF 3, on the local 3-node cluster, created a batch of
 * partitions at a time; once every partition has a leader (and --settle-seconds have passed), each
 * node process's CPU (utime + stime of /proc/PID/stat over --seconds, in % of one core) and RSS
 * (VmRSS of /proc/PID/status) are sampled while nothing is written.
 */
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { createTopic, type Run } from './bench-context.js'
import { clockTicksPerS, cpuTicks, rssBytes } from './bench-cpu.js'
import { PROGRESS_INTERVAL_MS, round3, table } from './bench-report.js'
import type { BenchResult } from './bench-workloads.js'

/** Partitions per createTopics / createPartitions request. */
const PARTITIONS_PER_REQUEST_MAX = 500
/** Waiting for leaders: a base, and more per partition (thousands of elections on two cores). */
const LEADERS_WAIT_MS_BASE = 60_000
const LEADERS_WAIT_MS_PER_PARTITION = 50
const MB = 1_000_000

interface Sample {
  atMs: number
  ticks: number
  rssBytes: number
}

function sample(node: number, pid: number): Sample {
  try {
    return {
      atMs: performance.now(),
      ticks: cpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8')),
      rssBytes: rssBytes(readFileSync(`/proc/${pid}/status`, 'utf8')),
    }
  } catch (err) {
    throw new Error(`node ${node} (pid ${pid}) cannot be sampled; did it exit? (${(err as Error).message})`)
  }
}

export async function idleWorkload(run: Run): Promise<BenchResult> {
  const o = run.options
  const cluster = run.cluster
  if (!cluster) throw new Error('cairn bench idle needs a local cluster of its own')
  if (!existsSync('/proc/self/stat')) throw new Error('cairn bench idle reads /proc: it runs on Linux only')
  const cairn = run.client()
  const admin = cairn.admin()
  const topic = o.topic ?? `bench-idle-${randomBytes(4).toString('hex')}`
  const startedMs = performance.now()
  let status = 'creating the topic'
  const report = () => {
    const s = ((performance.now() - startedMs) / 1000).toFixed(0).padStart(4)
    process.stderr.write(`[idle] ${s} s  ${status}\n`)
  }
  const progress = setInterval(report, PROGRESS_INTERVAL_MS)
  progress.unref()
  run.onCleanup(() => clearInterval(progress))

  let created = Math.min(o.partitions, PARTITIONS_PER_REQUEST_MAX)
  await createTopic(run, cairn, topic, created, o.replicationFactor)
  let leaders = 0
  const waitForLeaders = (count: number) =>
    run.waitFor(
      `leaders for ${count} partitions of ${topic}`,
      LEADERS_WAIT_MS_BASE + LEADERS_WAIT_MS_PER_PARTITION * count,
      async () => {
        const partitions = await admin.describeTopic(topic).catch(() => [])
        leaders = partitions.filter((p) => p.leaderId > 0).length
        status = `created ${created}/${o.partitions} partitions, ${leaders} with a leader`
        return partitions.length >= count && leaders >= count ? true : undefined
      },
    )
  await waitForLeaders(created)
  while (created < o.partitions) {
    created = Math.min(o.partitions, created + PARTITIONS_PER_REQUEST_MAX)
    await admin.createPartitions(topic, created)
    await waitForLeaders(created)
  }
  status = `all ${o.partitions} partitions have a leader; settling for ${o.settleSeconds} s`
  report() // a milestone: said at once, even when the leaders came before the first progress line
  await run.sleep(o.settleSeconds * 1000)

  const ticksPerS = clockTicksPerS()
  const nodes = cluster.ids().map((id) => ({ id, pid: cluster.pid(id) }))
  const first = nodes.map((n) => sample(n.id, n.pid))
  let last = first
  const cpuPercent = (k: number) => {
    const seconds = (last[k]!.atMs - first[k]!.atMs) / 1000
    return seconds > 0 ? ((last[k]!.ticks - first[k]!.ticks) / ticksPerS / seconds) * 100 : 0
  }
  for (let s = 1; s <= o.seconds; s++) {
    status = `sampling ${s - 1}/${o.seconds} s`
    await run.sleep(1000)
    last = nodes.map((n) => sample(n.id, n.pid))
    status = `sampled ${s}/${o.seconds} s: ${nodes
      .map((n, k) => `node ${n.id} ${cpuPercent(k).toFixed(1)}% ${(last[k]!.rssBytes / MB).toFixed(0)} MB`)
      .join('  ')}`
  }
  clearInterval(progress)

  const rows = nodes.map((n, k) => ({
    node: n.id,
    pid: n.pid,
    cpuPercent: cpuPercent(k),
    rssMb: last[k]!.rssBytes / MB,
  }))
  const cpuMax = Math.max(...rows.map((r) => r.cpuPercent))
  const rssMax = Math.max(...rows.map((r) => r.rssMb))
  return {
    title:
      `cairn bench idle: topic ${topic} (${o.partitions} partitions, RF ${o.replicationFactor}), ` +
      `nothing written; CPU and RSS of each node over ${o.seconds} s; a local ${nodes.length}-node cluster (${cluster.dir})`,
    tables: [
      table([
        ['node', 'pid', 'CPU % of a core', 'RSS MB'],
        ...rows.map((r) => [String(r.node), String(r.pid), r.cpuPercent.toFixed(2), r.rssMb.toFixed(1)]),
        ['max', '', cpuMax.toFixed(2), rssMax.toFixed(1)],
      ]),
    ],
    json: {
      workload: 'idle',
      topic,
      partitions: o.partitions,
      replication_factor: o.replicationFactor,
      seconds: o.seconds,
      nodes: rows.map((r) => ({
        node: r.node,
        pid: r.pid,
        cpu_percent: round3(r.cpuPercent),
        rss_mb: round3(r.rssMb),
      })),
      cpu_percent_max: round3(cpuMax),
      rss_mb_max: round3(rssMax),
    },
    failures: 0,
    firstError: null,
  }
}
