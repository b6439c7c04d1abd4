/**
 * Consumer groups on three nodes in one process (real LevelDB stores, WebSocket transports and
 * client API), spoken to by a bare client over the wire: `__consumer_offsets` created with the
 * cluster and protected; FindCoordinator; Kafka's join (MEMBER_ID_REQUIRED, then join), sync,
 * heartbeat, commit and fetch, with ILLEGAL_GENERATION and UNKNOWN_MEMBER_ID; two members
 * rebalancing while a held join does not hold up the connection; the cap on waiting joins per
 * connection; lag in DescribeGroups and /metrics; offsets of deleted topics dropped; snapshots
 * that bound replay; and the coordinator's node stopped mid-run: the group and its offsets are
 * intact on the new coordinator, and meanwhile requests are answered NOT_COORDINATOR or
 * COORDINATOR_LOAD_IN_PROGRESS, never with a wrong offset.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import {
  type ApiRequest,
  coordinatorPartition,
  decodeGroupRecords,
  encodeRecordBatch,
  OFFSETS_TOPIC,
} from '@cairn/protocol'
import { GROUP_WAITS_IN_FLIGHT_MAX } from '../src/api-server.js'
import { CairnNode, type NodeOptions, type PeerAddress } from '../src/index.js'
import { Client, freePort, waitFor } from './helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'cairn-groups-'))
const ids = [1, 2, 3]
const PARTITIONS = 4
const SNAPSHOT_RECORDS = 100
const nodes = new Map<number, CairnNode>()
const options = new Map<number, NodeOptions>()
const clients = new Map<number, Client>()
let peers: Map<number, PeerAddress>

const client = (id: number) => clients.get(id)!
const live = () => [...nodes.values()]
const metadataOf = () => live()[0]!.metadata

async function startNode(id: number): Promise<void> {
  nodes.set(id, await CairnNode.start(options.get(id)!))
  clients.set(id, await Client.to(peers.get(id)!.port))
}

async function stopNode(id: number): Promise<void> {
  clients.get(id)?.ws.terminate()
  clients.delete(id)
  const n = nodes.get(id)!
  nodes.delete(id)
  await n.close()
}

const controller = async () =>
  client(await waitFor('a controller', () => live().find((n) => n.isController())?.nodeId))

/** The coordinator of a group, as FindCoordinator on any node names it once one is known. */
async function coordinatorOf(groupId: string): Promise<number> {
  return waitFor(`a coordinator for ${groupId}`, async () => {
    for (const id of clients.keys()) {
      const r = await client(id).request('findCoordinator', { key: groupId })
      if (r.error === null && clients.has(r.nodeId)) return r.nodeId
    }
    return undefined
  })
}

/** The coordinator, once it has loaded its partition and answers this group. */
async function readyCoordinator(groupId: string): Promise<Client> {
  return waitFor(`${groupId}'s coordinator to serve`, async () => {
    const id = await coordinatorOf(groupId)
    const r = await client(id).request('offsetFetch', { groupId, topics: [] })
    return r.error === null ? client(id) : undefined
  })
}

/** A group id starting with `prefix` that has the same coordinator partition as `groupId`. */
function neighbour(prefix: string, groupId: string): string {
  const partition = coordinatorPartition(groupId, PARTITIONS)
  for (let k = 0; ; k++)
    if (coordinatorPartition(`${prefix}-${k}`, PARTITIONS) === partition) return `${prefix}-${k}`
}

const joinBody = (groupId: string, memberId: string, extra: Partial<ApiRequest<'joinGroup'>> = {}) => ({
  groupId,
  memberId,
  clientId: 'test',
  sessionTimeoutMs: 30_000,
  rebalanceTimeoutMs: 10_000,
  protocolType: 'consumer',
  protocols: [{ name: 'range', metadata: new TextEncoder().encode(`subscription of ${groupId}`) }],
  ...extra,
})

/** A member through Kafka's two-step join: MEMBER_ID_REQUIRED with an id, then the join itself. */
async function newMember(c: Client, groupId: string, extra: Partial<ApiRequest<'joinGroup'>> = {}) {
  const first = await c.request('joinGroup', joinBody(groupId, '', extra))
  assert.equal(first.error, 'MEMBER_ID_REQUIRED')
  assert.match(first.memberId, /^test-[0-9a-f-]{36}$/)
  return {
    memberId: first.memberId,
    joined: c.request('joinGroup', joinBody(groupId, first.memberId, extra)),
  }
}

const commitBody = (
  groupId: string,
  generationId: number,
  memberId: string,
  topic: string,
  offsets: number[],
) => ({
  groupId,
  generationId,
  memberId,
  topics: [{ name: topic, partitions: offsets.map((offset, partition) => ({ partition, offset })) }],
})

const commitErrors = (r: { topics: { partitions: { error: string | null }[] }[] }) =>
  r.topics.flatMap((t) => t.partitions.map((p) => p.error))

async function committed(c: Client, groupId: string): Promise<[string, number, number][]> {
  const r = await c.request('offsetFetch', { groupId, topics: null })
  assert.equal(r.error, null)
  return r.topics.flatMap((t) =>
    t.partitions.map((p): [string, number, number] => [t.name, p.partition, p.offset]),
  )
}

function leaderOf(topic: string, partition: number): number | undefined {
  return live().find((n) => {
    const p = n.partition(topic, partition)
    return p && n.host.status(p.group)?.role === 'leader'
  })?.nodeId
}

async function produce(topic: string, partition: number, count: number): Promise<void> {
  const id = await waitFor(`a leader of ${topic}-${partition}`, () => leaderOf(topic, partition))
  const records = Array.from({ length: count }, (_, k) => ({
    key: null,
    value: new TextEncoder().encode(`r${k}`),
    timestamp: Date.now(),
  }))
  const r = await client(id).request('produce', {
    acks: -1,
    timeoutMs: 5000,
    topics: [{ name: topic, partitions: [{ partition, records: encodeRecordBatch({ records }) }] }],
  })
  const written = r.topics[0]!.partitions[0]!
  assert.equal(written.error, null)
  // acks=all answers once a quorum has the records; a follower learns they are committed with the
  // leader's next message, so a coordinator on a follower may report the old log end until then.
  const end = written.baseOffset + count
  await waitFor(`every replica of ${topic}-${partition} to know offset ${end} committed`, () =>
    [...nodes.values()].every((n) => (n.partition(topic, partition)?.highWatermark ?? end) >= end),
  )
}

async function createTopic(name: string, partitions: number): Promise<void> {
  const r = await (await controller()).request('createTopics', {
    topics: [{ name, partitions, replicationFactor: 3, configs: {} }],
    validateOnly: false,
  })
  assert.equal(r.topics[0]!.error, null)
  for (let p = 0; p < partitions; p++) await waitFor(`a leader of ${name}-${p}`, () => leaderOf(name, p))
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
      secret: 'groups-test-secret-0123456789',
      tickMs: 20,
      offsetsTopicPartitions: PARTITIONS,
      offsetsSnapshotRecords: SNAPSHOT_RECORDS,
      groupCoordinator: { groupInitialRebalanceDelayMs: 0 },
    })
    await startNode(id)
  }
  await waitFor(`${OFFSETS_TOPIC} to have leaders`, () => {
    const t = metadataOf().topics.get(OFFSETS_TOPIC)
    return t?.partitions.every((a) => leaderOf(OFFSETS_TOPIC, a.partition) !== undefined)
  })
  await createTopic('events', 3)
})

after(async () => {
  for (const id of [...nodes.keys()]) await stopNode(id)
  rmSync(dir, { recursive: true, force: true })
})

describe('consumer groups on a three-node cluster', () => {
  it(`creates ${OFFSETS_TOPIC} with the cluster, and lets clients read it but not write, delete or resize it`, async () => {
    const c = client(1)
    const meta = await c.request('metadata', { topics: [OFFSETS_TOPIC] })
    const topic = meta.topics[0]!
    assert.equal(topic.error, null)
    assert.equal(topic.partitions.length, PARTITIONS)
    for (const p of topic.partitions) assert.equal(p.replicas.length, 3, 'replication factor 3 on 3 nodes')
    const configs = await c.request('describeConfigs', { topics: [OFFSETS_TOPIC] })
    assert.equal(configs.topics[0]!.configs['retention.ms'], '-1')

    const leader = client(leaderOf(OFFSETS_TOPIC, 0)!)
    const records = encodeRecordBatch({ records: [{ key: null, value: null, timestamp: 0 }] })
    const produced = await leader.request('produce', {
      acks: -1,
      timeoutMs: 1000,
      topics: [{ name: OFFSETS_TOPIC, partitions: [{ partition: 0, records }] }],
    })
    assert.equal(produced.topics[0]!.partitions[0]!.error, 'INVALID_TOPIC_EXCEPTION')
    const admin = await controller()
    const deleted = await admin.request('deleteTopics', { topics: [OFFSETS_TOPIC] })
    const created = await admin.request('createTopics', {
      topics: [{ name: OFFSETS_TOPIC, partitions: 1, replicationFactor: 1, configs: {} }],
      validateOnly: true,
    })
    const grown = await admin.request('createPartitions', { topics: [{ name: OFFSETS_TOPIC, count: 8 }] })
    for (const r of [deleted, created, grown]) assert.equal(r.topics[0]!.error, 'INVALID_TOPIC_EXCEPTION')
    const fetched = await leader.request('fetch', {
      maxWaitMs: 0,
      minBytes: 0,
      maxBytes: 1 << 20,
      topics: [
        { name: OFFSETS_TOPIC, partitions: [{ partition: 0, fetchOffset: 0, partitionMaxBytes: 1 << 20 }] },
      ],
    })
    assert.equal(fetched.topics[0]!.partitions[0]!.error, null)
  })

  it('finds the coordinator from any node; the others answer NOT_COORDINATOR', async () => {
    const partition = coordinatorPartition('flow', PARTITIONS)
    const leader = await waitFor('a leader', () => leaderOf(OFFSETS_TOPIC, partition))
    for (const id of ids) {
      const r = await client(id).request('findCoordinator', { key: 'flow' })
      assert.deepEqual(r, {
        error: null,
        nodeId: leader,
        host: '127.0.0.1',
        port: peers.get(leader)!.port,
        partition,
      })
    }
    await readyCoordinator('flow')
    for (const id of ids.filter((id) => id !== leader)) {
      const r = await client(id).request('heartbeat', { groupId: 'flow', generationId: 1, memberId: 'x' })
      assert.equal(r.error, 'NOT_COORDINATOR')
    }
  })

  it('joins, syncs, heartbeats, commits and fetches; refuses a wrong generation or member; reports lag', async () => {
    await produce('events', 0, 10)
    const c = await readyCoordinator('flow')
    const { memberId, joined } = await newMember(c, 'flow')
    const j = await joined
    assert.deepEqual(
      { ...j, members: j.members.map((m) => m.memberId) },
      {
        error: null,
        generationId: 1,
        protocolName: 'range',
        leader: memberId,
        memberId,
        members: [memberId],
      },
    )
    const assignment = new TextEncoder().encode('events-0,1,2')
    const synced = await c.request('syncGroup', {
      groupId: 'flow',
      generationId: 1,
      memberId,
      assignments: [{ memberId, assignment }],
    })
    assert.deepEqual(
      { ...synced, assignment: Uint8Array.from(synced.assignment) },
      { error: null, assignment },
    )
    assert.equal((await c.request('heartbeat', { groupId: 'flow', generationId: 1, memberId })).error, null)

    const ok = await c.request('offsetCommit', commitBody('flow', 1, memberId, 'events', [4, 0]))
    assert.deepEqual(commitErrors(ok), [null, null])
    const stale = await c.request('offsetCommit', commitBody('flow', 2, memberId, 'events', [9]))
    assert.deepEqual(commitErrors(stale), ['ILLEGAL_GENERATION'])
    const stranger = await c.request('offsetCommit', commitBody('flow', 1, 'nobody', 'events', [9]))
    assert.deepEqual(commitErrors(stranger), ['UNKNOWN_MEMBER_ID'])
    const nowhere = await c.request('offsetCommit', commitBody('flow', 1, memberId, 'nope', [1]))
    assert.deepEqual(commitErrors(nowhere), ['UNKNOWN_TOPIC_OR_PARTITION'])
    assert.deepEqual(await committed(c, 'flow'), [
      ['events', 0, 4],
      ['events', 1, 0],
    ])
    const some = await c.request('offsetFetch', {
      groupId: 'flow',
      topics: [{ name: 'events', partitions: [0, 2] }],
    })
    assert.deepEqual(
      some.topics[0]!.partitions.map((p) => [p.partition, p.offset]),
      [
        [0, 4],
        [2, -1],
      ],
    )

    const described = await c.request('describeGroups', { groups: ['flow', 'unknown-group'] })
    const [flow, unknown] = described.groups
    assert.equal(flow!.state, 'Stable')
    assert.equal(flow!.protocol, 'range')
    assert.deepEqual(
      flow!.members.map((m) => [m.memberId, m.clientHost, new TextDecoder().decode(m.assignment)]),
      [[memberId, '127.0.0.1', 'events-0,1,2']],
    )
    assert.deepEqual(flow!.offsets, [
      { topic: 'events', partition: 0, committed: 4, logEndOffset: 10, lag: 6 },
      { topic: 'events', partition: 1, committed: 0, logEndOffset: 0, lag: 0 },
    ])
    assert.equal(unknown!.state, 'Dead')
    const listed = await c.request('listGroups', {})
    assert.ok(
      listed.groups.some(
        (g) => g.groupId === 'flow' && g.state === 'Stable' && g.protocolType === 'consumer',
      ),
    )

    const port = peers.get(await coordinatorOf('flow'))!.port
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
    assert.match(metrics, /^cairn_consumer_group_records_lag_max\{group="flow"\} 6$/m)
    assert.match(metrics, /^cairn_consumer_group_lag\{group="flow",topic="events",partition="0"\} 6$/m)
    assert.match(metrics, /^cairn_consumer_groups\{state="Stable"\} [1-9]/m)
  })

  it('rebalances two members; a held join does not hold up the requests after it on the same connection', async () => {
    const c = await readyCoordinator('pair')
    const a = await newMember(c, 'pair')
    const ja = await a.joined
    const syncA = (generationId: number, assignments: ApiRequest<'syncGroup'>['assignments']) =>
      c.request('syncGroup', { groupId: 'pair', generationId, memberId: a.memberId, assignments })
    assert.equal((await syncA(ja.generationId, [])).error, null)

    const b = await newMember(c, 'pair')
    let bJoined = false
    void b.joined.then(() => {
      bJoined = true
    })
    // B's join waits for A to rejoin; A's heartbeat on the same connection is answered meanwhile.
    const beat = await c.request('heartbeat', {
      groupId: 'pair',
      generationId: ja.generationId,
      memberId: a.memberId,
    })
    assert.equal(beat.error, 'REBALANCE_IN_PROGRESS')
    assert.equal(bJoined, false)
    const [ra, rb] = await Promise.all([c.request('joinGroup', joinBody('pair', a.memberId)), b.joined])
    assert.equal(ra.generationId, ja.generationId + 1)
    assert.equal(rb.generationId, ra.generationId)
    assert.equal(ra.leader, a.memberId)
    assert.deepEqual(ra.members.map((m) => m.memberId).sort(), [a.memberId, b.memberId].sort())
    assert.deepEqual(rb.members, [], 'only the leader gets the members')

    const syncB = c.request('syncGroup', {
      groupId: 'pair',
      generationId: rb.generationId,
      memberId: b.memberId,
      assignments: [],
    })
    const forB = new TextEncoder().encode('events-1')
    const synced = await syncA(ra.generationId, [
      { memberId: a.memberId, assignment: new TextEncoder().encode('events-0') },
      { memberId: b.memberId, assignment: forB },
    ])
    assert.equal(synced.error, null)
    const gotB = await syncB
    assert.deepEqual(
      { ...gotB, assignment: Uint8Array.from(gotB.assignment) },
      { error: null, assignment: forB },
    )
    const old = await c.request(
      'offsetCommit',
      commitBody('pair', ja.generationId, a.memberId, 'events', [1]),
    )
    assert.deepEqual(commitErrors(old), ['ILLEGAL_GENERATION'])

    const left = await c.request('leaveGroup', { groupId: 'pair', memberIds: [a.memberId, 'ghost'] })
    assert.deepEqual(left.members, [
      { memberId: a.memberId, error: null },
      { memberId: 'ghost', error: 'UNKNOWN_MEMBER_ID' },
    ])
    const after = await c.request('heartbeat', {
      groupId: 'pair',
      generationId: rb.generationId,
      memberId: b.memberId,
    })
    assert.equal(after.error, 'REBALANCE_IN_PROGRESS')
  })

  it(`closes a connection with more than ${GROUP_WAITS_IN_FLIGHT_MAX} joins waiting, and serves the others`, async () => {
    const coordinator = await readyCoordinator('crowd')
    const m = await newMember(coordinator, 'crowd', { rebalanceTimeoutMs: 60_000 })
    assert.equal((await m.joined).error, null)
    const port = peers.get(await coordinatorOf('crowd'))!.port
    const crowd = await Client.to(port)
    // Ids first, a few joins at a time: every JoinGroup in flight counts, even one answered at once.
    const ids: string[] = []
    while (ids.length <= GROUP_WAITS_IN_FLIGHT_MAX) {
      const batch = Array.from({ length: 64 }, () => crowd.request('joinGroup', joinBody('crowd', '')))
      for (const r of await Promise.all(batch)) ids.push(r.memberId)
    }
    // Each new member's join waits for the first member, which never rejoins.
    ids.length = GROUP_WAITS_IN_FLIGHT_MAX + 1
    const waits = ids.map((id) =>
      crowd.request('joinGroup', joinBody('crowd', id)).catch((e: { code?: string }) => e.code),
    )
    assert.ok((await Promise.all(waits)).every((code) => code === 'CONNECTION_CLOSED'))
    assert.equal(crowd.closed?.code, 1008)
    assert.match(crowd.closed!.reason, /join and sync requests in flight/)
    const other = await coordinator.request('heartbeat', {
      groupId: 'crowd',
      generationId: 1,
      memberId: m.memberId,
    })
    assert.equal(other.error, 'REBALANCE_IN_PROGRESS')
  })

  it('drops the committed offsets of a deleted topic; deletes empty groups only', async () => {
    await createTopic('doomed', 1)
    const c = await readyCoordinator('cleanup')
    assert.deepEqual(
      commitErrors(await c.request('offsetCommit', commitBody('cleanup', -1, '', 'doomed', [3]))),
      [null],
    )
    assert.deepEqual(
      commitErrors(await c.request('offsetCommit', commitBody('cleanup', -1, '', 'events', [2]))),
      [null],
    )
    const admin = await controller()
    assert.equal((await admin.request('deleteTopics', { topics: ['doomed'] })).topics[0]!.error, null)
    // Once the coordinator's node has the deletion (the metadata log reaches it a moment later).
    await waitFor(
      'the deleted topic to leave the group',
      async () => (await committed(c, 'cleanup')).length === 1,
    )
    assert.deepEqual(await committed(c, 'cleanup'), [['events', 0, 2]])
    // The coordinator forgets them too (delete-offset records), so a topic of the same name starts afresh.
    const id = await coordinatorOf('cleanup')
    await waitFor('the offsets of doomed to be forgotten', () => {
      const route = nodes.get(id)!.groups.route('cleanup')
      return route.ok && route.coordinator.committedOffsets().every((o) => o.topic !== 'doomed')
    })
    await createTopic('doomed', 1)
    const fresh = await c.request('offsetFetch', {
      groupId: 'cleanup',
      topics: [{ name: 'doomed', partitions: [0] }],
    })
    assert.equal(fresh.topics[0]!.partitions[0]!.offset, -1)

    // DeleteGroups: an empty group goes with its offsets; one with members stays.
    const never = neighbour('never-was', 'cleanup')
    const deleted = await c.request('deleteGroups', { groups: ['cleanup', never] })
    assert.deepEqual(deleted.results, [
      { groupId: 'cleanup', error: null },
      { groupId: never, error: 'GROUP_ID_NOT_FOUND' },
    ])
    assert.deepEqual(await committed(c, 'cleanup'), [])
    const busy = await (await readyCoordinator('flow')).request('deleteGroups', { groups: ['flow'] })
    assert.deepEqual(busy.results, [{ groupId: 'flow', error: 'NON_EMPTY_GROUP' }])
  })

  it('snapshots the offsets partition and deletes the log before it, on every replica, so replay stays bounded', async () => {
    const c = await readyCoordinator('busy')
    const partition = coordinatorPartition('busy', PARTITIONS)
    for (let k = 1; k <= 3 * SNAPSHOT_RECORDS + 50; k++) {
      const r = await c.request('offsetCommit', commitBody('busy', -1, '', 'events', [k, k, k]))
      assert.deepEqual(commitErrors(r), [null, null, null])
    }
    const replicas = () => live().map((n) => n.partition(OFFSETS_TOPIC, partition)!)
    await waitFor('every replica to delete the log before a snapshot', () =>
      replicas().every(
        (p) => p.logStartOffset > 0 && p.highWatermark - p.logStartOffset < 2 * SNAPSHOT_RECORDS,
      ),
    )
    // What is left begins with a complete snapshot of the partition's groups.
    const leader = nodes.get(await coordinatorOf('busy'))!.partition(OFFSETS_TOPIC, partition)!
    const read = await leader.fetch(leader.logStartOffset, 1 << 20)
    const records = read.batches.flatMap((b) => {
      const d = decodeGroupRecords(b)
      assert.ok(d.ok)
      return d.value
    })
    const marker = records.find((r) => r.snapshot !== null)!
    assert.equal(marker.snapshot!.startOffset, leader.logStartOffset)
    assert.equal(marker.offset, marker.snapshot!.startOffset + marker.snapshot!.records - 1)
    const status = nodes
      .get(await coordinatorOf('busy'))!
      .groups.status()
      .find((s) => s.partition === partition)!
    assert.ok(status.snapshots >= 2, `${status.snapshots} snapshots`)
  })

  it("keeps a group and its offsets when the coordinator's node stops mid-run; meanwhile answers only retriable errors", async (t) => {
    const partition = coordinatorPartition('busy', PARTITIONS)
    // A group with a member, on the same partition as the busy one.
    const survivor = neighbour('survivor', 'busy')
    const c = await readyCoordinator(survivor)
    const { memberId, joined } = await newMember(c, survivor)
    const generationId = (await joined).generationId
    await c.request('syncGroup', { groupId: survivor, generationId, memberId, assignments: [] })
    assert.deepEqual(
      commitErrors(
        await c.request('offsetCommit', commitBody(survivor, generationId, memberId, 'events', [7])),
      ),
      [null],
    )
    const busyBefore = await committed(c, 'busy')

    const old = await coordinatorOf('busy')
    const answers = new Map<string, number>()
    let polling = true
    const poll = (async () => {
      while (polling) {
        for (const [id, cl] of [...clients]) {
          if (id === old) continue
          const r = await cl.request('offsetFetch', { groupId: 'busy', topics: null })
          if (r.error === null)
            assert.deepEqual(
              r.topics.flatMap((t) => t.partitions.map((p) => [t.name, p.partition, p.offset])),
              busyBefore,
              'a coordinator that answers knows every committed offset',
            )
          answers.set(r.error ?? 'ok', (answers.get(r.error ?? 'ok') ?? 0) + 1)
        }
      }
    })()
    await stopNode(old)
    const now = await coordinatorOf('busy')
    assert.notEqual(now, old)
    const nc = await readyCoordinator('busy')
    polling = false
    await poll
    assert.deepEqual(await committed(nc, 'busy'), busyBefore)
    const unexpected = [...answers.keys()].filter(
      (e) =>
        !['ok', 'NOT_COORDINATOR', 'COORDINATOR_LOAD_IN_PROGRESS', 'COORDINATOR_NOT_AVAILABLE'].includes(e),
    )
    assert.deepEqual(unexpected, [], `answers: ${JSON.stringify([...answers])}`)
    assert.ok((answers.get('NOT_COORDINATOR') ?? 0) > 0)
    t.diagnostic(`answers while the coordinator moved: ${JSON.stringify(Object.fromEntries(answers))}`)

    // The member carries on with the new coordinator: same generation, same offsets.
    assert.equal((await nc.request('heartbeat', { groupId: survivor, generationId, memberId })).error, null)
    assert.deepEqual(await committed(nc, survivor), [['events', 0, 7]])
    // Replay read the snapshot and what followed it, not the whole history.
    const status = nodes
      .get(now)!
      .groups.status()
      .find((s) => s.partition === partition)!
    assert.ok(status.loadedRecords <= 2 * SNAPSHOT_RECORDS, `${status.loadedRecords} records replayed`)

    await startNode(old)
    await waitFor(
      `node ${old} to catch up`,
      () => nodes.get(old)!.partition(OFFSETS_TOPIC, partition) !== undefined,
    )
  })
})
