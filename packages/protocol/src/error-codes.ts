/**
 * Kafka's error codes that Cairn returns, with Kafka's numbers and its retriable flag (whether a
 * client may retry the same request unchanged, typically after refreshing metadata).
 */

export interface KafkaError {
  readonly name: string
  readonly code: number
  readonly retriable: boolean
}

function table<T extends Record<string, readonly [code: number, retriable: boolean]>>(
  rows: T,
): { readonly [K in keyof T]: KafkaError } {
  const out: Record<string, KafkaError> = {}
  for (const [name, [code, retriable]] of Object.entries(rows))
    out[name] = Object.freeze({ name, code, retriable })
  return Object.freeze(out) as { readonly [K in keyof T]: KafkaError }
}

export const ErrorCode = table({
  UNKNOWN_SERVER_ERROR: [-1, false],
  NONE: [0, false],
  OFFSET_OUT_OF_RANGE: [1, false],
  CORRUPT_MESSAGE: [2, true],
  UNKNOWN_TOPIC_OR_PARTITION: [3, true],
  INVALID_FETCH_SIZE: [4, false],
  LEADER_NOT_AVAILABLE: [5, true],
  NOT_LEADER_OR_FOLLOWER: [6, true],
  REQUEST_TIMED_OUT: [7, true],
  MESSAGE_TOO_LARGE: [10, false],
  /** An offset commit's metadata is longer than offset.metadata.max.bytes. */
  OFFSET_METADATA_TOO_LARGE: [12, false],
  /** The group's coordinator is still loading it from `__consumer_offsets`. */
  COORDINATOR_LOAD_IN_PROGRESS: [14, true],
  /** No coordinator is known, or the group cannot be written now: find the coordinator again, retry. */
  COORDINATOR_NOT_AVAILABLE: [15, true],
  /** This node does not lead the group's `__consumer_offsets` partition (any more). */
  NOT_COORDINATOR: [16, true],
  INVALID_TOPIC_EXCEPTION: [17, false],
  RECORD_LIST_TOO_LARGE: [18, false],
  /** Nothing was written. */
  NOT_ENOUGH_REPLICAS: [19, true],
  /** Written by the leader, outcome unknown: a retry may duplicate unless the producer is idempotent. */
  NOT_ENOUGH_REPLICAS_AFTER_APPEND: [20, true],
  INVALID_REQUIRED_ACKS: [21, false],
  ILLEGAL_GENERATION: [22, false],
  INCONSISTENT_GROUP_PROTOCOL: [23, false],
  INVALID_GROUP_ID: [24, false],
  UNKNOWN_MEMBER_ID: [25, false],
  INVALID_SESSION_TIMEOUT: [26, false],
  REBALANCE_IN_PROGRESS: [27, false],
  /** An offset commit too large to store (its record batch exceeds max.message.bytes). */
  INVALID_COMMIT_OFFSET_SIZE: [28, false],
  TOPIC_ALREADY_EXISTS: [36, false],
  INVALID_PARTITIONS: [37, false],
  INVALID_REPLICATION_FACTOR: [38, false],
  INVALID_REPLICA_ASSIGNMENT: [39, false],
  INVALID_CONFIG: [40, false],
  NOT_CONTROLLER: [41, true],
  INVALID_REQUEST: [42, false],
  POLICY_VIOLATION: [44, false],
  OUT_OF_ORDER_SEQUENCE_NUMBER: [45, false],
  KAFKA_STORAGE_ERROR: [56, true],
  /** DeleteGroups (or OffsetDelete) on a group that still has members. */
  NON_EMPTY_GROUP: [68, false],
  GROUP_ID_NOT_FOUND: [69, false],
  /** A new leader whose high watermark has not caught up yet (its first entry not committed): retry. */
  OFFSET_NOT_AVAILABLE: [78, true],
  MEMBER_ID_REQUIRED: [79, false],
  /** group.max.size members already. */
  GROUP_MAX_SIZE_REACHED: [81, false],
  NO_REASSIGNMENT_IN_PROGRESS: [85, false],
  BROKER_ID_NOT_REGISTERED: [102, false],
})

export type ErrorName = keyof typeof ErrorCode

const byCode = new Map<number, KafkaError>(Object.values(ErrorCode).map((e) => [e.code, e]))

/** The error with this code, or undefined for a code Cairn does not know. */
export function errorByCode(code: number): KafkaError | undefined {
  return byCode.get(code)
}

/** Whether a client may retry on this code; unknown codes are not retriable. */
export function isRetriable(code: number): boolean {
  return byCode.get(code)?.retriable ?? false
}
