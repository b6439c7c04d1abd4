/**
 * Which partition a record goes to. A record's explicit `partition` always wins and never reaches
 * a partitioner; everything else asks the producer's {@link Partitioner}.
 */
import { murmur2, toPositive } from '@cairn/protocol'

export interface PartitionerInput {
  topic: string
  /** Serialized key; null for a keyless record. */
  key: Uint8Array | null
  value: Uint8Array | null
  /** Partitions of the topic, ≥ 1. The answer must be in 0 .. partitionCount − 1. */
  partitionCount: number
  /** Partitions whose leader is known, ascending. Empty or absent: treat all as available. */
  availablePartitions?: readonly number[]
}

export interface Partitioner {
  partition(input: PartitionerInput): number
  /**
   * The accumulator would have to open a new batch on `previousPartition`, the partition this
   * partitioner just chose for a record of `topic`, because the batch there filled up or was sent.
   * A sticky partitioner moves on; the producer then asks `partition` again for that record.
   * Only partitioners that define this method are asked twice (so a round robin never skips).
   */
  onNewBatch?(topic: string, previousPartition: number): void
}

/** Uniform in 0 .. n − 1 from a random number in [0, 1). */
function pick(n: number, random: () => number): number {
  return Math.min(n - 1, Math.floor(random() * n))
}

/**
 * Kafka's default partitioner (Java client ≥ 3.3, KIP-794, without the adaptive weighting by
 * queue size). A keyed record goes to `toPositive(murmur2(key)) % partitionCount`, byte for byte
 * Kafka's choice, so a key lands on the same partition whichever client wrote it. A keyless record
 * (or every record, with `ignoreKeys`, Kafka's `partitioner.ignore.keys`) is sticky: all keyless
 * records of a topic go to one partition until the accumulator says its batch is full or sent
 * (`onNewBatch`), then to another partition chosen at random among the available ones — never
 * the same one twice in a row when there is a choice. Batches fill, and load evens out over many
 * batches.
 */
export class DefaultPartitioner implements Partitioner {
  private readonly sticky = new Map<string, number>()
  /** The partition a topic just left: the next choice avoids it. */
  private readonly left = new Map<string, number>()
  private readonly random: () => number
  private readonly ignoreKeys: boolean

  constructor(options: { random?: () => number; ignoreKeys?: boolean } = {}) {
    this.random = options.random ?? Math.random
    this.ignoreKeys = options.ignoreKeys ?? false
  }

  partition({ topic, key, partitionCount, availablePartitions }: PartitionerInput): number {
    if (key !== null && !this.ignoreKeys) return toPositive(murmur2(key)) % partitionCount
    const current = this.sticky.get(topic)
    if (current !== undefined && current < partitionCount && isAvailable(current, availablePartitions))
      return current
    const next = this.choose(partitionCount, availablePartitions, this.left.get(topic))
    this.sticky.set(topic, next)
    return next
  }

  onNewBatch(topic: string, previousPartition: number): void {
    if (this.sticky.get(topic) !== previousPartition) return
    this.sticky.delete(topic)
    this.left.set(topic, previousPartition)
  }

  /** Uniform among the available partitions (all, if none is), excluding `avoid` when possible. */
  private choose(partitionCount: number, available: readonly number[] | undefined, avoid?: number): number {
    const candidates = available !== undefined && available.length > 0 ? available : undefined
    const n = candidates?.length ?? partitionCount
    const at = (i: number): number => (candidates === undefined ? i : candidates[i]!)
    if (n === 1) return at(0)
    const avoidIndex = avoid === undefined ? -1 : candidates ? candidates.indexOf(avoid) : avoid
    if (avoidIndex < 0 || avoidIndex >= n) return at(pick(n, this.random))
    const i = pick(n - 1, this.random)
    return at(i >= avoidIndex ? i + 1 : i)
  }
}

function isAvailable(partition: number, available: readonly number[] | undefined): boolean {
  return available === undefined || available.length === 0 || available.includes(partition)
}

/**
 * Kafka's RoundRobinPartitioner: every record, keyed or not, to the next partition of its topic in
 * turn, among the available partitions when any are. It has no onNewBatch, so the producer never
 * asks it twice for one record (Kafka's own suffered from that, KAFKA-9965).
 */
export class RoundRobinPartitioner implements Partitioner {
  private readonly counters = new Map<string, number>()

  partition({ topic, partitionCount, availablePartitions }: PartitionerInput): number {
    const n = this.counters.get(topic) ?? 0
    this.counters.set(topic, (n + 1) % 0x7fff_ffff)
    if (availablePartitions !== undefined && availablePartitions.length > 0)
      return availablePartitions[n % availablePartitions.length]!
    return n % partitionCount
  }
}
