/**
 * The producer's CPU cost per record, without a cluster: the real Producer sends to the tests' fake
 * cluster (test/helpers.ts, not recording, so it keeps no bytes) on the system clock, which answers
 * every request after --latency-ms. The producer is configured as `cairn bench produce` configures
 * it (acks=all, idempotent, linger.ms=0, batch.size=131072, ...), one record per send(), at most
 * --in-flight records unacknowledged.
 *
 * Judge by CPU µs per record (process.cpuUsage: this thread and V8's helper threads), not by
 * records/s: the machine may be shared. The fake broker's own work (batch header check, sequence
 * state, one timer per request) is included and small.
 *
 *   node --import tsx bench/producer-cpu.ts [--code dist|src] [--load cli|bare] [--records 500000] [--runs 3]
 *     [--warmup 200000] [--latency-ms 20] [--partitions 16] [--record-size 100] [--in-flight 100000]
 *
 * --code dist (default) runs the built code, as `cairn bench` does: build first (tsc in packages/client
 * and packages/cli); --code src runs the sources under tsx, which cost more (see below).
 * --client-dist DIR and --cli-dist DIR run another build (say, a copy of dist saved before a change)
 * instead: alternate runs of both to compare them on a busy machine.
 * --load cli (default) drives the producer with `cairn bench`'s own LoadGenerator
 * (packages/cli/src/bench-load.ts: histograms and all); --load bare with a minimal loop, for the
 * producer alone. --alloc-top N samples allocations over the measured runs (V8's sampling heap
 * profiler, garbage included) and prints the N sites allocating the most bytes.
 */
import { Session } from 'node:inspector/promises'
import { type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type * as CliLoad from '../../cli/src/bench-load.js'
import type * as Client from '../src/index.js'
import type { Producer, ProducerConfig } from '../src/index.js'
import { FakeCluster } from '../test/helpers.js'

const { values } = parseArgs({
  options: {
    load: { type: 'string', default: 'cli' },
    code: { type: 'string', default: 'dist' },
    'client-dist': { type: 'string' },
    'cli-dist': { type: 'string' },
    records: { type: 'string', default: '500000' },
    runs: { type: 'string', default: '3' },
    warmup: { type: 'string', default: '200000' },
    'latency-ms': { type: 'string', default: '20' },
    partitions: { type: 'string', default: '16' },
    'record-size': { type: 'string', default: '100' },
    'in-flight': { type: 'string', default: '100000' },
    json: { type: 'boolean', default: false },
    'alloc-top': { type: 'string', default: '0' },
  },
})
const load = values.load
if (load !== 'cli' && load !== 'bare') throw new Error(`--load is cli or bare, not ${load}`)
const code = values.code
if (code !== 'dist' && code !== 'src') throw new Error(`--code is dist or src, not ${code}`)
// tsx compiles with esbuild's keepNames, which wraps every closure in a call that names it, each
// time it is created: sources run under tsx pay a per-closure cost the built code does not.
const clientDist = values['client-dist']
const cliDist = values['cli-dist']
const client: typeof Client =
  clientDist !== undefined
    ? await import(pathToFileURL(`${clientDist}/index.js`).href)
    : code === 'dist'
      ? await import('../dist/index.js')
      : await import('../src/index.js')
const { LoadGenerator }: typeof CliLoad =
  cliDist !== undefined
    ? await import(pathToFileURL(`${cliDist}/bench-load.js`).href)
    : code === 'dist'
      ? await import('../../cli/dist/bench-load.js')
      : await import('../../cli/src/bench-load.js')
const records = Number(values.records)
const runs = Number(values.runs)
const warmup = Number(values.warmup)
const latencyMs = Number(values['latency-ms'])
const partitions = Number(values.partitions)
const recordSizeBytes = Number(values['record-size'])
const inFlightMax = Number(values['in-flight'])
const topic = 'bench'
/** Sends per turn of the event loop, as the LoadGenerator's SENDS_PER_TURN_MAX. */
const SENDS_PER_TURN_MAX = 10_000

/** As packages/cli/src/bench-context.ts configures a bench producer (acks=all). */
const config: ProducerConfig = {
  acks: 'all',
  'enable.idempotence': true,
  'linger.ms': 0,
  'batch.size': 131_072,
  'buffer.memory': 33_554_432,
  'max.block.ms': 60_000,
  'max.request.size': 1_048_576,
  'max.in.flight.requests.per.connection': 5,
  'retry.backoff.ms': 100,
  'retry.backoff.max.ms': 1000,
  'request.timeout.ms': 30_000,
  'delivery.timeout.ms': 120_000,
}

/** The minimal load: one record per send, at most inFlightMax unacknowledged. */
function bareLoad(producer: Producer, count: number): Promise<{ acked: number; failed: number }> {
  const value = new Uint8Array(recordSizeBytes).fill(7)
  let sent = 0
  let inFlight = 0
  let acked = 0
  let failed = 0
  let scheduled = false
  return new Promise((resolve) => {
    const settled = () => {
      inFlight--
      if (sent === count && inFlight === 0) resolve({ acked, failed })
      else schedule()
    }
    const ok = () => {
      acked++
      settled()
    }
    const fail = () => {
      failed++
      settled()
    }
    const schedule = () => {
      if (scheduled || sent === count) return
      scheduled = true
      setImmediate(pump)
    }
    const pump = () => {
      scheduled = false
      for (let budget = SENDS_PER_TURN_MAX; budget > 0; budget--) {
        if (sent === count || inFlight >= inFlightMax) return
        sent++
        inFlight++
        producer.send({ topic, messages: [{ value }] }).then(ok, fail)
      }
      schedule()
    }
    pump()
  })
}

async function cliLoad(producer: Producer, count: number): Promise<{ acked: number; failed: number }> {
  const generator = new LoadGenerator([producer as never], {
    topic,
    recordSizeBytes,
    records: count,
    ratePerS: 0,
    inFlightMax,
    timestampInValue: false,
  })
  await generator.run()
  if (generator.firstError !== null) console.error(`first error: ${generator.firstError}`)
  return { acked: generator.acked, failed: generator.failed }
}

const drive = load === 'cli' ? cliLoad : bareLoad

interface Figures {
  records: number
  recordsPerS: number
  cpuUsPerRecord: number
  gcMs: number
  gcShare: number
  scavenges: number
  markSweeps: number
}

/** GC pauses seen by the observer, by kind (node:perf_hooks 'gc' entries). */
const gc = { ms: 0, scavenges: 0, markSweeps: 0 }
const observer = new PerformanceObserver((list) => {
  for (const entry of list.getEntries() as (PerformanceEntry & { detail?: { kind?: number } })[]) {
    gc.ms += entry.duration
    // kind: 1 minor (scavenge), 2 major (mark-sweep-compact), 4 incremental, 8 weak callbacks.
    if (entry.detail?.kind === 1) gc.scavenges++
    else if (entry.detail?.kind === 2) gc.markSweeps++
  }
})
observer.observe({ entryTypes: ['gc'] })

async function run(producer: Producer, count: number): Promise<Figures> {
  const gc0 = { ...gc }
  const cpu0 = process.cpuUsage()
  const t0 = performance.now()
  const { acked, failed } = await drive(producer, count)
  const cpu = process.cpuUsage(cpu0)
  const wallMs = performance.now() - t0
  // Entries are delivered asynchronously: let the last ones arrive.
  await new Promise((resolve) => setImmediate(resolve))
  if (acked !== count || failed !== 0) throw new Error(`acked ${acked} and failed ${failed} of ${count}`)
  const cpuUs = cpu.user + cpu.system
  const gcMs = gc.ms - gc0.ms
  return {
    records: count,
    recordsPerS: Math.round((count / wallMs) * 1000),
    cpuUsPerRecord: cpuUs / count,
    gcMs,
    gcShare: (gcMs * 1000) / cpuUs,
    scavenges: gc.scavenges - gc0.scavenges,
    markSweeps: gc.markSweeps - gc0.markSweeps,
  }
}

const cluster = new FakeCluster(client.systemClock)
cluster.recording = false
cluster.responseDelayMs = latencyMs
cluster.createTopic(topic, partitions)
const producer = new client.Producer(config, cluster.io, {
  clock: client.systemClock,
  random: client.seededRandom(1),
})
await producer.connect()
if (warmup > 0) await run(producer, warmup)
const allocTop = Number(values['alloc-top'])
const session = allocTop > 0 ? new Session() : null
if (session !== null) {
  session.connect()
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 4096,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  })
}
const all: Figures[] = []
for (let k = 0; k < runs; k++) {
  const f = await run(producer, records)
  all.push(f)
  if (values.json) console.log(JSON.stringify({ load, ...f }))
  else
    console.log(
      `code=${clientDist ?? code} load=${load} records=${f.records} records/s=${f.recordsPerS} cpu_us/record=${f.cpuUsPerRecord.toFixed(3)} ` +
        `gc_pauses=${f.gcMs.toFixed(0)}ms (${(f.gcShare * 100).toFixed(1)}% of cpu time; wall time, so inflated on a busy machine) scavenges=${f.scavenges} mark-sweeps=${f.markSweeps}`,
    )
}
const sorted = all.map((f) => f.cpuUsPerRecord).sort((a, b) => a - b)
console.log(`median cpu_us/record=${sorted[Math.floor(sorted.length / 2)]!.toFixed(3)}`)
if (session !== null) {
  interface AllocationNode {
    callFrame: { functionName: string; url: string; lineNumber: number }
    selfSize: number
    children: AllocationNode[]
  }
  const { profile } = (await session.post('HeapProfiler.stopSampling')) as {
    profile: { head: AllocationNode }
  }
  const bySite = new Map<string, number>()
  const visit = (n: AllocationNode) => {
    const f = n.callFrame
    const site = `${f.functionName || '(anonymous)'} ${f.url.replace(/^.*\/(packages|node_modules)\//, '$1/')}:${f.lineNumber + 1}`
    bySite.set(site, (bySite.get(site) ?? 0) + n.selfSize)
    for (const c of n.children) visit(c)
  }
  visit(profile.head)
  const total = runs * records
  console.log('bytes allocated per record, by site (sampled):')
  for (const [site, bytes] of [...bySite].sort((a, b) => b[1] - a[1]).slice(0, allocTop))
    console.log(`${(bytes / total).toFixed(1).padStart(8)}  ${site}`)
  const sum = [...bySite.values()].reduce((a, b) => a + b, 0)
  console.log(`${(sum / total).toFixed(1).padStart(8)}  in all`)
  session.disconnect()
}
await producer.close()
observer.disconnect()
