/**
 * cairn bench failover: a topic of P partitions, RF 3, acks=all, written to continuously at a
 * fixed rate, every partition in turn. Each trial takes the leader of partition 0, SIGKILLs it
 * (SIGTERM with --graceful: the node hands its leaderships off as it stops) and measures, for each
 * partition it led, the time from the signal to the acknowledgement of the first record sent after
 * the signal; the trial's figure is the slowest of its partitions. Then the node is restarted, and
 * the next trial waits until it is back in every ISR and every partition takes writes again.
 * Resolution: a partition gets a record every partitions / rate seconds.
 */
import { type Run, waitForLeaders } from './bench-context.js'
import { LoadGenerator } from './bench-load.js'
import {
  int,
  LATENCY_HEADER,
  latencyJson,
  latencyRow,
  MB,
  ms,
  round3,
  startProgress,
  summarize,
  table,
} from './bench-report.js'
import { type BenchResult, describeRun, prepareTopic, whereOf } from './bench-workloads.js'

/** From the signal until every partition the node led takes writes again. */
const TRIAL_RECOVERY_MS_MAX = 30_000
/** From the restart until the node is in every ISR again. */
const ISR_WAIT_MS_MAX = 120_000
/** Until every partition has acknowledged a record sent after a point in time. */
const STEADY_WAIT_MS_MAX = 60_000
/** For the records in flight when the load stops. */
const DRAIN_WAIT_MS_MAX = 30_000

/** The nearest-rank percentile of `sorted` (ascending). */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!
}

interface Trial {
  trial: number
  node: number
  partitionsLed: number
  unavailableMs: number
}

export async function failoverWorkload(run: Run): Promise<BenchResult> {
  const o = run.options
  const cluster = run.cluster
  if (!cluster) throw new Error('cairn bench failover needs a local cluster of its own')
  const admin = run.client()
  const { topic } = await prepareTopic(run, admin)
  const signal = o.graceful ? 'SIGTERM' : 'SIGKILL'

  // Per partition, the newest intended send time among its acknowledged records.
  const newestAcked = new Float64Array(o.partitions).fill(Number.NEGATIVE_INFINITY)
  let watch: { sinceMs: number; partitions: Set<number>; firstAckMs: Map<number, number> } | null = null
  const producer = await run.producer(run.client(), topic, 'all')
  const load = new LoadGenerator([producer], {
    topic,
    recordSizeBytes: o.recordSizeBytes,
    records: Number.POSITIVE_INFINITY,
    ratePerS: o.ratePerS,
    inFlightMax: o.inFlightMax,
    roundRobinPartitions: o.partitions,
    timestampInValue: false,
    onAck: (partition, intendedMs, ackedMs) => {
      newestAcked[partition] = Math.max(newestAcked[partition]!, intendedMs)
      if (watch?.partitions.has(partition) && intendedMs >= watch.sinceMs && !watch.firstAckMs.has(partition))
        watch.firstAckMs.set(partition, ackedMs)
    },
  })
  let phase = 'warming up'
  const stopProgress = startProgress('failover', () => ({
    records: load.acked,
    bytes: load.bytesAcked,
    latency: load.publish,
    note: phase,
  }))
  run.onCleanup(stopProgress)
  run.onCleanup(() => load.stop())
  const running = load.run()

  const steady = (sinceMs: number) =>
    run.waitFor('every partition taking writes', STEADY_WAIT_MS_MAX, async () =>
      newestAcked.every((t) => t >= sinceMs) ? true : undefined,
    )
  await steady(performance.now())

  const trials: Trial[] = []
  for (let k = 1; k <= o.trials; k++) {
    const partitions = await waitForLeaders(run, admin, topic, ISR_WAIT_MS_MAX, { fullIsr: true })
    const node = partitions.find((p) => p.partition === 0)!.leaderId
    const led = partitions.filter((p) => p.leaderId === node).map((p) => p.partition)
    phase = `trial ${k}/${o.trials}: ${signal} node ${node} (leader of ${led.length})`
    watch = { sinceMs: performance.now(), partitions: new Set(led), firstAckMs: new Map() }
    const exited = cluster.signal(node, signal)
    const current = watch
    await run.waitFor(
      `trial ${k}: writes to the ${led.length} partitions node ${node} led, after ${signal}`,
      TRIAL_RECOVERY_MS_MAX,
      async () => (current.firstAckMs.size === led.length ? true : undefined),
    )
    const unavailableMs = Math.max(...current.firstAckMs.values()) - current.sinceMs
    watch = null
    trials.push({ trial: k, node, partitionsLed: led.length, unavailableMs })
    process.stderr.write(
      `[failover] trial ${k}/${o.trials}: ${signal} node ${node}, leader of ${led.length} partitions: writes again after ${ms(unavailableMs)} ms\n`,
    )
    phase = `trial ${k}/${o.trials}: restarting node ${node}`
    if (!(await exited)) throw new Error(`node ${node} did not exit after ${signal}`)
    await cluster.restart(node)
    const restartedMs = performance.now()
    phase = `trial ${k}/${o.trials}: node ${node} catching up`
    await waitForLeaders(run, admin, topic, ISR_WAIT_MS_MAX, { fullIsr: true })
    await steady(performance.now())
    // Back in every ISR within a few hundred ms of its start, a node is still cold (JIT, its
    // first fsyncs): a trial begun then measured its warm-up, not the failover (4 of 20 graceful
    // trials took 346–470 ms with a survivor up for 120–276 ms; none over 232 ms otherwise).
    phase = `trial ${k}/${o.trials}: node ${node} settling`
    await run.sleep(Math.max(0, o.settleSeconds * 1000 - (performance.now() - restartedMs)))
  }
  phase = 'draining'
  load.stop()
  await run.within(`the ${load.inFlight} records in flight when the load stopped`, DRAIN_WAIT_MS_MAX, running)
  stopProgress()

  const sorted = trials.map((t) => t.unavailableMs).sort((a, b) => a - b)
  const unavailable = { p50: percentile(sorted, 50), p99: percentile(sorted, 99), max: sorted.at(-1) ?? 0 }
  const seconds = (load.lastAckMs - load.startedMs) / 1000
  const perS = seconds > 0 ? load.acked / seconds : 0
  const publish = summarize(load.publish)
  return {
    title: `${describeRun(o, topic, whereOf(run))}; ${o.trials} trials of ${signal}`,
    tables: [
      table([
        ['trial', 'node', 'signal', 'partitions led', 'unavailable ms'],
        ...trials.map((t) => [
          String(t.trial),
          String(t.node),
          signal,
          String(t.partitionsLed),
          ms(t.unavailableMs),
        ]),
      ]),
      table([
        ['unavailable (ms)', 'p50', 'p99', 'max', 'trials'],
        [
          `after ${signal}`,
          ms(unavailable.p50),
          ms(unavailable.p99),
          ms(unavailable.max),
          String(trials.length),
        ],
      ]),
      table([
        ['records', 'errors', 'seconds', 'records/s'],
        [int(load.acked), int(load.failed), seconds.toFixed(2), int(perS)],
      ]),
      table([LATENCY_HEADER, latencyRow('publish, across the failovers', publish)]),
    ],
    json: {
      workload: 'failover',
      topic,
      partitions: o.partitions,
      replication_factor: o.replicationFactor,
      acks: 'all',
      record_size: o.recordSizeBytes,
      rate: o.ratePerS,
      graceful: o.graceful,
      errors: load.failed,
      records: load.acked,
      seconds: round3(seconds),
      records_per_s: round3(perS),
      mb_per_s: round3((perS * o.recordSizeBytes) / MB),
      ...latencyJson('', publish),
      trials: trials.length,
      unavailable_p50_ms: round3(unavailable.p50),
      unavailable_p99_ms: round3(unavailable.p99),
      unavailable_max_ms: round3(unavailable.max),
      unavailable_ms: trials.map((t) => round3(t.unavailableMs)),
    },
    failures: load.failed,
    firstError: load.firstError,
  }
}
