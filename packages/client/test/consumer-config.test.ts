import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  ConfigError,
  type GroupConsumerConfig,
  resolveGroupConsumerConfig,
  resolveProducerConfig,
} from '../src/index.js'

const resolve = (config: Record<string, unknown>) =>
  resolveGroupConsumerConfig({ groupId: 'g', ...config } as GroupConsumerConfig)

describe('group consumer config', () => {
  it("has Kafka's defaults, 45 s sessions and range then cooperative-sticky (so EAGER)", () => {
    const c = resolve({})
    assert.equal(c.groupId, 'g')
    assert.equal(c.sessionTimeoutMs, 45_000)
    assert.equal(c.heartbeatIntervalMs, 3_000)
    assert.equal(c.rebalanceTimeoutMs, 60_000)
    assert.deepEqual(
      c.assignors.map((a) => a.name),
      ['range', 'cooperative-sticky'],
    )
    assert.equal(c.rebalanceProtocol, 'EAGER')
    assert.equal(c.autoCommit, true)
    assert.equal(c.autoCommitIntervalMs, 5_000)
    assert.equal(c.autoOffsetReset, 'latest')
    assert.equal(c.maxPollRecords, 500)
    assert.equal(c.fetchMaxWaitMs, 500)
  })

  it('is COOPERATIVE only when every assignor listed is', () => {
    assert.equal(
      resolve({ 'partition.assignment.strategy': 'cooperative-sticky' }).rebalanceProtocol,
      'COOPERATIVE',
    )
    assert.equal(
      resolve({ 'partition.assignment.strategy': ['cooperative-sticky', 'range'] }).rebalanceProtocol,
      'EAGER',
    )
    assert.deepEqual(
      resolve({ 'partition.assignment.strategy': 'roundrobin, range' }).assignors.map((a) => a.name),
      ['roundrobin', 'range'],
    )
  })

  it('takes group.id as the same setting as groupId, and needs one', () => {
    assert.equal(resolveGroupConsumerConfig({ 'group.id': 'orders' }).groupId, 'orders')
    assert.throws(() => resolveGroupConsumerConfig({}), /needs a groupId/)
    assert.throws(() => resolveGroupConsumerConfig({ groupId: 'a', 'group.id': 'b' }), /differ/)
    assert.throws(() => resolveGroupConsumerConfig({ groupId: '' }), ConfigError)
  })

  it('reads settings given as strings, as a properties file has them', () => {
    const c = resolve({
      'session.timeout.ms': '6000',
      'enable.auto.commit': 'false',
      'max.poll.records': ' 10 ',
    })
    assert.equal(c.sessionTimeoutMs, 6000)
    assert.equal(c.autoCommit, false)
    assert.equal(c.maxPollRecords, 10)
  })

  it('refuses unknown names with the Kafka name meant, as the producer does', () => {
    assert.throws(
      () => resolve({ sessionTimeoutMs: 10_000 }),
      /Unknown consumer config 'sessionTimeoutMs': Cairn takes Kafka's names \(e.g. 'session.timeout.ms'\); did you mean 'session.timeout.ms'\?/,
    )
    // The assign-mode consumer's camelCase options are not group consumer settings.
    assert.throws(() => resolve({ autoOffsetReset: 'earliest' }), /did you mean 'auto.offset.reset'/)
    assert.throws(() => resolve({ 'no.such.thing': 1 }), /Unknown consumer config 'no.such.thing'/)
    // The producer's messages are unchanged by the shared helper.
    assert.throws(
      () => resolveProducerConfig({ lingerMs: 5 } as never),
      /Unknown producer config 'lingerMs': Cairn takes Kafka's names \(e.g. 'linger.ms'\); did you mean 'linger.ms'\?/,
    )
  })

  it('checks values: ranges, enums, heartbeat below the session', () => {
    assert.throws(() => resolve({ 'max.poll.records': 0 }), /max.poll.records: must be an integer in 1\.\./)
    assert.throws(() => resolve({ 'session.timeout.ms': 1.5 }), /session.timeout.ms/)
    assert.throws(() => resolve({ 'auto.offset.reset': 'smallest' }), /must be one of earliest, latest, none/)
    assert.throws(() => resolve({ 'enable.auto.commit': 'yes' }), /must be true or false/)
    assert.throws(
      () => resolve({ 'partition.assignment.strategy': 'sticky' }),
      /unknown partition assignor 'sticky'/,
    )
    assert.throws(() => resolve({ 'partition.assignment.strategy': [] }), /empty list/)
    assert.throws(() => resolve({ 'partition.assignment.strategy': 'range,range' }), /listed twice/)
    assert.throws(
      () => resolve({ 'session.timeout.ms': 6000, 'heartbeat.interval.ms': 6000 }),
      /heartbeat.interval.ms \(6000\) must be lower than session.timeout.ms \(6000\)/,
    )
  })
})
