/**
 * Group consumer configuration, by Kafka's names, checked as the producer's is (see
 * config-names.ts): an unknown key is refused with the name it probably meant, integers are
 * checked against their ranges, and the cross-checks are Kafka's. As in a Kafka properties file,
 * a setting may also be given as a string ('6000', 'true', 'range,cooperative-sticky'), which is
 * what the command line passes on.
 */
import { type Assignor, assignorByName } from './assignors.js'
import { integerSetting, KafkaConfigNames } from './config-names.js'
import { ConfigError } from './errors.js'

export type AssignmentStrategy = 'range' | 'roundrobin' | 'cooperative-sticky'
export type AutoOffsetReset = 'earliest' | 'latest' | 'none'

export interface GroupConsumerConfig {
  /** The group to join (KafkaJS's spelling); `'group.id'` is the same setting by Kafka's name. */
  groupId?: string
  'group.id'?: string
  /** Sent with every request; the coordinator prefixes member ids with it. Default 'cairn-consumer'. */
  'client.id'?: string
  /** The coordinator removes a member it has not heard from for this long. Default 45000 (Kafka ≥ 3.0). */
  'session.timeout.ms'?: number | string
  /**
   * How long the coordinator waits for every member to rejoin in a rebalance, and how long a
   * revocation waits for the handler in flight. Default 60000. (Kafka's Java client sends
   * max.poll.interval.ms here.)
   */
  'rebalance.timeout.ms'?: number | string
  /** Heartbeats go this often, on their own timer. Below session.timeout.ms. Default 3000. */
  'heartbeat.interval.ms'?: number | string
  /**
   * Assignors in order of preference; the group uses the first that every member offers. The
   * rebalance protocol is COOPERATIVE only if every one listed is cooperative. Default
   * ['range', 'cooperative-sticky'], Kafka 3's default.
   */
  'partition.assignment.strategy'?: AssignmentStrategy | AssignmentStrategy[] | string
  /** Commit the offsets of finished records every auto.commit.interval.ms, on revoke and on close. Default true. */
  'enable.auto.commit'?: boolean | 'true' | 'false'
  /** Default 5000. */
  'auto.commit.interval.ms'?: number | string
  /** Where a partition without a committed offset starts. Default 'latest'; 'none' fails instead. */
  'auto.offset.reset'?: AutoOffsetReset
  /** Most records one poll hands to the application. Default 500. */
  'max.poll.records'?: number | string
  /** How long a fetch waits for fetch.min.bytes. Default 500. */
  'fetch.max.wait.ms'?: number | string
  /** Default 1. */
  'fetch.min.bytes'?: number | string
  /** Default 52428800. */
  'fetch.max.bytes'?: number | string
  /** Default 1048576. */
  'max.partition.fetch.bytes'?: number | string
  /** First retry's backoff (group requests, commits). Default 100. */
  'retry.backoff.ms'?: number | string
  /** Backoff doubles per retry up to this. Default 1000. */
  'retry.backoff.max.ms'?: number | string
  /** Bound on a blocking call: commitOffsets, stop. Default 60000. */
  'default.api.timeout.ms'?: number | string
  /** How often the subscribed topics' metadata is checked for new topics and partitions. Default 300000. */
  'metadata.max.age.ms'?: number | string
}

/** The checked configuration, with names that carry their units. */
export interface ResolvedGroupConsumerConfig {
  groupId: string
  clientId: string
  sessionTimeoutMs: number
  rebalanceTimeoutMs: number
  heartbeatIntervalMs: number
  /** In order of preference. */
  assignors: Assignor[]
  rebalanceProtocol: 'EAGER' | 'COOPERATIVE'
  autoCommit: boolean
  autoCommitIntervalMs: number
  autoOffsetReset: AutoOffsetReset
  maxPollRecords: number
  fetchMaxWaitMs: number
  fetchMinBytes: number
  fetchMaxBytes: number
  maxPartitionFetchBytes: number
  retryBackoffMs: number
  retryBackoffMaxMs: number
  defaultApiTimeoutMs: number
  metadataMaxAgeMs: number
}

const int32Max = 2_147_483_647

export const groupConsumerConfigDefaults = Object.freeze({
  'client.id': 'cairn-consumer',
  'session.timeout.ms': 45_000,
  'rebalance.timeout.ms': 60_000,
  'heartbeat.interval.ms': 3_000,
  'partition.assignment.strategy': ['range', 'cooperative-sticky'] as readonly AssignmentStrategy[],
  'enable.auto.commit': true,
  'auto.commit.interval.ms': 5_000,
  'auto.offset.reset': 'latest' as AutoOffsetReset,
  'max.poll.records': 500,
  'fetch.max.wait.ms': 500,
  'fetch.min.bytes': 1,
  'fetch.max.bytes': 52_428_800,
  'max.partition.fetch.bytes': 1_048_576,
  'retry.backoff.ms': 100,
  'retry.backoff.max.ms': 1_000,
  'default.api.timeout.ms': 60_000,
  'metadata.max.age.ms': 300_000,
})

type IntegerKey =
  | 'session.timeout.ms'
  | 'rebalance.timeout.ms'
  | 'heartbeat.interval.ms'
  | 'auto.commit.interval.ms'
  | 'max.poll.records'
  | 'fetch.max.wait.ms'
  | 'fetch.min.bytes'
  | 'fetch.max.bytes'
  | 'max.partition.fetch.bytes'
  | 'retry.backoff.ms'
  | 'retry.backoff.max.ms'
  | 'default.api.timeout.ms'
  | 'metadata.max.age.ms'

/** Kafka's ranges (ConsumerConfig); timeouts at least 1 ms, as a 0 would spin. */
const integerRanges: Record<IntegerKey, readonly [min: number, max: number]> = {
  'session.timeout.ms': [1, int32Max],
  'rebalance.timeout.ms': [1, int32Max],
  'heartbeat.interval.ms': [1, int32Max],
  'auto.commit.interval.ms': [0, int32Max],
  'max.poll.records': [1, int32Max],
  'fetch.max.wait.ms': [0, int32Max],
  'fetch.min.bytes': [0, int32Max],
  'fetch.max.bytes': [0, int32Max],
  'max.partition.fetch.bytes': [0, int32Max],
  'retry.backoff.ms': [0, int32Max],
  'retry.backoff.max.ms': [0, int32Max],
  'default.api.timeout.ms': [0, int32Max],
  'metadata.max.age.ms': [1, int32Max],
}

const names = new KafkaConfigNames(
  'consumer',
  ['groupId', 'group.id', ...Object.keys(groupConsumerConfigDefaults)],
  'session.timeout.ms',
)

function integer(config: GroupConsumerConfig, key: IntegerKey): number {
  const [min, max] = integerRanges[key]
  return integerSetting(key, config[key] ?? groupConsumerConfigDefaults[key], min, max, true)
}

function groupIdOf(config: GroupConsumerConfig): string {
  const a = config.groupId
  const b = config['group.id']
  if (a !== undefined && b !== undefined && a !== b)
    throw new ConfigError(`groupId '${a}' and group.id '${b}' differ: set one`)
  const id = a ?? b
  if (typeof id !== 'string' || id === '')
    throw new ConfigError('A group consumer needs a groupId (group.id): a non-empty string')
  return id
}

function strategiesOf(value: GroupConsumerConfig['partition.assignment.strategy']): Assignor[] {
  const list =
    value === undefined
      ? [...groupConsumerConfigDefaults['partition.assignment.strategy']]
      : typeof value === 'string'
        ? value.split(',').map((s) => s.trim())
        : value
  if (!Array.isArray(list) || list.length === 0)
    throw new ConfigError('Invalid value for configuration partition.assignment.strategy: an empty list')
  const assignors = list.map((name) => {
    try {
      return assignorByName(String(name))
    } catch (err) {
      throw new ConfigError(
        `Invalid value ${String(name)} for configuration partition.assignment.strategy: ${(err as Error).message}`,
      )
    }
  })
  if (new Set(assignors).size !== assignors.length)
    throw new ConfigError(
      `Invalid value ${list.join(',')} for configuration partition.assignment.strategy: an assignor is listed twice`,
    )
  return assignors
}

function booleanOf(key: string, value: unknown): boolean {
  if (value === true || value === 'true') return true
  if (value === false || value === 'false') return false
  throw new ConfigError(`Invalid value ${String(value)} for configuration ${key}: must be true or false`)
}

function autoOffsetResetOf(value: unknown): AutoOffsetReset {
  if (value === 'earliest' || value === 'latest' || value === 'none') return value
  throw new ConfigError(
    `Invalid value ${String(value)} for configuration auto.offset.reset: must be one of earliest, latest, none`,
  )
}

export function resolveGroupConsumerConfig(config: GroupConsumerConfig): ResolvedGroupConsumerConfig {
  names.check(config)
  const groupId = groupIdOf(config)
  const clientId = config['client.id'] ?? groupConsumerConfigDefaults['client.id']
  if (typeof clientId !== 'string')
    throw new ConfigError('Invalid value for configuration client.id: not a string')
  const sessionTimeoutMs = integer(config, 'session.timeout.ms')
  const heartbeatIntervalMs = integer(config, 'heartbeat.interval.ms')
  // Kafka's GroupRebalanceConfig check: a member must heartbeat within its session.
  if (heartbeatIntervalMs >= sessionTimeoutMs)
    throw new ConfigError(
      `heartbeat.interval.ms (${heartbeatIntervalMs}) must be lower than session.timeout.ms (${sessionTimeoutMs})`,
    )
  const assignors = strategiesOf(config['partition.assignment.strategy'])
  const retryBackoffMs = integer(config, 'retry.backoff.ms')
  const retryBackoffMaxMs = integer(config, 'retry.backoff.max.ms')
  return {
    groupId,
    clientId,
    sessionTimeoutMs,
    rebalanceTimeoutMs: integer(config, 'rebalance.timeout.ms'),
    heartbeatIntervalMs,
    assignors,
    // Kafka: the protocol every listed assignor supports; an eager one among them makes it EAGER.
    rebalanceProtocol: assignors.every((a) => a.rebalanceProtocol === 'COOPERATIVE')
      ? 'COOPERATIVE'
      : 'EAGER',
    autoCommit: booleanOf(
      'enable.auto.commit',
      config['enable.auto.commit'] ?? groupConsumerConfigDefaults['enable.auto.commit'],
    ),
    autoCommitIntervalMs: integer(config, 'auto.commit.interval.ms'),
    autoOffsetReset: autoOffsetResetOf(
      config['auto.offset.reset'] ?? groupConsumerConfigDefaults['auto.offset.reset'],
    ),
    maxPollRecords: integer(config, 'max.poll.records'),
    fetchMaxWaitMs: integer(config, 'fetch.max.wait.ms'),
    fetchMinBytes: integer(config, 'fetch.min.bytes'),
    fetchMaxBytes: integer(config, 'fetch.max.bytes'),
    maxPartitionFetchBytes: integer(config, 'max.partition.fetch.bytes'),
    retryBackoffMs,
    retryBackoffMaxMs,
    defaultApiTimeoutMs: integer(config, 'default.api.timeout.ms'),
    metadataMaxAgeMs: integer(config, 'metadata.max.age.ms'),
  }
}
