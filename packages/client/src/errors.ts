/**
 * What a producer's promises reject with. Every error has a stable `code` to branch on and a
 * one-line message that names what failed (the topic-partition, the Kafka error) and why.
 */
import type { KafkaError } from '@cairn/protocol'

export class CairnError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
    this.name = new.target.name
  }
}

/** A producer config that Kafka would refuse with a ConfigException. */
export class ConfigError extends CairnError {
  constructor(message: string) {
    super('CONFIG', message)
  }
}

/** Something did not happen within its bound (max.block.ms, delivery.timeout.ms). */
export class TimeoutError extends CairnError {
  constructor(message: string, code = 'TIMEOUT') {
    super(code, message)
  }
}

/** buffer.memory stayed full for max.block.ms: Kafka's BufferExhaustedException. */
export class BufferExhaustedError extends TimeoutError {
  constructor(message: string) {
    super(message, 'BUFFER_EXHAUSTED')
  }
}

/** A batch was not acknowledged within delivery.timeout.ms of its creation. */
export class DeliveryTimeoutError extends TimeoutError {
  constructor(
    readonly topic: string,
    readonly partition: number,
    /** The last attempt's error, or null if the batch was never answered. */
    readonly lastError: string | null,
    message: string,
  ) {
    super(message, 'DELIVERY_TIMEOUT')
  }
}

/** A record that can never be sent: larger than max.request.size or buffer.memory. */
export class RecordTooLargeError extends CairnError {
  constructor(message: string) {
    super('RECORD_TOO_LARGE', message)
  }
}

/**
 * The broker refused a batch for good (a non-retriable Kafka error), or retries ran out. `code`
 * is the Kafka error's name, e.g. `MESSAGE_TOO_LARGE`.
 */
export class ProduceError extends CairnError {
  constructor(
    readonly topic: string,
    readonly partition: number,
    readonly error: KafkaError,
    message: string,
  ) {
    super(error.name, message)
  }
}

/**
 * The network layer's way to say a request got no answer (connection lost, request.timeout.ms
 * passed): the outcome is unknown, so the producer retries, and idempotence keeps it exactly once.
 * Any other rejection of the sender's promise is treated the same way.
 */
export class NetworkError extends CairnError {
  constructor(message: string) {
    super('NETWORK_EXCEPTION', message)
  }
}

/** send() after close(), or a record still unsent when close({ timeoutMs }) gave up. */
export class ProducerClosedError extends CairnError {
  constructor(message: string) {
    super('PRODUCER_CLOSED', message)
  }
}

/**
 * auto.offset.reset is none and partitions have no committed offset: Kafka's
 * NoOffsetForPartitionException.
 */
export class NoOffsetForPartitionError extends CairnError {
  constructor(
    readonly partitions: { topic: string; partition: number }[],
    message: string,
  ) {
    super('NO_OFFSET_FOR_PARTITION', message)
  }
}

/**
 * The group refused a commit: `code` is its Kafka error, REBALANCE_IN_PROGRESS (Kafka's
 * RebalanceInProgressException), ILLEGAL_GENERATION or UNKNOWN_MEMBER_ID (its CommitFailedException:
 * the partitions may already belong to another member).
 */
export class CommitFailedError extends CairnError {}
