/**
 * Partition reassignment and decommissioning on four nodes in one process (real LevelDB stores,
 * real WebSocket transports): a partition moves from [1,2,3] to [1,2,4] while an acks=all
 * producer keeps writing, and every acknowledged record is then on the new replicas; the leader
 * moves its own replica away; a move survives the close of its partition leader mid-way; bad
 * targets get Kafka's errors; a decommissioned node is emptied and gets no new replicas until it
 * is recommissioned.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  type ApiName,
  type ApiRequest,
  type ApiResponse,
  decodeRecords,
  encodeRecordBatch,
} from '@cairn/protocol'
import { handle } from '../src/api-handlers.js'
import { ControllerChannel } from '../src/controller-channel.js'
import { CairnNode, type NodeOptions, type PeerAddress } from '../src/index.js'
import { hostsOf, type MetadataCommand } from '../src/metadata.js'
import { freePort, waitFor } from './helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'cairn-reassign-'))
const ids = [1, 2, 3, 4]
/** The running node of each id (absent while it is stopped). */
const nodes = new Map<number, CairnNode>()
const options = new Map<number, NodeOptions>()
const channel = new ControllerChannel()
let peers: Map<number, PeerAddress>

const live = () => [...nodes.values()]
const node = (id: number) => nodes.get(id)!
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function startNode(id: number): Promise<void> {
  nodes.set(id, await CairnNode.start(options.get(id)!))
}

async function stopNode(id: number): Promise<void> {
  const n = nodes.get(id)!
  nodes.delete(id)
  await n.close()
}

const controller = () => waitFor('a controller', () => live().find((n) => n.isController()))

/** A metadata command through the controller, retried while the controller moves. */
async function command(c: MetadataCommand): Promise<void> {
  await waitFor(`${c.type} to commit`, async () => {
    try {
      await (await controller()).command(c)
      return true
    } catch (err) {
      if ((err as { code?: string }).code === 'NOT_CONTROLLER') return undefined
      throw err
    }
  })
}

/** A client API request answered by the controller, as a client would send it. */
async function admin<A extends ApiName>(api: A, body: ApiRequest<A>): Promise<ApiResponse<A>> {
  return handle(await controller(), api, body)
}

function leaderOf(topic: string, partition: number): CairnNode | undefined {
  return live().find((n) => {
    const p = n.partition(topic, partition)
    return p !== undefined && n.host.status(p.group)?.role === 'leader'
  })
}

const groupOf = (topic: string, partition = 0) =>
  live()[0]!.metadata.topics.get(topic)!.partitions[partition]!.group

/** Whether node `id` runs a replica of the partition. */
function hosts(id: number, topic: string, partition = 0): boolean {
  const a = node(id).metadata.topics.get(topic)?.partitions[partition]
  return (
    a !== undefined &&
    node(id).host.groupIds().includes(a.group) &&
    node(id).partition(topic, partition) !== undefined
  )
}

function batch(value: string): Uint8Array {
  return encodeRecordBatch({
    records: [{ key: null, value: new TextEncoder().encode(value), timestamp: Date.now() }],
  })
}

/** Every record of one replica up to its high watermark, by offset. */
async function readReplica(n: CairnNode, topic: string, partition: number): Promise<Map<number, string>> {
  const p = n.partition(topic, partition)!
  // A leader just elected serves reads once its high watermark has caught up (OFFSET_NOT_AVAILABLE until then).
  await waitFor(`node ${n.nodeId}'s high watermark to catch up`, () => {
    try {
      p.requireCaughtUp()
      return true
    } catch {
      return undefined
    }
  })
  const out = new Map<number, string>()
  let offset = p.logStartOffset
  while (offset < p.highWatermark) {
    const r = await p.fetch(offset, 1 << 20)
    for (const b of r.batches) {
      const decoded = decodeRecords(b)
      assert.ok(decoded.ok)
      for (const rec of decoded.value.records) {
        out.set(rec.offset, new TextDecoder().decode(rec.value!))
        offset = rec.offset + 1
      }
    }
    if (r.batches.length === 0) break
  }
  return out
}

/**
 * An acks=all producer that writes one record after another to whichever node leads the
 * partition, retrying (after a short pause) whatever fails: `acked` holds each record the
 * partition acknowledged, with its offset.
 */
function produceContinuously(topic: string, partition: number) {
  const acked: { offset: number; value: string }[] = []
  const errors: string[] = []
  let stopping = false
  const run = (async () => {
    for (let k = 0; !stopping; ) {
      const p = leaderOf(topic, partition)?.partition(topic, partition)
      if (!p) {
        await sleep(5)
        continue
      }
      const value = `${topic}-${k}`
      try {
        const r = await p.produce(batch(value), -1)
        acked.push({ offset: r.baseOffset, value })
        k++
      } catch (err) {
        errors.push(`${(err as { code?: string }).code ?? String(err)} after ${acked.length}`)
        await sleep(5)
      }
    }
  })()
  return {
    acked,
    errors,
    stop: async () => {
      stopping = true
      await run
    },
  }
}

/** Every live node knows the partition's reassignment is done, with these replicas. */
async function reassigned(topic: string, partition: number, replicas: number[]): Promise<void> {
  await waitFor(`${topic}-${partition} on [${replicas}]`, () =>
    live().every((n) => {
      const a = n.metadata.topics.get(topic)?.partitions[partition]
      return a && !a.targetReplicas && a.replicas.join() === replicas.join()
    }),
  )
}

async function assertAllOn(replicas: number[], topic: string, acked: { offset: number; value: string }[]) {
  const leader = await waitFor('a leader', () => leaderOf(topic, 0))
  const hw = leader.partition(topic, 0)!.highWatermark
  for (const id of replicas) {
    await waitFor(`node ${id} to catch up`, () => (node(id).partition(topic, 0)?.highWatermark ?? -1) >= hw)
    const records = await readReplica(node(id), topic, 0)
    const missing = acked.filter((a) => records.get(a.offset) !== a.value)
    assert.deepEqual(missing, [], `node ${id} has every acknowledged record at its offset`)
  }
}

before(async () => {
  peers = new Map()
  for (const id of ids)
    peers.set(id, { host: '127.0.0.1', port: await freePort(), raftPort: await freePort() })
  for (const id of ids) {
    options.set(id, {
      nodeId: id,
      dataDir: join(dir, `node-${id}`),
      peers,
      secret: 'reassign-test-secret-0123456789',
      tickMs: 20,
      reassignmentCheckIntervalMs: 50,
    })
    await startNode(id)
  }
  await waitFor('every node registered', () => live().every((n) => n.metadata.brokers.size === 4))
})

after(async () => {
  channel.close()
  for (const n of live()) await n.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('partition reassignment', () => {
  it('moves a partition from [1,2,3] to [1,2,4] while acks=all writes flow, losing none', async (t) => {
    await command({
      type: 'createTopic',
      name: 'move',
      partitions: [[1, 2, 3]],
      configs: { 'min.insync.replicas': '2' },
    })
    await waitFor('every replica in sync', () => {
      const l = leaderOf('move', 0)
      return l && l.host.status(groupOf('move'))!.isr.length === 3
    })
    const producer = produceContinuously('move', 0)
    await waitFor('records before the move', () => producer.acked.length >= 200)
    const before = producer.acked.length
    const r = await admin('alterPartitionReassignments', {
      topics: [{ name: 'move', partitions: [{ partition: 0, replicas: [1, 2, 4] }] }],
    })
    assert.deepEqual(r.topics[0]!.partitions, [{ partition: 0, error: null }])
    await reassigned('move', 0, [1, 2, 4])
    const during = producer.acked.length - before
    await waitFor('records after the move', () => producer.acked.length >= before + during + 200)
    await producer.stop()

    await waitFor('node 3 to close its replica', () => !hosts(3, 'move'))
    assert.ok(hosts(4, 'move'), 'node 4 hosts it')
    const leader = leaderOf('move', 0)!
    const m = leader.host.status(groupOf('move'))!.membership
    assert.deepEqual([[...m.voters].sort(), m.learners], [[1, 2, 4], []])
    assert.equal((await admin('listPartitionReassignments', { topics: null })).topics.length, 0)
    await assertAllOn([1, 2, 4], 'move', producer.acked)
    t.diagnostic(
      `${during} records acknowledged during the move; retried errors: ${producer.errors.join(', ')}`,
    )
    assert.ok(during > 0, 'records were acknowledged while the move ran')
    assert.deepEqual(
      producer.errors.filter((e) => !e.startsWith('NOT_LEADER_OR_FOLLOWER')),
      [],
      'writes only ever wait for a new leader',
    )
  })

  it("moves the leader's own replica away: leadership goes to a replica that stays", async () => {
    await command({ type: 'createTopic', name: 'lead', partitions: [[1, 2, 3]], configs: {} })
    const old = await waitFor('a leader', () => leaderOf('lead', 0))
    const target = [1, 2, 3].map((id) => (id === old.nodeId ? 4 : id))
    const producer = produceContinuously('lead', 0)
    await waitFor('records before the move', () => producer.acked.length >= 100)
    await command({ type: 'alterReassignment', name: 'lead', partition: 0, replicas: target })
    await reassigned('lead', 0, target)
    const count = producer.acked.length
    await waitFor('records after the move', () => producer.acked.length >= count + 100)
    await producer.stop()
    await waitFor(`node ${old.nodeId} to close its replica`, () => !hosts(old.nodeId, 'lead'))
    assert.ok(target.includes(leaderOf('lead', 0)!.nodeId), 'a target replica leads')
    await assertAllOn(target, 'lead', producer.acked)

    // Back to the node that left, as preferred leader: its old log is completed, never trimmed.
    const back = [old.nodeId, ...target.filter((id) => id !== 4)]
    await command({ type: 'alterReassignment', name: 'lead', partition: 0, replicas: back })
    await reassigned('lead', 0, back)
    await waitFor(`node ${old.nodeId} to lead again`, () => {
      const l = leaderOf('lead', 0)
      if (l?.nodeId !== old.nodeId) l?.balanceLeaders()
      return l?.nodeId === old.nodeId
    })
    assert.equal(node(old.nodeId).partition('lead', 0)!.logStartOffset, 0)
    await assertAllOn(back, 'lead', producer.acked)
  })

  it('carries a move on after its partition leader is closed mid-way, and across restarts', async () => {
    await command({ type: 'createTopic', name: 'resume', partitions: [[1, 2, 3]], configs: {} })
    const acked: { offset: number; value: string }[] = []
    for (let k = 0; k < 50; k++) {
      const p = (await waitFor('a leader', () => leaderOf('resume', 0))).partition('resume', 0)!
      acked.push({ offset: (await p.produce(batch(`resume-${k}`), -1)).baseOffset, value: `resume-${k}` })
    }
    // Node 4 is down: its learner cannot catch up, so the move stops half-way.
    await stopNode(4)
    const leaderId = leaderOf('resume', 0)!.nodeId
    const target = [1, 2, 3].map((id) => (id === leaderId ? 4 : id))
    await command({ type: 'alterReassignment', name: 'resume', partition: 0, replicas: target })
    await waitFor('node 4 added as a learner', () =>
      node(leaderId).host.status(groupOf('resume'))?.membership.learners.includes(4),
    )
    const listed = await admin('listPartitionReassignments', {
      topics: [{ name: 'resume', partitions: [0] }],
    })
    assert.deepEqual(listed.topics, [
      {
        name: 'resume',
        partitions: [
          {
            partition: 0,
            replicas: [...target, leaderId],
            addingReplicas: [4],
            removingReplicas: [leaderId],
          },
        ],
      },
    ])
    const described = await admin('metadata', { topics: ['resume'] })
    assert.deepEqual(described.topics[0]!.partitions[0]!.addingReplicas, [4])

    await stopNode(leaderId)
    await startNode(4)
    await reassigned('resume', 0, target)
    await assertAllOn(target, 'resume', acked)

    await startNode(leaderId)
    await waitFor(
      `node ${leaderId} to catch up with the metadata`,
      () => node(leaderId).metadata.topics.get('resume')?.partitions[0]?.replicas.join() === target.join(),
    )
    await sleep(300)
    assert.ok(!hosts(leaderId, 'resume'), `node ${leaderId} does not reopen the replica it left`)
  })

  it("answers bad reassignments with Kafka's errors, over the wire", async () => {
    const c = await controller()
    const address = `127.0.0.1:${peers.get(c.nodeId)!.port}`
    const r = await channel.request(address, 'alterPartitionReassignments', {
      topics: [
        {
          name: 'move',
          partitions: [
            { partition: 0, replicas: [1, 1, 2] },
            { partition: 0, replicas: [] },
            { partition: 0, replicas: [1, 2, 9] },
            { partition: 0, replicas: null },
            { partition: 7, replicas: [1, 2, 3] },
          ],
        },
        { name: 'nope', partitions: [{ partition: 0, replicas: [1, 2, 3] }] },
      ],
    })
    assert.deepEqual(
      r.topics.map((t) => [t.name, t.partitions.map((p) => p.error)]),
      [
        [
          'move',
          [
            'INVALID_REPLICA_ASSIGNMENT',
            'INVALID_REPLICA_ASSIGNMENT',
            'INVALID_REPLICA_ASSIGNMENT',
            'NO_REASSIGNMENT_IN_PROGRESS',
            'UNKNOWN_TOPIC_OR_PARTITION',
          ],
        ],
        ['nope', ['UNKNOWN_TOPIC_OR_PARTITION']],
      ],
    )
    assert.match(r.topics[0]!.partitions[2]!.message!, /node 9 is not registered/)
    const report = await channel.request(address, 'alterPartition', {
      brokerId: 1,
      topics: [{ name: 'move', partitions: [{ partition: 0, leaderEpoch: 1, replicas: [1, 2, 3] }] }],
    })
    assert.equal(report.topics[0]!.partitions[0]!.error, 'NO_REASSIGNMENT_IN_PROGRESS')
    const unknown = await channel.request(address, 'decommissionNode', { nodeId: 9 })
    assert.equal(unknown.error, 'BROKER_ID_NOT_REGISTERED')
    const other = live().find((n) => !n.isController())!
    const refused = await handle(other, 'alterPartitionReassignments', {
      topics: [{ name: 'move', partitions: [{ partition: 0, replicas: [1, 2, 3] }] }],
    })
    assert.equal(refused.topics[0]!.partitions[0]!.error, 'NOT_CONTROLLER')
  })
})

describe('decommissioning', () => {
  it('moves every replica off node 2, places no new one there, until it is recommissioned', async () => {
    const created = await admin('createTopics', {
      topics: [{ name: 'spread', partitions: 4, replicationFactor: 3, configs: {} }],
      validateOnly: false,
    })
    assert.equal(created.topics[0]!.error, null)
    await waitFor('spread to have leaders', () => [0, 1, 2, 3].every((p) => leaderOf('spread', p)))
    const onNode2 = () =>
      [...live()[0]!.metadata.topics.values()].flatMap((t) =>
        t.partitions.filter((a) => hostsOf(a).includes(2)).map((a) => `${t.name}-${a.partition}`),
      )
    assert.ok(onNode2().length > 0)

    assert.deepEqual(await admin('decommissionNode', { nodeId: 2 }), { error: null })
    await waitFor('no replica on node 2 in the metadata', () =>
      live().every((n) => n.metadata.reassignments().length === 0) && onNode2().length === 0
        ? true
        : undefined,
    )
    await waitFor('node 2 to close every partition replica', () =>
      node(2)
        .host.groupIds()
        .every((g) => g === 0),
    )

    const fresh = await admin('createTopics', {
      topics: [
        { name: 'after', partitions: 4, replicationFactor: 3, configs: {} },
        { name: 'too-wide', partitions: 1, replicationFactor: 4, configs: {} },
      ],
      validateOnly: false,
    })
    assert.deepEqual(
      fresh.topics.map((t) => t.error),
      [null, 'INVALID_REPLICATION_FACTOR'],
    )
    assert.deepEqual(onNode2(), [], 'new topics avoid node 2')
    const onto2 = await admin('alterPartitionReassignments', {
      topics: [{ name: 'after', partitions: [{ partition: 0, replicas: [2, 3, 4] }] }],
    })
    assert.equal(onto2.topics[0]!.partitions[0]!.error, 'INVALID_REPLICA_ASSIGNMENT')

    assert.deepEqual(await admin('recommissionNode', { nodeId: 2 }), { error: null })
    assert.deepEqual(onNode2(), [], 'nothing moves back by itself')
    const wide = await admin('createTopics', {
      topics: [{ name: 'wide', partitions: 1, replicationFactor: 4, configs: {} }],
      validateOnly: false,
    })
    assert.equal(wide.topics[0]!.error, null)
    await waitFor('node 2 to host a replica of the new topic', () => hosts(2, 'wide'))
  })
})
