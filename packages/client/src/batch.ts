/**
 * A producer batch: records bound for one topic-partition, sized exactly as RecordBatch v2 will
 * encode them, so `batch.size`, `max.request.size` and `buffer.memory` count real bytes.
 */
import {
  encodeRecordBatch,
  type RecordHeader,
  recordBatchHeaderBytes,
  varintSize,
  varlongSize,
} from '@cairn/protocol'

/** What a send resolves with, per message: where the record landed. */
export interface RecordMetadata {
  topic: string
  partition: number
  /** The record's offset; −1 when unknown (acks = 0, or a duplicate answered without offsets). */
  offset: number
  /** The record's CreateTime, or the broker's LogAppendTime when the topic uses it. */
  timestamp: number
}

/** Who waits for a record's outcome; told exactly once per record. */
export interface RecordOwner {
  recordDone(index: number, metadata: RecordMetadata): void
  recordFailed(index: number, error: Error): void
}

/** A record ready to be batched: serialized, timestamped, with its size independent of position. */
export interface PendingRecord {
  key: Uint8Array | null
  value: Uint8Array | null
  headers: RecordHeader[]
  timestamp: number
  /** Key, value and header bytes with their length prefixes: the part of the size that does not depend on the batch. */
  fixedBytes: number
  owner: RecordOwner
  /** The record's index in its owner's send. */
  index: number
}

const utf8 = new TextEncoder()

function bytesFieldSize(b: Uint8Array | null): number {
  return b === null ? 1 : varintSize(b.length) + b.length
}

/** The size of a record's key, value and headers fields, length prefixes included. */
export function recordFixedBytes(
  key: Uint8Array | null,
  value: Uint8Array | null,
  headers: RecordHeader[],
): number {
  let size = bytesFieldSize(key) + bytesFieldSize(value) + varintSize(headers.length)
  for (const header of headers) {
    const keyBytes = utf8.encode(header.key).length
    size += varintSize(keyBytes) + keyBytes + bytesFieldSize(header.value)
  }
  return size
}

/** Encoded size of a record at `offsetDelta` in its batch, `timestampDelta` after the batch's first. */
export function recordBytes(fixedBytes: number, offsetDelta: number, timestampDelta: number): number {
  const body = 1 + varlongSize(timestampDelta) + varintSize(offsetDelta) + fixedBytes
  return varintSize(body) + body
}

/** An upper bound on a record's size anywhere in any batch (the deltas' varints at their longest). */
export function recordBytesMax(fixedBytes: number): number {
  const body = 1 + 10 + 5 + fixedBytes
  return varintSize(body) + body
}

/** The size of a batch holding only this record: what max.request.size is checked against. */
export function singleRecordBatchBytes(fixedBytes: number): number {
  return recordBatchHeaderBytes + recordBytes(fixedBytes, 0, 0)
}

export class ProducerBatch {
  readonly records: PendingRecord[] = []
  /** Encoded size: the header plus every record. Also what the batch holds of buffer.memory. */
  sizeBytes = recordBatchHeaderBytes
  /** No more records: full, or drained. */
  closed = false
  /** −1 without idempotence. Assigned at creation; changes only when the producer epoch is bumped. */
  baseSequence = -1
  /** Encoded once, at the first send; every retry resends these bytes. Null until then (or after a re-stamp). */
  bytes: Uint8Array | null = null
  /** The pooled buffer `bytes` lies in, until it goes back to its pool. */
  private buffer: { pool: BatchBuffers; bytes: Uint8Array } | null = null
  /** Produce requests carrying this batch and not yet answered: their sender may still read `bytes`. */
  private requestsOut = 0
  /** Acknowledged or failed for good: `bytes` is never sent again. */
  private finished = false
  /** Sends so far. */
  attempts = 0
  /** Retries sent at once to the leader a NOT_LEADER_OR_FOLLOWER answer named (KIP-951). */
  hintedRetries = 0
  /**
   * Sent again after a failure. Without idempotence its partition sends one batch at a time until
   * it is acknowledged; with it, retries are pipelined (accumulator.ts, `pipelining`).
   */
  isRetry = false
  retryAtMs = 0
  /** Some attempt ended without a clear answer: the batch may be in the log already. */
  maybeWritten = false
  /** The last attempt's error, for the message the send finally rejects with. */
  lastError: string | null = null
  inFlight = false
  /** The node this batch was last sent to. */
  sentTo = -1
  /**
   * When last sent, an older batch of its partition was not yet acknowledged. An
   * OUT_OF_ORDER_SEQUENCE_NUMBER answer may then be that batch's gap even if it is acknowledged by
   * the time the answer comes (producer.ts, `onOutOfOrderSequence`).
   */
  sentBehindUnacked = false

  constructor(
    /** Creation order: within a partition, also sequence order. */
    readonly id: number,
    readonly topic: string,
    readonly partition: number,
    readonly createdMs: number,
  ) {}

  get recordCount(): number {
    return this.records.length
  }

  /** Bytes `record` adds if appended now. */
  bytesFor(record: PendingRecord): number {
    const first = this.records[0]
    const timestampDelta = first === undefined ? 0 : record.timestamp - first.timestamp
    return recordBytes(record.fixedBytes, this.records.length, timestampDelta)
  }

  append(record: PendingRecord, bytes: number): void {
    if (this.closed) throw new Error(`batch ${this.id} for ${this.topic}-${this.partition} is closed`)
    this.records.push(record)
    this.sizeBytes += bytes
  }

  /** Encodes the batch into `bytes`, in a buffer of `pool` when it has one for this size. */
  encode(producerId: bigint, producerEpoch: number, pool?: BatchBuffers): Uint8Array {
    if (this.buffer !== null) throw new Error(`batch ${this.id} encoded again before its buffer went back`)
    const target = pool?.take(this.sizeBytes)
    const bytes = encodeRecordBatch(
      { producerId, producerEpoch, baseSequence: this.baseSequence, records: this.records },
      target,
    )
    if (pool !== undefined && target !== undefined) {
      if (bytes.buffer === target.buffer) this.buffer = { pool, bytes: target }
      else pool.give(target)
    }
    if (bytes.length !== this.sizeBytes)
      throw new Error(`batch ${this.id}: encoded ${bytes.length} bytes, sized ${this.sizeBytes}`)
    this.bytes = bytes
    return bytes
  }

  /** Handed to the sender in a produce request. */
  sent(): void {
    this.requestsOut++
  }

  /** A request that carried it was answered, or failed: its sender no longer reads `bytes`. */
  answered(): void {
    if (this.requestsOut <= 0) throw new Error(`batch ${this.id} answered more often than sent`)
    this.requestsOut--
    this.releaseBuffer()
  }

  /** Acknowledged, or failed for good. */
  finish(): void {
    this.finished = true
    this.releaseBuffer()
  }

  /** New sequence numbers (an epoch bump): encoded again at the next send. */
  forgetBytes(): void {
    if (this.requestsOut > 0) throw new Error(`batch ${this.id} re-stamped while a request carries it`)
    this.bytes = null
    this.releaseBuffer()
  }

  /** The buffer goes back once nothing will send `bytes` again and no sender still reads them. */
  private releaseBuffer(): void {
    if (this.buffer === null || this.requestsOut > 0 || (!this.finished && this.bytes !== null)) return
    this.buffer.pool.give(this.buffer.bytes)
    this.buffer = null
  }
}

/** Free pooled buffers a producer keeps, at most (and never more than buffer.memory holds). */
export const BATCH_BUFFERS_FREE_MAX = 16

/**
 * Buffers of `batch.size` bytes that batches are encoded into and that come back once the batch
 * is acknowledged or failed, as Kafka's BufferPool. V8 runs a scavenge for every 32 MiB of fresh
 * ArrayBuffers, and each one copies the records still in flight; at 100 MB/s a buffer per batch
 * meant a scavenge every ~300 ms for that alone (BENCHMARKS.md, issue 8). A batch of less than half
 * of `batch.size`, or more, gets a buffer of its own: a pooled one would hold memory it does not use.
 */
export class BatchBuffers {
  private readonly free: Uint8Array[] = []
  private readonly freeMax: number

  constructor(
    readonly bufferBytes: number,
    bufferMemoryBytes: number,
  ) {
    this.freeMax = Math.min(BATCH_BUFFERS_FREE_MAX, Math.floor(bufferMemoryBytes / bufferBytes))
  }

  /** Buffers waiting to be used again. */
  get freeCount(): number {
    return this.free.length
  }

  /** A buffer for a batch of `sizeBytes`, or undefined if that size is not pooled. */
  take(sizeBytes: number): Uint8Array | undefined {
    if (sizeBytes > this.bufferBytes || sizeBytes * 2 < this.bufferBytes) return undefined
    return this.free.pop() ?? Buffer.allocUnsafeSlow(this.bufferBytes)
  }

  /** Nothing reads `buffer` any more. */
  give(buffer: Uint8Array): void {
    if (buffer.length === this.bufferBytes && this.free.length < this.freeMax) this.free.push(buffer)
  }
}
