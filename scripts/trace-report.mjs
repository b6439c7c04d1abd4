#!/usr/bin/env node
// Where each write's time went, hop by hop, from the traces scripts/trace-hops.mjs leaves (one
// file per process: the bench and each node). Three tables, each for all writes and for the
// slowest ones:
// - produce requests: client → node, the node's own time (received → answered), node → client;
// - proposals on their leader: the leader's own flush, and for each follower (first to acknowledge,
//   second, …) its receive, its flush and its acknowledgement's way back, then the commit and the
//   answer;
// - the leader flushes of the slowest proposals, by part: waiting for the batch in flight, the data
//   file's fdatasync, LevelDB's synced write.
// And each process's garbage collections.
//
// Usage: node scripts/trace-report.mjs DIR [--skip-ms 5000] [--slowest 0.02] [--json]
// --skip-ms: leave out the first N ms after the first traced event (the warm-up).
// --slowest: the share of writes the second column covers (0.02: the slowest 2 %).
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const USAGE = `usage: node scripts/trace-report.mjs DIR [--skip-ms 5000] [--slowest 0.02] [--json]
Reads DIR/*.trace (written by scripts/trace-hops.mjs) and prints where each write's time went.`
/** Events of one kind scanned past the first candidate in time before a match is given up. */
const SCAN_EVENTS_MAX = 100_000

function fail(message) {
  console.error(`trace-report: ${message}`)
  process.exit(1)
}

function parseOptions(argv) {
  let parsed
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        'skip-ms': { type: 'string', default: '5000' },
        slowest: { type: 'string', default: '0.02' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', default: false },
      },
    })
  } catch (err) {
    fail(`${err.message}\n${USAGE}`)
  }
  const { values, positionals } = parsed
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  if (positionals.length !== 1) fail(`expected one folder\n${USAGE}`)
  const skipMs = Number(values['skip-ms'])
  if (!Number.isFinite(skipMs) || skipMs < 0) fail(`--skip-ms must be a number ≥ 0, got ${values['skip-ms']}`)
  const slowest = Number(values.slowest)
  if (!(slowest > 0 && slowest < 1)) fail(`--slowest must be between 0 and 1, got ${values.slowest}`)
  return { dir: positionals[0], skipMs, slowest, json: values.json }
}

/** Every process's events, read from its trace file. */
function readTraces(dir) {
  let files
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.trace'))
  } catch (err) {
    fail(`cannot read ${dir}: ${err.message}`)
  }
  if (files.length === 0) fail(`no .trace files in ${dir} (was CAIRN_TRACE_DIR set to it?)`)
  const processes = []
  for (const f of files) {
    const p = { name: f, nodeId: 0, client: [], server: [], raft: [], batches: [], gcs: [] }
    const text = readFileSync(join(dir, f), 'utf8')
    for (const line of text.split('\n')) {
      const w = line.split(' ')
      switch (w[0]) {
        case 'P': {
          const id = /--id_(\d+)/.exec(w[2] ?? '')
          p.nodeId = id ? Number(id[1]) : 0
          // The bench's own process (not npx's, which only waits for it): `…/bin.js bench …`.
          p.name = id
            ? `node ${id[1]}`
            : /bin\.js_bench_/.test(w[2] ?? '')
              ? `bench (${w[1]})`
              : `pid ${w[1]}`
          break
        }
        case 'C':
        case 'S':
          ;(w[0] === 'C' ? p.client : p.server).push({
            event: w[1],
            key: `${w[2]}:${w[3]}`,
            api: w[4],
            t: +w[5],
          })
          break
        case 'R':
          p.raft.push({ event: w[1], group: +w[2], index: +w[3], from: +w[4], t: +w[5] })
          break
        case 'B':
          p.batches.push({
            bytes: +w[2],
            asked: +w[4],
            started: +w[5],
            data: +w[6],
            durable: +w[7],
          })
          break
        case 'G':
          p.gcs.push({ t: +w[2], ms: +w[3] })
          break
      }
    }
    processes.push(p)
  }
  return processes
}

const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]

/** mean, p50, p90, p99 and max of `xs` (ms). */
function summary(xs) {
  if (xs.length === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 }
  const s = [...xs].sort((a, b) => a - b)
  const mean = s.reduce((a, b) => a + b, 0) / s.length
  return {
    count: s.length,
    mean,
    p50: quantile(s, 0.5),
    p90: quantile(s, 0.9),
    p99: quantile(s, 0.99),
    max: s.at(-1),
  }
}

/**
 * Raft events of one process, one event kind, one group (and one sender for `acked`), in time
 * order; `first` finds the earliest at or after a time that covers an index.
 */
class RaftIndex {
  constructor(processes) {
    this.lists = new Map()
    for (const p of processes) {
      for (const e of p.raft) {
        const k = this.key(p, e.event, e.group, e.event === 'acked' ? e.from : 0)
        const list = this.lists.get(k)
        if (list) list.push(e)
        else this.lists.set(k, [e])
      }
    }
    for (const list of this.lists.values()) list.sort((a, b) => a.t - b.t)
  }

  key(p, event, group, from) {
    return `${p.name}|${event}|${group}|${from}`
  }

  first(p, event, group, index, afterMs, from = 0) {
    const list = this.lists.get(this.key(p, event, group, from))
    if (!list) return undefined
    let lo = 0
    let hi = list.length
    while (lo < hi) {
      const mid = (lo + hi) >> 1
      if (list[mid].t < afterMs) lo = mid + 1
      else hi = mid
    }
    for (let k = lo; k < list.length && k < lo + SCAN_EVENTS_MAX; k++)
      if (list[k].index >= index) return list[k].t
    return undefined
  }
}

/** Produce requests matched on both ends: the client's send and answer, the node's receive and answer. */
function requestHops(processes, fromMs) {
  const server = new Map()
  for (const p of processes)
    for (const e of p.server) if (e.api === 'produce') server.set(`${e.event}|${e.key}`, e.t)
  const sent = new Map()
  const rows = []
  for (const p of processes) {
    for (const e of p.client) {
      if (e.api !== 'produce') continue
      if (e.event === 'sent') sent.set(e.key, e.t)
      else if (e.event === 'answered' && sent.has(e.key)) {
        const row = {
          sent: sent.get(e.key),
          received: server.get(`received|${e.key}`),
          answeredByNode: server.get(`answered|${e.key}`),
          answered: e.t,
        }
        sent.delete(e.key)
        if (row.sent >= fromMs && row.received !== undefined && row.answeredByNode !== undefined)
          rows.push(row)
      }
    }
  }
  return rows.map((r) => ({
    total: r.answered - r.sent,
    parts: {
      'client → node': r.received - r.sent,
      'node: received → answered': r.answeredByNode - r.received,
      'node → client': r.answered - r.answeredByNode,
    },
  }))
}

/** Each proposal on its leader, with each follower's part, the commit and the answer. */
function proposalHops(processes, fromMs) {
  const index = new RaftIndex(processes)
  const byNodeId = new Map(processes.filter((p) => p.nodeId > 0).map((p) => [p.nodeId, p]))
  const rows = []
  for (const leader of processes) {
    const batches = [...leader.batches].sort((a, b) => a.durable - b.durable)
    for (const e of leader.raft) {
      if (e.event !== 'proposed' || e.t < fromMs) continue
      const { group, index: i, t } = e
      const answered = index.first(leader, 'answered', group, i, t)
      const durable = index.first(leader, 'durable', group, i, t)
      const committed = index.first(leader, 'committed', group, i, t)
      if (answered === undefined || durable === undefined || committed === undefined) continue
      const followers = []
      for (const [nodeId, f] of byNodeId) {
        if (f === leader) continue
        const appended = index.first(f, 'appended', group, i, t)
        if (appended === undefined) continue
        const fDurable = index.first(f, 'durable', group, i, appended)
        const acked =
          fDurable === undefined ? undefined : index.first(leader, 'acked', group, i, fDurable, nodeId)
        if (acked !== undefined) followers.push({ appended, durable: fDurable, acked })
      }
      followers.sort((a, b) => a.acked - b.acked)
      // The quorum: a majority of the leader and its followers have it durable (the leader's own
      // flush counts once it lands).
      const durableAt = [durable, ...followers.map((f) => f.acked)].sort((a, b) => a - b)
      const quorumAt = durableAt[Math.floor((1 + followers.length) / 2)]
      const parts = { "leader's flush": durable - t }
      followers.forEach((f, k) => {
        const which = k === 0 ? 'first' : k === 1 ? 'second' : `${k + 1}th`
        parts[`${which} follower: proposed → received`] = f.appended - t
        parts[`${which} follower: received → durable`] = f.durable - f.appended
        parts[`${which} follower: durable → ack at leader`] = f.acked - f.durable
      })
      parts['quorum durable → committed'] = committed - quorumAt
      parts['committed → answered'] = answered - committed
      rows.push({ total: answered - t, parts, flush: flushParts(batches, t, durable) })
    }
  }
  return rows
}

/** The leader's flush of a proposal at `proposedMs` that Raft learned durable at `durableMs`, by part. */
function flushParts(batches, proposedMs, durableMs) {
  let lo = 0
  let hi = batches.length
  while (lo < hi) {
    const mid = (lo + hi) >> 1
    if (batches[mid].durable <= durableMs) lo = mid + 1
    else hi = mid
  }
  const b = batches[lo - 1]
  if (b === undefined || b.durable < proposedMs) return undefined
  const asked = Math.max(b.asked, proposedMs)
  return {
    'proposed → flush asked': asked - proposedMs,
    'waiting for the batch in flight': Math.max(0, b.started - asked),
    'data file written and fdatasynced': b.data - b.started,
    'LevelDB batch written with sync': b.durable - b.data,
    'durable → Raft told': durableMs - b.durable,
    'batch KiB': b.bytes / 1024,
  }
}

/** For each part: its summary over all rows and over the slowest share of them. */
function breakdown(rows, slowest, partsOf) {
  const sorted = [...rows].sort((a, b) => a.total - b.total)
  const slow = sorted.slice(Math.floor(sorted.length * (1 - slowest)))
  const names = [...new Set(rows.flatMap((r) => Object.keys(partsOf(r) ?? {})))]
  const parts = {}
  for (const name of names) {
    const of = (rs) =>
      rs
        .map(partsOf)
        .filter((p) => p?.[name] !== undefined)
        .map((p) => p[name])
    parts[name] = { all: summary(of(rows)), slowest: summary(of(slow)) }
  }
  return { total: summary(rows.map((r) => r.total)), slowestCount: slow.length, parts }
}

function main() {
  const o = parseOptions(process.argv.slice(2))
  const processes = readTraces(o.dir)
  let firstMs = Number.POSITIVE_INFINITY
  for (const p of processes)
    for (const e of [...p.client, ...p.server, ...p.raft]) firstMs = Math.min(firstMs, e.t)
  if (firstMs === Number.POSITIVE_INFINITY)
    fail(`no request or Raft events in ${o.dir}: were the processes Cairn's?`)
  const fromMs = firstMs + o.skipMs
  const requests = breakdown(requestHops(processes, fromMs), o.slowest, (r) => r.parts)
  const proposalRows = proposalHops(processes, fromMs)
  const proposals = breakdown(proposalRows, o.slowest, (r) => r.parts)
  const flushes = breakdown(proposalRows, o.slowest, (r) => r.flush)
  const gc = processes.map((p) => {
    const s = summary(p.gcs.filter((g) => g.t >= fromMs).map((g) => g.ms))
    return { process: p.name, count: s.count, totalMs: s.mean * s.count, p99Ms: s.p99, maxMs: s.max }
  })
  const result = { processes: processes.map((p) => p.name).sort(), requests, proposals, flushes, gc }
  if (o.json) return console.log(JSON.stringify(result))
  print(result, o)
}

function print(r, o) {
  const f = (x) => x.toFixed(2).padStart(7)
  const share = `slowest ${+(o.slowest * 100).toFixed(2)} %`
  const table = (title, b) => {
    const t = b.total
    console.log(
      `\n${title}: ${t.count} (p50 ${f(t.p50)}, p90 ${f(t.p90)}, p99 ${f(t.p99)}, max ${f(t.max)} ms)`,
    )
    if (t.count === 0) return
    const width = Math.max(...Object.keys(b.parts).map((n) => n.length))
    console.log(
      `  ${''.padEnd(width)}   all: mean     p50     p99 | ${share} (${b.slowestCount}): mean     p50     p90`,
    )
    for (const [name, p] of Object.entries(b.parts)) {
      const pad = ''.padEnd(share.length + String(b.slowestCount).length - 2)
      console.log(
        `  ${name.padEnd(width)}  ${f(p.all.mean)} ${f(p.all.p50)} ${f(p.all.p99)} | ${pad}${f(p.slowest.mean)} ${f(p.slowest.p50)} ${f(p.slowest.p90)}`,
      )
    }
  }
  console.log(`processes: ${r.processes.join(', ')}; the first ${o.skipMs} ms left out`)
  table('produce requests, client sent → answered', r.requests)
  table('proposals, on their leader: proposed → answered', r.proposals)
  table("the leader's flush of those proposals, by part", r.flushes)
  console.log('\ngarbage collection (after the first ms left out):')
  for (const g of r.gc)
    console.log(
      `  ${g.process.padEnd(16)} ${String(g.count).padStart(5)} pauses, ${g.totalMs.toFixed(0).padStart(5)} ms in all, p99 ${f(g.p99Ms)}, max ${f(g.maxMs)} ms`,
    )
}

main()
