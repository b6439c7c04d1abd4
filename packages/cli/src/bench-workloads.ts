/**
 * The OpenMessaging-Benchmark-like workloads of `cairn bench`:
 * - produce: publish latency (send → acknowledgement) and throughput.
 * - consume: produce the records first (not timed), then read them all from where producing
 *   began: the catch-up rate, and how it compares with the rate they were produced at.
 * - e2e: produce, and read in the same process as the records are written: end-to-end latency
 *   (read − intended send time) beside the publish latency.
 */
import { randomBytes } from 'node:crypto'
import type { Cairn, PartitionInfo, Producer } from '@cairn/client'
import type { Histogram } from 'hdr-histogram-js'
import { type BenchOptions, createTopic, type Run, waitForLeaders } from './bench-context.js'
import { type CpuUse, costPerRequest, cpuMeter, cpuMsPerMb, nodesCpuCell } from './bench-cpu.js'
import { ConsumeLoad, LoadGenerator } from './bench-load.js'
import {
  int,
  LATENCY_HEADER,
  latencyJson,
  latencyRow,
  MB,
  mbps,
  ms,
  round3,
  startProgress,
  summarize,
  table,
} from './bench-report.js'

export const LEADERS_WAIT_MS_MAX = 60_000
/** A consumer that gets no record for this long while more are expected fails the run. */
export const CONSUME_STALL_MS_MAX = 30_000
/** e2e consumers long-poll briefly: they stop soon after the last record. */
const E2E_FETCH_WAIT_MS = 100
const CATCHUP_FETCH_WAIT_MS = 500
const WARM_UP_WAIT_MS_MAX = 60_000

export interface BenchResult {
  title: string
  tables: string[]
  json: Record<string, unknown>
  failures: number
  firstError: string | null
}

export function describeRun(o: BenchOptions, topic: string, where: string): string {
  const rate =
    o.ratePerS > 0
      ? `fixed rate ${int(o.ratePerS)} records/s`
      : `max rate, ≤ ${int(o.inFlightMax)} records in flight per producer`
  return (
    `cairn bench ${o.workload}: topic ${topic} (${o.partitions} partitions, RF ${o.replicationFactor}), ` +
    `acks=${o.acks}, ${o.recordSizeBytes}-byte records, ${rate}, ${o.producers} producer(s); ` +
    `linger.ms=${o.lingerMs} batch.size=${o.batchSizeBytes} partitioner=${o.partitioner} retry.backoff.ms=${o.retryBackoffMs}/${o.retryBackoffMaxMs}; ${where}`
  )
}

export function whereOf(run: Run): string {
  return run.cluster
    ? `a local ${run.bootstrap.length}-node cluster (${run.cluster.dir})`
    : `cluster at ${run.bootstrap.join(',')}`
}

/** Creates the topic (or takes the existing one) and waits until each partition has a leader. */
export async function prepareTopic(
  run: Run,
  admin: Cairn,
): Promise<{ topic: string; partitions: PartitionInfo[] }> {
  const o = run.options
  const topic = o.topic ?? `bench-${o.workload}-${randomBytes(4).toString('hex')}`
  const outcome = await createTopic(run, admin, topic, o.partitions, o.replicationFactor)
  if (outcome === 'created' && o.topic === null && run.cluster === null) {
    // A topic named by the bench on someone's cluster is the bench's to remove.
    run.onCleanup(() => admin.admin().deleteTopics([topic]))
  }
  const partitions = await waitForLeaders(run, admin, topic, LEADERS_WAIT_MS_MAX)
  if (outcome === 'existed') {
    // The figures describe the topic written to, not the options that did not create it.
    o.partitions = partitions.length
    o.replicationFactor = partitions[0]!.replicas.length
    process.stderr.write(
      `cairn: topic ${topic} exists (${o.partitions} partitions, RF ${o.replicationFactor}); using it as it is\n`,
    )
  }
  return { topic, partitions }
}

/** A consumer's client, its metadata fetched and its connections open before anything is timed. */
async function consumerClient(run: Run, topic: string): Promise<Cairn> {
  const cairn = run.client()
  await cairn.admin().describeTopic(topic)
  return cairn
}

/**
 * The producers, each on a client of its own, warmed up: one record to every partition each, so
 * that the connections to every leader are open before anything is measured.
 */
async function producersFor(run: Run, topic: string, partitions: PartitionInfo[]): Promise<Producer[]> {
  const producers: Producer[] = []
  const value = new Uint8Array(run.options.recordSizeBytes)
  for (let k = 0; k < run.options.producers; k++) {
    const producer = await run.producer(run.client(), topic)
    const warmUp = producer.send({
      topic,
      messages: partitions.map((p) => ({ value, partition: p.partition })),
    })
    await run.within('the warm-up records', WARM_UP_WAIT_MS_MAX, warmUp)
    producers.push(producer)
  }
  return producers
}

/** The bench's and (a local cluster) its nodes' CPU from now: is the tool the bottleneck, how busy is the machine? */
function meterCpu(run: Run): () => CpuUse {
  const cluster = run.cluster
  return cpuMeter(cluster ? cluster.ids().map((id) => cluster.pid(id)) : [])
}

/** Runs the load with a progress line; resolves when every record has its outcome. */
async function drive(run: Run, label: string, load: LoadGenerator, note?: () => string) {
  const stop = startProgress(label, () => {
    const warming = load.steadyFromMs === Number.POSITIVE_INFINITY ? 'warming up' : ''
    const said = [note?.() ?? '', warming].filter((s) => s !== '').join(', ')
    return {
      records: load.acked,
      bytes: load.bytesAcked,
      latency: load.publish,
      ...(said !== '' && { note: said }),
    }
  })
  run.onCleanup(stop)
  run.onCleanup(() => load.stop())
  const aborted = () => load.stop()
  run.signal.addEventListener('abort', aborted, { once: true })
  const cpu = meterCpu(run)
  try {
    await load.run()
  } finally {
    stop()
    run.signal.removeEventListener('abort', aborted)
  }
  run.throwIfAborted()
  return cpu()
}

/**
 * Waits until the consumer has read what it expects, failing if no record comes for
 * CONSUME_STALL_MS_MAX meanwhile (measured from when the wait starts, at the latest).
 */
async function readAll(run: Run, consume: ConsumeLoad, reading: Promise<void>): Promise<void> {
  const waitStartMs = performance.now()
  const watchdog = setInterval(() => {
    const quietMs = performance.now() - Math.max(consume.lastMs, waitStartMs)
    if (run.signal.aborted || quietMs > CONSUME_STALL_MS_MAX) consume.stop()
  }, 250)
  try {
    await reading
  } finally {
    clearInterval(watchdog)
  }
  run.throwIfAborted()
  if (consume.received < consume.expected)
    throw new Error(
      `read ${consume.received} of ${consume.expected} records: none came for ${CONSUME_STALL_MS_MAX} ms`,
    )
}

function loadOptions(
  o: BenchOptions,
  topic: string,
  overrides: { ratePerS?: number; e2e?: boolean; warmupRecords?: number } = {},
) {
  return {
    topic,
    recordSizeBytes: o.recordSizeBytes,
    records: o.records,
    ratePerS: overrides.ratePerS ?? o.ratePerS,
    inFlightMax: o.inFlightMax,
    timestampInValue: overrides.e2e ?? false,
    warmupRecords: overrides.warmupRecords ?? o.warmupRecords,
  }
}

/** The fields of the --json line that describe the run itself, shared by the produce-side workloads. */
function runJson(o: BenchOptions, topic: string) {
  return {
    workload: o.workload,
    topic,
    partitions: o.partitions,
    replication_factor: o.replicationFactor,
    acks: o.acks,
    record_size: o.recordSizeBytes,
    producers: o.producers,
    in_flight: o.inFlightMax,
    partitioner: o.partitioner,
  }
}

function megabytesPerS(records: number, recordSizeBytes: number, seconds: number): number {
  return seconds > 0 ? (records * recordSizeBytes) / MB / seconds : 0
}

function leadersOf(partitions: PartitionInfo[]): Map<number, number> {
  return new Map(partitions.map((p) => [p.partition, p.leaderId]))
}

/** Records, seconds and rates of one stretch of a run: the whole run, or the steady state after the warm-up. */
function stretch(o: BenchOptions, records: number, fromMs: number, toMs: number) {
  const seconds = Math.max(0, toMs - fromMs) / 1000
  const perS = seconds > 0 ? records / seconds : 0
  return { records, seconds, perS, mbPerS: megabytesPerS(records, o.recordSizeBytes, seconds) }
}

type Stretch = ReturnType<typeof stretch>

function stretchJson(s: Stretch, latencies: Record<string, number>) {
  return {
    records: s.records,
    seconds: round3(s.seconds),
    records_per_s: round3(s.perS),
    mb_per_s: round3(s.mbPerS),
    ...latencies,
  }
}

/**
 * What produce and e2e report of their producers: throughput, publish latency, and at a fixed
 * rate the send delay; with a warm-up, for the whole run and for the steady state after it.
 * `endToEnd` (e2e) joins the latencies and the JSON line the same way.
 */
function produced(
  o: BenchOptions,
  topic: string,
  load: LoadGenerator,
  cpu: CpuUse,
  endToEnd?: { all: Histogram; steady: Histogram },
) {
  const whole = stretch(o, load.acked, load.startedMs, load.lastAckMs)
  const steady = stretch(o, load.steadyAcked, Math.min(load.steadyFromMs, load.lastAckMs), load.lastAckMs)
  const warm = o.warmupRecords > 0
  const sendDelay = summarize(load.sendDelay)
  const fixedRate = o.ratePerS > 0
  const row = (label: string, s: Stretch, errors: string) => [
    ...(warm ? [label] : []),
    int(s.records),
    errors,
    s.seconds.toFixed(2),
    int(s.perS),
    mbps(s.mbPerS),
    cpu.bench.toFixed(0),
    nodesCpuCell(cpu),
  ]
  const steadyLabel = `after ${int(o.warmupRecords)} warm-up`
  // Rows named for their stretch only when there are two stretches.
  const latencies = (publish: Histogram, e2e: Histogram | undefined, stretchLabel: string) => {
    const named = (what: string) => (warm ? `${what} (${stretchLabel})` : what)
    return {
      rows: [
        latencyRow(named('publish'), summarize(publish)),
        ...(e2e ? [latencyRow(named('end-to-end'), summarize(e2e))] : []),
      ],
      json: { ...latencyJson('', summarize(publish)), ...(e2e ? latencyJson('e2e_', summarize(e2e)) : {}) },
    }
  }
  const all = latencies(load.publish, endToEnd?.all, 'whole run')
  const after = latencies(load.steadyPublish, endToEnd?.steady, steadyLabel)
  const requests = requestFigures(load, cpu)
  return {
    throughput: table([
      [
        ...(warm ? ['phase'] : []),
        'records',
        'errors',
        'seconds',
        'records/s',
        'MB/s',
        'bench CPU %',
        'nodes CPU %',
      ],
      row('whole run', whole, int(load.failed)),
      ...(warm ? [row(steadyLabel, steady, '-')] : []),
    ]),
    requests: requests.table,
    latencyRows: [
      ...(warm ? [...all.rows, ...after.rows] : all.rows),
      ...(fixedRate ? [latencyRow('send delay (sent - due)', sendDelay)] : []),
    ],
    json: {
      ...runJson(o, topic),
      rate: fixedRate ? o.ratePerS : null,
      errors: load.failed,
      warmup_records: o.warmupRecords,
      // The figures are the steady state's; without a warm-up that is the whole run.
      ...stretchJson(warm ? steady : whole, warm ? after.json : all.json),
      ...(warm && { whole_run: stretchJson(whole, all.json) }),
      ...(fixedRate ? latencyJson('send_delay_', sendDelay) : {}),
      ...cpuJson(cpu, (load.acked * o.recordSizeBytes) / MB),
      ...requests.json,
    },
  }
}

/**
 * The produce requests of the whole run, and what each cost the four processes: at a fixed rate
 * without linger.ms the cores fill with requests more than with bytes (see BENCHMARKS.md).
 */
function requestFigures(load: LoadGenerator, cpu: CpuUse) {
  const requests = load.produceRequests
  const cost = costPerRequest(cpu, requests)
  const recordsEach = requests > 0 ? load.acked / requests : null
  return {
    table: table([
      ['produce requests', 'requests/s', 'records each', 'CPU ms each', 'context switches each'],
      [
        int(requests),
        cpu.seconds > 0 ? int(requests / cpu.seconds) : '-',
        recordsEach === null ? '-' : recordsEach.toFixed(1),
        cost === null ? '-' : cost.cpuMs.toFixed(2),
        cost === null ? '-' : cost.contextSwitches.toFixed(1),
      ],
    ]),
    json: {
      produce_requests: requests,
      records_per_request: recordsEach === null ? null : round3(recordsEach),
      cpu_ms_per_request: cost === null ? null : round3(cost.cpuMs),
      context_switches_per_request: cost === null ? null : round3(cost.contextSwitches),
    },
  }
}

/**
 * The CPU figures of the --json line, over the whole run: the bench's and each node's % of one core
 * (null against --bootstrap), and the CPU ms of all of them per MB of record values.
 */
function cpuJson(cpu: CpuUse, megabytes: number) {
  const perMb = cpuMsPerMb(cpu, megabytes)
  return {
    bench_cpu_percent: round3(cpu.bench),
    nodes_cpu_percent: cpu.nodes?.map(round3) ?? null,
    cpu_ms_per_mb: perMb === null ? null : round3(perMb),
  }
}

export async function produceWorkload(run: Run): Promise<BenchResult> {
  const o = run.options
  const { topic, partitions } = await prepareTopic(run, run.client())
  const load = new LoadGenerator(await producersFor(run, topic, partitions), loadOptions(o, topic))
  const cpu = await drive(run, 'produce', load)
  const figures = produced(o, topic, load, cpu)
  return {
    title: describeRun(o, topic, whereOf(run)),
    tables: [figures.throughput, figures.requests, table([LATENCY_HEADER, ...figures.latencyRows])],
    json: figures.json,
    failures: load.failed,
    firstError: load.firstError,
  }
}

export async function e2eWorkload(run: Run): Promise<BenchResult> {
  const o = run.options
  const admin = run.client()
  const { topic, partitions } = await prepareTopic(run, admin)
  const producers = await producersFor(run, topic, partitions)
  const load = new LoadGenerator(producers, loadOptions(o, topic, { e2e: true }))
  const consume = new ConsumeLoad(await consumerClient(run, topic), {
    topic,
    from: await admin.admin().listOffsets(topic, 'latest'),
    leaders: leadersOf(partitions),
    maxWaitMs: E2E_FETCH_WAIT_MS,
    endToEnd: true,
    ...(o.warmupRecords > 0 && { isSteady: (intendedMs: number) => load.isSteady(intendedMs) }),
  })
  consume.expected = o.records
  run.onCleanup(() => consume.stop())
  const reading = consume.run()
  reading.catch(() => undefined)
  const cpu = await drive(run, 'e2e', load, () => `e2e p99 ${p99(consume.endToEnd)}`)
  // A record that failed may or may not be in the log: wait for the acknowledged ones.
  consume.expected = Math.min(consume.expected, load.acked)
  await readAll(run, consume, reading)
  const figures = produced(o, topic, load, cpu, {
    all: consume.endToEnd,
    steady: consume.steadyEndToEnd,
  })
  return {
    title: describeRun(o, topic, whereOf(run)),
    tables: [figures.throughput, figures.requests, table([LATENCY_HEADER, ...figures.latencyRows])],
    json: figures.json,
    failures: load.failed,
    firstError: load.firstError,
  }
}

function p99(h: Histogram): string {
  return h.totalCount > 0 ? `${ms(h.getValueAtPercentile(99) / 1000)} ms` : '-'
}

export async function consumeWorkload(run: Run): Promise<BenchResult> {
  const o = run.options
  const admin = run.client()
  const created = await prepareTopic(run, admin)
  const topic = created.topic
  const producers = await producersFor(run, topic, created.partitions)
  const from = await admin.admin().listOffsets(topic, 'latest')
  const load = new LoadGenerator(producers, loadOptions(o, topic, { ratePerS: 0, warmupRecords: 0 }))
  await drive(run, 'produce, not timed', load)
  if (load.acked === 0) throw new Error(`no record was acknowledged: ${load.firstError ?? 'unknown error'}`)
  const producedSeconds = (load.lastAckMs - load.startedMs) / 1000
  const producedPerS = producedSeconds > 0 ? load.acked / producedSeconds : 0
  const to = await admin.admin().listOffsets(topic, 'latest')
  const start = new Map(from.map((f) => [f.partition, f.offset]))
  const partitions = await waitForLeaders(run, admin, topic, LEADERS_WAIT_MS_MAX)
  const consume = new ConsumeLoad(await consumerClient(run, topic), {
    topic,
    from,
    leaders: leadersOf(partitions),
    maxWaitMs: CATCHUP_FETCH_WAIT_MS,
    endToEnd: false,
  })
  consume.expected = to.reduce((sum, t) => sum + t.offset - (start.get(t.partition) ?? 0), 0)
  run.onCleanup(() => consume.stop())
  const stopProgress = startProgress('consume', () => ({
    records: consume.received,
    bytes: consume.bytes,
    latency: consume.fetch,
  }))
  run.onCleanup(stopProgress)
  const meter = meterCpu(run)
  try {
    await readAll(run, consume, consume.run())
  } finally {
    stopProgress()
  }
  const cpu = meter()
  const seconds = (consume.lastMs - consume.firstMs) / 1000
  const perS = seconds > 0 ? consume.received / seconds : 0
  const mbPerS = seconds > 0 ? consume.bytes / MB / seconds : 0
  const catchup = producedPerS > 0 ? perS / producedPerS : 0
  const fetch = summarize(consume.fetch)
  return {
    title: describeRun(o, topic, whereOf(run)),
    tables: [
      table([
        ['phase', 'records', 'errors', 'seconds', 'records/s', 'MB/s'],
        [
          'produce',
          int(load.acked),
          int(load.failed),
          producedSeconds.toFixed(2),
          int(producedPerS),
          mbps(megabytesPerS(load.acked, o.recordSizeBytes, producedSeconds)),
        ],
        ['consume', int(consume.received), '0', seconds.toFixed(2), int(perS), mbps(mbPerS)],
      ]),
      `catch-up: ${catchup.toFixed(2)}x the rate the records were produced at; while reading, bench CPU ${cpu.bench.toFixed(0)}%, nodes ${nodesCpuCell(cpu)}%`,
      table([LATENCY_HEADER, latencyRow('fetch (a poll with records)', fetch)]),
    ],
    json: {
      ...runJson(o, topic),
      errors: load.failed,
      records: consume.received,
      seconds: round3(seconds),
      records_per_s: round3(perS),
      mb_per_s: round3(mbPerS),
      ...latencyJson('', fetch),
      produced_records_per_s: round3(producedPerS),
      catchup_ratio: round3(catchup),
      ...cpuJson(cpu, consume.bytes / MB),
    },
    failures: load.failed,
    firstError: load.firstError,
  }
}
