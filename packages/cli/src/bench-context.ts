/**
 * What every `cairn bench` workload shares: its options, the run (its clients, its cleanups, the
 * abort signal of Ctrl-C), topic creation and the bounded waits on the cluster's metadata.
 */
import {
  Cairn,
  type PartitionInfo,
  type Producer,
  type ProducerConfig,
  RoundRobinPartitioner,
} from '@cairn/client'
import type { LocalCluster } from './bench-cluster.js'

export type Workload = 'produce' | 'consume' | 'e2e' | 'failover' | 'idle'

export interface BenchOptions {
  workload: Workload
  /** null: a name of its own, deleted afterwards on a --bootstrap cluster. */
  topic: string | null
  partitions: number
  replicationFactor: number
  acks: 'all' | '1' | '0'
  recordSizeBytes: number
  records: number
  /** The first this many of --records are a warm-up, outside the steady state's figures (produce, e2e). */
  warmupRecords: number
  /** Records per second in total; 0 for max rate. */
  ratePerS: number
  inFlightMax: number
  producers: number
  json: boolean
  /** Keep the local cluster's folder (data and node logs) after the run, and say where. */
  keepLogs: boolean
  /** null: a local cluster of our own. */
  bootstrap: string[] | null
  lingerMs: number
  batchSizeBytes: number
  /** Kafka's partitioner.class: the default (sticky for keyless records) or round-robin. */
  partitioner: 'default' | 'round-robin'
  retryBackoffMs: number
  retryBackoffMaxMs: number
  trials: number
  graceful: boolean
  seconds: number
  settleSeconds: number
}

/** The bench producers' buffer.memory (Kafka's default, 32 MiB). */
export const BENCH_BUFFER_MEMORY_BYTES = 33_554_432
/** The most records --in-flight allows by default: what small records stop at, long before buffer.memory. */
export const IN_FLIGHT_DEFAULT_MAX = 100_000

/**
 * The default of --in-flight: as many records as a producer's buffer.memory holds, at most
 * IN_FLIGHT_DEFAULT_MAX. A Kafka producer's send() blocks once buffer.memory is full, so OMB's
 * producer never has more records pending than that; here send() cannot block, and records beyond
 * it would only wait in the bench as promises, costing it CPU that the nodes on the same cores
 * need (1 KiB at max rate with OMB's throughput settings: 6–21 % more MB/s than 100,000 in 3 of 4
 * alternating pairs, BENCHMARKS.md).
 */
export function defaultInFlight(recordSizeBytes: number): number {
  return Math.max(1, Math.min(IN_FLIGHT_DEFAULT_MAX, Math.floor(BENCH_BUFFER_MEMORY_BYTES / recordSizeBytes)))
}

/** The bench's producer settings, every one given explicitly (Kafka's names). */
export function benchProducerConfig(o: BenchOptions, acks: BenchOptions['acks']): ProducerConfig {
  return {
    acks,
    'enable.idempotence': acks === 'all',
    'linger.ms': o.lingerMs,
    'batch.size': o.batchSizeBytes,
    'buffer.memory': BENCH_BUFFER_MEMORY_BYTES,
    'max.block.ms': 60_000,
    'max.request.size': 1_048_576,
    'max.in.flight.requests.per.connection': 5,
    'retry.backoff.ms': o.retryBackoffMs,
    'retry.backoff.max.ms': o.retryBackoffMaxMs,
    'request.timeout.ms': 30_000,
    'delivery.timeout.ms': 120_000,
    ...(o.partitioner === 'round-robin' ? { 'partitioner.class': RoundRobinPartitioner } : {}),
  }
}

/** How long a client gets to give up its sends when the run ends or is interrupted. */
const CLIENT_CLOSE_MS_MAX = 2000
const TOPIC_CREATE_WAIT_MS_MAX = 60_000
export const POLL_MS = 50

export class BenchAborted extends Error {
  constructor() {
    super('interrupted')
  }
}

export class Run {
  private readonly clients: { cairn: Cairn; producers: Producer[] }[] = []
  private readonly cleanups: (() => void | Promise<void>)[] = []

  constructor(
    readonly options: BenchOptions,
    readonly bootstrap: string[],
    readonly cluster: LocalCluster | null,
    readonly signal: AbortSignal,
  ) {}

  /** A client of its own: its own connections, as a separate producer process would have. */
  client(): Cairn {
    const cairn = new Cairn({ bootstrap: this.bootstrap })
    this.clients.push({ cairn, producers: [] })
    return cairn
  }

  /** A producer with every setting given explicitly (Kafka's names), so a run says what it ran. */
  async producer(cairn: Cairn, topic: string, acks: BenchOptions['acks'] = this.options.acks) {
    const config = benchProducerConfig(this.options, acks)
    const producer = cairn.producer(config)
    this.clients.find((c) => c.cairn === cairn)?.producers.push(producer)
    await cairn.admin().describeTopic(topic)
    await producer.connect()
    return producer
  }

  /** Runs when the run closes, newest first, before the clients close; a failing one is only reported. */
  onCleanup(cleanup: () => void | Promise<void>): void {
    this.cleanups.push(cleanup)
  }

  throwIfAborted(): void {
    if (this.signal.aborted) throw new BenchAborted()
  }

  /** Waits `ms`, or less if the run is interrupted (then throws). */
  async sleep(ms: number): Promise<void> {
    await this.within('sleeping', ms, new Promise<void>(() => undefined)).catch((err: unknown) => {
      if (err instanceof BenchAborted) throw err
    })
  }

  /** `promise`, unless `ms` pass first (throws "`what`: not within") or the run is interrupted. */
  within<T>(what: string, ms: number, promise: Promise<T>): Promise<T> {
    if (this.signal.aborted) return Promise.reject(new BenchAborted())
    return new Promise<T>((resolve, reject) => {
      const settle = (then: () => void) => {
        clearTimeout(timer)
        this.signal.removeEventListener('abort', aborted)
        then()
      }
      const aborted = () => settle(() => reject(new BenchAborted()))
      const timer = Number.isFinite(ms)
        ? setTimeout(() => settle(() => reject(new Error(`${what}: not within ${ms} ms`))), ms)
        : undefined
      this.signal.addEventListener('abort', aborted, { once: true })
      promise.then(
        (value) => settle(() => resolve(value)),
        (err: unknown) => settle(() => reject(err)),
      )
    })
  }

  /** Polls `probe` until it gives a value; throws `what` after `timeoutMs`. */
  async waitFor<T>(what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> {
    const deadline = performance.now() + timeoutMs
    for (;;) {
      this.throwIfAborted()
      const value = await probe()
      if (value !== undefined) return value
      if (performance.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`)
      await this.sleep(POLL_MS)
    }
  }

  /** Stops the timers, gives the producers a bounded time, closes the clients. */
  async close(): Promise<void> {
    for (const cleanup of this.cleanups.splice(0).reverse()) {
      await Promise.resolve()
        .then(cleanup)
        .catch((err: unknown) => process.stderr.write(`cairn: cleaning up: ${String(err)}\n`))
    }
    for (const { cairn, producers } of this.clients.splice(0)) {
      await Promise.all(producers.map((p) => p.close({ timeoutMs: CLIENT_CLOSE_MS_MAX })))
      await cairn.close()
    }
  }
}

/**
 * Creates the topic. A local cluster is just starting: its controller and brokers may not be there
 * yet, so every error is retried until the bound. A running cluster gets one try, and a topic that
 * exists is used as it is.
 */
export async function createTopic(
  run: Run,
  cairn: Cairn,
  topic: string,
  partitions: number,
  replicationFactor: number,
): Promise<'created' | 'existed'> {
  const admin = cairn.admin()
  const create = () => admin.createTopics([{ topic, numPartitions: partitions, replicationFactor }])
  if (run.cluster === null) {
    try {
      await create()
      return 'created'
    } catch (err) {
      if ((err as { code?: string }).code === 'TOPIC_ALREADY_EXISTS') return 'existed'
      throw err
    }
  }
  let lastError = ''
  const created = await run
    .waitFor(`creating topic ${topic}`, TOPIC_CREATE_WAIT_MS_MAX, async () => {
      try {
        await create()
        return 'created' as const
      } catch (err) {
        // The cluster is ours and new: the topic exists because an earlier attempt created it.
        if ((err as { code?: string }).code === 'TOPIC_ALREADY_EXISTS') return 'created' as const
        lastError = err instanceof Error ? err.message : String(err)
        return undefined
      }
    })
    .catch((err: Error) => {
      if (err instanceof BenchAborted) throw err
      throw new Error(lastError ? `${err.message} (last error: ${lastError})` : err.message)
    })
  return created
}

/** The topic's partitions once every one has a leader (and, with `fullIsr`, every replica in sync). */
export function waitForLeaders(
  run: Run,
  cairn: Cairn,
  topic: string,
  timeoutMs: number,
  options: { fullIsr?: boolean; expected?: number } = {},
): Promise<PartitionInfo[]> {
  const admin = cairn.admin()
  return run.waitFor(`every partition of ${topic} with a leader`, timeoutMs, async () => {
    const partitions = await admin.describeTopic(topic).catch(() => [])
    if (partitions.length === 0 || partitions.length < (options.expected ?? 0)) return undefined
    const ready = partitions.every(
      (p) => p.leaderId > 0 && (!options.fullIsr || p.replicas.every((r) => p.isr.includes(r))),
    )
    return ready ? partitions : undefined
  })
}
