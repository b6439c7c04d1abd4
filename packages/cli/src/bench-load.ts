/**
 * The load of `cairn bench`, after the OpenMessaging Benchmark. Producers send one record per
 * send() and measure each from its intended send time to its acknowledgement:
 * - max rate: a producer sends as fast as it accepts, with at most `inFlightMax` records
 *   unacknowledged; the intended time is the time of the send.
 * - fixed rate: record k of the whole run is due at start + k / rate (spread over the producers);
 *   a record sent late is still measured from when it was due, so a stall shows in the latencies
 *   instead of hiding in a slower send rate (coordinated omission).
 * The first `warmupRecords` records of a run (Kafka's `--warmup-records`, KIP-1052) are measured
 * into the whole run's figures only; the steady state's figures start with the record after them.
 * Steady means intended at or after the time the first record after the warm-up was intended, so
 * publish and end-to-end latencies sort a record the same way. At max rate every record of one
 * turn is intended at that turn's time, so the steady state may begin up to one turn's records
 * before record N.
 * Consumers fetch what the producers wrote, one consumer per partition leader at the start (so a
 * quiet leader's long poll holds up no other), and, for e2e, read the record's intended send time
 * from its first 8 bytes.
 */
import type { Cairn, ConsumedRecord, Producer, RecordMetadata, SendRequest } from '@cairn/client'
import type { Histogram } from 'hdr-histogram-js'
import { latencyHistogram, recordMs } from './bench-report.js'

/** Sends per producer per turn of the event loop, so a large in-flight window does not hog it. */
const SENDS_PER_TURN_MAX = 10_000
/** The first 8 bytes of an e2e record: its intended send time (performance.now(), a float64). */
export const TIMESTAMP_BYTES = 8
/** After a poll that failed fast, so a consumer does not spin while the cluster recovers. */
const EMPTY_POLL_BACKOFF_MS = 20

export interface LoadOptions {
  topic: string
  recordSizeBytes: number
  /** In total over the producers; Infinity runs until stop(). */
  records: number
  /** Records per second in total; 0 for max rate. */
  ratePerS: number
  /** Unacknowledged records per producer. */
  inFlightMax: number
  /** The first this many records of the run are a warm-up, outside the steady state's figures. */
  warmupRecords?: number
  /** Send record k to partition k % partitions (failover: every partition gets its share); else the partitioner decides. */
  roundRobinPartitions?: number
  /** Put the intended send time into each record (e2e). */
  timestampInValue: boolean
  /** Called on every acknowledgement (failover watches these). */
  onAck?: (partition: number, intendedMs: number, ackedMs: number) => void
}

interface ProducerState {
  readonly index: number
  readonly producer: Producer
  readonly quota: number
  sent: number
  inFlight: number
  scheduled: boolean
  timer: NodeJS.Timeout | null
  /** The rejection handler of every send of this producer: made once, not per record. */
  readonly onFailed: (err: unknown) => void
}

/** A payload of `size` bytes from a seeded generator: incompressible, the same on every run. */
function payload(size: number): Uint8Array {
  const bytes = new Uint8Array(size)
  let s = 0x2545f491
  for (let k = 0; k < size; k++) {
    s ^= s << 13
    s ^= s >>> 17
    s ^= s << 5
    bytes[k] = s & 0xff
  }
  return bytes
}

export class LoadGenerator {
  /** Publish latency of every record of the run, warm-up included. */
  readonly publish = latencyHistogram()
  /**
   * Publish latency of the records after the warm-up; without a warm-up, `publish` itself: at
   * 300,000 records/s a second histogram per record costs the bench ~6 %.
   */
  readonly steadyPublish: Histogram
  /** Sent − due, at a fixed rate (OMB's publish delay): whether the bench itself keeps up. */
  readonly sendDelay = latencyHistogram()
  acked = 0
  bytesAcked = 0
  failed = 0
  firstError: string | null = null
  /** Acknowledged records after the warm-up. */
  steadyAcked = 0
  startedMs = 0
  lastAckMs = 0
  /**
   * When the first record after the warm-up was intended: records intended from then on are the
   * steady state. Infinity while warming up.
   */
  steadyFromMs = Number.POSITIVE_INFINITY
  private readonly states: ProducerState[]
  private readonly payload: Uint8Array
  /** Milliseconds between records of the whole run; 0 at max rate. */
  private readonly intervalMs: number
  /**
   * The one request every send makes when records carry nothing of their own (no timestamp, no
   * chosen partition): the producer reads a request before send() returns, so it can be reused.
   */
  private readonly sharedRequest: SendRequest | null
  private nextPartition = 0
  /** Records sent so far by all producers. */
  private sentTotal = 0
  private readonly warmupRecords: number
  private stopped = false
  private finish: (() => void) | null = null
  /** The producers' request total when run() began: warm-up sends made before are not the run's. */
  private requestsAtStart = 0

  constructor(
    producers: Producer[],
    private readonly o: LoadOptions,
  ) {
    if (producers.length === 0) throw new Error('a load needs a producer')
    if (o.timestampInValue && o.recordSizeBytes < TIMESTAMP_BYTES)
      throw new Error(`records carrying a timestamp need at least ${TIMESTAMP_BYTES} bytes`)
    const n = producers.length
    const share = (k: number) =>
      Number.isFinite(o.records) ? Math.floor(o.records / n) + (k < o.records % n ? 1 : 0) : o.records
    this.states = producers.map((producer, index) => {
      const s: ProducerState = {
        index,
        producer,
        quota: share(index),
        sent: 0,
        inFlight: 0,
        scheduled: false,
        timer: null,
        onFailed: (err) => this.onFailed(s, err),
      }
      return s
    })
    this.payload = payload(o.recordSizeBytes)
    this.sharedRequest =
      o.timestampInValue || o.roundRobinPartitions !== undefined
        ? null
        : { topic: o.topic, messages: [{ value: this.payload }] }
    this.intervalMs = o.ratePerS > 0 ? 1000 / o.ratePerS : 0
    this.warmupRecords = o.warmupRecords ?? 0
    if (!Number.isSafeInteger(this.warmupRecords) || this.warmupRecords < 0)
      throw new Error(`warmupRecords wants a whole number, got ${this.warmupRecords}`)
    this.steadyPublish = this.warmupRecords > 0 ? latencyHistogram() : this.publish
  }

  /** Whether a record intended at `intendedMs` is in the steady state (after the warm-up). */
  isSteady(intendedMs: number): boolean {
    return intendedMs >= this.steadyFromMs
  }

  get sent(): number {
    return this.states.reduce((sum, s) => sum + s.sent, 0)
  }

  get inFlight(): number {
    return this.states.reduce((sum, s) => sum + s.inFlight, 0)
  }

  /** Produce requests the producers sent since run() began (Kafka's `request-total`). */
  get produceRequests(): number {
    return this.requestTotal() - this.requestsAtStart
  }

  private requestTotal(): number {
    let total = 0
    for (const s of this.states) total += s.producer.metrics()['request-total']
    return total
  }

  /** Starts sending; resolves when every record has its outcome, or after stop() when none is in flight. */
  run(): Promise<void> {
    this.requestsAtStart = this.requestTotal()
    this.startedMs = performance.now()
    this.lastAckMs = this.startedMs
    // At a fixed rate record k is intended at start + k × interval, whoever sends it.
    if (this.intervalMs > 0 || this.warmupRecords === 0)
      this.steadyFromMs = this.startedMs + this.warmupRecords * this.intervalMs
    const done = new Promise<void>((resolve) => {
      this.finish = resolve
    })
    for (const s of this.states) this.pump(s)
    this.checkDone()
    return done
  }

  /** Sends no more records; run() resolves once those in flight have their outcome. */
  stop(): void {
    this.stopped = true
    for (const s of this.states) if (s.timer) clearTimeout(s.timer)
    this.checkDone()
  }

  private schedule(s: ProducerState): void {
    // A timer armed for the next due record wakes the producer anyway.
    if (s.scheduled || s.timer !== null || this.stopped) return
    s.scheduled = true
    setImmediate(() => this.pump(s))
  }

  private pump(s: ProducerState): void {
    s.scheduled = false
    if (s.timer !== null) clearTimeout(s.timer)
    s.timer = null
    if (this.stopped) return
    const now = performance.now()
    const producers = this.states.length
    // At max rate every record of this turn is intended now: one acknowledgement handler for all.
    const onAckedNow =
      this.intervalMs > 0 ? null : (metadata: RecordMetadata[]) => this.onAcked(s, now, metadata)
    for (let budget = SENDS_PER_TURN_MAX; budget > 0; budget--) {
      if (s.sent >= s.quota || s.inFlight >= this.o.inFlightMax) return
      if (onAckedNow !== null) {
        this.sendOne(s, now, onAckedNow)
        continue
      }
      const intendedMs = this.startedMs + (s.sent * producers + s.index) * this.intervalMs
      if (intendedMs > now) {
        s.timer = setTimeout(() => this.pump(s), Math.ceil(intendedMs - now))
        return
      }
      recordMs(this.sendDelay, now - intendedMs)
      this.sendOne(s, intendedMs, (metadata) => this.onAcked(s, intendedMs, metadata))
    }
    this.schedule(s)
  }

  private valueFor(intendedMs: number): Uint8Array {
    if (!this.o.timestampInValue) return this.payload
    const value = this.payload.slice()
    new DataView(value.buffer).setFloat64(0, intendedMs)
    return value
  }

  private sendOne(s: ProducerState, intendedMs: number, onAcked: (metadata: RecordMetadata[]) => void): void {
    if (this.sentTotal++ === this.warmupRecords && this.steadyFromMs === Number.POSITIVE_INFINITY)
      this.steadyFromMs = intendedMs
    s.sent++
    s.inFlight++
    s.producer.send(this.requestFor(intendedMs)).then(onAcked, s.onFailed)
  }

  private requestFor(intendedMs: number): SendRequest {
    if (this.sharedRequest !== null) return this.sharedRequest
    const value = this.valueFor(intendedMs)
    const rr = this.o.roundRobinPartitions
    const message = rr === undefined ? { value } : { value, partition: this.nextPartition++ % rr }
    return { topic: this.o.topic, messages: [message] }
  }

  private onAcked(s: ProducerState, intendedMs: number, metadata: RecordMetadata[]): void {
    const now = performance.now()
    s.inFlight--
    this.acked++
    // Every record of a run has the same size, with or without its timestamp.
    this.bytesAcked += this.o.recordSizeBytes
    this.lastAckMs = now
    recordMs(this.publish, now - intendedMs)
    if (intendedMs >= this.steadyFromMs) {
      this.steadyAcked++
      if (this.steadyPublish !== this.publish) recordMs(this.steadyPublish, now - intendedMs)
    }
    this.o.onAck?.(metadata[0]!.partition, intendedMs, now)
    this.afterOutcome(s)
  }

  private onFailed(s: ProducerState, err: unknown): void {
    s.inFlight--
    this.failed++
    this.firstError ??= err instanceof Error ? err.message : String(err)
    this.afterOutcome(s)
  }

  private afterOutcome(s: ProducerState): void {
    if (s.sent < s.quota) this.schedule(s)
    this.checkDone()
  }

  private checkDone(): void {
    if (!this.finish) return
    const done = this.states.every((s) => s.inFlight === 0 && (this.stopped || s.sent >= s.quota))
    if (!done) return
    this.finish()
    this.finish = null
  }
}

export interface ConsumeOptions {
  topic: string
  /** Where each partition's reading starts. */
  from: { partition: number; offset: number }[]
  /** Partition → its leader when reading starts: one consumer per leader. */
  leaders: Map<number, number>
  /** fetch.max.wait.ms: also how soon a consumer notices it is done. */
  maxWaitMs: number
  /** Read the intended send time from each record's first 8 bytes (e2e). */
  endToEnd: boolean
  /** Whether a record intended at this time is after the warm-up (e2e); by default every one is. */
  isSteady?: (intendedMs: number) => boolean
}

export class ConsumeLoad {
  /** Time per poll that returned records. */
  readonly fetch = latencyHistogram()
  readonly endToEnd: Histogram = latencyHistogram()
  /** End-to-end latency of the records after the producers' warm-up; without one, `endToEnd` itself. */
  readonly steadyEndToEnd: Histogram
  received = 0
  bytes = 0
  firstMs = 0
  lastMs = 0
  /** How many records to read before stopping; set (again) while running. */
  expected = Number.POSITIVE_INFINITY
  private stopped = false

  constructor(
    private readonly cairn: Cairn,
    private readonly o: ConsumeOptions,
  ) {
    this.steadyEndToEnd = o.isSteady ? latencyHistogram() : this.endToEnd
  }

  stop(): void {
    this.stopped = true
  }

  get done(): boolean {
    return this.stopped || this.received >= this.expected
  }

  /** Reads until `expected` records arrived or stop(); throws if a consumer fails. */
  async run(): Promise<void> {
    const byLeader = new Map<number, { topic: string; partition: number }[]>()
    for (const { partition } of this.o.from) {
      const leader = this.o.leaders.get(partition) ?? 0
      byLeader.set(leader, [...(byLeader.get(leader) ?? []), { topic: this.o.topic, partition }])
    }
    const offsets = new Map(this.o.from.map((f) => [f.partition, f.offset]))
    this.firstMs = performance.now()
    this.lastMs = this.firstMs
    await Promise.all(
      [...byLeader.values()].map((assigned) => {
        const consumer = this.cairn.consumer({ autoOffsetReset: 'earliest', maxWaitMs: this.o.maxWaitMs })
        consumer.assign(assigned)
        for (const tp of assigned) consumer.seek(tp, offsets.get(tp.partition)!)
        return this.loop(() => consumer.poll())
      }),
    )
  }

  private async loop(poll: () => Promise<ConsumedRecord[]>): Promise<void> {
    while (!this.done) {
      const startMs = performance.now()
      const records = await poll()
      const now = performance.now()
      if (records.length === 0) {
        // An empty answer before the long poll's end is a failed fetch (no leader, no connection).
        if (now - startMs < this.o.maxWaitMs / 2)
          await new Promise((r) => setTimeout(r, EMPTY_POLL_BACKOFF_MS))
        continue
      }
      recordMs(this.fetch, now - startMs)
      this.lastMs = now
      for (const r of records) {
        const value = r.value
        this.received++
        this.bytes += value?.length ?? 0
        if (this.o.endToEnd && value && value.length >= TIMESTAMP_BYTES) {
          const sentMs = new DataView(value.buffer, value.byteOffset, TIMESTAMP_BYTES).getFloat64(0)
          recordMs(this.endToEnd, now - sentMs)
          if (this.steadyEndToEnd !== this.endToEnd && this.o.isSteady!(sentMs))
            recordMs(this.steadyEndToEnd, now - sentMs)
        }
      }
    }
  }
}
