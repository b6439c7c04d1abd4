/**
 * Test helpers: the run's seed, and a fake cluster that behaves as a Kafka broker does toward a
 * producer — leaders, a metadata cache that is only as fresh as the last refresh, per-partition
 * logs, and idempotent producer state (last 5 batches per producer and partition, duplicates
 * answered with their original offsets, gaps with OUT_OF_ORDER_SEQUENCE_NUMBER) — with hooks to
 * inject faults.
 */
import assert from 'node:assert/strict'
import {
  type BatchHeader,
  type DecodedBatch,
  decodeRecords,
  ErrorCode,
  type Result,
  readBatchHeader,
} from '@cairn/protocol'
import {
  type Clock,
  incrementSequence,
  type ProduceBatch,
  type ProduceBatchResult,
  type ProduceOptions,
  Producer,
  type ProducerConfig,
  type ProducerIdAndEpoch,
  type ProducerIo,
  seededRandom,
} from '../src/index.js'

/** One seed per run for every random choice. CAIRN_SEED=n replays a failure. */
export const seed: number = process.env.CAIRN_SEED
  ? Number(process.env.CAIRN_SEED)
  : Math.floor(Math.random() * 0x7fffffff)

export function fcOptions(numRuns: number): { seed: number; numRuns: number } {
  return { seed, numRuns }
}

process.on('exit', (code) => {
  if (code !== 0) console.error(`test seed: CAIRN_SEED=${seed}`)
})

const utf8 = new TextDecoder()

export interface LoggedRecord {
  offset: number
  key: string | null
  value: string | null
  timestamp: number
}

interface ProducerPartitionState {
  epoch: number
  lastSequence: number
  /** The last 5 batches: a resend of one of them is a duplicate. */
  recent: { firstSequence: number; lastSequence: number; baseOffset: number }[]
}

/** What the broker does with one batch of a request, decided by a test. */
export type BatchFault =
  /** Refuse the batch with this error, appending nothing (naming a leader, if `leaderId`). */
  | { errorCode: number; logStartOffset?: number; leaderId?: number }
  /** Append normally (the default). */
  | undefined

/** What happens to a whole request, decided by a test. */
export type RequestFault =
  /** The request never reaches the broker. */
  | 'drop-request'
  /** The broker handles it, the answer is lost. */
  | 'drop-response'
  | undefined

export interface ProduceCall {
  nodeId: number
  batches: ProduceBatch[]
  options: ProduceOptions
  atMs: number
  /** 0-based count of calls so far. */
  n: number
}

export class FakeCluster {
  /** The broker's truth: topic → leader node per partition (undefined: no leader). */
  readonly leaders = new Map<string, (number | undefined)[]>()
  /** The producer's metadata cache, updated only by refreshMetadata. */
  readonly cache = new Map<string, (number | undefined)[]>()
  readonly logs = new Map<string, LoggedRecord[]>()
  readonly calls: ProduceCall[] = []
  readonly refreshes: { atMs: number; topics: readonly string[] }[] = []
  readonly initCalls: (ProducerIdAndEpoch | null)[] = []
  readonly logStartOffsets = new Map<string, number>()
  private readonly producerState = new Map<string, ProducerPartitionState>()
  private nextProducerId = 1000n
  /** Latency of every answer, in virtual ms (0: the next microtask). */
  responseDelayMs = 0
  requestFault: (call: ProduceCall) => RequestFault = () => undefined
  batchFault: (call: ProduceCall, batch: ProduceBatch, index: number) => BatchFault = () => undefined
  /** Whether requests are answered at all (false: they hang, as to a dead node). */
  answering = true
  /**
   * Handle each request as it arrives but hold its answer until {@link release}: a broker that
   * answers requests out of the order it handled them in (each waits for its slowest partition).
   */
  holdAnswers = false
  private readonly held = new Map<number, () => void>()
  /** NOT_LEADER_OR_FOLLOWER names the partition's leader, as Cairn's broker does (KIP-951). */
  hintLeaders = false
  /**
   * Accept any first sequence from a producer the partition has no state for, as Kafka ≥ 2.5 and
   * Cairn's broker do (state may have been removed by retention). Off: a new producer must start at 0.
   */
  acceptAnySequenceFromUnknownProducer = false
  /**
   * Keep what a test inspects: every call and every record's key and value. Off (benchmarks), the
   * broker still checks batch headers and sequences and assigns offsets, but keeps no bytes.
   */
  recording = true
  /** Per topic-partition: the offset the next record gets. */
  private readonly logEndOffsets = new Map<string, number>()

  /** Only now() and setTimer() are used: a VirtualClock in tests, the system clock in benchmarks. */
  constructor(readonly clock: Clock) {}

  createTopic(topic: string, partitions: number, leaderOf: (p: number) => number = (p) => (p % 3) + 1): void {
    const leaders = Array.from({ length: partitions }, (_, p) => leaderOf(p))
    this.leaders.set(topic, leaders)
    this.cache.set(topic, [...leaders])
    for (let p = 0; p < partitions; p++) this.logs.set(`${topic}-${p}`, [])
  }

  deleteTopic(topic: string): void {
    this.leaders.delete(topic)
  }

  log(topic: string, partition: number): LoggedRecord[] {
    return this.logs.get(`${topic}-${partition}`) ?? []
  }

  readonly io: ProducerIo = {
    sender: (nodeId, batches, options) => this.produce(nodeId, batches, options),
    partitionCount: (topic) => this.cache.get(topic)?.length,
    leaderFor: (topic, partition) => this.cache.get(topic)?.[partition],
    noteLeader: (topic, partition, leaderId) => {
      const cached = this.cache.get(topic)
      if (cached === undefined || partition >= cached.length) return false
      cached[partition] = leaderId
      return true
    },
    refreshMetadata: async (topics) => {
      this.refreshes.push({ atMs: this.clock.now(), topics })
      this.cache.clear()
      for (const [topic, leaders] of this.leaders) this.cache.set(topic, [...leaders])
    },
    initProducerId: async (current) => {
      this.initCalls.push(current)
      if (current !== null && current.producerEpoch < 0x7fff)
        return { producerId: current.producerId, producerEpoch: current.producerEpoch + 1 }
      return { producerId: this.nextProducerId++, producerEpoch: 0 }
    },
  }

  producer(config: ProducerConfig = {}, random = seededRandom(seed)): Producer {
    return new Producer(config, this.io, { clock: this.clock, random })
  }

  private produce(
    nodeId: number,
    batches: ProduceBatch[],
    options: ProduceOptions,
  ): Promise<ProduceBatchResult[]> {
    // The producer may encode other batches into these bytes once this call settles (ProduceBatch):
    // what the broker keeps to inspect later is a copy.
    const sent = batches
    if (this.recording) batches = batches.map((b) => ({ ...b, bytes: new Uint8Array(b.bytes) }))
    const call: ProduceCall = { nodeId, batches, options, atMs: this.clock.now(), n: this.calls.length }
    if (this.recording) this.calls.push(call)
    const fault = this.requestFault(call)
    return new Promise((resolve, reject) => {
      if (!this.answering) return
      const answer = () => {
        // Until this call settles the producer must leave the bytes it sent as they were.
        if (this.recording)
          for (const [i, b] of sent.entries())
            assert.deepEqual(
              new Uint8Array(b.bytes),
              batches[i]!.bytes,
              `call ${call.n}: batch ${i} changed before its answer`,
            )
        if (fault === 'drop-request') return reject(new Error('connection reset'))
        const results = batches.map((b, i) => this.appendBatch(call, b, i))
        if (fault === 'drop-response') return reject(new Error('request timed out'))
        if (this.holdAnswers) this.held.set(call.n, () => resolve(results))
        else resolve(results)
      }
      if (this.responseDelayMs === 0) queueMicrotask(answer)
      else this.clock.setTimer(this.responseDelayMs, answer)
    })
  }

  private appendBatch(call: ProduceCall, batch: ProduceBatch, index: number): ProduceBatchResult {
    const leaders = this.leaders.get(batch.topic)
    if (leaders === undefined || batch.partition >= leaders.length)
      return { errorCode: ErrorCode.UNKNOWN_TOPIC_OR_PARTITION.code }
    const leader = leaders[batch.partition]
    if (leader !== call.nodeId)
      return {
        errorCode: ErrorCode.NOT_LEADER_OR_FOLLOWER.code,
        ...(this.hintLeaders && leader !== undefined && { leaderId: leader }),
      }
    const fault = this.batchFault(call, batch, index)
    if (fault !== undefined) return fault
    const decoded = this.recording ? decodeRecords(batch.bytes) : wrapHeader(readBatchHeader(batch.bytes))
    if (!decoded.ok) return { errorCode: ErrorCode.CORRUPT_MESSAGE.code, errorMessage: decoded.reason }
    const { header, records } = decoded.value
    if (header.recordCount !== batch.recordCount || header.baseSequence !== batch.baseSequence)
      return {
        errorCode: ErrorCode.CORRUPT_MESSAGE.code,
        errorMessage: 'batch fields disagree with the header',
      }
    const tp = `${batch.topic}-${batch.partition}`
    const logStartOffset = this.logStartOffsets.get(tp) ?? 0
    const count = header.recordCount
    if (header.producerId >= 0n) {
      const checked = this.checkSequence(
        tp,
        header.producerId,
        header.producerEpoch,
        header.baseSequence,
        count,
      )
      if (checked.errorCode !== 0) return { ...checked, logStartOffset }
      if (checked.duplicateOf !== undefined)
        return { errorCode: 0, baseOffset: checked.duplicateOf, logStartOffset }
    }
    const baseOffset = this.logEndOffsets.get(tp) ?? 0
    this.logEndOffsets.set(tp, baseOffset + count)
    const log = this.logs.get(tp)!
    for (const [i, r] of records.entries())
      log.push({
        offset: baseOffset + i,
        key: r.key === null ? null : utf8.decode(r.key),
        value: r.value === null ? null : utf8.decode(r.value),
        timestamp: r.timestamp,
      })
    if (header.producerId >= 0n) this.remember(tp, header.producerId, header.baseSequence, count, baseOffset)
    return { errorCode: 0, baseOffset, logStartOffset }
  }

  private checkSequence(
    tp: string,
    producerId: bigint,
    epoch: number,
    baseSequence: number,
    count: number,
  ): { errorCode: number; errorMessage?: string; duplicateOf?: number } {
    const key = `${producerId}/${tp}`
    const state = this.producerState.get(key)
    const lastSequence = incrementSequence(baseSequence, count - 1)
    if (state === undefined || epoch > state.epoch) {
      const lenient = state === undefined && this.acceptAnySequenceFromUnknownProducer
      if (baseSequence !== 0 && !lenient)
        return {
          errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER.code,
          errorMessage: `new epoch starts at ${baseSequence}`,
        }
      this.producerState.set(key, { epoch, lastSequence: -1, recent: [] })
      return { errorCode: 0 }
    }
    if (epoch < state.epoch) return { errorCode: 47, errorMessage: 'fenced epoch' }
    const duplicate = state.recent.find(
      (b) => b.firstSequence === baseSequence && b.lastSequence === lastSequence,
    )
    if (duplicate !== undefined) return { errorCode: 0, duplicateOf: duplicate.baseOffset }
    const expected = incrementSequence(state.lastSequence, 1)
    if (baseSequence !== expected)
      return {
        errorCode: ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER.code,
        errorMessage: `expected ${expected}, got ${baseSequence}`,
      }
    return { errorCode: 0 }
  }

  private remember(
    tp: string,
    producerId: bigint,
    baseSequence: number,
    count: number,
    baseOffset: number,
  ): void {
    const state = this.producerState.get(`${producerId}/${tp}`)!
    state.lastSequence = incrementSequence(baseSequence, count - 1)
    state.recent.push({ firstSequence: baseSequence, lastSequence: state.lastSequence, baseOffset })
    if (state.recent.length > 5) state.recent.shift()
  }

  /** Delivers the held answer of call `n` (see {@link holdAnswers}). */
  release(n: number): void {
    const answer = this.held.get(n)
    assert.ok(answer, `call ${n} has no held answer`)
    this.held.delete(n)
    answer()
  }

  /** Forget every producer's state, as retention removing all of a producer's batches would. */
  forgetProducers(): void {
    this.producerState.clear()
  }

  /** Every batch header the broker was sent, in order: (topic-partition, baseSequence, epoch, bytes). */
  sentBatches(): { tp: string; baseSequence: number; producerEpoch: number; bytes: Uint8Array; n: number }[] {
    return this.calls.flatMap((call) =>
      call.batches.map((b) => {
        const h = readBatchHeader(b.bytes)
        if (!h.ok) throw new Error(h.reason)
        return {
          tp: `${b.topic}-${b.partition}`,
          baseSequence: h.value.baseSequence,
          producerEpoch: h.value.producerEpoch,
          bytes: b.bytes,
          n: call.n,
        }
      }),
    )
  }
}

/** A batch header as a decoded batch without records: what the broker reads when not recording. */
function wrapHeader(read: Result<BatchHeader>): Result<DecodedBatch> {
  return read.ok ? { ok: true, value: { header: read.value, records: [] } } : read
}

/** A settled promise's outcome, without an unhandled rejection in between. */
export function outcome<T>(p: Promise<T>): { value?: T; error?: Error; done: boolean } {
  const o: { value?: T; error?: Error; done: boolean } = { done: false }
  p.then(
    (v) => {
      o.value = v
      o.done = true
    },
    (e: Error) => {
      o.error = e
      o.done = true
    },
  )
  return o
}

export const text = (s: string): Uint8Array => new TextEncoder().encode(s)
