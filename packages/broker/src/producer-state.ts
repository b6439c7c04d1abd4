/**
 * Idempotent producers, as Kafka's ProducerStateManager: per producer id, its epoch and the
 * sequences and offsets of its last five batches. A retried batch (same sequences) gets its
 * original offsets back instead of being appended twice; a gap is OUT_OF_ORDER_SEQUENCE_NUMBER;
 * an older epoch is fenced with INVALID_PRODUCER_EPOCH. The table is rebuilt from the log: every
 * batch carries its producer id, epoch and base sequence.
 */

/** Batches remembered per producer: Kafka's max.in.flight.requests.per.connection bound. */
export const PRODUCER_BATCHES_KEPT = 5
/** Producers remembered per partition; the longest idle are forgotten first. */
export const PRODUCERS_MAX = 10_000
const SEQUENCE_MAX = 2 ** 31 - 1

export interface ProducedBatch {
  producerId: bigint
  producerEpoch: number
  baseSequence: number
  /** lastOffsetDelta: the batch holds records baseSequence .. baseSequence + count - 1. */
  lastOffsetDelta: number
  baseOffset: number
}

interface Remembered {
  firstSeq: number
  lastSeq: number
  baseOffset: number
  lastOffset: number
}

interface ProducerEntry {
  epoch: number
  batches: Remembered[]
}

export type SequenceCheck =
  | { kind: 'append' }
  | { kind: 'duplicate'; baseOffset: number; lastOffset: number }
  | { kind: 'error'; code: 'OUT_OF_ORDER_SEQUENCE_NUMBER' | 'INVALID_PRODUCER_EPOCH'; message: string }

function lastSequence(baseSequence: number, lastOffsetDelta: number): number {
  return (baseSequence + lastOffsetDelta) % (SEQUENCE_MAX + 1)
}

function nextSequence(seq: number): number {
  return seq === SEQUENCE_MAX ? 0 : seq + 1
}

export class ProducerStateTable {
  private readonly producers = new Map<bigint, ProducerEntry>()

  clone(): ProducerStateTable {
    const copy = new ProducerStateTable()
    for (const [id, e] of this.producers) copy.producers.set(id, { epoch: e.epoch, batches: [...e.batches] })
    return copy
  }

  get size(): number {
    return this.producers.size
  }

  /** What to do with a batch of an idempotent producer (producerId >= 0). */
  check(b: Omit<ProducedBatch, 'baseOffset'>): SequenceCheck {
    const entry = this.producers.get(b.producerId)
    // Unknown (new, or forgotten after retention): any sequence starts it, as Kafka ≥ 2.5 does.
    if (!entry) return { kind: 'append' }
    if (b.producerEpoch < entry.epoch) {
      return {
        kind: 'error',
        code: 'INVALID_PRODUCER_EPOCH',
        message: `producer ${b.producerId} epoch ${b.producerEpoch} is older than ${entry.epoch}`,
      }
    }
    const lastSeq = lastSequence(b.baseSequence, b.lastOffsetDelta)
    if (b.producerEpoch > entry.epoch) {
      if (b.baseSequence === 0) return { kind: 'append' }
      return {
        kind: 'error',
        code: 'OUT_OF_ORDER_SEQUENCE_NUMBER',
        message: `producer ${b.producerId} starts epoch ${b.producerEpoch} at sequence ${b.baseSequence}, not 0`,
      }
    }
    const same = entry.batches.find((r) => r.firstSeq === b.baseSequence && r.lastSeq === lastSeq)
    if (same) return { kind: 'duplicate', baseOffset: same.baseOffset, lastOffset: same.lastOffset }
    const last = entry.batches[entry.batches.length - 1]
    if (last && b.baseSequence !== nextSequence(last.lastSeq)) {
      return {
        kind: 'error',
        code: 'OUT_OF_ORDER_SEQUENCE_NUMBER',
        message: `producer ${b.producerId} sent sequence ${b.baseSequence}, expected ${nextSequence(last.lastSeq)}`,
      }
    }
    return { kind: 'append' }
  }

  /** Remembers an appended (or replayed) batch. */
  record(b: ProducedBatch): void {
    let entry = this.producers.get(b.producerId)
    if (!entry || b.producerEpoch > entry.epoch) {
      entry = { epoch: b.producerEpoch, batches: [] }
    }
    // Most recently used last: Map keeps insertion order, so the first key is the longest idle.
    this.producers.delete(b.producerId)
    this.producers.set(b.producerId, entry)
    entry.batches.push({
      firstSeq: b.baseSequence,
      lastSeq: lastSequence(b.baseSequence, b.lastOffsetDelta),
      baseOffset: b.baseOffset,
      lastOffset: b.baseOffset + b.lastOffsetDelta,
    })
    if (entry.batches.length > PRODUCER_BATCHES_KEPT) entry.batches.shift()
    if (this.producers.size > PRODUCERS_MAX) {
      const oldest = this.producers.keys().next().value
      if (oldest !== undefined) this.producers.delete(oldest)
    }
  }
}
