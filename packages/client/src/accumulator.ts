/**
 * The record accumulator, Kafka's RecordAccumulator without the I/O: records go into one open
 * batch per topic-partition; ready batches are drained into one produce request per leader node;
 * answers come back as complete / requeue / fail. Time is an argument, nothing here waits, sends
 * or sets a timer: the producer (producer.ts) is the driver around it.
 *
 * Invariants, per partition:
 * - `queue` holds the batches not in flight in creation (= sequence) order; only its last batch
 *   may be open, and with idempotence an open batch's baseSequence is `nextSequence`.
 * - Batches are drained from the head only, so they leave in order; a batch that comes back for a
 *   retry goes back in its place, before every younger batch.
 * - With idempotence, until the producer epoch's first batch is acknowledged, and without it while
 *   a retried batch is unacknowledged, the partition has at most one batch in flight: that batch
 *   is confirmed before anything behind it goes out. With idempotence, retries are pipelined like
 *   any batch: the broker's sequence check keeps them in order (see `pipelining`).
 */
import { recordBatchHeaderBytes } from '@cairn/protocol'
import { type PendingRecord, ProducerBatch, recordBytesMax } from './batch.js'
import { incrementSequence } from './sequence.js'

export interface AccumulatorConfig {
  batchSizeBytes: number
  lingerMs: number
  bufferMemoryBytes: number
  maxRequestSizeBytes: number
  maxInFlightRequestsPerConnection: number
  deliveryTimeoutMs: number
  /** Assign sequence numbers (enable.idempotence). */
  idempotent: boolean
}

export class PartitionQueue {
  readonly queue: ProducerBatch[] = []
  readonly inFlight: ProducerBatch[] = []
  /** The baseSequence of the next batch created. */
  nextSequence = 0
  /** The last sequence of the newest acknowledged batch; −1 before any (or after an epoch bump). */
  lastAckedSequence = -1
  lastAckedBatchId = -1
  /** The last offset of the newest acknowledged batch, −1 if unknown. */
  lastAckedOffset = -1
  /** Retried batches not yet acknowledged: while any, without idempotence, one batch in flight at a time. */
  retryingBatches = 0
  /** Not sendable until the metadata refresh of this generation has completed. */
  staleUntilGeneration = 0
  /** An UNKNOWN_TOPIC_OR_PARTITION answer awaits the refreshed metadata's verdict. */
  awaitingTopicCheck = false

  constructor(
    readonly topic: string,
    readonly partition: number,
  ) {}

  /** The sequence the broker expects next, if every acknowledged batch is all it has. */
  get expectedSequence(): number {
    return incrementSequence(this.lastAckedSequence, 1)
  }

  get isEmpty(): boolean {
    return this.queue.length === 0 && this.inFlight.length === 0
  }
}

/** One produce request to build: the head batch of some partitions, all led by `nodeId`. */
export interface DrainedRequest {
  nodeId: number
  batches: ProducerBatch[]
}

export interface DrainContext {
  leaderFor(topic: string, partition: number): number | undefined
  /** The last completed metadata refresh. */
  metadataGeneration: number
  /** Send batches before linger.ms is up: flush(), close(), or sends waiting for buffer memory. */
  sendAll: boolean
}

export type AppendResult = 'appended' | 'new-batch-needed'

function removeFrom(list: ProducerBatch[], batch: ProducerBatch): boolean {
  const i = list.indexOf(batch)
  if (i < 0) return false
  list.splice(i, 1)
  return true
}

/** Insert by id: a requeued batch goes back before every younger one. */
function insertInOrder(list: ProducerBatch[], batch: ProducerBatch): void {
  let i = list.length
  while (i > 0 && list[i - 1]!.id > batch.id) i--
  list.splice(i, 0, batch)
}

export class RecordAccumulator {
  private readonly partitions = new Map<string, PartitionQueue>()
  /** The same queues by topic, then partition number: the per-record lookup builds no key. */
  private readonly byTopic = new Map<string, PartitionQueue[]>()
  private readonly inFlightRequests = new Map<number, number>()
  private nextBatchId = 0
  private drainStart = 0
  private usedBytes = 0
  /** Topics of ready partitions the last drain found without a known leader: metadata needs a refresh. */
  readonly leaderUnknownTopics = new Set<string>()

  constructor(readonly config: Readonly<AccumulatorConfig>) {}

  get bufferBytesUsed(): number {
    return this.usedBytes
  }

  /** Room in buffer.memory for `record` wherever it lands, a new batch's header included. */
  hasRoomFor(fixedBytes: number): boolean {
    return this.usedBytes + this.reservationFor(fixedBytes) <= this.config.bufferMemoryBytes
  }

  reservationFor(fixedBytes: number): number {
    return recordBatchHeaderBytes + recordBytesMax(fixedBytes)
  }

  partitionQueue(topic: string, partition: number): PartitionQueue {
    let queues = this.byTopic.get(topic)
    if (queues === undefined) {
      queues = []
      this.byTopic.set(topic, queues)
    }
    let pq = queues[partition]
    if (pq === undefined) {
      pq = new PartitionQueue(topic, partition)
      queues[partition] = pq
      this.partitions.set(`${topic}\u0000${partition}`, pq)
    }
    return pq
  }

  *allPartitions(): IterableIterator<PartitionQueue> {
    yield* this.partitions.values()
  }

  /** Batches not yet acknowledged or failed, in flight or not. */
  get batchCount(): number {
    let n = 0
    for (const pq of this.partitions.values()) n += pq.queue.length + pq.inFlight.length
    return n
  }

  get inFlightRequestCount(): number {
    let n = 0
    for (const count of this.inFlightRequests.values()) n += count
    return n
  }

  /**
   * Append to the partition's open batch, or open a new one. With `abortOnNewBatch` a record that
   * would open a new batch is not appended: the sticky partitioner gets to move on first.
   * The caller has checked {@link hasRoomFor}.
   */
  append(
    topic: string,
    partition: number,
    record: PendingRecord,
    nowMs: number,
    abortOnNewBatch: boolean,
  ): AppendResult {
    const pq = this.partitionQueue(topic, partition)
    const last = pq.queue.at(-1)
    if (last !== undefined && !last.closed) {
      const bytes = last.bytesFor(record)
      if (last.sizeBytes + bytes <= this.batchBytesLimit) {
        this.appendTo(pq, last, record, bytes)
        return 'appended'
      }
      this.close(pq, last)
    }
    if (abortOnNewBatch) return 'new-batch-needed'
    const batch = new ProducerBatch(this.nextBatchId++, topic, partition, nowMs)
    if (this.config.idempotent) batch.baseSequence = pq.nextSequence
    this.usedBytes += batch.sizeBytes
    pq.queue.push(batch)
    this.appendTo(pq, batch, record, batch.bytesFor(record))
    return 'appended'
  }

  /** A record goes into a non-empty batch only within batch.size (and max.request.size). */
  private get batchBytesLimit(): number {
    return Math.min(this.config.batchSizeBytes, this.config.maxRequestSizeBytes)
  }

  private appendTo(pq: PartitionQueue, batch: ProducerBatch, record: PendingRecord, bytes: number): void {
    batch.append(record, bytes)
    this.usedBytes += bytes
    if (batch.sizeBytes >= this.config.batchSizeBytes) this.close(pq, batch)
  }

  private close(pq: PartitionQueue, batch: ProducerBatch): void {
    if (batch.closed) return
    batch.closed = true
    if (this.config.idempotent) {
      if (batch.baseSequence !== pq.nextSequence)
        throw new Error(
          `${pq.topic}-${pq.partition}: open batch has sequence ${batch.baseSequence}, expected ${pq.nextSequence}`,
        )
      pq.nextSequence = incrementSequence(batch.baseSequence, batch.recordCount)
    }
  }

  private isReady(batch: ProducerBatch, nowMs: number, sendAll: boolean): boolean {
    if (batch.isRetry) return true // past its backoff, or following an older batch (drain)
    return batch.closed || sendAll || nowMs >= batch.createdMs + this.config.lingerMs
  }

  /**
   * Whether the partition may have several batches in flight.
   *
   * With idempotence: once the producer epoch's first batch is confirmed, retries included. The
   * broker appends one producer's batches of a partition in sequence order only: one whose
   * predecessor is not in the log is refused as out of order, comes back, and is resent behind it
   * (`onOutOfOrderSequence`). So after a leader change a partition's retried batches go to the new
   * leader one after the other without waiting for each other's answers: one round trip for all,
   * where Kafka's producer spends one per retried batch. Not before the epoch's first batch is
   * confirmed: a broker that has no state for a producer accepts any sequence (Kafka ≥ 2.5 and
   * Cairn do, since retention may have removed the state), so a second batch could land first if
   * the first failed, and the first would then be refused as out of order.
   *
   * Without idempotence nothing on the broker orders them: one batch at a time while a retried
   * batch is unconfirmed, so a retry never lands behind a younger batch (Kafka may reorder here).
   */
  private pipelining(pq: PartitionQueue): boolean {
    if (this.config.idempotent) return pq.lastAckedSequence >= 0
    return pq.retryingBatches === 0
  }

  /**
   * Take every sendable head batch, grouped by leader: one batch per partition per request, a
   * request within max.request.size (its first batch always fits), at most
   * max.in.flight.requests.per.connection requests per node. Drained batches are closed and in flight.
   *
   * As in Kafka, a node is ready when one of its partitions has a ready batch, and a request to a
   * ready node also takes the other partitions' open batches, linger.ms or not: one request per
   * node per linger rather than one per partition, so each node takes fewer, larger requests.
   * A batch waiting out a retry backoff still waits.
   */
  drain(nowMs: number, ctx: DrainContext): DrainedRequest[] {
    const requests = new Map<number, DrainedRequest>()
    const requestBytes = new Map<number, number>()
    const all = [...this.partitions.values()]
    this.leaderUnknownTopics.clear()
    // Each partition whose head may go now, with its leader; and the nodes that have a ready one.
    const sendable: { pq: PartitionQueue; nodeId: number; ready: boolean }[] = []
    const readyNodes = new Set<number>()
    for (let k = 0; k < all.length; k++) {
      const pq = all[(this.drainStart + k) % all.length]!
      const head = pq.queue[0]
      if (head === undefined || pq.staleUntilGeneration > ctx.metadataGeneration) continue
      const inFlightMax = this.pipelining(pq) ? this.config.maxInFlightRequestsPerConnection : 1
      if (pq.inFlight.length >= inFlightMax) continue
      const nodeId = ctx.leaderFor(pq.topic, pq.partition)
      // A retry waits out its backoff, unless the newest batch of its partition in flight went to
      // the node it would go to: it follows that one at once, pipelined (idempotence only, see
      // `pipelining`). Not after one that went elsewhere: that node refuses it as out of order
      // until the older batch lands, and it would be resent there round trip after round trip.
      if (
        head.isRetry &&
        nowMs < head.retryAtMs &&
        !(nodeId !== undefined && pq.inFlight.at(-1)?.sentTo === nodeId)
      )
        continue
      const ready = this.isReady(head, nowMs, ctx.sendAll)
      if (nodeId === undefined) {
        if (ready) this.leaderUnknownTopics.add(pq.topic)
        continue
      }
      if (ready) readyNodes.add(nodeId)
      sendable.push({ pq, nodeId, ready })
    }
    for (const { pq, nodeId, ready } of sendable) {
      if (!ready && !readyNodes.has(nodeId)) continue
      const head = pq.queue[0]!
      let request = requests.get(nodeId)
      const bytes = requestBytes.get(nodeId) ?? 0
      if (request === undefined) {
        if ((this.inFlightRequests.get(nodeId) ?? 0) >= this.config.maxInFlightRequestsPerConnection) continue
        request = { nodeId, batches: [] }
        requests.set(nodeId, request)
      } else if (bytes + head.sizeBytes > this.config.maxRequestSizeBytes) continue
      pq.queue.shift()
      this.close(pq, head)
      head.inFlight = true
      head.sentTo = nodeId
      head.sentBehindUnacked = head.baseSequence >= 0 && head.baseSequence !== pq.expectedSequence
      pq.inFlight.push(head)
      request.batches.push(head)
      requestBytes.set(nodeId, bytes + head.sizeBytes)
    }
    this.drainStart = all.length === 0 ? 0 : (this.drainStart + 1) % all.length
    for (const nodeId of requests.keys())
      this.inFlightRequests.set(nodeId, (this.inFlightRequests.get(nodeId) ?? 0) + 1)
    return [...requests.values()]
  }

  /** A request's answer (or its failure) has arrived: the node may take another. */
  requestDone(nodeId: number): void {
    const n = this.inFlightRequests.get(nodeId) ?? 0
    if (n <= 0) throw new Error(`requestDone(${nodeId}) without a request in flight`)
    if (n === 1) this.inFlightRequests.delete(nodeId)
    else this.inFlightRequests.set(nodeId, n - 1)
  }

  /** The batch is in the log at `baseOffset` (−1: unknown): release it and note its sequence as acknowledged. */
  complete(batch: ProducerBatch, baseOffset: number): void {
    const pq = this.partitionQueue(batch.topic, batch.partition)
    if (!removeFrom(pq.inFlight, batch)) throw new Error(`batch ${batch.id} completed but not in flight`)
    this.release(pq, batch)
    if (batch.id > pq.lastAckedBatchId) {
      pq.lastAckedBatchId = batch.id
      if (batch.baseSequence >= 0)
        pq.lastAckedSequence = incrementSequence(batch.baseSequence, batch.recordCount - 1)
      if (baseOffset >= 0) pq.lastAckedOffset = baseOffset + batch.recordCount - 1
    }
  }

  /** Back to its place in the queue, to be resent unchanged at `retryAtMs`. */
  requeue(batch: ProducerBatch, retryAtMs: number): void {
    const pq = this.partitionQueue(batch.topic, batch.partition)
    if (!removeFrom(pq.inFlight, batch)) throw new Error(`batch ${batch.id} requeued but not in flight`)
    batch.inFlight = false
    batch.retryAtMs = retryAtMs
    if (!batch.isRetry) {
      batch.isRetry = true
      pq.retryingBatches++
    }
    insertInOrder(pq.queue, batch)
  }

  /** Drop a batch for good, in flight or queued; its records are the caller's to fail. */
  fail(batch: ProducerBatch): void {
    const pq = this.partitionQueue(batch.topic, batch.partition)
    if (!removeFrom(pq.inFlight, batch) && !removeFrom(pq.queue, batch))
      throw new Error(`batch ${batch.id} failed but not held`)
    if (!batch.closed) this.close(pq, batch)
    this.release(pq, batch)
  }

  private release(pq: PartitionQueue, batch: ProducerBatch): void {
    batch.inFlight = false
    batch.finish()
    if (batch.isRetry) pq.retryingBatches--
    this.usedBytes -= batch.sizeBytes
    if (this.usedBytes < 0) throw new Error(`buffer accounting went negative: ${this.usedBytes}`)
  }

  /** Queued batches older than delivery.timeout.ms; in-flight ones wait for their answer. */
  expired(nowMs: number): ProducerBatch[] {
    const out: ProducerBatch[] = []
    for (const pq of this.partitions.values()) {
      // Creation order is queue order, so the expired ones are a prefix.
      for (const batch of pq.queue) {
        if (nowMs < batch.createdMs + this.config.deliveryTimeoutMs) break
        out.push(batch)
      }
    }
    return out
  }

  /** Every batch not in flight: close(), after its timeout, fails them. */
  queued(): ProducerBatch[] {
    const out: ProducerBatch[] = []
    for (const pq of this.partitions.values()) out.push(...pq.queue)
    return out
  }

  /** The earliest future time at which a linger, a backoff or a delivery timeout ends. */
  nextDeadlineMs(nowMs: number): number {
    let next = Number.POSITIVE_INFINITY
    const consider = (t: number) => {
      if (t > nowMs && t < next) next = t
    }
    for (const pq of this.partitions.values()) {
      const head = pq.queue[0]
      if (head === undefined) continue
      consider(head.createdMs + this.config.deliveryTimeoutMs)
      if (head.isRetry) consider(head.retryAtMs)
      else if (!head.closed) consider(head.createdMs + this.config.lingerMs)
    }
    return next
  }

  /**
   * After the producer epoch was bumped: sequences restart at 0 in every partition, and each queued
   * batch is re-stamped in order. A batch that may already be in the log cannot be re-stamped —
   * under the new epoch the broker could not recognise it as a duplicate — so it is removed and
   * returned for the caller to fail. Call only with nothing in flight.
   */
  resetSequences(): ProducerBatch[] {
    if (this.inFlightRequestCount !== 0) throw new Error('resetSequences with requests in flight')
    const unsafe: ProducerBatch[] = []
    for (const pq of this.partitions.values()) {
      pq.nextSequence = 0
      pq.lastAckedSequence = -1
      for (const batch of [...pq.queue]) {
        if (batch.maybeWritten) {
          unsafe.push(batch)
          this.fail(batch)
          continue
        }
        batch.forgetBytes()
        batch.baseSequence = pq.nextSequence
        if (batch.closed) pq.nextSequence = incrementSequence(batch.baseSequence, batch.recordCount)
      }
    }
    return unsafe
  }
}
