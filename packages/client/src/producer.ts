/**
 * The producer: the driver around the accumulator. It turns send() calls into records, waits for
 * metadata and buffer memory, drains ready batches into produce requests for the injected
 * sender, and settles every record from the answers: complete, retry (same bytes, same
 * sequence), or fail. All I/O is injected ({@link ProducerIo}) and all time comes from a
 * {@link Clock}, so the whole producer runs in virtual time in tests; the network layer plugs in
 * by implementing ProducerIo.
 *
 * One pass (`pump`) does everything that can be done now, then arms a single timer for the next
 * deadline (a linger, a backoff, a timeout). Every event — a send, an answer, a refresh, the
 * timer — schedules a pass; passes never overlap.
 */
import { ErrorCode, type KafkaError, type RecordHeader } from '@cairn/protocol'
import { type DrainedRequest, RecordAccumulator } from './accumulator.js'
import { AppendQueue } from './append-queue.js'
import {
  BatchBuffers,
  type PendingRecord,
  type ProducerBatch,
  type RecordMetadata,
  type RecordOwner,
  recordFixedBytes,
  singleRecordBatchBytes,
} from './batch.js'
import { type Clock, systemClock, type TimerHandle } from './clock.js'
import {
  type Acks,
  type ProducerConfig,
  type ResolvedProducerConfig,
  resolveProducerConfig,
} from './config.js'
import {
  BufferExhaustedError,
  CairnError,
  DeliveryTimeoutError,
  ProduceError,
  ProducerClosedError,
  RecordTooLargeError,
  TimeoutError,
} from './errors.js'
import { DefaultPartitioner, type Partitioner } from './partitioner.js'
import {
  classifyProduceError,
  type ErrorDisposition,
  networkExceptionError,
  ProducerErrorCode,
  retryBackoffMs,
} from './retry.js'
import { noProducerId, type ProducerIdAndEpoch } from './sequence.js'

// ---- What the network layer implements

/**
 * One batch of a produce request. `bytes` is a complete RecordBatch v2, base offset 0. The sender
 * may read `bytes` until the promise it returned settles, and no longer: the producer encodes
 * later batches into the same buffer then. A sender that keeps them copies them.
 */
export interface ProduceBatch {
  topic: string
  partition: number
  bytes: Uint8Array
  recordCount: number
  /** −1 without idempotence. */
  baseSequence: number
}

/** The broker's answer for one batch. */
export interface ProduceBatchResult {
  /** 0: appended (or a duplicate of an appended batch); otherwise a Kafka error code. */
  errorCode: number
  /** The batch's first offset; −1 or absent if unknown. */
  baseOffset?: number
  /** The broker's append time if the topic uses LogAppendTime, else −1 or absent. */
  logAppendTime?: number
  /** The partition's log start offset: tells UNKNOWN_PRODUCER_ID after retention from data loss. */
  logStartOffset?: number
  errorMessage?: string
  /**
   * With NOT_LEADER_OR_FOLLOWER: the node the broker says leads the partition now (KIP-951);
   * absent or 0 if unknown.
   */
  leaderId?: number
  /** That leader's epoch, if the broker said. */
  leaderEpoch?: number
}

export interface ProduceOptions {
  acks: Acks
  /** request.timeout.ms: the sender must settle within it (reject with NetworkError on timeout). */
  timeoutMs: number
}

/**
 * Send one produce request to `nodeId`. Resolve with one result per batch, in order (acks = 0:
 * resolve once written to the socket, results ignored). Reject when there is no answer at all
 * (connection lost, request timed out): every batch of the request is then retried.
 */
export type Sender = (
  nodeId: number,
  batches: ProduceBatch[],
  options: ProduceOptions,
) => Promise<ProduceBatchResult[]>

export interface ProducerIo {
  sender: Sender
  /** Partitions of the topic per the metadata cache; undefined if the topic is not known. */
  partitionCount(topic: string): number | undefined
  /** The node leading the partition per the metadata cache; undefined while no leader is known. */
  leaderFor(topic: string, partition: number): number | undefined
  /** Partitions with a known leader, ascending; derived from leaderFor when absent. */
  availablePartitions?(topic: string): readonly number[]
  /** Fetch fresh metadata (at least for `topics`); resolve when the cache is updated. */
  refreshMetadata(topics: readonly string[]): Promise<void>
  /**
   * A broker named `leaderId` as the partition's leader (KIP-951): update the cache. True if the
   * cache routes the partition to that node now (false: its address is unknown, say).
   */
  noteLeader?(topic: string, partition: number, leaderId: number, leaderEpoch?: number): boolean
  /**
   * Required with idempotence: a producer id and epoch (Kafka's InitProducerId). `current` is the
   * id in use when the producer must bump its epoch after a failed batch (KIP-360); null at start.
   */
  initProducerId?(current: ProducerIdAndEpoch | null): Promise<ProducerIdAndEpoch>
}

export interface ProducerOptions {
  clock?: Clock
  /** Jitter and the sticky partitioner's choices. Seed it in tests. */
  random?: () => number
}

// ---- What users send

export type Bytes = Uint8Array | string

export interface Message {
  key?: Bytes | null
  value: Bytes | null
  headers?: Record<string, Bytes | null> | { key: string; value: Bytes | null }[]
  /** Wins over the partitioner. */
  partition?: number
  /** CreateTime in ms; default now. */
  timestamp?: number
}

export interface SendRequest {
  topic: string
  messages: Message[]
}

interface QueuedRecord extends PendingRecord {
  /** The message's explicit partition, or null to ask the partitioner. */
  partition: number | null
}

const utf8 = new TextEncoder()
const topicPattern = /^[a-zA-Z0-9._-]{1,249}$/

function toBytes(value: Bytes | null | undefined, what: string): Uint8Array | null {
  if (value === null || value === undefined) return null
  if (typeof value === 'string') return utf8.encode(value)
  if (value instanceof Uint8Array) return value
  throw new TypeError(`${what} must be a string, a Uint8Array or null`)
}

/** Shared by every record without headers: read only, never mutated. */
const noHeaders: RecordHeader[] = []
/**
 * Retries per batch that go at once to the leader a NOT_LEADER_OR_FOLLOWER answer named (KIP-951);
 * after these, the usual backoff.
 */
export const LEADER_HINT_RETRIES_MAX = 3

function toHeaders(headers: Message['headers']): RecordHeader[] {
  if (headers === undefined) return noHeaders
  const entries = Array.isArray(headers)
    ? headers.map((h) => [h.key, h.value] as const)
    : Object.entries(headers)
  return entries.map(([key, value]) => ({ key, value: toBytes(value, `header ${key}`) }))
}

function describe(error: KafkaError, detail?: string): string {
  return `${error.name} (${error.code})${detail ? `: ${detail}` : ''}`
}

function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}

/** Call an injected async function so that a synchronous throw becomes a rejection. */
function attempt<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return Promise.resolve(fn())
  } catch (e) {
    return Promise.reject(e)
  }
}

/**
 * The sends made between two flush() calls, counted rather than kept: flush() waits for its own
 * generation and, through the previous flush, for every older one.
 */
class SendGeneration {
  /** Sends of this generation not yet resolved or rejected. */
  unsettled = 0
  private onAllSettled: (() => void) | null = null

  /** Called once, by the flush() that ends this generation: no send joins it afterwards. */
  allSettled(): Promise<void> {
    if (this.unsettled === 0) return Promise.resolve()
    return new Promise((resolve) => {
      this.onAllSettled = resolve
    })
  }

  sendSettled(): void {
    if (--this.unsettled > 0 || this.onAllSettled === null) return
    this.onAllSettled()
    this.onAllSettled = null
  }
}

/**
 * The resolving functions of the promise last created with this executor: one shared executor
 * instead of a closure (and its context) per send. Read them right after `new Promise`.
 */
let capturedResolve: (value: RecordMetadata[]) => void = () => undefined
let capturedReject: (error: Error) => void = () => undefined
function captureResolvers(resolve: (value: RecordMetadata[]) => void, reject: (error: Error) => void): void {
  capturedResolve = resolve
  capturedReject = reject
}

/** A send's records once they are all in batches: shared, never written. */
const noRecords: QueuedRecord[] = []

/**
 * One send() call: its records, where it stands, and how to settle its promise. A send lives until
 * its last record is acknowledged, with up to buffer.memory's worth of others: what it holds for
 * that long is what the garbage collector copies and promotes, so it holds little.
 */
class SendState implements RecordOwner {
  /** Made by the first acknowledgement (for a one-record send, the last): no array waits in flight. */
  private results: RecordMetadata[] | null = null
  /** Set by {@link setRecords} before the send is queued; dropped once all are in batches. */
  records: QueuedRecord[] = noRecords
  recordCount = 0
  /** Records appended so far. */
  cursor = 0
  settled = false
  private pending = 0

  /** The send's promise goes to the caller; the send keeps only its resolving functions. */
  constructor(
    readonly topic: string,
    readonly deadlineMs: number,
    private readonly generation: SendGeneration,
    private readonly resolvePromise: (value: RecordMetadata[]) => void,
    private readonly rejectPromise: (error: Error) => void,
  ) {}

  /** The records are built with this send as their owner: one object per record, no copy. */
  setRecords(records: QueuedRecord[]): void {
    this.records = records
    this.recordCount = records.length
    this.pending = records.length
  }

  get fullyAppended(): boolean {
    return this.cursor >= this.recordCount
  }

  /** Every record is in a batch, which holds it from now on: the array can die young. */
  releaseRecords(): void {
    if (!this.fullyAppended) throw new Error(`send released at record ${this.cursor} of ${this.recordCount}`)
    this.records = noRecords
  }

  recordDone(index: number, metadata: RecordMetadata): void {
    if (this.settled) return
    this.results ??= new Array<RecordMetadata>(this.recordCount)
    this.results[index] = metadata
    if (--this.pending > 0) return
    this.settled = true
    this.resolvePromise(this.results)
    // After the send's own reactions are queued, so a flush() never resolves ahead of them.
    this.generation.sendSettled()
  }

  recordFailed(_index: number, error: Error): void {
    if (this.settled) return
    this.settled = true
    this.rejectPromise(error)
    this.generation.sendSettled()
  }
}

/** One topic during one pass of appendPending: what metadata says of it, read at most once. */
interface TopicInPass {
  topic: string
  partitionCount: number | undefined
  /** Read on the first keyless record. */
  available: readonly number[] | undefined
}

/**
 * Whether metadata gives the topic partitions to append to. A topic the cluster does not know is
 * cached with its error and no partitions (0): its sends wait for metadata, as for one not asked of
 * the cluster yet (undefined).
 */
function knownPartitions(partitionCount: number | undefined): partitionCount is number {
  return partitionCount !== undefined && partitionCount >= 1
}

/**
 * Totals since the producer was made, by the names of Kafka's producer-metrics group (each Kafka
 * `-rate` is the matching `-total` over time). `record-send-total` counts a retried batch's
 * records again, as Kafka's does.
 */
export interface ProducerMetrics {
  /** Produce requests sent. */
  'request-total': number
  /** Records in the batches those requests carried. */
  'record-send-total': number
  /** Records sent again after a retriable error. */
  'record-retry-total': number
  /** Records of batches that failed for good (not those refused before they joined a batch). */
  'record-error-total': number
}

export class Producer {
  readonly config: ResolvedProducerConfig
  private readonly totals: ProducerMetrics = {
    'request-total': 0,
    'record-send-total': 0,
    'record-retry-total': 0,
    'record-error-total': 0,
  }
  private readonly accumulator: RecordAccumulator
  /** Buffers of batch.size that full batches are encoded into, used again once acknowledged. */
  private readonly batchBuffers: BatchBuffers
  private readonly partitioner: Partitioner
  private readonly clock: Clock
  private readonly random: () => number
  /** Sends not yet fully appended, in call order. */
  private readonly appendQueue = new AppendQueue<SendState>()
  /** The sends since the last flush() (unsettled ones counted there). */
  private generation = new SendGeneration()
  /** Resolves once every send made before the last flush() has settled. */
  private settledBeforeLastFlush: Promise<unknown> = Promise.resolve()
  private blockedOnMemory = false
  /** The last topic name that passed validation: a producer mostly sends to few topics. */
  private validTopic: string | null = null

  private producerIdAndEpoch: ProducerIdAndEpoch | null
  private needsEpochBump = false
  private initInFlight: Promise<void> | null = null
  private initFailures = 0
  private initRetryAtMs = 0
  private lastInitError: string | null = null
  private connectRequested = false

  /** Metadata refreshes by generation: wanted ≥ started ≥ done. */
  private metadataWanted = 0
  private metadataStarted = 0
  private metadataDone = 0
  private metadataInFlight = false
  private metadataNextAtMs = 0
  private readonly metadataTopics = new Set<string>()

  private flushing = 0
  private closed = false
  private closing: Promise<void> | null = null
  private pumpScheduled = false
  private timer: TimerHandle | null = null
  private timerAtMs = Number.POSITIVE_INFINITY

  constructor(
    config: ProducerConfig,
    private readonly io: ProducerIo,
    options: ProducerOptions = {},
  ) {
    this.config = resolveProducerConfig(config)
    this.clock = options.clock ?? systemClock
    this.random = options.random ?? Math.random
    if (this.config.idempotent && io.initProducerId === undefined)
      throw new TypeError('an idempotent producer needs io.initProducerId')
    this.partitioner =
      this.config.partitioner ??
      new DefaultPartitioner({ random: this.random, ignoreKeys: this.config.partitionerIgnoreKeys })
    this.producerIdAndEpoch = this.config.idempotent ? null : noProducerId
    this.accumulator = new RecordAccumulator({
      batchSizeBytes: this.config.batchSizeBytes,
      lingerMs: this.config.lingerMs,
      bufferMemoryBytes: this.config.bufferMemoryBytes,
      maxRequestSizeBytes: this.config.maxRequestSizeBytes,
      maxInFlightRequestsPerConnection: this.config.maxInFlightRequestsPerConnection,
      deliveryTimeoutMs: this.config.deliveryTimeoutMs,
      idempotent: this.config.idempotent,
    })
    this.batchBuffers = new BatchBuffers(this.config.batchSizeBytes, this.config.bufferMemoryBytes)
  }

  /** The producer id and epoch in use; null until an idempotent producer has one. */
  get producerId(): Readonly<ProducerIdAndEpoch> | null {
    return this.producerIdAndEpoch
  }

  /** What this producer has sent so far (a copy). */
  metrics(): ProducerMetrics {
    return { ...this.totals }
  }

  /** Encoded bytes buffered and not yet acknowledged (bounded by buffer.memory). */
  get bufferedBytes(): number {
    return this.accumulator.bufferBytesUsed
  }

  /** Get a producer id now rather than on the first send; rejects if that fails. */
  async connect(): Promise<void> {
    if (!this.config.idempotent || this.producerIdAndEpoch !== null) return
    this.connectRequested = true
    await (this.initInFlight ?? this.startInit()).catch(() => undefined)
    if (this.producerIdAndEpoch === null)
      throw new CairnError(
        'INIT_PRODUCER_ID',
        `Could not get a producer id: ${this.lastInitError ?? 'unknown error'}`,
      )
  }

  /**
   * Append `messages` to `topic` and resolve, once every one is acknowledged, with each one's
   * topic, partition, offset and timestamp, in message order. Rejects with the first error of any
   * of its records; records of the same send on other batches may still have been written.
   * The request and its messages are read before send() returns, so the caller may reuse them; a
   * Uint8Array key or value is not copied, so its bytes must not change until the send settles.
   */
  send(request: SendRequest): Promise<RecordMetadata[]> {
    try {
      const now = this.clock.now()
      if (this.closed) throw new ProducerClosedError('Cannot send after the producer is closed.')
      const promise = new Promise<RecordMetadata[]>(captureResolvers)
      const deadlineMs = now + this.config.maxBlockMs
      const send = new SendState(request.topic, deadlineMs, this.generation, capturedResolve, capturedReject)
      send.setRecords(this.toRecords(request, now, send))
      if (send.recordCount === 0) return Promise.resolve([])
      this.generation.unsettled++
      this.appendQueue.push(send)
      this.schedulePump()
      return promise
    } catch (e) {
      return Promise.reject(e)
    }
  }

  /** Send everything buffered now (linger.ms aside) and resolve when every earlier send() has settled. */
  async flush(): Promise<void> {
    const ended = this.generation
    this.generation = new SendGeneration()
    const waiting =
      ended.unsettled === 0
        ? this.settledBeforeLastFlush
        : Promise.all([this.settledBeforeLastFlush, ended.allSettled()])
    this.settledBeforeLastFlush = waiting
    this.flushing++
    this.schedulePump()
    try {
      await waiting
    } finally {
      this.flushing--
    }
  }

  /**
   * Refuse new sends, flush, and stop. With `timeoutMs`, whatever is still unsettled then is
   * failed with ProducerClosedError (answers still on the way are ignored).
   */
  close(options: { timeoutMs?: number } = {}): Promise<void> {
    this.closing ??= this.shutdown(options.timeoutMs ?? Number.POSITIVE_INFINITY)
    return this.closing
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    this.closed = true
    let timer: TimerHandle | null = null
    const timedOut = new Promise<'timeout'>((resolve) => {
      if (Number.isFinite(timeoutMs)) timer = this.clock.setTimer(timeoutMs, () => resolve('timeout'))
    })
    const outcome = await Promise.race([this.flush().then(() => 'flushed' as const), timedOut])
    if (timer !== null) this.clock.clearTimer(timer)
    if (outcome === 'timeout') this.abortAll()
    if (this.timer !== null) this.clock.clearTimer(this.timer)
    this.timer = null
    this.timerAtMs = Number.POSITIVE_INFINITY
  }

  private abortAll(): void {
    const error = new ProducerClosedError('Producer closed before these records were acknowledged.')
    for (const send of this.appendQueue.takeAll()) send.recordFailed(send.cursor, error)
    for (const pq of this.accumulator.allPartitions())
      for (const batch of [...pq.inFlight, ...pq.queue]) this.failBatch(batch, error)
  }

  // ---- Records in

  private toRecords({ topic, messages }: SendRequest, now: number, owner: SendState): QueuedRecord[] {
    this.checkTopic(topic)
    if (!Array.isArray(messages)) throw new TypeError('send: messages must be an array')
    // A loop rather than map(): no closure per send.
    const records = new Array<QueuedRecord>(messages.length)
    for (let index = 0; index < messages.length; index++)
      records[index] = this.toRecord(messages[index]!, index, now, owner)
    return records
  }

  private toRecord(m: Message, index: number, now: number, owner: SendState): QueuedRecord {
    const key = toBytes(m.key, 'key')
    const value = toBytes(m.value, 'value')
    const headers = toHeaders(m.headers)
    const timestamp = m.timestamp ?? now
    if (!Number.isSafeInteger(timestamp) || timestamp < 0)
      throw new CairnError(
        'INVALID_TIMESTAMP',
        `Invalid timestamp: ${timestamp}. Timestamp should always be non-negative.`,
      )
    const partition = m.partition ?? null
    if (partition !== null && (!Number.isInteger(partition) || partition < 0))
      throw new CairnError('INVALID_PARTITION', `Invalid partition given with record: ${partition}`)
    const fixedBytes = recordFixedBytes(key, value, headers)
    this.checkRecordSize(fixedBytes)
    return { key, value, headers, timestamp, fixedBytes, partition, index, owner }
  }

  private checkTopic(topic: string): void {
    if (topic === this.validTopic) return
    if (typeof topic !== 'string' || !topicPattern.test(topic) || topic === '.' || topic === '..')
      throw new CairnError('INVALID_TOPIC_EXCEPTION', `Invalid topic name ${JSON.stringify(topic)}`)
    this.validTopic = topic
  }

  private checkRecordSize(fixedBytes: number): void {
    const size = singleRecordBatchBytes(fixedBytes)
    if (size > this.config.maxRequestSizeBytes)
      throw new RecordTooLargeError(
        `The message is ${size} bytes when serialized which is larger than ${this.config.maxRequestSizeBytes}, which is the value of the max.request.size configuration.`,
      )
    if (this.accumulator.reservationFor(fixedBytes) > this.config.bufferMemoryBytes)
      throw new RecordTooLargeError(
        `The message is ${size} bytes when serialized which is larger than the total memory buffer you have configured with the buffer.memory configuration (${this.config.bufferMemoryBytes}).`,
      )
  }

  /**
   * Append queued sends in call order. A send whose topic has no metadata yet waits (sends to other
   * topics go on; later sends to its topic wait too, so order holds); the first that finds
   * buffer.memory full stops everything behind it, so memory is handed out first come, first served.
   */
  private appendPending(now: number): void {
    this.blockedOnMemory = false
    // Metadata changes only between passes (a refresh completes asynchronously), so a topic's
    // partition count and available partitions are read once per pass, not once per send.
    const topics = new Map<string, TopicInPass>()
    let skipped = false
    this.appendQueue.forEachLive((send) => {
      let topic = topics.get(send.topic)
      if (topic === undefined) {
        topic = {
          topic: send.topic,
          partitionCount: this.io.partitionCount(send.topic),
          available: undefined,
        }
        topics.set(send.topic, topic)
      }
      const partitionCount = topic.partitionCount
      if (!knownPartitions(partitionCount)) {
        this.requestMetadata(send.topic)
        skipped = true
        return true
      }
      if (this.appendRecords(send, topic, partitionCount, now)) return true
      this.blockedOnMemory = true
      return false
    })
    // Sends skipped for metadata leave appended ones behind them: then the whole queue is pruned.
    this.appendQueue.prune(skipped)
  }

  /** False if buffer.memory ran out before the send's last record. */
  private appendRecords(send: SendState, topic: TopicInPass, partitionCount: number, now: number): boolean {
    while (!send.fullyAppended && !send.settled) {
      const record = send.records[send.cursor]!
      if (!this.accumulator.hasRoomFor(record.fixedBytes)) return false
      try {
        this.appendRecord(topic, record, partitionCount, now)
      } catch (e) {
        send.recordFailed(record.index, e instanceof Error ? e : new Error(String(e)))
        return true
      }
      send.cursor++
    }
    if (send.fullyAppended) send.releaseRecords()
    return true
  }

  private appendRecord(t: TopicInPass, record: QueuedRecord, partitionCount: number, now: number): void {
    const topic = t.topic
    if (record.partition !== null) {
      if (record.partition >= partitionCount)
        throw new CairnError(
          'INVALID_PARTITION',
          `Invalid partition given with record: ${record.partition} is not in the range [0...${partitionCount}).`,
        )
      this.accumulator.append(topic, record.partition, record, now, false)
      return
    }
    const sticky = typeof this.partitioner.onNewBatch === 'function'
    t.available ??= this.availablePartitions(topic, partitionCount)
    const partition = this.choosePartition(topic, record, partitionCount, t.available)
    if (this.accumulator.append(topic, partition, record, now, sticky) === 'appended') return
    this.partitioner.onNewBatch?.(topic, partition)
    const next = this.choosePartition(topic, record, partitionCount, t.available)
    this.accumulator.append(topic, next, record, now, false)
  }

  private choosePartition(
    topic: string,
    record: QueuedRecord,
    partitionCount: number,
    availablePartitions: readonly number[],
  ): number {
    const { key, value } = record
    const p = this.partitioner.partition({ topic, key, value, partitionCount, availablePartitions })
    if (!Number.isInteger(p) || p < 0 || p >= partitionCount)
      throw new CairnError(
        'INVALID_PARTITION',
        `The partitioner chose partition ${p} for topic ${topic}, which has ${partitionCount} partitions.`,
      )
    return p
  }

  private availablePartitions(topic: string, partitionCount: number): readonly number[] {
    if (this.io.availablePartitions) return this.io.availablePartitions(topic)
    const out: number[] = []
    for (let p = 0; p < partitionCount; p++) if (this.io.leaderFor(topic, p) !== undefined) out.push(p)
    return out
  }

  // ---- The pass

  private schedulePump(): void {
    if (this.pumpScheduled) return
    this.pumpScheduled = true
    queueMicrotask(() => {
      this.pumpScheduled = false
      this.pump()
    })
  }

  private pump(): void {
    const now = this.clock.now()
    this.expireSends(now)
    this.expireBatches(now)
    this.checkUnknownTopics()
    this.appendPending(now)
    this.manageProducerId(now)
    if (this.producerIdAndEpoch !== null && !this.needsEpochBump && this.initInFlight === null)
      this.drainAll(now, this.producerIdAndEpoch)
    this.manageMetadata(now)
    this.armTimer(now)
  }

  /**
   * Drain until nothing more may go: each drain takes at most one batch per partition and one
   * request per node, and the in-flight bounds end the loop.
   */
  private drainAll(now: number, id: ProducerIdAndEpoch): void {
    const ctx = {
      leaderFor: (topic: string, partition: number) => this.io.leaderFor(topic, partition),
      metadataGeneration: this.metadataDone,
      sendAll: this.flushing > 0 || this.closed || this.blockedOnMemory,
    }
    for (;;) {
      const requests = this.accumulator.drain(now, ctx)
      for (const topic of this.accumulator.leaderUnknownTopics) this.requestMetadata(topic)
      if (requests.length === 0) return
      for (const request of requests) this.dispatch(request, id)
    }
  }

  private armTimer(now: number): void {
    let next = Math.min(this.accumulator.nextDeadlineMs(now), this.appendQueue.nextDeadlineAfter(now))
    if (this.metadataWanted > this.metadataDone && this.metadataNextAtMs > now)
      next = Math.min(next, this.metadataNextAtMs)
    if (this.initRetryAtMs > now) next = Math.min(next, this.initRetryAtMs)
    if (next >= this.timerAtMs && this.timer !== null) return
    if (this.timer !== null) this.clock.clearTimer(this.timer)
    this.timer = null
    this.timerAtMs = next
    if (!Number.isFinite(next)) return
    this.timer = this.clock.setTimer(next - now, () => {
      this.timer = null
      this.timerAtMs = Number.POSITIVE_INFINITY
      this.pump()
    })
  }

  /** Sends still waiting for metadata or memory when max.block.ms is up. */
  private expireSends(now: number): void {
    this.appendQueue.expireDue(now, (send) => {
      const { maxBlockMs, bufferMemoryBytes } = this.config
      const error = !knownPartitions(this.io.partitionCount(send.topic))
        ? new TimeoutError(`Topic ${send.topic} not present in metadata after ${maxBlockMs} ms.`)
        : new BufferExhaustedError(
            `Failed to allocate ${this.accumulator.reservationFor(send.records[send.cursor]!.fixedBytes)} bytes within the configured max blocking time ${maxBlockMs} ms. Total memory: ${bufferMemoryBytes} bytes. Available memory: ${bufferMemoryBytes - this.accumulator.bufferBytesUsed} bytes.`,
          )
      send.recordFailed(send.cursor, error)
    })
  }

  private expireBatches(now: number): void {
    for (const batch of this.accumulator.expired(now)) {
      const tp = `${batch.topic}-${batch.partition}`
      const message = `Expiring ${batch.recordCount} record(s) for ${tp}: ${now - batch.createdMs} ms has passed since batch creation (delivery.timeout.ms ${this.config.deliveryTimeoutMs}); last error: ${batch.lastError ?? 'none'}`
      this.failBatch(batch, new DeliveryTimeoutError(batch.topic, batch.partition, batch.lastError, message))
    }
  }

  /** After UNKNOWN_TOPIC_OR_PARTITION and a refresh: fail at once if metadata confirms it. */
  private checkUnknownTopics(): void {
    for (const pq of this.accumulator.allPartitions()) {
      if (!pq.awaitingTopicCheck || pq.staleUntilGeneration > this.metadataDone) continue
      pq.awaitingTopicCheck = false
      const count = this.io.partitionCount(pq.topic)
      if (count !== undefined && pq.partition < count) continue
      const error = ErrorCode.UNKNOWN_TOPIC_OR_PARTITION
      for (const batch of [...pq.queue])
        this.failBatch(
          batch,
          new ProduceError(
            pq.topic,
            pq.partition,
            error,
            `Produce to ${pq.topic}-${pq.partition} failed: ${describe(error, 'metadata has no such topic-partition')}`,
          ),
        )
    }
  }

  // ---- Producer id

  private manageProducerId(now: number): void {
    if (!this.config.idempotent || this.initInFlight !== null || now < this.initRetryAtMs) return
    // Closed with nothing left to send: no epoch to bump, and no retry timer to keep the process up.
    if (this.closed && this.accumulator.batchCount === 0) return
    const wanted =
      this.producerIdAndEpoch === null
        ? this.accumulator.batchCount > 0 || this.connectRequested
        : this.needsEpochBump
    // A bump waits for every request of the old epoch to be answered.
    if (wanted && this.accumulator.inFlightRequestCount === 0) void this.startInit()
  }

  /**
   * InitProducerId, then re-stamp every queued batch from sequence 0: at the start that is a
   * no-op; after a bump it closes the gap a failed batch left.
   */
  private startInit(): Promise<void> {
    const current = this.producerIdAndEpoch
    const init = this.io.initProducerId!
    this.initInFlight = attempt(() => init(current)).then((id) => {
      if (typeof id?.producerId !== 'bigint' || id.producerId < 0n || !Number.isInteger(id.producerEpoch))
        throw new Error(`initProducerId returned ${String(id)}`)
      this.producerIdAndEpoch = { producerId: id.producerId, producerEpoch: id.producerEpoch }
      this.needsEpochBump = false
      this.initFailures = 0
      const error = new CairnError(
        'OUTCOME_UNKNOWN',
        'Batch may have been written before the producer epoch was bumped; not resent, to avoid a duplicate.',
      )
      for (const batch of this.accumulator.resetSequences()) this.settleFailed(batch, error)
    })
    this.initInFlight
      .catch((e: unknown) => {
        this.initFailures++
        this.lastInitError = messageOf(e)
        this.initRetryAtMs =
          this.clock.now() +
          retryBackoffMs(
            this.initFailures,
            this.config.retryBackoffMs,
            this.config.retryBackoffMaxMs,
            this.random,
          )
        for (const batch of this.accumulator.queued())
          batch.lastError ??= `initProducerId failed: ${this.lastInitError}`
      })
      .finally(() => {
        this.initInFlight = null
        this.schedulePump()
      })
    return this.initInFlight.catch(() => undefined)
  }

  // ---- Metadata

  /** Ask for a refresh that starts after now; returns its generation. */
  private requestMetadata(topic: string): number {
    this.metadataTopics.add(topic)
    const base = this.metadataInFlight ? this.metadataStarted : this.metadataDone
    this.metadataWanted = Math.max(this.metadataWanted, base + 1)
    return this.metadataWanted
  }

  private manageMetadata(now: number): void {
    if (this.metadataInFlight || this.metadataWanted <= this.metadataDone || now < this.metadataNextAtMs)
      return
    const generation = this.metadataWanted
    const topics = [...this.metadataTopics]
    this.metadataTopics.clear()
    this.metadataStarted = generation
    this.metadataInFlight = true
    attempt(() => this.io.refreshMetadata(topics))
      .then(
        () => {
          this.metadataDone = Math.max(this.metadataDone, generation)
        },
        () => {
          for (const t of topics) this.metadataTopics.add(t)
        },
      )
      .finally(() => {
        this.metadataInFlight = false
        // Refreshes are spaced by retry.backoff.ms, as Kafka's metadata backoff.
        this.metadataNextAtMs = this.clock.now() + this.config.retryBackoffMs
        this.schedulePump()
      })
  }

  // ---- Requests out, answers in

  private dispatch(request: DrainedRequest, id: ProducerIdAndEpoch): void {
    const batches = request.batches.map((batch): ProduceBatch => {
      const bytes = batch.bytes ?? batch.encode(id.producerId, id.producerEpoch, this.batchBuffers)
      batch.attempts++
      batch.sent()
      const { topic, partition, recordCount, baseSequence } = batch
      this.totals['record-send-total'] += recordCount
      if (batch.attempts > 1) this.totals['record-retry-total'] += recordCount
      return { topic, partition, bytes, recordCount, baseSequence }
    })
    const options = { acks: this.config.acks, timeoutMs: this.config.requestTimeoutMs }
    this.totals['request-total']++
    attempt(() => this.io.sender(request.nodeId, batches, options)).then(
      (results) => this.onResponse(request, results),
      (e: unknown) => this.onRequestFailed(request, e),
    )
  }

  private onResponse(request: DrainedRequest, results: readonly ProduceBatchResult[]): void {
    this.accumulator.requestDone(request.nodeId)
    for (const batch of request.batches) batch.answered()
    const now = this.clock.now()
    for (const [i, batch] of request.batches.entries()) {
      if (!batch.inFlight) continue // failed meanwhile (close timeout)
      const result = Array.isArray(results) ? results[i] : undefined
      if (this.config.acks === 0) this.succeed(batch, -1, -1)
      else if (result === undefined)
        this.retryOrFail(
          batch,
          classifyProduceError(networkExceptionError.code),
          'no answer for this batch',
          now,
        )
      else this.onBatchResult(batch, result, now, request.nodeId)
    }
    this.schedulePump()
  }

  private onRequestFailed(request: DrainedRequest, e: unknown): void {
    this.accumulator.requestDone(request.nodeId)
    for (const batch of request.batches) batch.answered()
    const now = this.clock.now()
    const disposition = classifyProduceError(networkExceptionError.code)
    for (const batch of request.batches)
      if (batch.inFlight) this.retryOrFail(batch, disposition, messageOf(e), now)
    this.schedulePump()
  }

  private onBatchResult(batch: ProducerBatch, result: ProduceBatchResult, now: number, nodeId: number): void {
    const code = result.errorCode
    // A duplicate is a batch the broker already has: a success (offsets −1 if it did not say).
    if (code === 0 || code === ProducerErrorCode.DUPLICATE_SEQUENCE_NUMBER.code)
      return this.succeed(batch, result.baseOffset ?? -1, result.logAppendTime ?? -1)
    if (this.config.idempotent && code === ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER.code)
      return this.onOutOfOrderSequence(batch, result, now)
    if (this.config.idempotent && code === ProducerErrorCode.UNKNOWN_PRODUCER_ID.code)
      return this.onUnknownProducerId(batch, result, now)
    if (code === ErrorCode.NOT_LEADER_OR_FOLLOWER.code && this.followLeaderHint(batch, result, nodeId))
      return this.retryOrFail(batch, classifyProduceError(code), result.errorMessage, now, 'at once')
    this.retryOrFail(batch, classifyProduceError(code), result.errorMessage, now)
  }

  /**
   * KIP-951: NOT_LEADER_OR_FOLLOWER named another node as the leader. The cache takes it, and the
   * batch goes there at once — no backoff, no wait for a metadata refresh (one still runs behind
   * it) — at most {@link LEADER_HINT_RETRIES_MAX} times per batch, so two nodes that each name the
   * other (a hand-off under way) cost a few round trips, then the usual backoff.
   */
  private followLeaderHint(batch: ProducerBatch, result: ProduceBatchResult, nodeId: number): boolean {
    const leaderId = result.leaderId ?? 0
    if (leaderId <= 0 || leaderId === nodeId || batch.hintedRetries >= LEADER_HINT_RETRIES_MAX) return false
    if (!this.io.noteLeader?.(batch.topic, batch.partition, leaderId, result.leaderEpoch)) return false
    batch.hintedRetries++
    return true
  }

  /**
   * The broker expected another sequence. If an older batch of the partition is still unconfirmed,
   * or was when this one was sent, this one arrived before it (the older one failed or was being
   * retried): resend it in its turn. The older one may be confirmed by the time this answer comes,
   * since a request is answered when its slowest partition is. Only if every older batch was
   * confirmed before this one was sent has the broker lost sequence state we relied on: fail the
   * batch (Kafka's OutOfOrderSequenceException) and bump the epoch to start over.
   */
  private onOutOfOrderSequence(batch: ProducerBatch, result: ProduceBatchResult, now: number): void {
    const pq = this.accumulator.partitionQueue(batch.topic, batch.partition)
    const error = ErrorCode.OUT_OF_ORDER_SEQUENCE_NUMBER
    if (batch.baseSequence !== pq.expectedSequence || batch.sentBehindUnacked) {
      const detail = `sequence ${batch.baseSequence} arrived before an older batch of the partition`
      // Not this batch's failure but the older one's: it does not count as an attempt, so its
      // backoff does not grow. It goes again behind the older one at once when that one is sent
      // to the same node (accumulator.ts, drain), else after the backoff.
      batch.attempts--
      return this.retryOrFail(
        batch,
        { error, retriable: true, refreshMetadata: false, maybeWritten: false },
        detail,
        now,
      )
    }
    this.failBatch(
      batch,
      this.produceError(batch, error, result.errorMessage ?? "the broker lost this producer's sequence"),
    )
  }

  /**
   * The broker has no state for this producer id. As Kafka (KIP-360): if the partition's log start
   * has moved past our last acknowledged offset, retention removed the state, nothing is lost, and
   * the batch is retried after an epoch bump; otherwise data may be lost, so the batch fails (and
   * the epoch is bumped all the same).
   */
  private onUnknownProducerId(batch: ProducerBatch, result: ProduceBatchResult, now: number): void {
    const pq = this.accumulator.partitionQueue(batch.topic, batch.partition)
    const error = ProducerErrorCode.UNKNOWN_PRODUCER_ID
    batch.lastError = describe(error, result.errorMessage)
    const afterRetention = result.logStartOffset !== undefined && result.logStartOffset > pq.lastAckedOffset
    if (!afterRetention || batch.maybeWritten)
      return this.failBatch(
        batch,
        this.produceError(batch, error, result.errorMessage ?? 'producer state lost'),
      )
    this.needsEpochBump = true
    this.retryOrFail(
      batch,
      { error, retriable: true, refreshMetadata: false, maybeWritten: false },
      result.errorMessage,
      now,
    )
  }

  private retryOrFail(
    batch: ProducerBatch,
    d: ErrorDisposition,
    detail: string | undefined,
    now: number,
    when: 'after backoff' | 'at once' = 'after backoff',
  ): void {
    batch.lastError = describe(d.error, detail)
    if (d.maybeWritten) batch.maybeWritten = true
    const tp = `${batch.topic}-${batch.partition}`
    if (!d.retriable) return this.failBatch(batch, this.produceError(batch, d.error, detail))
    if (batch.attempts - 1 >= this.config.retries)
      return this.failBatch(
        batch,
        new ProduceError(
          batch.topic,
          batch.partition,
          d.error,
          `Produce to ${tp} failed after ${batch.attempts} attempt(s): ${batch.lastError}`,
        ),
      )
    const elapsedMs = now - batch.createdMs
    if (elapsedMs >= this.config.deliveryTimeoutMs)
      return this.failBatch(
        batch,
        new DeliveryTimeoutError(
          batch.topic,
          batch.partition,
          batch.lastError,
          `Expiring ${batch.recordCount} record(s) for ${tp}: ${elapsedMs} ms has passed since batch creation (delivery.timeout.ms ${this.config.deliveryTimeoutMs}); last error: ${batch.lastError}`,
        ),
      )
    const backoffMs =
      when === 'at once'
        ? 0
        : retryBackoffMs(
            batch.attempts,
            this.config.retryBackoffMs,
            this.config.retryBackoffMaxMs,
            this.random,
          )
    this.accumulator.requeue(batch, now + backoffMs)
    const pq = this.accumulator.partitionQueue(batch.topic, batch.partition)
    if (d.refreshMetadata) {
      const generation = this.requestMetadata(batch.topic)
      // After a leader hint the cache is current enough to send; the refresh catches up behind it.
      if (when === 'after backoff') pq.staleUntilGeneration = Math.max(pq.staleUntilGeneration, generation)
    }
    if (d.error.code === ErrorCode.UNKNOWN_TOPIC_OR_PARTITION.code) pq.awaitingTopicCheck = true
  }

  private produceError(batch: ProducerBatch, error: KafkaError, detail: string | undefined): ProduceError {
    return new ProduceError(
      batch.topic,
      batch.partition,
      error,
      `Produce to ${batch.topic}-${batch.partition} failed: ${describe(error, detail)}`,
    )
  }

  private succeed(batch: ProducerBatch, baseOffset: number, logAppendTime: number): void {
    this.accumulator.complete(batch, baseOffset)
    const { topic, partition, records } = batch
    for (let i = 0; i < records.length; i++) {
      const r = records[i]!
      const offset = baseOffset >= 0 ? baseOffset + i : -1
      const timestamp = logAppendTime >= 0 ? logAppendTime : r.timestamp
      r.owner.recordDone(r.index, { topic, partition, offset, timestamp })
    }
  }

  /** Fail a batch for good. With idempotence its sequence range is now a gap: bump the epoch. */
  private failBatch(batch: ProducerBatch, error: Error): void {
    this.accumulator.fail(batch)
    if (this.config.idempotent) this.needsEpochBump = true
    this.settleFailed(batch, error)
  }

  private settleFailed(batch: ProducerBatch, error: Error): void {
    this.totals['record-error-total'] += batch.records.length
    for (const r of batch.records) r.owner.recordFailed(r.index, error)
  }
}

/** Create a producer over an injected network layer (see {@link ProducerIo}). */
export function createProducer(config: ProducerConfig, io: ProducerIo, options?: ProducerOptions): Producer {
  return new Producer(config, io, options)
}
