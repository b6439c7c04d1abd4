/**
 * Idempotent producer state: one producer id and epoch for the producer, and per partition a
 * sequence number per record. A broker appends a batch only if its baseSequence follows the last
 * one it appended for (producer id, epoch, partition), and answers a resent batch with its
 * original offsets: retries can neither duplicate nor reorder.
 */

export interface ProducerIdAndEpoch {
  producerId: bigint
  producerEpoch: number
}

export const noProducerId: Readonly<ProducerIdAndEpoch> = Object.freeze({
  producerId: -1n,
  producerEpoch: -1,
})

export const sequenceMax = 0x7fff_ffff

/** Kafka's DefaultRecordBatch.incrementSequence: sequences wrap from 2^31 − 1 to 0. */
export function incrementSequence(sequence: number, increment: number): number {
  if (sequence > sequenceMax - increment) return increment - (sequenceMax - sequence) - 1
  return sequence + increment
}
