/**
 * The group consumer against a fake coordinator and in-memory logs (test/group-fake.ts): the
 * protocol's paths, the at-least-once bookkeeping, the cooperative protocol's incremental
 * revocation. Real time, small intervals (heartbeat 20 ms); every wait is for a condition, bounded.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  type ConsumedRecord,
  type GroupConsumer,
  seededRandom,
  type TopicPartition,
  topicPartitionKey,
  topicPartitionName,
} from '../src/index.js'
import { FakeCoordinator, FakeLogs, fakeMember, until } from './group-fake.js'
import { seed } from './helpers.js'

const topic = 't'
const tp = (partition: number): TopicPartition => ({ topic, partition })

function setup(partitions = 4) {
  const coordinator = new FakeCoordinator()
  const logs = new FakeLogs(new Map([[topic, partitions]]))
  return { coordinator, logs }
}

/** Records each member processed, by partition, in order. */
class Processed {
  readonly byPartition = new Map<string, number[]>()
  readonly at: { key: string; offset: number; t: number; member: string }[] = []
  add(r: ConsumedRecord, member: string): void {
    const k = topicPartitionKey(r)
    this.byPartition.set(k, [...(this.byPartition.get(k) ?? []), r.offset])
    this.at.push({ key: k, offset: r.offset, t: Date.now(), member })
  }
  covers(logs: FakeLogs, partitions: number): boolean {
    for (let p = 0; p < partitions; p++) {
      const seen = new Set(this.byPartition.get(topicPartitionKey(tp(p))) ?? [])
      for (let o = 0; o < logs.end(tp(p)); o++) if (!seen.has(o)) return false
    }
    return true
  }
}

function committedAll(coordinator: FakeCoordinator, logs: FakeLogs, partitions: number): boolean {
  for (let p = 0; p < partitions; p++)
    if (coordinator.committed.get(topicPartitionKey(tp(p))) !== logs.end(tp(p))) return false
  return true
}

describe('group consumer: membership', () => {
  it('two members share the partitions; every record is processed; the last commits reach the log ends', async () => {
    const { coordinator, logs } = setup(4)
    for (let p = 0; p < 4; p++) logs.append(topic, p, 5)
    const processed = new Processed()
    const members = [0, 1].map(() => fakeMember(coordinator, logs, { 'auto.offset.reset': 'earliest' }))
    const runs = members.map((m, i) => {
      m.consumer.subscribe({ topics: [topic] })
      return m.consumer.run({ eachMessage: ({ message }) => processed.add(message, `m${i}`) })
    })
    await until(
      'a stable group of two',
      () => coordinator.state === 'Stable' && coordinator.members.size === 2,
    )
    await until('two partitions each', () => members.every((m) => m.consumer.assignment().length === 2))
    for (let p = 0; p < 4; p++) logs.append(topic, p, 5)
    await until('every record processed', () => processed.covers(logs, 4))
    await Promise.all(members.map((m) => m.consumer.stop()))
    await Promise.all(runs)
    assert.ok(committedAll(coordinator, logs, 4), `committed ${[...coordinator.committed]}`)
    assert.equal(coordinator.members.size, 0, 'both left the group')
    // MEMBER_ID_REQUIRED was met and answered by joining with the id given.
    assert.ok(coordinator.calls.filter((c) => c.api === 'joinGroup' && c.memberId === '').length >= 2)
  })

  it('a member expelled (UNKNOWN_MEMBER_ID) loses its partitions uncommitted and rejoins with a new id', async () => {
    const { coordinator, logs } = setup(2)
    const m = fakeMember(coordinator, logs, { 'auto.offset.reset': 'earliest', 'enable.auto.commit': false })
    const lost: TopicPartition[][] = []
    m.consumer.subscribe({ topics: [topic] }, { onPartitionsLost: (tps) => void lost.push(tps) })
    const run = m.consumer.run({ eachMessage: () => undefined })
    await until('assigned', () => m.consumer.assignment().length === 2)
    const firstId = m.consumer.memberId
    coordinator.expel(firstId)
    await until(
      'rejoined with another id',
      () => m.consumer.memberId !== firstId && m.consumer.assignment().length === 2,
    )
    assert.deepEqual(lost, [[tp(0), tp(1)]])
    await m.consumer.stop()
    await run
  })

  it('NOT_COORDINATOR and no answer: the coordinator is looked for again and the join retried', async () => {
    const { coordinator, logs } = setup(1)
    coordinator.inject('joinGroup', { error: 'NOT_COORDINATOR' })
    coordinator.inject('joinGroup', { throws: 'NETWORK_EXCEPTION' })
    coordinator.inject('joinGroup', { error: 'COORDINATOR_LOAD_IN_PROGRESS' })
    const m = fakeMember(coordinator, logs)
    m.consumer.subscribe({ topics: [topic] })
    const run = m.consumer.run({ eachMessage: () => undefined })
    await until('assigned', () => m.consumer.assignment().length === 1)
    assert.ok(m.coordinatorLost >= 2, `coordinator forgotten ${m.coordinatorLost} times`)
    await m.consumer.stop()
    await run
  })

  it('a fatal group error stops run() with that error', async () => {
    const { coordinator, logs } = setup(1)
    coordinator.inject('joinGroup', { error: 'INVALID_SESSION_TIMEOUT' })
    const m = fakeMember(coordinator, logs)
    m.consumer.subscribe({ topics: [topic] })
    await assert.rejects(m.consumer.run({ eachMessage: () => undefined }), {
      code: 'INVALID_SESSION_TIMEOUT',
    })
  })

  it('heartbeats go on, on their own timer, while a handler is slow', async () => {
    const { coordinator, logs } = setup(1)
    logs.append(topic, 0, 1)
    const m = fakeMember(coordinator, logs, { 'auto.offset.reset': 'earliest' })
    m.consumer.subscribe({ topics: [topic] })
    let release!: () => void
    const held = new Promise<void>((r) => {
      release = r
    })
    let inHandler = false
    const run = m.consumer.run({
      eachMessage: async () => {
        inHandler = true
        await held
      },
    })
    await until('the handler running', () => inHandler)
    const before = coordinator.calls.filter((c) => c.api === 'heartbeat').length
    await until(
      'ten heartbeats during the handler',
      () => coordinator.calls.filter((c) => c.api === 'heartbeat').length >= before + 10,
    )
    release()
    await m.consumer.stop()
    await run
  })
})

describe('group consumer: offsets', () => {
  it('auto-commit never passes a record whose handler has not finished', async () => {
    const { coordinator, logs } = setup(1)
    logs.append(topic, 0, 10)
    const m = fakeMember(coordinator, logs, { 'auto.offset.reset': 'earliest', 'auto.commit.interval.ms': 5 })
    m.consumer.subscribe({ topics: [topic] })
    let release!: () => void
    const held = new Promise<void>((r) => {
      release = r
    })
    const run = m.consumer.run({
      eachMessage: async ({ message }) => {
        if (message.offset === 6) await held
      },
    })
    await until('offsets up to 6 committed', () => coordinator.committed.get(topicPartitionKey(tp(0))) === 6)
    const commitsBefore = coordinator.commitLog.length
    await until(
      'several auto-commit rounds',
      () => coordinator.calls.filter((c) => c.api === 'heartbeat').length > 5,
    )
    assert.ok(
      coordinator.commitLog.every((c) => c.offset <= 6),
      `a commit passed offset 6 while its handler ran: ${JSON.stringify(coordinator.commitLog)}`,
    )
    assert.equal(coordinator.commitLog.length, commitsBefore, 'nothing new to commit, nothing committed')
    release()
    await until('the rest committed', () => coordinator.committed.get(topicPartitionKey(tp(0))) === 10)
    await m.consumer.stop()
    await run
  })

  it('starts from the committed offset, else auto.offset.reset; none fails with NO_OFFSET_FOR_PARTITION', async () => {
    const { coordinator, logs } = setup(2)
    logs.append(topic, 0, 5)
    logs.append(topic, 1, 5)
    coordinator.committed.set(topicPartitionKey(tp(0)), 3)
    const first: Record<string, number> = {}
    const m = fakeMember(coordinator, logs, { 'auto.offset.reset': 'latest' })
    m.consumer.subscribe({ topics: [topic] })
    const run = m.consumer.run({
      eachMessage: ({ message }) => {
        first[topicPartitionName(message)] ??= message.offset
      },
    })
    await until('assigned', () => m.consumer.assignment().length === 2)
    logs.append(topic, 1, 1)
    await until('both partitions read', () => Object.keys(first).length === 2)
    assert.deepEqual(first, { 't-0': 3, 't-1': 5 })
    await m.consumer.stop()
    await run

    const empty = setup(1)
    const n = fakeMember(empty.coordinator, empty.logs, { 'auto.offset.reset': 'none' })
    n.consumer.subscribe({ topics: [topic] })
    await assert.rejects(n.consumer.run({ eachMessage: () => undefined }), {
      code: 'NO_OFFSET_FOR_PARTITION',
      message: /Undefined offset with no reset policy for partitions: t-0/,
    })
  })

  it('a commit the group refuses fails with its error name', async () => {
    const { coordinator, logs } = setup(1)
    logs.append(topic, 0, 3)
    const m = fakeMember(coordinator, logs, {
      'auto.offset.reset': 'earliest',
      'enable.auto.commit': false,
      'partition.assignment.strategy': 'cooperative-sticky',
    })
    m.consumer.subscribe({ topics: [topic] })
    let seen = 0
    const run = m.consumer.run({
      eachMessage: () => {
        seen++
      },
    })
    await until('all read', () => seen === 3)
    const generation = m.consumer.generationId
    coordinator.inject('offsetCommit', { error: 'REBALANCE_IN_PROGRESS' })
    await assert.rejects(m.consumer.commitOffsets(), {
      name: 'CommitFailedError',
      code: 'REBALANCE_IN_PROGRESS',
    })
    // After the rebalance it asked for (cooperative: the partition stays), the commit goes through.
    await until(
      'the next generation',
      () => coordinator.state === 'Stable' && m.consumer.generationId > generation,
    )
    await m.consumer.commitOffsets()
    assert.equal(coordinator.committed.get(topicPartitionKey(tp(0))), 3)
    // Explicit offsets are committed as given.
    await m.consumer.commitOffsets([{ topic, partition: 0, offset: 1 }])
    assert.equal(coordinator.committed.get(topicPartitionKey(tp(0))), 1)
    coordinator.inject('offsetCommit', { error: 'ILLEGAL_GENERATION' })
    await assert.rejects(m.consumer.commitOffsets([{ topic, partition: 0, offset: 2 }]), {
      code: 'ILLEGAL_GENERATION',
    })
    await m.consumer.stop()
    await run
  })
})

describe('group consumer: delivery', () => {
  it('pause and resume: nothing of a paused partition is delivered, nothing skipped after resume', async () => {
    const { coordinator, logs } = setup(2)
    logs.append(topic, 0, 20)
    logs.append(topic, 1, 20)
    const m = fakeMember(coordinator, logs, { 'auto.offset.reset': 'earliest', 'max.poll.records': 7 })
    m.consumer.subscribe({ topics: [topic] })
    const processed = new Processed()
    let pausedAt = -1
    const run = m.consumer.run({
      eachMessage: ({ message }) => {
        processed.add(message, 'm')
        if (message.partition === 0 && message.offset === 3) {
          m.consumer.pause([tp(0)])
          pausedAt = processed.at.length
        }
      },
    })
    await until(
      'partition 1 read',
      () => (processed.byPartition.get(topicPartitionKey(tp(1)))?.length ?? 0) === 20,
    )
    assert.deepEqual(processed.byPartition.get(topicPartitionKey(tp(0))), [0, 1, 2, 3])
    assert.ok(pausedAt > 0)
    assert.deepEqual(m.consumer.paused(), [tp(0)])
    m.consumer.resume([tp(0)])
    await until(
      'partition 0 read',
      () => (processed.byPartition.get(topicPartitionKey(tp(0)))?.length ?? 0) === 20,
    )
    assert.deepEqual(
      processed.byPartition.get(topicPartitionKey(tp(0))),
      Array.from({ length: 20 }, (_, i) => i),
    )
    await m.consumer.stop()
    await run
  })

  it('eachBatch: a batch per partition, resolveOffset counts part of one', async () => {
    const { coordinator, logs } = setup(1)
    logs.append(topic, 0, 10)
    const m = fakeMember(coordinator, logs, { 'auto.offset.reset': 'earliest' })
    m.consumer.subscribe({ topics: [topic] })
    const sizes: number[] = []
    let failOnce = true
    const run = m.consumer.run({
      eachBatchAutoResolve: true,
      eachBatch: async ({ batch, resolveOffset, isStale, isRunning }) => {
        assert.equal(isStale(), false)
        assert.equal(isRunning(), true)
        sizes.push(batch.messages.length)
        assert.equal(batch.highWatermark, 10)
        if (failOnce) {
          failOnce = false
          resolveOffset(batch.messages[3]!.offset)
          throw new Error('handler failed after four records')
        }
      },
    })
    await assert.rejects(run, /handler failed after four records/)
    // The records resolved were committed on the way out; the rest go to the next owner.
    assert.equal(coordinator.committed.get(topicPartitionKey(tp(0))), 4)
    assert.deepEqual(sizes, [10])
  })

  it('the async iterator: a record counts as finished when the loop asks for the next', async () => {
    const { coordinator, logs } = setup(1)
    logs.append(topic, 0, 10)
    const m = fakeMember(coordinator, logs, { 'auto.offset.reset': 'earliest' })
    m.consumer.subscribe({ topics: [topic] })
    const seen: number[] = []
    for await (const record of m.consumer) {
      seen.push(record.offset)
      if (record.offset === 4) break
    }
    assert.deepEqual(seen, [0, 1, 2, 3, 4])
    // 0..3 finished (the loop asked for the next); 4 is delivered again to whoever reads next.
    assert.equal(coordinator.committed.get(topicPartitionKey(tp(0))), 4)
    assert.equal(coordinator.members.size, 0)
  })

  it('stop() from inside a handler returns at once; the run ends once the handler does', async () => {
    const { coordinator, logs } = setup(1)
    logs.append(topic, 0, 10)
    const m = fakeMember(coordinator, logs, { 'auto.offset.reset': 'earliest' })
    m.consumer.subscribe({ topics: [topic] })
    const seen: number[] = []
    await m.consumer.run({
      eachMessage: async ({ message }) => {
        seen.push(message.offset)
        if (message.offset === 2) await m.consumer.stop()
      },
    })
    assert.deepEqual(seen, [0, 1, 2])
    assert.equal(coordinator.committed.get(topicPartitionKey(tp(0))), 3)
  })

  it('reports its lag per partition and records-lag-max', async () => {
    const { coordinator, logs } = setup(2)
    logs.append(topic, 0, 10)
    logs.append(topic, 1, 4)
    const m = fakeMember(coordinator, logs, { 'auto.offset.reset': 'earliest', 'max.poll.records': 2 })
    m.consumer.subscribe({ topics: [topic] })
    let release!: () => void
    const held = new Promise<void>((r) => {
      release = r
    })
    let stuck = false
    const run = m.consumer.run({
      eachMessage: async () => {
        stuck = true
        await held
      },
    })
    await until('the first poll', () => stuck)
    const metrics = m.consumer.metrics()
    assert.equal(metrics['records-lag-max'], 8)
    assert.deepEqual(metrics['records-lag'], { 't-0': 8, 't-1': 4 })
    release()
    await m.consumer.stop()
    await run
  })
})

describe('group consumer: cooperative-sticky', () => {
  it('a third member joins: only moved partitions are revoked, never owned twice, the others consumed throughout', async (t) => {
    t.diagnostic(`seed ${seed}`)
    const partitions = 6
    const { coordinator, logs } = setup(partitions)
    const owner = new Map<string, string>()
    const violations: string[] = []
    const revokedBy = new Map<string, TopicPartition[]>()
    const processed = new Processed()
    const config = {
      'auto.offset.reset': 'earliest',
      'partition.assignment.strategy': 'cooperative-sticky',
    } as const
    const start = (name: string) => {
      const m = fakeMember(coordinator, logs, config)
      m.consumer.subscribe(
        { topics: [topic] },
        {
          onPartitionsAssigned: (tps) => {
            for (const x of tps) {
              const k = topicPartitionKey(x)
              if (owner.has(k))
                violations.push(`${topicPartitionName(x)} given to ${name} while ${owner.get(k)} owns it`)
              owner.set(k, name)
            }
          },
          onPartitionsRevoked: (tps) => {
            revokedBy.set(name, [...(revokedBy.get(name) ?? []), ...tps])
            for (const x of tps) owner.delete(topicPartitionKey(x))
          },
        },
      )
      const run = m.consumer.run({ eachMessage: ({ message }) => processed.add(message, name) })
      return { name, consumer: m.consumer, run }
    }
    const producing = setInterval(() => {
      for (let p = 0; p < partitions; p++) logs.append(topic, p, 1)
    }, 2)
    try {
      const a = start('a')
      const b = start('b')
      await until(
        'a and b own three each',
        () => a.consumer.assignment().length === 3 && b.consumer.assignment().length === 3,
      )
      const before = new Map([...owner])
      const joinedAt = Date.now()
      const c = start('c')
      const members: { consumer: GroupConsumer }[] = [a, b, c]
      await until(
        'two each',
        () => members.every((m) => m.consumer.assignment().length === 2) && owner.size === partitions,
      )
      const settledAt = Date.now()
      assert.deepEqual(violations, [])
      // Only what moved to c was revoked; nothing was taken back from c.
      const moved = [...owner].filter(([, name]) => name === 'c').map(([k]) => k)
      const revoked = [...revokedBy.values()].flat().map(topicPartitionKey)
      assert.deepEqual(revoked.sort(), moved.sort(), 'revoked exactly the partitions that moved')
      // The partitions that stayed were consumed during the rebalance.
      const stayed = [...before].filter(([k, name]) => owner.get(k) === name).map(([k]) => k)
      assert.equal(stayed.length, 4)
      for (const k of stayed)
        assert.ok(
          processed.at.some((x) => x.key === k && x.t >= joinedAt && x.t <= settledAt),
          `${k} was not consumed between the join (${joinedAt}) and the end of the rebalance (${settledAt})`,
        )
      clearInterval(producing)
      await until('every record processed', () => processed.covers(logs, partitions))
      await Promise.all(members.map((m) => m.consumer.stop()))
      await Promise.all([a.run, b.run, c.run])
      assert.ok(committedAll(coordinator, logs, partitions), 'the last commits reach the log ends')
    } finally {
      clearInterval(producing)
    }
  })
})

describe('group consumer: at-least-once under random schedules', () => {
  for (const strategy of ['range', 'cooperative-sticky'] as const)
    it(`${strategy}: no commit passes an unfinished record; every record is processed (members come, go, are expelled, pause)`, async (t) => {
      const runSeed = seed + (strategy === 'range' ? 0 : 1)
      t.diagnostic(`seed ${runSeed} (CAIRN_SEED=${seed})`)
      const random = seededRandom(runSeed)
      const partitions = 6
      const { coordinator, logs } = setup(partitions)
      const finished = new Map<number, Set<number>>()
      const violations: string[] = []
      coordinator.onCommit = ({ partition, offset }) => {
        const done = finished.get(partition) ?? new Set()
        for (let o = 0; o < offset; o++)
          if (!done.has(o)) {
            violations.push(`commit ${offset} of partition ${partition} passes unfinished ${o}`)
            return
          }
      }
      const config = {
        'auto.offset.reset': 'earliest',
        'partition.assignment.strategy': strategy,
        'auto.commit.interval.ms': 3,
        'max.poll.records': 1 + Math.floor(random() * 10),
      } as const
      const live: { consumer: GroupConsumer; run: Promise<void> }[] = []
      const startOne = () => {
        const m = fakeMember(coordinator, logs, config)
        m.consumer.subscribe({ topics: [topic] })
        const run = m.consumer.run({
          eachMessage: async ({ message }) => {
            if (random() < 0.3) await new Promise((r) => setTimeout(r, Math.floor(random() * 3)))
            const done = finished.get(message.partition) ?? new Set()
            done.add(message.offset)
            finished.set(message.partition, done)
          },
        })
        live.push({ consumer: m.consumer, run })
      }
      for (let k = 0; k < 3; k++) startOne()
      for (let step = 0; step < 60; step++) {
        for (let k = 0; k < 3; k++)
          logs.append(topic, Math.floor(random() * partitions), 1 + Math.floor(random() * 3))
        const roll = random()
        const m = live[Math.floor(random() * live.length)]
        if (m && roll < 0.05) {
          // A member stops; another starts.
          live.splice(live.indexOf(m), 1)
          await m.consumer.stop()
          await m.run
          startOne()
        } else if (m && roll < 0.1 && m.consumer.memberId) {
          coordinator.expel(m.consumer.memberId)
        } else if (m && roll < 0.3) {
          const owned = m.consumer.assignment()
          const tp = owned[Math.floor(random() * owned.length)]
          if (tp && !m.consumer.paused().some((x) => x.partition === tp.partition)) m.consumer.pause([tp])
        } else if (m && roll < 0.5 && m.consumer.paused().length > 0) {
          m.consumer.resume(m.consumer.paused())
        }
        await new Promise((r) => setTimeout(r, 5))
      }
      for (const m of live) m.consumer.resume(m.consumer.paused())
      const covered = () => {
        for (let p = 0; p < partitions; p++)
          for (let o = 0; o < logs.end(tp(p)); o++) if (!finished.get(p)?.has(o)) return false
        return true
      }
      await until('every record processed', covered, 10_000)
      await until('the commits at the log ends', () => committedAll(coordinator, logs, partitions), 10_000)
      await Promise.all(live.map((m) => m.consumer.stop()))
      await Promise.all(live.map((m) => m.run))
      assert.deepEqual(violations, [])
    })
})
