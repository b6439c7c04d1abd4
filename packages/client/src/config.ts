/**
 * Producer configuration, by Kafka's names. Users set `'linger.ms'`, `'batch.size'`, `acks` … as
 * they would in Kafka; an unknown key (a camelCase spelling, a typo) is refused with the Kafka name
 * it probably meant, so a setting is never silently ignored. Defaults and the cross-checks between
 * settings are Kafka's (ProducerConfig, Java client 3.7).
 */
import { integerSetting, KafkaConfigNames } from './config-names.js'
import { ConfigError } from './errors.js'
import type { Partitioner } from './partitioner.js'

export type Acks = -1 | 0 | 1

export interface ProducerConfig {
  'client.id'?: string
  /** 'all' (= -1, the default): a quorum has the batch on disk. 1: the leader has it. 0: no answer. */
  acks?: 'all' | '-1' | '0' | '1' | -1 | 0 | 1
  /** Default true. Needs acks = all, retries > 0 and max.in.flight.requests.per.connection ≤ 5. */
  'enable.idempotence'?: boolean
  /** Resends of a batch after a retriable error. Default 2147483647: delivery.timeout.ms bounds them. */
  retries?: number
  /** How long a batch waits for more records before it is sent. Default 5. */
  'linger.ms'?: number
  /** A batch is full at this many encoded bytes. Default 16384. */
  'batch.size'?: number
  /** Bytes of records buffered and not yet acknowledged. Default 33554432 (32 MiB). */
  'buffer.memory'?: number
  /** How long send() waits for metadata or buffer space before it rejects. Default 60000. */
  'max.block.ms'?: number
  /** Largest produce request (and so the largest record). Default 1048576. */
  'max.request.size'?: number
  /** Unanswered produce requests per broker. Default 5. */
  'max.in.flight.requests.per.connection'?: number
  /** First retry's backoff. Default 100. */
  'retry.backoff.ms'?: number
  /** Backoff doubles per retry up to this. Default 1000. */
  'retry.backoff.max.ms'?: number
  /** Bound on the time from a batch's creation to its outcome. Default 120000. */
  'delivery.timeout.ms'?: number
  /** Bound on one produce request; the network layer enforces it. Default 30000. */
  'request.timeout.ms'?: number
  /** Only 'none' for now. */
  'compression.type'?: 'none'
  /** A Partitioner instance or a class with a no-argument constructor. Default: {@link DefaultPartitioner}. */
  'partitioner.class'?: Partitioner | (new () => Partitioner)
  /** Default partitioner: treat keyed records as keyless (sticky). Default false. */
  'partitioner.ignore.keys'?: boolean
}

/** The checked configuration, with names that carry their units. */
export interface ResolvedProducerConfig {
  clientId: string
  acks: Acks
  idempotent: boolean
  /** Why idempotence, left at its default, was turned off by another setting (as Kafka does). */
  idempotenceDisabledBecause: string | null
  retries: number
  lingerMs: number
  batchSizeBytes: number
  bufferMemoryBytes: number
  maxBlockMs: number
  maxRequestSizeBytes: number
  maxInFlightRequestsPerConnection: number
  retryBackoffMs: number
  retryBackoffMaxMs: number
  deliveryTimeoutMs: number
  requestTimeoutMs: number
  partitioner: Partitioner | null
  partitionerIgnoreKeys: boolean
}

const int32Max = 2_147_483_647
const longMax = Number.MAX_SAFE_INTEGER

/** Kafka's defaults; `partitioner.class` absent means the default partitioner. */
export const producerConfigDefaults = Object.freeze({
  'client.id': '',
  acks: 'all',
  'enable.idempotence': true,
  retries: int32Max,
  'linger.ms': 5,
  'batch.size': 16_384,
  'buffer.memory': 33_554_432,
  'max.block.ms': 60_000,
  'max.request.size': 1_048_576,
  'max.in.flight.requests.per.connection': 5,
  'retry.backoff.ms': 100,
  'retry.backoff.max.ms': 1_000,
  'delivery.timeout.ms': 120_000,
  'request.timeout.ms': 30_000,
  'compression.type': 'none',
  'partitioner.ignore.keys': false,
} as const)

type NumericKey = {
  [K in keyof ProducerConfig]-?: NonNullable<ProducerConfig[K]> extends number ? K : never
}[keyof ProducerConfig]

/** Numeric settings and their valid ranges (Kafka's `atLeast`/`between` validators). */
const numericRanges: Record<NumericKey, readonly [min: number, max: number]> = {
  retries: [0, int32Max],
  'linger.ms': [0, longMax],
  'batch.size': [0, int32Max],
  'buffer.memory': [0, longMax],
  'max.block.ms': [0, longMax],
  'max.request.size': [0, int32Max],
  'max.in.flight.requests.per.connection': [1, int32Max],
  'retry.backoff.ms': [0, longMax],
  'retry.backoff.max.ms': [0, longMax],
  'delivery.timeout.ms': [0, int32Max],
  'request.timeout.ms': [0, int32Max],
}

const names = new KafkaConfigNames(
  'producer',
  [...Object.keys(producerConfigDefaults), 'partitioner.class', 'transactional.id'],
  'linger.ms',
)

function numeric(config: ProducerConfig, key: NumericKey): number {
  const [min, max] = numericRanges[key]
  return integerSetting(key, config[key] ?? producerConfigDefaults[key], min, max)
}

function parseAcks(value: unknown): Acks {
  switch (value) {
    case 'all':
    case '-1':
    case -1:
      return -1
    case '0':
    case 0:
      return 0
    case '1':
    case 1:
      return 1
    default:
      throw new ConfigError(
        `Invalid value ${String(value)} for configuration acks: must be one of all, -1, 0, 1`,
      )
  }
}

function boolean(config: ProducerConfig, key: 'enable.idempotence' | 'partitioner.ignore.keys'): boolean {
  const value = config[key] ?? producerConfigDefaults[key]
  if (typeof value !== 'boolean')
    throw new ConfigError(`Invalid value ${String(value)} for configuration ${key}`)
  return value
}

function partitionerOf(value: ProducerConfig['partitioner.class']): Partitioner | null {
  if (value === undefined) return null
  const partitioner = typeof value === 'function' ? new value() : value
  if (typeof partitioner?.partition !== 'function')
    throw new ConfigError('Invalid value for configuration partitioner.class: not a Partitioner')
  return partitioner
}

/**
 * Idempotence needs acks = all, retries > 0 and at most 5 requests in flight. As in Kafka (KIP-679):
 * set explicitly to true, a conflicting setting is a ConfigError; left at its default, the conflict
 * quietly turns idempotence off.
 */
function idempotenceConflict(acks: Acks, retries: number, maxInFlight: number): string | null {
  if (acks !== -1)
    return 'Must set acks to all in order to use the idempotent producer. Otherwise we cannot guarantee idempotence.'
  if (retries === 0) return 'Must set retries to non-zero when using the idempotent producer.'
  if (maxInFlight > 5)
    return 'Must set max.in.flight.requests.per.connection to at most 5 to use the idempotent producer.'
  return null
}

export function resolveProducerConfig(config: ProducerConfig = {}): ResolvedProducerConfig {
  names.check(config)
  if ((config as { 'transactional.id'?: unknown })['transactional.id'] !== undefined)
    throw new ConfigError('transactional.id: transactions are not supported')
  const compression = config['compression.type'] ?? 'none'
  if (compression !== 'none')
    throw new ConfigError(
      `Invalid value ${String(compression)} for configuration compression.type: only none is supported`,
    )
  const clientId = config['client.id'] ?? ''
  if (typeof clientId !== 'string')
    throw new ConfigError('Invalid value for configuration client.id: not a string')

  const acks = parseAcks(config.acks ?? producerConfigDefaults.acks)
  const retries = numeric(config, 'retries')
  const maxInFlightRequestsPerConnection = numeric(config, 'max.in.flight.requests.per.connection')
  const conflict = idempotenceConflict(acks, retries, maxInFlightRequestsPerConnection)
  const idempotenceRequested = boolean(config, 'enable.idempotence')
  if (conflict !== null && config['enable.idempotence'] === true) throw new ConfigError(conflict)
  const idempotent = idempotenceRequested && conflict === null

  const lingerMs = numeric(config, 'linger.ms')
  const requestTimeoutMs = numeric(config, 'request.timeout.ms')
  let deliveryTimeoutMs = numeric(config, 'delivery.timeout.ms')
  if (deliveryTimeoutMs < lingerMs + requestTimeoutMs) {
    // Kafka refuses an explicit delivery.timeout.ms below the sum, and raises the default to it.
    if (config['delivery.timeout.ms'] !== undefined)
      throw new ConfigError(
        `delivery.timeout.ms should be equal to or larger than linger.ms + request.timeout.ms (${lingerMs + requestTimeoutMs})`,
      )
    deliveryTimeoutMs = lingerMs + requestTimeoutMs
  }

  return {
    clientId,
    acks,
    idempotent,
    idempotenceDisabledBecause: idempotenceRequested && !idempotent ? conflict : null,
    retries,
    lingerMs,
    batchSizeBytes: numeric(config, 'batch.size'),
    bufferMemoryBytes: numeric(config, 'buffer.memory'),
    maxBlockMs: numeric(config, 'max.block.ms'),
    maxRequestSizeBytes: numeric(config, 'max.request.size'),
    maxInFlightRequestsPerConnection,
    retryBackoffMs: numeric(config, 'retry.backoff.ms'),
    retryBackoffMaxMs: numeric(config, 'retry.backoff.max.ms'),
    deliveryTimeoutMs,
    requestTimeoutMs,
    partitioner: partitionerOf(config['partitioner.class']),
    partitionerIgnoreKeys: boolean(config, 'partitioner.ignore.keys'),
  }
}
