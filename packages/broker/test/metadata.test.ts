import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  assignReplicas,
  ClusterMetadata,
  hostsOf,
  type MetadataCommand,
  MetadataError,
  validateConfigs,
  validateTopicName,
} from '../src/metadata.js'

const code = (fn: () => unknown) => {
  try {
    fn()
  } catch (e) {
    return e instanceof MetadataError ? e.code : String(e)
  }
  return 'ok'
}

function cluster(n: number): ClusterMetadata {
  const m = new ClusterMetadata()
  for (let id = 1; id <= n; id++)
    m.apply(id, { type: 'registerBroker', broker: { nodeId: id, host: '127.0.0.1', port: 9090 + id } })
  return m
}

describe('metadata', () => {
  it("checks topic names by Kafka's rules", () => {
    for (const ok of ['orders', 'a.b-c_d', 'x'.repeat(249)])
      assert.equal(
        code(() => validateTopicName(ok)),
        'ok',
        ok,
      )
    for (const bad of ['', '.', '..', 'has space', 'x'.repeat(250), 'ünï', 'a/b']) {
      assert.equal(
        code(() => validateTopicName(bad)),
        'INVALID_TOPIC_EXCEPTION',
        bad,
      )
    }
  })

  it('fills config defaults and refuses unknown or bad values', () => {
    assert.equal(validateConfigs({})['retention.ms'], '604800000')
    assert.equal(validateConfigs({ 'retention.bytes': '1000' })['retention.bytes'], '1000')
    assert.equal(
      code(() => validateConfigs({ 'retention.mss': '1' })),
      'INVALID_CONFIG',
    )
    assert.equal(
      code(() => validateConfigs({ 'min.insync.replicas': '0' })),
      'INVALID_CONFIG',
    )
    assert.equal(
      code(() => validateConfigs({ 'retention.ms': 'soon' })),
      'INVALID_CONFIG',
    )
  })

  it('spreads replicas and preferred leaders evenly, with distinct replicas', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 7 }),
        fc.integer({ min: 1, max: 60 }),
        fc.integer({ min: 0, max: 100 }),
        (n, count, start) => {
          const brokers = Array.from({ length: n }, (_, k) => k + 1)
          const rf = Math.min(3, n)
          const a = assignReplicas(brokers, count, rf, start)
          const leaders = new Map<number, number>()
          for (const replicas of a) {
            assert.equal(new Set(replicas).size, rf)
            leaders.set(replicas[0]!, (leaders.get(replicas[0]!) ?? 0) + 1)
          }
          const counts = brokers.map((b) => leaders.get(b) ?? 0)
          assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `leaders per broker ${counts}`)
        },
      ),
      { seed: 20261125, numRuns: 200 },
    )
    assert.equal(
      code(() => assignReplicas([1, 2], 1, 3, 0)),
      'INVALID_REPLICATION_FACTOR',
    )
  })

  it('applies commands deterministically, with Kafka errors for bad ones', () => {
    const m = cluster(3)
    const created = m.apply(10, {
      type: 'createTopic',
      name: 'orders',
      partitions: assignReplicas([1, 2, 3], 4, 3, 0),
      configs: {},
    })
    assert.deepEqual(created, { ok: true })
    assert.deepEqual(
      m.topics.get('orders')!.partitions.map((p) => p.group),
      [1, 2, 3, 4],
    )
    const again = m.apply(11, { type: 'createTopic', name: 'orders', partitions: [[1]], configs: {} })
    assert.equal(!again.ok && again.code, 'TOPIC_ALREADY_EXISTS')
    assert.equal(
      m.apply(10, { type: 'deleteTopic', name: 'orders' }).ok,
      true,
      're-applying an index returns its result',
    )
    assert.ok(m.topics.has('orders'), 'and changes nothing')
    const unknownBroker = m.apply(12, { type: 'createTopic', name: 't2', partitions: [[9]], configs: {} })
    assert.equal(!unknownBroker.ok && unknownBroker.code, 'INVALID_REPLICA_ASSIGNMENT')
    const zero = m.apply(13, { type: 'createTopic', name: 't3', partitions: [], configs: {} })
    assert.equal(!zero.ok && zero.code, 'INVALID_PARTITIONS')
    assert.equal(m.apply(14, { type: 'createPartitions', name: 'orders', partitions: [[2, 3, 1]] }).ok, true)
    assert.equal(m.topics.get('orders')!.partitions.length, 5)
    assert.equal(m.topics.get('orders')!.partitions[4]!.group, 5, 'group ids are never reused')
    const p1 = m.apply(15, { type: 'allocateProducerId' })
    const p2 = m.apply(16, { type: 'allocateProducerId' })
    assert.ok(p1.ok && p2.ok && p2.producerId! === p1.producerId! + 1n)
    assert.equal(m.apply(17, { type: 'deleteTopic', name: 'orders' }).ok, true)
    assert.equal(m.topics.size, 0)
  })

  it('records reassignment targets, refuses bad ones as Kafka does, and completes them', () => {
    const m = cluster(4)
    let index = 10
    const apply = (c: MetadataCommand) => {
      const r = m.apply(++index, c)
      return r.ok ? 'ok' : r.code
    }
    apply({ type: 'createTopic', name: 't', partitions: [[1, 2, 3]], configs: {} })
    const a = () => m.topics.get('t')!.partitions[0]!
    const reassign = (replicas: number[] | null, name = 't', partition = 0) =>
      apply({ type: 'alterReassignment', name, partition, replicas })
    assert.equal(reassign([1, 2, 4], 'nope'), 'UNKNOWN_TOPIC_OR_PARTITION')
    assert.equal(reassign([1, 2, 4], 't', 1), 'UNKNOWN_TOPIC_OR_PARTITION')
    for (const bad of [[], [1, 1, 2], [1, 2, 9], [1, 2, 3, 4, 5]])
      assert.equal(reassign(bad), 'INVALID_REPLICA_ASSIGNMENT', `[${bad}]`)
    assert.equal(reassign(null), 'NO_REASSIGNMENT_IN_PROGRESS')
    // Only the order changes: the preferred leader, at once, nothing to move.
    assert.equal(reassign([3, 2, 1]), 'ok')
    assert.deepEqual([a().replicas, a().targetReplicas], [[3, 2, 1], undefined])
    assert.equal(reassign([1, 2, 4]), 'ok')
    assert.deepEqual(
      [a().replicas, a().targetReplicas, hostsOf(a())],
      [
        [3, 2, 1],
        [1, 2, 4],
        [1, 2, 4, 3],
      ],
    )
    assert.deepEqual(
      m.reassignments().map((r) => r.assignment.partition),
      [0],
    )
    const complete = (replicas: number[]) =>
      apply({ type: 'completeReassignment', name: 't', partition: 0, replicas })
    assert.equal(complete([1, 2, 3]), 'INVALID_REPLICA_ASSIGNMENT', 'voters that are not the target')
    assert.equal(complete([4, 2, 1]), 'ok')
    assert.deepEqual([a().replicas, a().targetReplicas, m.reassignments().length], [[1, 2, 4], undefined, 0])
    assert.equal(complete([1, 2, 4]), 'NO_REASSIGNMENT_IN_PROGRESS')
    // A cancel sends the target back to the replicas; the leader then undoes what it did.
    assert.equal(reassign([1, 2, 3]), 'ok')
    assert.equal(reassign(null), 'ok')
    assert.deepEqual(a().targetReplicas, [1, 2, 4])
  })

  it('decommissions a node: every replica of it moves to the least-loaded other node, and no new one lands there', () => {
    const m = cluster(4)
    let index = 10
    const apply = (c: MetadataCommand) => {
      const r = m.apply(++index, c)
      return r.ok ? 'ok' : r.code
    }
    const partitions = assignReplicas([1, 2, 3, 4], 8, 3, 0)
    apply({ type: 'createTopic', name: 't', partitions, configs: {} })
    apply({ type: 'createTopic', name: 'single', partitions: [[2]], configs: {} })
    assert.equal(apply({ type: 'decommissionBroker', nodeId: 9 }), 'BROKER_ID_NOT_REGISTERED')
    assert.equal(apply({ type: 'decommissionBroker', nodeId: 2 }), 'ok')
    const all = [...m.topics.values()].flatMap((t) => t.partitions)
    for (const a of all) {
      assert.ok(!(a.targetReplicas ?? a.replicas).includes(2), `target [${a.targetReplicas}]`)
      if (a.replicas.includes(2)) {
        // Node 2's slot is taken by one other node: the rest keep their places (and the preferred leader).
        const k = a.replicas.indexOf(2)
        assert.deepEqual(
          a.targetReplicas!.filter((_, j) => j !== k),
          a.replicas.filter((_, j) => j !== k),
        )
      }
    }
    const load = (id: number) => all.filter((a) => (a.targetReplicas ?? a.replicas).includes(id)).length
    const loads = [1, 3, 4].map(load)
    assert.ok(Math.max(...loads) - Math.min(...loads) <= 1, `balanced: ${loads}`)
    assert.deepEqual(m.placeableBrokers(), [1, 3, 4])
    assert.equal(
      apply({ type: 'createTopic', name: 'new', partitions: [[1, 2, 3]], configs: {} }),
      'INVALID_REPLICA_ASSIGNMENT',
    )
    assert.equal(
      apply({ type: 'alterReassignment', name: 't', partition: 0, replicas: [2, 3, 4] }),
      'INVALID_REPLICA_ASSIGNMENT',
    )
    // Three nodes are left for replication factor 3: one more decommission has nowhere to go.
    assert.equal(apply({ type: 'decommissionBroker', nodeId: 3 }), 'INVALID_REPLICA_ASSIGNMENT')
    assert.equal(apply({ type: 'recommissionBroker', nodeId: 2 }), 'ok')
    assert.deepEqual(m.placeableBrokers(), [1, 2, 3, 4])
    assert.ok(
      all.every((a) => !(a.targetReplicas ?? a.replicas).includes(2)),
      'nothing moves back by itself',
    )
  })
})
