import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ErrorCode, errorByCode, isRetriable } from '../src/index.js'

describe('Kafka error codes', () => {
  it('has the numbers of kafka-formats.md', () => {
    const expected: Record<string, number> = {
      OFFSET_OUT_OF_RANGE: 1,
      CORRUPT_MESSAGE: 2,
      UNKNOWN_TOPIC_OR_PARTITION: 3,
      LEADER_NOT_AVAILABLE: 5,
      NOT_LEADER_OR_FOLLOWER: 6,
      REQUEST_TIMED_OUT: 7,
      MESSAGE_TOO_LARGE: 10,
      COORDINATOR_LOAD_IN_PROGRESS: 14,
      COORDINATOR_NOT_AVAILABLE: 15,
      NOT_COORDINATOR: 16,
      INVALID_TOPIC_EXCEPTION: 17,
      NOT_ENOUGH_REPLICAS: 19,
      NOT_ENOUGH_REPLICAS_AFTER_APPEND: 20,
      INVALID_REQUIRED_ACKS: 21,
      ILLEGAL_GENERATION: 22,
      INCONSISTENT_GROUP_PROTOCOL: 23,
      UNKNOWN_MEMBER_ID: 25,
      INVALID_SESSION_TIMEOUT: 26,
      REBALANCE_IN_PROGRESS: 27,
      TOPIC_ALREADY_EXISTS: 36,
      INVALID_PARTITIONS: 37,
      INVALID_REPLICATION_FACTOR: 38,
      INVALID_REPLICA_ASSIGNMENT: 39,
      NOT_CONTROLLER: 41,
      OUT_OF_ORDER_SEQUENCE_NUMBER: 45,
      MEMBER_ID_REQUIRED: 79,
      // The group coordinator's, with Kafka's numbers.
      OFFSET_METADATA_TOO_LARGE: 12,
      INVALID_GROUP_ID: 24,
      INVALID_COMMIT_OFFSET_SIZE: 28,
      INVALID_REQUEST: 42,
      NON_EMPTY_GROUP: 68,
      GROUP_ID_NOT_FOUND: 69,
      GROUP_MAX_SIZE_REACHED: 81,
      INVALID_FETCH_SIZE: 4,
      RECORD_LIST_TOO_LARGE: 18,
      INVALID_CONFIG: 40,
      POLICY_VIOLATION: 44,
      KAFKA_STORAGE_ERROR: 56,
      NO_REASSIGNMENT_IN_PROGRESS: 85,
      BROKER_ID_NOT_REGISTERED: 102,
    }
    for (const [name, code] of Object.entries(expected)) {
      assert.equal(ErrorCode[name as keyof typeof ErrorCode].code, code, name)
      assert.equal(errorByCode(code)?.name, name)
    }
    assert.equal(ErrorCode.NONE.code, 0)
  })

  it('codes are unique', () => {
    const codes = Object.values(ErrorCode).map((e) => e.code)
    assert.equal(new Set(codes).size, codes.length)
  })

  it("marks Kafka's retriable errors", () => {
    for (const name of [
      'NOT_LEADER_OR_FOLLOWER',
      'LEADER_NOT_AVAILABLE',
      'NOT_ENOUGH_REPLICAS',
      'NOT_COORDINATOR',
      'COORDINATOR_NOT_AVAILABLE',
      'COORDINATOR_LOAD_IN_PROGRESS',
    ] as const) {
      assert.equal(isRetriable(ErrorCode[name].code), true, name)
    }
    for (const name of [
      'OFFSET_OUT_OF_RANGE',
      'MESSAGE_TOO_LARGE',
      'OUT_OF_ORDER_SEQUENCE_NUMBER',
      'ILLEGAL_GENERATION',
      'UNKNOWN_MEMBER_ID',
      'REBALANCE_IN_PROGRESS',
      'MEMBER_ID_REQUIRED',
      'NONE',
    ] as const) {
      assert.equal(isRetriable(ErrorCode[name].code), false, name)
    }
    assert.equal(isRetriable(9999), false)
    assert.equal(errorByCode(9999), undefined)
  })

  it('is frozen', () => {
    assert.ok(Object.isFrozen(ErrorCode))
    assert.ok(Object.isFrozen(ErrorCode.NOT_CONTROLLER))
  })
})
