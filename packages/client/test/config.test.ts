import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ErrorCode } from '@cairn/protocol'
import fc from 'fast-check'
import {
  ConfigError,
  classifyProduceError,
  createProducer,
  networkExceptionError,
  type ProducerConfig,
  resolveProducerConfig,
  retryBackoffMs,
  seededRandom,
  VirtualClock,
} from '../src/index.js'
import { FakeCluster, fcOptions, seed } from './helpers.js'

describe('producer config', () => {
  it("has Kafka's defaults", () => {
    const c = resolveProducerConfig()
    assert.deepEqual(
      {
        acks: c.acks,
        idempotent: c.idempotent,
        retries: c.retries,
        lingerMs: c.lingerMs,
        batchSizeBytes: c.batchSizeBytes,
        bufferMemoryBytes: c.bufferMemoryBytes,
        maxBlockMs: c.maxBlockMs,
        maxRequestSizeBytes: c.maxRequestSizeBytes,
        maxInFlight: c.maxInFlightRequestsPerConnection,
        retryBackoffMs: c.retryBackoffMs,
        retryBackoffMaxMs: c.retryBackoffMaxMs,
        deliveryTimeoutMs: c.deliveryTimeoutMs,
        requestTimeoutMs: c.requestTimeoutMs,
      },
      {
        acks: -1,
        idempotent: true,
        retries: 2_147_483_647,
        lingerMs: 5,
        batchSizeBytes: 16_384,
        bufferMemoryBytes: 33_554_432,
        maxBlockMs: 60_000,
        maxRequestSizeBytes: 1_048_576,
        maxInFlight: 5,
        retryBackoffMs: 100,
        retryBackoffMaxMs: 1_000,
        deliveryTimeoutMs: 120_000,
        requestTimeoutMs: 30_000,
      },
    )
  })

  it("takes Kafka's dotted names, and refuses anything else with the name it probably meant", () => {
    assert.equal(resolveProducerConfig({ 'linger.ms': 20 }).lingerMs, 20)
    assert.throws(
      () => resolveProducerConfig({ lingerMs: 20 } as ProducerConfig),
      new ConfigError(
        "Unknown producer config 'lingerMs': Cairn takes Kafka's names (e.g. 'linger.ms'); did you mean 'linger.ms'?",
      ),
    )
    assert.throws(
      () => resolveProducerConfig({ enableIdempotence: false } as ProducerConfig),
      /did you mean 'enable.idempotence'\?/,
    )
    assert.throws(
      () => resolveProducerConfig({ 'lingr.ms': 1 } as ProducerConfig),
      /^ConfigError: Unknown producer config 'lingr.ms'[^?]*$/,
    )
  })

  it('accepts acks as all, -1, 0, 1 (strings or numbers)', () => {
    assert.equal(resolveProducerConfig({ acks: 'all' }).acks, -1)
    assert.equal(resolveProducerConfig({ acks: '-1' }).acks, -1)
    assert.equal(resolveProducerConfig({ acks: 1, 'enable.idempotence': false }).acks, 1)
    assert.equal(resolveProducerConfig({ acks: '0', 'enable.idempotence': false }).acks, 0)
    assert.throws(() => resolveProducerConfig({ acks: 2 as 1 }), /Invalid value 2 for configuration acks/)
  })

  it('refuses acks other than all with idempotence explicitly on, as Kafka (ConfigException)', () => {
    assert.throws(
      () => resolveProducerConfig({ acks: 1, 'enable.idempotence': true }),
      new ConfigError(
        'Must set acks to all in order to use the idempotent producer. Otherwise we cannot guarantee idempotence.',
      ),
    )
    assert.throws(
      () => resolveProducerConfig({ retries: 0, 'enable.idempotence': true }),
      /retries to non-zero/,
    )
    assert.throws(
      () => resolveProducerConfig({ 'max.in.flight.requests.per.connection': 6, 'enable.idempotence': true }),
      /at most 5/,
    )
    assert.throws(
      () => createProducer({ acks: 0, 'enable.idempotence': true }, new FakeCluster(new VirtualClock()).io),
      ConfigError,
    )
  })

  it('turns idempotence off when it was left at its default and another setting conflicts (KIP-679)', () => {
    const c = resolveProducerConfig({ acks: 1 })
    assert.equal(c.idempotent, false)
    assert.match(c.idempotenceDisabledBecause!, /Must set acks to all/)
    assert.equal(resolveProducerConfig({ 'enable.idempotence': false }).idempotenceDisabledBecause, null)
  })

  it('checks ranges and delivery.timeout.ms >= linger.ms + request.timeout.ms', () => {
    assert.throws(
      () => resolveProducerConfig({ 'linger.ms': -1 }),
      /Invalid value -1 for configuration linger.ms/,
    )
    assert.throws(() => resolveProducerConfig({ 'batch.size': 1.5 }), /batch.size/)
    assert.throws(
      () => resolveProducerConfig({ 'delivery.timeout.ms': 1_000 }),
      /delivery.timeout.ms should be equal to or larger than linger.ms \+ request.timeout.ms \(30005\)/,
    )
    assert.equal(resolveProducerConfig({ 'request.timeout.ms': 200_000 }).deliveryTimeoutMs, 200_005)
    assert.throws(() => resolveProducerConfig({ 'transactional.id': 'x' } as ProducerConfig), /not supported/)
    assert.throws(() => resolveProducerConfig({ 'compression.type': 'gzip' as 'none' }), /only none/)
  })

  it('an idempotent producer needs initProducerId', () => {
    const { initProducerId: _, ...io } = new FakeCluster(new VirtualClock()).io
    assert.throws(() => createProducer({}, io), /needs io.initProducerId/)
    assert.doesNotThrow(() => createProducer({ 'enable.idempotence': false }, io))
  })
})

describe('retry backoff', () => {
  it('grows from retry.backoff.ms by doubling to retry.backoff.max.ms, with ±20% jitter', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 0, max: 5_000 }),
        fc.integer({ min: 0, max: 50_000 }),
        fc.integer(),
        (retry, backoffMs, backoffMaxMs, s) => {
          const delay = retryBackoffMs(retry, backoffMs, backoffMaxMs, seededRandom(s))
          const term = Math.min(backoffMaxMs, Math.min(backoffMs, backoffMaxMs) * 2 ** (retry - 1))
          assert.ok(
            delay >= Math.floor(term * 0.8) && delay <= Math.min(backoffMaxMs, term * 1.2),
            `${delay} for ${term}`,
          )
        },
      ),
      fcOptions(3_000),
    )
    const mid = () => 0.5
    assert.deepEqual(
      [1, 2, 3, 4, 5, 6].map((r) => retryBackoffMs(r, 100, 1_000, mid)),
      [100, 200, 400, 800, 1_000, 1_000],
    )
  })

  it('is reproducible from a seed and actually jitters', () => {
    const a = seededRandom(seed)
    const b = seededRandom(seed)
    const xs = Array.from({ length: 50 }, () => retryBackoffMs(1, 100, 1_000, a))
    assert.deepEqual(
      xs,
      Array.from({ length: 50 }, () => retryBackoffMs(1, 100, 1_000, b)),
    )
    assert.ok(new Set(xs).size > 10)
  })
})

describe('error classification', () => {
  it("retries the shared table's retriable errors, refreshing metadata for leadership errors", () => {
    const leaderNotAvailable = classifyProduceError(ErrorCode.LEADER_NOT_AVAILABLE.code)
    assert.deepEqual(
      [leaderNotAvailable.retriable, leaderNotAvailable.refreshMetadata, leaderNotAvailable.maybeWritten],
      [true, true, false],
    )
    // A leader may have appended the batch before it lost leadership: never re-stamp it.
    const notLeader = classifyProduceError(ErrorCode.NOT_LEADER_OR_FOLLOWER.code)
    assert.deepEqual(
      [notLeader.retriable, notLeader.refreshMetadata, notLeader.maybeWritten],
      [true, true, true],
    )
    assert.deepEqual(
      [classifyProduceError(ErrorCode.NOT_ENOUGH_REPLICAS.code)].map((d) => [
        d.retriable,
        d.refreshMetadata,
        d.maybeWritten,
      ]),
      [[true, false, false]],
    )
    assert.deepEqual(
      [classifyProduceError(ErrorCode.REQUEST_TIMED_OUT.code)].map((d) => [d.retriable, d.maybeWritten]),
      [[true, true]],
    )
    assert.deepEqual(
      [classifyProduceError(networkExceptionError.code)].map((d) => [
        d.retriable,
        d.refreshMetadata,
        d.maybeWritten,
      ]),
      [[true, true, true]],
    )
  })

  it('fails non-retriable errors, CORRUPT_MESSAGE included, and unknown codes', () => {
    for (const name of [
      'MESSAGE_TOO_LARGE',
      'CORRUPT_MESSAGE',
      'INVALID_REQUIRED_ACKS',
      'INVALID_TOPIC_EXCEPTION',
    ] as const)
      assert.equal(classifyProduceError(ErrorCode[name].code).retriable, false, name)
    const unknown = classifyProduceError(9_999)
    assert.deepEqual([unknown.error.name, unknown.retriable], ['UNKNOWN_ERROR_CODE_9999', false])
  })
})
