/**
 * Hosting group coordinators on the leaders of `__consumer_offsets` partitions, against a fake
 * Raft status and a fake partition log that commits when the test says so: the answers while a
 * new leader waits for its own first entry and replays the log (COORDINATOR_LOAD_IN_PROGRESS), on
 * a follower (NOT_COORDINATOR), after a leader change (waiting joins fail NOT_COORDINATOR); every
 * write one acks=all batch; and the snapshot that bounds replay — held writes, marked batches,
 * the log truncated before a complete snapshot and never before an incomplete one.
 */
import assert from 'node:assert/strict'
import { afterEach, describe, it } from 'node:test'
import {
  type DecodedGroupRecord,
  decodeGroupRecords,
  encodeGroupRecordBatch,
  OFFSETS_TOPIC,
  readBatchHeader,
  setBaseOffset,
} from '@cairn/protocol'
import type { Entry, ReplicaStatus } from '@cairn/raft'
import { silentLogger } from '@cairn/transport'
import { type GroupHost, GroupHosting } from '../src/group-hosting.js'
import type { TopicRecord } from '../src/metadata.js'
import type { Partition, ProduceResult } from '../src/partition.js'
import type { RaftHost } from '../src/raft-host.js'

const GROUP_ID = 7 // the Raft group of __consumer_offsets-0

/** Lets every queued promise callback and setImmediate run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve))
}

function header(batch: Uint8Array) {
  const h = readBatchHeader(batch)
  assert.ok(h.ok)
  return h.value
}

/** A partition's log: appends get offsets at once, commit when `commitNext` says (or at once, unless `manual`). */
class FakePartition {
  log: Uint8Array[] = []
  acks: number[] = []
  end = 0
  highWatermark = 0
  logStartOffset = 0
  appliedTerm = 1
  maxMessageBytes = 1_048_588
  manual = false
  fetchGate: Promise<void> | null = null
  truncations: number[] = []
  private pending: (() => void)[] = []

  async fetch(offset: number, _maxBytes: number) {
    if (this.fetchGate) await this.fetchGate
    const batches = this.log.filter((b) => {
      const h = header(b)
      return h.lastOffset >= offset && h.lastOffset < this.highWatermark
    })
    return { batches, highWatermark: this.highWatermark, logStartOffset: this.logStartOffset }
  }

  produce(batch: Uint8Array, acks: number): Promise<ProduceResult> {
    this.acks.push(acks)
    const stamped = batch.slice()
    setBaseOffset(stamped, this.end)
    const h = header(stamped)
    this.end = h.lastOffset + 1
    this.log.push(stamped)
    return new Promise((resolve) => {
      const commit = () => {
        this.highWatermark = Math.max(this.highWatermark, h.lastOffset + 1)
        resolve({ baseOffset: h.baseOffset, lastOffset: h.lastOffset, logStartOffset: this.logStartOffset })
      }
      if (this.manual) this.pending.push(commit)
      else queueMicrotask(commit)
    })
  }

  commitNext(): void {
    this.pending.shift()!()
  }

  async truncateBefore(offset: number): Promise<boolean> {
    this.truncations.push(offset)
    this.logStartOffset = offset
    this.log = this.log.filter((b) => header(b).baseOffset >= offset)
    return true
  }

  /** Every record in the log, in order. */
  records(): DecodedGroupRecord[] {
    return this.log.flatMap((b) => {
      const d = decodeGroupRecords(b)
      assert.ok(d.ok)
      return d.value
    })
  }

  entries(): Entry[] {
    return this.log.map((data, i) => ({ index: i + 1, term: 1, kind: 0, data }))
  }
}

const open: GroupHosting[] = []
afterEach(() => {
  for (const h of open.splice(0)) h.close()
})

function setup(options: { snapshotRecords?: number } = {}) {
  const partition = new FakePartition()
  const status = { role: 'follower' as ReplicaStatus['role'], term: 1, leaderId: 2 }
  const topic: TopicRecord = {
    name: OFFSETS_TOPIC,
    partitions: [{ partition: 0, group: GROUP_ID, replicas: [1, 2, 3] }],
    configs: {},
  }
  let topicExists = true
  const node: GroupHost = {
    host: { status: (g: number) => (g === GROUP_ID ? status : undefined) } as unknown as RaftHost,
    logger: silentLogger,
    partitions: new Map([[GROUP_ID, partition as unknown as Partition]]),
    offsetsTopic: () => (topicExists ? topic : undefined),
  }
  const hosting = new GroupHosting(node, {
    checkIntervalMs: 1_000_000,
    snapshotRecords: options.snapshotRecords ?? 1_000,
    coordinator: { groupInitialRebalanceDelayMs: 0 },
  })
  open.push(hosting)
  const lead = (term: number) => {
    status.role = 'leader'
    status.term = term
    status.leaderId = 1
  }
  return {
    partition,
    status,
    hosting,
    lead,
    dropTopic: () => {
      topicExists = false
    },
  }
}

const commit = (hosting: GroupHosting, offset: number, partition = 0) => {
  const route = hosting.route('g')
  assert.ok(route.ok, route.ok ? '' : route.error)
  return route.coordinator.commitOffsets({
    groupId: 'g',
    generationId: -1,
    memberId: '',
    offsets: [{ topic: 't', partition, offset }],
  })
}

const committed = (hosting: GroupHosting) => {
  const route = hosting.route('g')
  assert.ok(route.ok)
  return route.coordinator.fetchOffsets({ groupId: 'g' }).offsets.map((o) => [o.partition, o.offset])
}

describe('group coordinators on the leaders of __consumer_offsets', () => {
  it('answers by leadership: not available without the topic, NOT_COORDINATOR on a follower, loading until replayed', async () => {
    const { partition, hosting, lead, dropTopic } = setup()
    // What an earlier leader wrote.
    partition.produce(
      encodeGroupRecordBatch(
        [
          {
            type: 'offset',
            group: 'g',
            topic: 't',
            partition: 0,
            offset: 41,
            metadata: '',
            commitTimestamp: 5,
          },
        ],
        { timestamp: 5 },
      ),
      -1,
    )
    await settle()
    assert.deepEqual(hosting.route('g'), { ok: false, error: 'NOT_COORDINATOR', partition: 0 })
    lead(2)
    // Leader, but its own first entry is not applied yet: the high watermark may be behind.
    assert.deepEqual(hosting.route('g'), { ok: false, error: 'COORDINATOR_LOAD_IN_PROGRESS', partition: 0 })
    assert.deepEqual(hosting.status()[0]?.state, 'waiting')
    let release!: () => void
    partition.fetchGate = new Promise((resolve) => {
      release = resolve
    })
    partition.appliedTerm = 2
    assert.deepEqual(hosting.route('g'), { ok: false, error: 'COORDINATOR_LOAD_IN_PROGRESS', partition: 0 })
    assert.deepEqual(hosting.status()[0]?.state, 'loading')
    const { loading } = hosting.serving()
    assert.equal(loading, true)
    release()
    await settle()
    assert.deepEqual(committed(hosting), [[0, 41]])
    assert.deepEqual(hosting.status()[0]?.loadedRecords, 1)
    dropTopic()
    assert.deepEqual(hosting.route('g'), { ok: false, error: 'COORDINATOR_NOT_AVAILABLE', partition: -1 })
  })

  it('writes each commit as one acks=all batch, and closes on a leader change: waiting joins get NOT_COORDINATOR', async () => {
    const { partition, status, hosting, lead } = setup()
    lead(1)
    hosting.route('g')
    await settle()
    await commit(hosting, 10)
    assert.deepEqual(partition.acks, [-1])
    const [written] = partition.records()
    assert.deepEqual(
      { ...written!.record, commitTimestamp: 0 },
      {
        type: 'offset',
        group: 'g',
        topic: 't',
        partition: 0,
        offset: 10,
        metadata: '',
        commitTimestamp: 0,
      },
    )
    assert.equal(written!.timestamp, (written!.record as { commitTimestamp: number }).commitTimestamp)
    const route = hosting.route('members')
    assert.ok(route.ok)
    const join = (memberId: string) =>
      route.coordinator.joinGroup({
        groupId: 'members',
        memberId,
        clientId: 'c',
        clientHost: 'h',
        sessionTimeoutMs: 10_000,
        rebalanceTimeoutMs: 60_000,
        protocolType: 'consumer',
        protocols: [{ name: 'range', metadata: new Uint8Array(0) }],
      })
    const first = await join('')
    assert.equal(first.errorCode, 'MEMBER_ID_REQUIRED')
    const joined = await join(first.memberId)
    assert.equal(joined.errorCode, 'NONE')
    // A second member makes the group rebalance; its join waits for the first to rejoin.
    const second = await join('')
    const waiting = join(second.memberId)
    await settle()
    status.role = 'follower'
    status.leaderId = 2
    assert.deepEqual(hosting.route('members'), { ok: false, error: 'NOT_COORDINATOR', partition: 0 })
    assert.equal((await waiting).errorCode, 'NOT_COORDINATOR')
    // A new term starts a fresh coordinator, rebuilt from the log.
    lead(3)
    partition.appliedTerm = 3
    hosting.route('g')
    await settle()
    assert.deepEqual(committed(hosting), [[0, 10]])
    assert.equal(hosting.status()[0]?.term, 3)
  })

  it('snapshots after N records: holds new writes until those in flight commit, restates the state, then lets them go', async () => {
    const { partition, hosting, lead } = setup({ snapshotRecords: 3 })
    lead(1)
    hosting.route('g')
    await settle()
    for (const offset of [1, 2, 3]) await commit(hosting, offset)
    partition.manual = true
    const fourth = commit(hosting, 4)
    await settle()
    const fifth = commit(hosting, 5, 1) // in flight with the fourth: nothing is due yet
    await settle()
    partition.commitNext() // the fourth: 4 records since the load, more than 3 — a snapshot is due
    await fourth
    await settle()
    const sixth = commit(hosting, 6) // held: a snapshot is due, the fifth is in flight
    await settle()
    assert.equal(partition.log.length, 5, 'the sixth is held back')
    partition.commitNext() // the fifth: nothing in flight now, the snapshot goes, then the sixth
    await fifth
    await settle()
    const kinds = partition.records().map((r) => [r.offset, r.record.type, r.snapshot])
    assert.deepEqual(kinds.slice(5), [
      [5, 'offset', null],
      [6, 'offset', { startOffset: 5, records: 2 }],
      [7, 'offset', null],
    ])
    // The snapshot restates both partitions' latest offsets, before the held sixth.
    const restated = partition.records().slice(5, 7)
    assert.deepEqual(
      restated.map((r) => (r.record.type === 'offset' ? [r.record.partition, r.record.offset] : [])),
      [
        [0, 4],
        [1, 5],
      ],
    )
    partition.commitNext() // snapshot batch
    partition.commitNext() // the sixth
    await sixth
    assert.deepEqual(committed(hosting), [
      [0, 6],
      [1, 5],
    ])

    // Applying the log on a replica: the complete snapshot lets the log before it go.
    hosting.onCommitted(GROUP_ID, partition.entries())
    await settle()
    assert.deepEqual(partition.truncations, [5])
    assert.deepEqual(
      partition.records().map((r) => r.offset),
      [5, 6, 7],
    )
    // A new leader replays only the snapshot and what follows.
    partition.manual = false
    lead(2)
    partition.appliedTerm = 2
    hosting.route('g')
    await settle()
    assert.deepEqual(committed(hosting), [
      [0, 6],
      [1, 5],
    ])
    assert.equal(hosting.status()[0]?.loadedRecords, 3)
  })

  it('never truncates before an incomplete or interrupted snapshot', async () => {
    const { partition, hosting } = setup()
    const offset = (o: number) => ({
      type: 'offset' as const,
      group: 'g',
      topic: 't',
      partition: 0,
      offset: o,
      metadata: '',
      commitTimestamp: 1,
    })
    // Marked as 3 records from offset 0, but only 2 are there (a batch of the snapshot was lost).
    for (const [records, options] of [
      [[offset(1)], { timestamp: 1 }],
      [[offset(2)], { timestamp: 1, snapshot: { startOffset: 0, records: 3 } }],
    ] as const) {
      partition.produce(encodeGroupRecordBatch(records, options), -1)
    }
    await settle()
    hosting.onCommitted(GROUP_ID, partition.entries())
    await settle()
    assert.deepEqual(partition.truncations, [])
  })
})
