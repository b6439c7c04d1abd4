/**
 * What the producer does with a failed batch: how long it backs off, and whether an error is
 * retried, needs fresh metadata first, or leaves the batch's outcome unknown.
 */
import { ErrorCode, errorByCode, isRetriable, type KafkaError } from '@cairn/protocol'

/** Kafka's producer-state errors, absent from the shared table (no other part of Cairn sends them). */
export const ProducerErrorCode = Object.freeze({
  /** Older brokers' answer to a batch they already have: the batch is in the log. */
  DUPLICATE_SEQUENCE_NUMBER: Object.freeze({ name: 'DUPLICATE_SEQUENCE_NUMBER', code: 46, retriable: false }),
  /** The broker holds no state for this producer id (retention removed it, or it was lost). */
  UNKNOWN_PRODUCER_ID: Object.freeze({ name: 'UNKNOWN_PRODUCER_ID', code: 59, retriable: false }),
} satisfies Record<string, KafkaError>)

/** The Kafka error for a code, with a made-up name for codes nobody here knows. */
export function kafkaError(code: number): KafkaError {
  if (code === ProducerErrorCode.DUPLICATE_SEQUENCE_NUMBER.code)
    return ProducerErrorCode.DUPLICATE_SEQUENCE_NUMBER
  if (code === ProducerErrorCode.UNKNOWN_PRODUCER_ID.code) return ProducerErrorCode.UNKNOWN_PRODUCER_ID
  return errorByCode(code) ?? { name: `UNKNOWN_ERROR_CODE_${code}`, code, retriable: false }
}

/** A network failure (no answer) as a pseudo Kafka error: retriable, outcome unknown. */
export const networkExceptionError: KafkaError = Object.freeze({
  name: 'NETWORK_EXCEPTION',
  code: 13,
  retriable: true,
})

export interface ErrorDisposition {
  error: KafkaError
  /** Resend the same batch, unchanged, after backoff. */
  retriable: boolean
  /** Refresh metadata before the retry: the leader moved or the topic may be gone. */
  refreshMetadata: boolean
  /** The broker may have appended the batch even so; only idempotence makes a resend safe. */
  maybeWritten: boolean
}

const refreshOn: ReadonlySet<number> = new Set([
  ErrorCode.NOT_LEADER_OR_FOLLOWER.code,
  ErrorCode.LEADER_NOT_AVAILABLE.code,
  ErrorCode.UNKNOWN_TOPIC_OR_PARTITION.code,
  networkExceptionError.code,
])

/**
 * Errors after which the batch may have been appended: the request died somewhere after the
 * leader. NOT_LEADER_OR_FOLLOWER is one: a leader that appended the batch and then lost its
 * leadership before the commit answers it, and the batch may live on in the new leader's log. Such
 * a batch is retried with its sequence (the new leader recognises it), but never re-stamped under
 * a new epoch — that made duplicates in the harness's one-hour run.
 */
const outcomeUnknownOn: ReadonlySet<number> = new Set([
  ErrorCode.NOT_LEADER_OR_FOLLOWER.code,
  ErrorCode.UNKNOWN_SERVER_ERROR.code,
  ErrorCode.REQUEST_TIMED_OUT.code,
  ErrorCode.NOT_ENOUGH_REPLICAS_AFTER_APPEND.code,
  networkExceptionError.code,
])

/**
 * How to treat a batch-level error code. Retriable is the shared table's (Kafka's) flag, with one
 * exception: CORRUPT_MESSAGE, which Kafka marks retriable, fails at once, because the producer
 * would resend the very bytes the broker just refused. OUT_OF_ORDER_SEQUENCE_NUMBER and
 * UNKNOWN_PRODUCER_ID depend on the partition's state, so the producer decides those itself.
 */
export function classifyProduceError(code: number): ErrorDisposition {
  const error = code === networkExceptionError.code ? networkExceptionError : kafkaError(code)
  const retriable =
    code === networkExceptionError.code || (isRetriable(code) && code !== ErrorCode.CORRUPT_MESSAGE.code)
  return {
    error,
    retriable,
    refreshMetadata: refreshOn.has(code),
    maybeWritten: outcomeUnknownOn.has(code) || errorByCode(code) === undefined,
  }
}

/** Kafka's retry backoff jitter: ±20%. */
export const retryBackoffJitter = 0.2

/**
 * Backoff before retry number `retry` (1 = the first retry), Kafka's ExponentialBackoff (KIP-580):
 * `retry.backoff.ms · 2^(retry−1)`, capped at `retry.backoff.max.ms`, times a random factor in
 * [0.8, 1.2), and never above the cap. A backoff set above the cap is the cap, constant.
 */
export function retryBackoffMs(
  retry: number,
  backoffMs: number,
  backoffMaxMs: number,
  random: () => number,
): number {
  const initialMs = Math.min(backoffMs, backoffMaxMs)
  const term = Math.min(backoffMaxMs, initialMs * 2 ** Math.min(Math.max(retry - 1, 0), 52))
  const factor = 1 + retryBackoffJitter * (2 * random() - 1)
  return Math.min(backoffMaxMs, Math.floor(term * factor))
}
