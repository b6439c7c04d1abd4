/**
 * cairn bench produce|consume|e2e|failover|idle — throughput, latency, failover and idle-cost
 * figures, after the OpenMessaging Benchmark. Runs against --bootstrap, or starts a local 3-node
 * cluster of its own (always, for failover and idle) and tears it down afterwards, on Ctrl-C too.
 * A progress line goes to stderr every second; the summary to stdout, and with --json a final JSON
 * line.
 */
import { parseArgs } from 'node:util'
import { OFFSETS_TOPIC } from '@cairn/protocol'
import { fail, parseHostPort } from './args.js'
import { LOCAL_NODES, LocalCluster } from './bench-cluster.js'
import { BenchAborted, type BenchOptions, defaultInFlight, Run, type Workload } from './bench-context.js'
import { failoverWorkload } from './bench-failover.js'
import { idleWorkload } from './bench-idle.js'
import { type BenchResult, consumeWorkload, e2eWorkload, produceWorkload } from './bench-workloads.js'

export const BENCH_USAGE = `usage: cairn bench produce|consume|e2e [--topic T] [--partitions 16] [--replication-factor 3]
                   [--acks all] [--record-size 100] [--records 1000000] [--rate R] [--in-flight N]
                   [--producers 1] [--linger-ms 0] [--batch-size 131072] [--json] [--bootstrap H:P,...]
                   [--partitioner default|round-robin] [--warmup-records 0]   (produce, e2e)
       cairn bench failover [--trials 20] [--graceful] [--partitions 16] [--rate 2000] [--record-size 100]
                   [--settle-seconds 2]
       cairn bench idle [--partitions 3000] [--seconds 30] [--settle-seconds 5]
   (all: [--json] [--keep-logs]; produce, consume, e2e, failover: [--retry-backoff-ms 20] [--retry-backoff-max-ms 100])

Workloads after the OpenMessaging Benchmark. Without --bootstrap, and always for failover and idle,
the bench starts a local ${LOCAL_NODES}-node cluster (real 'cairn node start' processes in a temporary
folder) and stops it at the end or on Ctrl-C. It removes that folder unless the run failed or
--keep-logs is given; then it says where the data and each node's log are (elections are logged).

  produce   publish latency (send to acknowledgement) and throughput
  consume   produce --records first (not timed), then read them all: the catch-up rate
  e2e       produce and read at once: end-to-end latency (read - intended send time) too
  failover  write to every partition at --rate while the leader of partition 0 is SIGKILLed
            (--graceful: SIGTERM, it hands its leaderships off) and restarted, --trials times:
            the time until each partition it led takes writes again (the slowest per trial); the
            next trial waits until the restarted node is back in every ISR and has been up for
            --settle-seconds (a node a few hundred ms old is still cold: its first acks are slow)
  idle      a topic of --partitions partitions, RF 3, nothing written: CPU and RSS of each node

Max rate (no --rate): each producer sends as fast as it accepts, with at most --in-flight records
unacknowledged; by default as many as its buffer.memory (32 MiB) holds, at most 100,000, since a
Kafka producer's send() blocks beyond that. batch.size is OMB's kafka.yaml's (128 KiB); its
linger.ms is 1, the bench's 0, so one record in flight is not held back (--linger-ms 1 gives
OMB's). For throughput OMB uses kafka-throughput.yaml: --batch-size 1048576 --linger-ms 1
(fewer, larger batches cost the nodes less per MB). Fixed rate (--rate, records/s in total):
each record is due at its time, and its latency counts from then, even if it is sent late
(corrected for coordinated omission).
--warmup-records N (Kafka's, KIP-1052): the first N of --records warm the cluster and the bench
up (JIT, caches, connections); the summary gives the whole run and the steady state after them,
and the JSON line's figures are the steady state's, the whole run's under "whole_run".
--partitioner (Kafka's partitioner.class): default, sticky as Kafka's for keyless records (each
batch fills one partition), or round-robin, every record to the next partition (as records with
keys spread, OMB's ROUND_ROBIN keys).
Latencies: HdrHistogram, 3 significant digits. MB = 10^6 bytes of record values.
--json ends the output with one JSON line: records_per_s, mb_per_s, p50_ms, p99_ms, p999_ms,
max_ms (e2e: e2e_p50_ms ...; failover: unavailable_p50_ms, unavailable_p99_ms, trials; idle:
per node cpu_percent and rss_mb). produce, consume and e2e also give the CPU of the run (of the
read, for consume): bench_cpu_percent, nodes_cpu_percent (each node process of the local cluster,
all its threads, % of one core; null with --bootstrap) and cpu_ms_per_mb (all of them together
per MB), as the summary's CPU columns do.`

const WORKLOADS: readonly Workload[] = ['produce', 'consume', 'e2e', 'failover', 'idle']
const PRODUCING = [
  'topic',
  'partitions',
  'record-size',
  'in-flight',
  'linger-ms',
  'batch-size',
  'retry-backoff-ms',
  'retry-backoff-max-ms',
  'json',
  'keep-logs',
]
const THROUGHPUT = [
  ...PRODUCING,
  'replication-factor',
  'acks',
  'records',
  'producers',
  'bootstrap',
  'partitioner',
]
/** The options each workload takes; any other given is refused by name. */
const ALLOWED: Record<Workload, readonly string[]> = {
  produce: [...THROUGHPUT, 'rate', 'warmup-records'],
  e2e: [...THROUGHPUT, 'rate', 'warmup-records'],
  consume: THROUGHPUT,
  failover: [...PRODUCING, 'trials', 'graceful', 'rate', 'settle-seconds'],
  idle: ['topic', 'partitions', 'seconds', 'settle-seconds', 'json', 'keep-logs'],
}

/** Limits on what a run may ask for (the broker's own limits where it has them). */
export const BENCH_LIMITS = {
  partitionsMax: 10_000,
  recordSizeBytesMin: 8,
  recordSizeBytesMax: 1_000_000,
  recordsMax: 1_000_000_000,
  ratePerSMax: 10_000_000,
  inFlightMax: 1_000_000,
  producersMax: 64,
  replicationFactorMax: 9,
  lingerMsMax: 60_000,
  batchSizeBytesMax: 1_048_576,
  retryBackoffMsMax: 60_000,
  trialsMax: 1000,
  secondsMax: 3600,
} as const

const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/

function intOption(value: string | undefined, name: string, fallback: number, min: number, max: number) {
  if (value === undefined) return fallback
  const n = Number(value)
  if (value.trim() === '' || !Number.isSafeInteger(n) || n < min || n > max)
    fail(`--${name} wants an integer from ${min} to ${max}, got '${value}'`)
  return n
}

function parseBenchArgs(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      topic: { type: 'string' },
      partitions: { type: 'string' },
      'replication-factor': { type: 'string' },
      acks: { type: 'string' },
      'record-size': { type: 'string' },
      records: { type: 'string' },
      'warmup-records': { type: 'string' },
      rate: { type: 'string' },
      'in-flight': { type: 'string' },
      producers: { type: 'string' },
      json: { type: 'boolean' },
      'keep-logs': { type: 'boolean' },
      bootstrap: { type: 'string' },
      'linger-ms': { type: 'string' },
      'batch-size': { type: 'string' },
      partitioner: { type: 'string' },
      'retry-backoff-ms': { type: 'string' },
      'retry-backoff-max-ms': { type: 'string' },
      trials: { type: 'string' },
      graceful: { type: 'boolean' },
      seconds: { type: 'string' },
      'settle-seconds': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
}

/** node:util's parseArgs, its errors (some several lines long) made one usage line. */
function parseArgsOneLine(argv: string[]) {
  try {
    return parseBenchArgs(argv)
  } catch (err) {
    const { code, message } = err as { code?: string; message: string }
    if (!code?.startsWith('ERR_PARSE_ARGS')) throw err
    const unknown = /^Unknown option '([^']+)'/.exec(message)
    if (unknown) fail(`unknown option '${unknown[1]}'; try 'cairn bench --help'`)
    const ambiguous = /^Option '([^']+)' argument is ambiguous/.exec(message)
    if (ambiguous) fail(`${ambiguous[1]} needs a value (one starting with '-' is written ${ambiguous[1]}=-N)`)
    return fail(message.split('\n')[0]!)
  }
}

/** Parses and checks `cairn bench` arguments; null for --help. */
export function parseBenchOptions(argv: string[]): BenchOptions | null {
  const { values, positionals } = parseArgsOneLine(argv)
  if (values.help) return null
  const [name, extra] = positionals
  if (name === undefined)
    fail(`cairn bench needs a workload: ${WORKLOADS.join(', ')}; try 'cairn bench --help'`)
  if (!WORKLOADS.includes(name as Workload))
    fail(`unknown workload 'cairn bench ${name}': one of ${WORKLOADS.join(', ')}`)
  if (extra !== undefined) fail(`cairn bench ${name} takes no argument '${extra}'`)
  const workload = name as Workload
  for (const [key, value] of Object.entries(values)) {
    if (value !== undefined && key !== 'help' && !ALLOWED[workload].includes(key))
      fail(`--${key} does not apply to 'cairn bench ${workload}'`)
  }
  const L = BENCH_LIMITS
  const local = workload === 'failover' || workload === 'idle' || values.bootstrap === undefined
  if (values['keep-logs'] && !local)
    fail("--keep-logs keeps a local cluster's logs; with --bootstrap there is none")
  const topic = values.topic ?? null
  if (topic !== null && (!TOPIC_NAME.test(topic) || topic === '.' || topic === '..'))
    fail(`--topic '${topic}' is not a topic name: 1 to 249 of a-z A-Z 0-9 . _ -`)
  if (topic === OFFSETS_TOPIC)
    fail(`--topic ${OFFSETS_TOPIC} is internal: only group coordinators write to it`)
  const replicationFactor = intOption(
    values['replication-factor'],
    'replication-factor',
    3,
    1,
    L.replicationFactorMax,
  )
  if (local && replicationFactor > LOCAL_NODES)
    fail(`--replication-factor ${replicationFactor} needs more than the local cluster's ${LOCAL_NODES} nodes`)
  const acks = values.acks ?? 'all'
  if (acks !== 'all' && acks !== '1' && acks !== '0') fail(`--acks is 0, 1 or all, not '${acks}'`)
  const partitioner = values.partitioner ?? 'default'
  if (partitioner !== 'default' && partitioner !== 'round-robin')
    fail(`--partitioner is default or round-robin, not '${partitioner}'`)
  const bootstrap = values.bootstrap?.split(',').map((s) => s.trim()) ?? null
  for (const address of bootstrap ?? []) parseHostPort(address, '--bootstrap address')
  const retryBackoffMs = intOption(values['retry-backoff-ms'], 'retry-backoff-ms', 20, 0, L.retryBackoffMsMax)
  const retryBackoffMaxMs = intOption(
    values['retry-backoff-max-ms'],
    'retry-backoff-max-ms',
    Math.max(100, retryBackoffMs),
    0,
    L.retryBackoffMsMax,
  )
  if (retryBackoffMaxMs < retryBackoffMs) fail('--retry-backoff-max-ms is below --retry-backoff-ms')
  const recordSizeBytes = intOption(
    values['record-size'],
    'record-size',
    100,
    L.recordSizeBytesMin,
    L.recordSizeBytesMax,
  )
  const records = intOption(values.records, 'records', 1_000_000, 1, L.recordsMax)
  const warmupRecords = intOption(values['warmup-records'], 'warmup-records', 0, 0, L.recordsMax)
  if (warmupRecords >= records)
    fail(
      `--warmup-records ${warmupRecords} leaves no record to measure: it must be below --records ${records}`,
    )
  return {
    workload,
    topic,
    partitions: intOption(
      values.partitions,
      'partitions',
      workload === 'idle' ? 3000 : 16,
      1,
      L.partitionsMax,
    ),
    replicationFactor,
    acks,
    recordSizeBytes,
    records,
    warmupRecords,
    ratePerS: intOption(values.rate, 'rate', workload === 'failover' ? 2000 : 0, 1, L.ratePerSMax),
    inFlightMax: intOption(
      values['in-flight'],
      'in-flight',
      defaultInFlight(recordSizeBytes),
      1,
      L.inFlightMax,
    ),
    producers: intOption(values.producers, 'producers', 1, 1, L.producersMax),
    json: values.json ?? false,
    keepLogs: values['keep-logs'] ?? false,
    bootstrap: local ? null : bootstrap,
    lingerMs: intOption(values['linger-ms'], 'linger-ms', 0, 0, L.lingerMsMax),
    batchSizeBytes: intOption(values['batch-size'], 'batch-size', 131_072, 1, L.batchSizeBytesMax),
    partitioner,
    retryBackoffMs,
    retryBackoffMaxMs,
    trials: intOption(values.trials, 'trials', 20, 1, L.trialsMax),
    graceful: values.graceful ?? false,
    seconds: intOption(values.seconds, 'seconds', 30, 1, L.secondsMax),
    settleSeconds: intOption(
      values['settle-seconds'],
      'settle-seconds',
      workload === 'failover' ? 2 : 5,
      0,
      L.secondsMax,
    ),
  }
}

const RUNNERS: Record<Workload, (run: Run) => Promise<BenchResult>> = {
  produce: produceWorkload,
  consume: consumeWorkload,
  e2e: e2eWorkload,
  failover: failoverWorkload,
  idle: idleWorkload,
}

function print(result: BenchResult, json: boolean): void {
  console.log(result.title)
  for (const t of result.tables) console.log(`\n${t}`)
  if (json) console.log(JSON.stringify(result.json))
}

/** Runs one bench; returns the exit code (130 when interrupted). */
export async function benchCommand(argv: string[]): Promise<number> {
  const options = parseBenchOptions(argv)
  if (options === null) {
    console.log(BENCH_USAGE)
    return 0
  }
  const abort = new AbortController()
  const interrupt = (signal: string) => {
    if (abort.signal.aborted) return
    process.stderr.write(`cairn: ${signal}: stopping the bench\n`)
    abort.abort()
  }
  const onSigint = () => interrupt('SIGINT')
  const onSigterm = () => interrupt('SIGTERM')
  process.on('SIGINT', onSigint)
  process.on('SIGTERM', onSigterm)
  let cluster: LocalCluster | null = null
  let run: Run | null = null
  let failed = true
  try {
    if (options.bootstrap === null) {
      process.stderr.write(`cairn: starting a local ${LOCAL_NODES}-node cluster\n`)
      cluster = await LocalCluster.start()
      process.stderr.write(`cairn: the cluster is up, its data and node logs in ${cluster.dir}\n`)
    }
    if (abort.signal.aborted) throw new BenchAborted()
    run = new Run(options, options.bootstrap ?? cluster!.bootstrap, cluster, abort.signal)
    const result = await run.within('the bench', Number.POSITIVE_INFINITY, RUNNERS[options.workload](run))
    // Records that failed fail the run: its cluster's data and logs are kept, to find out why.
    failed = result.failures > 0
    await run.close()
    print(result, options.json)
    if (result.failures > 0) {
      console.error(`cairn: ${result.failures} records failed; the first: ${result.firstError}`)
      if (cluster) console.error(`cairn: the cluster's data and node logs are kept in ${cluster.dir}`)
      return 1
    }
    return 0
  } catch (err) {
    if (err instanceof BenchAborted || abort.signal.aborted) {
      console.error('cairn: interrupted; the bench stopped')
      failed = false
      return 130
    }
    const message = err instanceof Error ? err.message : String(err)
    throw new Error(cluster ? `${message} (node logs kept in ${cluster.dir})` : message)
  } finally {
    await run?.close()
    await cluster?.stop({ keepDir: failed || options.keepLogs })
    if (cluster && !failed && options.keepLogs)
      process.stderr.write(`cairn: the cluster's data and node logs are kept in ${cluster.dir}\n`)
    process.off('SIGINT', onSigint)
    process.off('SIGTERM', onSigterm)
  }
}
