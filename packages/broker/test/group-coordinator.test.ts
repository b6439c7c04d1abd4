/**
 * The group coordinator in virtual time: a fake scheduler for its timers and a fake offsets log
 * for `persist` (committing at once, or when the test says so). Each scenario of Kafka's classic
 * group protocol is played step by step; a seeded property then drives random clients against one
 * coordinator and checks the invariants after every step, printing a transcript when one breaks.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { ErrorCode } from '@cairn/protocol'
import fc from 'fast-check'
import { pack, unpack } from 'msgpackr'
import {
  type CoordinatorOptions,
  GROUP_ERROR_NAMES,
  GroupCoordinator,
  type GroupErrorName,
  type GroupRecord,
  type JoinGroupRequest,
  type JoinGroupResponse,
  persistError,
  type TimerHandle,
} from '../src/group-coordinator.js'

// ---- Virtual time and a fake log -----------------------------------------------------------

/** Lets every promise callback queued so far run (setImmediate comes after the microtask queue). */
async function settle(): Promise<void> {
  await new Promise((resolve) => setImmediate(resolve))
  await new Promise((resolve) => setImmediate(resolve))
}

class FakeScheduler {
  now = 0
  private seq = 0
  private readonly timers: { due: number; seq: number; fn: () => void }[] = []

  setTimer = (ms: number, fn: () => void): TimerHandle => {
    const timer = { due: this.now + ms, seq: this.seq++, fn }
    this.timers.push(timer)
    return {
      cancel: () => {
        const i = this.timers.indexOf(timer)
        if (i >= 0) this.timers.splice(i, 1)
      },
    }
  }

  get pendingTimers(): number {
    return this.timers.length
  }

  /** Runs the timers due within `ms`, earliest first, letting promise callbacks run after each. */
  async advance(ms: number): Promise<void> {
    const until = this.now + ms
    for (;;) {
      let next: (typeof this.timers)[number] | undefined
      for (const t of this.timers)
        if (t.due <= until && (!next || t.due < next.due || (t.due === next.due && t.seq < next.seq)))
          next = t
      if (!next) break
      this.timers.splice(this.timers.indexOf(next), 1)
      this.now = next.due
      next.fn()
      await settle()
    }
    this.now = until
    await settle()
  }
}

/** The `__consumer_offsets` partition: records go through msgpack, as they would into the log. */
class FakeLog {
  readonly committed: GroupRecord[] = []
  readonly queue: { records: GroupRecord[]; resolve: () => void; reject: (e: unknown) => void }[] = []
  constructor(readonly auto: boolean) {}

  persist = (records: GroupRecord[]): Promise<void> => {
    const stored = unpack(pack(records)) as GroupRecord[]
    if (this.auto) {
      this.committed.push(...stored)
      return Promise.resolve()
    }
    return new Promise((resolve, reject) => this.queue.push({ records: stored, resolve, reject }))
  }

  commitNext(): void {
    const write = this.queue.shift()!
    this.committed.push(...write.records)
    write.resolve()
  }

  failNext(code = 'NOT_LEADER_OR_FOLLOWER'): void {
    this.queue.shift()!.reject(Object.assign(new Error(code), { code }))
  }
}

function setup(options: Partial<CoordinatorOptions> = {}, auto = true) {
  const clock = new FakeScheduler()
  const log = new FakeLog(auto)
  let ids = 0
  const delayMs = options.groupInitialRebalanceDelayMs ?? 3_000
  const c = new GroupCoordinator({
    now: () => clock.now,
    setTimer: clock.setTimer,
    persist: log.persist,
    generateMemberId: (clientId) => `${clientId}-${++ids}`,
    ...options,
    groupInitialRebalanceDelayMs: delayMs,
  })
  return { c, clock, log, delayMs }
}
type Env = ReturnType<typeof setup>

/** A coordinator rebuilt from records, as a new leader of the offsets partition would. */
function rebuilt(records: GroupRecord[]) {
  const clock = new FakeScheduler()
  const c = new GroupCoordinator({
    now: () => clock.now,
    setTimer: clock.setTimer,
    persist: new FakeLog(true).persist,
  })
  for (const r of unpack(pack(records)) as GroupRecord[]) c.load(r)
  return { c, clock }
}

// ---- Requests --------------------------------------------------------------------------------

const bytes = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)

/** Values with Uint8Array (or Buffer) as hex strings, so that deepEqual compares content only. */
function plain(x: unknown): unknown {
  if (x instanceof Uint8Array) return `0x${Buffer.from(x).toString('hex')}`
  if (Array.isArray(x)) return x.map(plain)
  if (x !== null && typeof x === 'object')
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, plain(v)]))
  return x
}

function joinReq(over: Partial<JoinGroupRequest> = {}): JoinGroupRequest {
  return {
    groupId: 'g',
    memberId: '',
    clientId: 'c',
    clientHost: '/10.0.0.1',
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 30_000,
    protocolType: 'consumer',
    protocols: [{ name: 'range', metadata: bytes('topics:t') }],
    ...over,
  }
}

const protocols = (...names: string[]) => names.map((name) => ({ name, metadata: bytes(`${name}:t`) }))

/** The two-step join of a new member: MEMBER_ID_REQUIRED, then the join with the id it got. */
async function join(c: GroupCoordinator, over: Partial<JoinGroupRequest> = {}) {
  const first = await c.joinGroup(joinReq(over))
  assert.equal(first.errorCode, 'MEMBER_ID_REQUIRED')
  return {
    memberId: first.memberId,
    joined: track(c.joinGroup(joinReq({ ...over, memberId: first.memberId }))),
  }
}

/** A promise whose outcome a synchronous assertion can look at. */
function track<T>(promise: Promise<T>) {
  const t = { done: false, value: undefined as T | undefined, promise }
  promise.then((v) => {
    t.done = true
    t.value = v
  })
  return t
}

function assignAll(leader: JoinGroupResponse) {
  return leader.members.map((m) => ({
    memberId: m.memberId,
    assignment: bytes(`${m.memberId}@${leader.generationId}`),
  }))
}

/** Members join during the initial delay, the leader assigns, everyone syncs: a Stable group. */
async function formGroup(env: Env, clientIds: string[], over: Partial<JoinGroupRequest> = {}) {
  const { c, clock } = env
  const groupId = over.groupId ?? 'g'
  const joins = []
  for (const clientId of clientIds) joins.push((await join(c, { clientId, ...over })).joined)
  // Every member that arrived during the delay buys another one.
  for (let k = 0; k < clientIds.length && !joins.every((j) => j.done); k++) await clock.advance(env.delayMs)
  const joined = await Promise.all(joins.map((j) => j.promise))
  const leader = joined.find((r) => r.leader === r.memberId)!
  const synced = await Promise.all(
    joined.map((r) =>
      c.syncGroup({
        groupId,
        generationId: r.generationId,
        memberId: r.memberId,
        assignments: r === leader ? assignAll(r) : [],
      }),
    ),
  )
  for (const s of synced) assert.equal(s.errorCode, 'NONE')
  assert.equal(c.describeGroup(groupId).state, 'Stable')
  return { ids: joined.map((r) => r.memberId), generation: leader.generationId, leader: leader.memberId }
}

const hb = (c: GroupCoordinator, memberId: string, generationId: number, groupId = 'g') =>
  c.heartbeat({ groupId, generationId, memberId }).errorCode

const commit = (c: GroupCoordinator, memberId: string, generationId: number, offset: number, groupId = 'g') =>
  c.commitOffsets({ groupId, generationId, memberId, offsets: [{ topic: 't', partition: 0, offset }] })

const fetched = (c: GroupCoordinator, groupId = 'g', partition = 0) =>
  c.fetchOffsets({ groupId, partitions: [{ topic: 't', partition }] }).offsets[0]!.offset

// ---- Scenarios -------------------------------------------------------------------------------

describe('JoinGroup', () => {
  it('answers a first join MEMBER_ID_REQUIRED with a new id; the rejoin completes at once without an initial delay', async () => {
    const { c } = setup({ groupInitialRebalanceDelayMs: 0 })
    const first = await c.joinGroup(joinReq({ clientId: 'app' }))
    assert.deepEqual(first, {
      errorCode: 'MEMBER_ID_REQUIRED',
      generationId: -1,
      protocolName: null,
      leader: '',
      memberId: 'app-1',
      members: [],
    })
    assert.equal(c.describeGroup('g').state, 'Empty', 'a handed-out id is not a member yet')
    const joined = await c.joinGroup(joinReq({ clientId: 'app', memberId: 'app-1' }))
    assert.deepEqual(plain(joined), {
      errorCode: 'NONE',
      generationId: 1,
      protocolName: 'range',
      leader: 'app-1',
      memberId: 'app-1',
      members: [{ memberId: 'app-1', metadata: plain(bytes('topics:t')) }],
    })
    assert.equal(c.describeGroup('g').state, 'CompletingRebalance')
  })

  it("keeps its own copies of a member's metadata and assignment: a decoded request's bytes are views", async () => {
    const { c } = setup({ groupInitialRebalanceDelayMs: 0 })
    // Both arrive as views into the request they came in, which the server lets go of.
    const request = bytes('..topics:t..range-assignment..')
    const metadata = request.subarray(2, 10)
    const assignment = request.subarray(12, 28)
    const first = await c.joinGroup(joinReq({ clientId: 'app' }))
    const joined = await c.joinGroup(
      joinReq({ clientId: 'app', memberId: first.memberId, protocols: [{ name: 'range', metadata }] }),
    )
    const synced = c.syncGroup({
      groupId: 'g',
      generationId: joined.generationId,
      memberId: joined.memberId,
      assignments: [{ memberId: joined.memberId, assignment }],
    })
    request.fill(0) // the request's buffer, reused or overwritten once it is handled
    assert.equal(text((await synced).assignment), 'range-assignment')
    const [member] = c.describeGroup('g').members
    assert.deepEqual([text(member!.subscription), text(member!.assignment)], ['topics:t', 'range-assignment'])
  })

  it('generates clientId-UUID member ids by default', async () => {
    const clock = new FakeScheduler()
    const c = new GroupCoordinator({ now: () => 0, setTimer: clock.setTimer, persist: async () => {} })
    const first = await c.joinGroup(joinReq({ clientId: 'app' }))
    assert.match(first.memberId, /^app-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/)
    c.close()
  })

  it('waits the initial rebalance delay for more members, and again while they keep arriving', async () => {
    const { c, clock } = setup({ groupInitialRebalanceDelayMs: 3_000 })
    const a = await join(c, { clientId: 'a', rebalanceTimeoutMs: 10_000 })
    assert.equal(c.describeGroup('g').state, 'PreparingRebalance')
    await clock.advance(2_000)
    const b = await join(c, { clientId: 'b', rebalanceTimeoutMs: 10_000 })
    await clock.advance(999)
    assert.equal(a.joined.done, false, 't=2999')
    await clock.advance(1)
    assert.equal(a.joined.done, false, 't=3000: b arrived during the delay, so it starts again')
    await clock.advance(2_999)
    assert.equal(a.joined.done || b.joined.done, false, 't=5999')
    await clock.advance(1)
    assert.equal(a.joined.value?.generationId, 1, 't=6000')
    assert.deepEqual(
      a.joined.value?.members.map((m) => m.memberId),
      ['a-1', 'b-2'],
    )
    assert.deepEqual(b.joined.value?.members, [], 'a follower gets no member list')
    assert.equal(b.joined.value?.leader, 'a-1')
  })

  it('bounds the initial delay by the rebalance timeout however many members keep arriving', async () => {
    const { c, clock } = setup({ groupInitialRebalanceDelayMs: 3_000 })
    const first = await join(c, { clientId: 'm', rebalanceTimeoutMs: 10_000 })
    for (const at of [2_500, 5_000, 7_500, 9_500]) {
      await clock.advance(at - clock.now)
      await join(c, { clientId: 'm', rebalanceTimeoutMs: 10_000 })
    }
    await clock.advance(9_999 - clock.now)
    assert.equal(first.joined.done, false, 't=9999')
    await clock.advance(1)
    assert.equal(first.joined.value?.members.length, 5, 't=10000: the rebalance timeout of the first member')
  })

  it('rebalances a Stable group when a member joins: heartbeats say REBALANCE_IN_PROGRESS, the join ends once all rejoined', async () => {
    const env = setup()
    const { c } = env
    const {
      ids: [a, b],
      generation,
    } = await formGroup(env, ['a', 'b'])
    const cc = await join(c, { clientId: 'c' })
    assert.equal(c.describeGroup('g').state, 'PreparingRebalance')
    assert.equal(hb(c, a!, generation), 'REBALANCE_IN_PROGRESS')
    const sync = await c.syncGroup({ groupId: 'g', generationId: generation, memberId: b!, assignments: [] })
    assert.equal(sync.errorCode, 'REBALANCE_IN_PROGRESS')
    const ra = track(c.joinGroup(joinReq({ clientId: 'a', memberId: a! })))
    await settle()
    assert.equal(ra.done, false, 'b has not rejoined yet')
    const rb = await c.joinGroup(joinReq({ clientId: 'b', memberId: b! }))
    await settle()
    assert.equal(rb.generationId, 2)
    assert.equal(ra.value?.leader, a, 'the previous leader leads again')
    assert.deepEqual(
      ra.value?.members.map((m) => m.memberId),
      [a, b, cc.memberId],
    )
    assert.deepEqual(rb.members, [])
    assert.deepEqual(cc.joined.value?.members, [])
  })

  it('ends the join phase at the rebalance timeout without the members that did not rejoin', async () => {
    const env = setup()
    const { c, clock } = env
    const {
      ids: [a, b],
      generation,
    } = await formGroup(env, ['a', 'b'])
    assert.equal(c.describeGroup('g').members[0]?.memberId, a)
    const cc = await join(c, { clientId: 'c' })
    const rb = track(c.joinGroup(joinReq({ clientId: 'b', memberId: b! })))
    // a, the leader, keeps heartbeating but never rejoins.
    for (let k = 0; k < 5; k++) {
      await clock.advance(5_000)
      assert.equal(hb(c, a!, generation), 'REBALANCE_IN_PROGRESS')
    }
    await clock.advance(4_999)
    assert.equal(rb.done, false, 'just before the rebalance timeout (30 s)')
    await clock.advance(1)
    assert.equal(rb.value?.generationId, 2)
    assert.equal(rb.value?.leader, b, 'the leader did not rejoin: the first remaining member leads')
    assert.deepEqual(
      rb.value?.members.map((m) => m.memberId),
      [b, cc.memberId],
    )
    assert.equal(hb(c, a!, generation), 'UNKNOWN_MEMBER_ID')
  })

  it('selects a protocol every member supports, the one most members prefer, ties to the leader', async () => {
    const env = setup()
    const { c, clock } = env
    const a = await join(c, { clientId: 'a', protocols: protocols('range', 'roundrobin') })
    const b = await join(c, { clientId: 'b', protocols: protocols('roundrobin', 'range') })
    await clock.advance(6_000)
    assert.equal(a.joined.value?.protocolName, 'range', 'one vote each: the leader prefers range')
    assert.equal(b.joined.value?.protocolName, 'range')

    const env2 = setup()
    const x = await join(env2.c, { clientId: 'x', protocols: protocols('range', 'roundrobin', 'sticky') })
    await join(env2.c, { clientId: 'y', protocols: protocols('roundrobin', 'sticky') })
    await join(env2.c, { clientId: 'z', protocols: protocols('sticky', 'roundrobin') })
    await env2.clock.advance(6_000)
    assert.equal(x.joined.value?.protocolName, 'roundrobin', 'range is not common; roundrobin has two votes')
    assert.deepEqual(
      plain(x.joined.value?.members.map((m) => text(m.metadata))),
      ['roundrobin:t', 'roundrobin:t', 'roundrobin:t'],
      'the leader gets each member’s metadata for the selected protocol',
    )
  })

  it('refuses INCONSISTENT_GROUP_PROTOCOL: no common protocol, another protocol type, none at all', async () => {
    const env = setup()
    const { c } = env
    await formGroup(env, ['a'], { protocols: protocols('range', 'roundrobin') })
    const tryJoin = async (over: Partial<JoinGroupRequest>) => (await c.joinGroup(joinReq(over))).errorCode
    assert.equal(await tryJoin({ protocols: protocols('sticky') }), 'INCONSISTENT_GROUP_PROTOCOL')
    assert.equal(await tryJoin({ protocolType: 'connect' }), 'INCONSISTENT_GROUP_PROTOCOL')
    assert.equal(await tryJoin({ groupId: 'other', protocols: [] }), 'INCONSISTENT_GROUP_PROTOCOL')
    assert.equal(await tryJoin({ groupId: 'other', protocolType: '' }), 'INCONSISTENT_GROUP_PROTOCOL')
    assert.equal(await tryJoin({ protocols: protocols('sticky', 'roundrobin') }), 'MEMBER_ID_REQUIRED')
  })

  it('answers a follower that rejoins unchanged with the current generation; a leader that rejoins rebalances', async () => {
    const env = setup()
    const { c } = env
    const {
      ids: [a, b],
      generation,
    } = await formGroup(env, ['a', 'b'])
    const again = await c.joinGroup(joinReq({ clientId: 'b', memberId: b! }))
    assert.equal(again.errorCode, 'NONE')
    assert.equal(again.generationId, generation)
    assert.equal(c.describeGroup('g').state, 'Stable')
    const leader = track(c.joinGroup(joinReq({ clientId: 'a', memberId: a! })))
    assert.equal(c.describeGroup('g').state, 'PreparingRebalance')
    await c.joinGroup(joinReq({ clientId: 'b', memberId: b! }))
    await settle()
    assert.equal(leader.value?.generationId, generation + 1)
  })

  it('answers a join that a retry of it replaced REBALANCE_IN_PROGRESS', async () => {
    const { c, clock } = setup()
    const a = await join(c, { clientId: 'a' })
    const retry = track(c.joinGroup(joinReq({ clientId: 'a', memberId: a.memberId })))
    await settle()
    assert.equal(a.joined.value?.errorCode, 'REBALANCE_IN_PROGRESS')
    await clock.advance(3_000)
    assert.equal(retry.value?.generationId, 1)
  })

  it('answers a rejoin with a known member id UNKNOWN_MEMBER_ID when the group or the member is unknown', async () => {
    const { c } = setup()
    assert.equal((await c.joinGroup(joinReq({ memberId: 'ghost' }))).errorCode, 'UNKNOWN_MEMBER_ID')
    await c.joinGroup(joinReq())
    assert.equal((await c.joinGroup(joinReq({ memberId: 'ghost' }))).errorCode, 'UNKNOWN_MEMBER_ID')
  })
})

describe('SyncGroup', () => {
  it('makes followers wait for the leader, and answers once the group record is committed', async () => {
    const env = setup({}, false)
    const { c, clock, log } = env
    const a = await join(c, { clientId: 'a' })
    const b = await join(c, { clientId: 'b' })
    await clock.advance(6_000)
    const leader = a.joined.value!
    const follower = track(
      c.syncGroup({ groupId: 'g', generationId: 1, memberId: b.memberId, assignments: [] }),
    )
    await settle()
    assert.equal(follower.done, false, 'the leader has not assigned yet')
    const own = track(
      c.syncGroup({ groupId: 'g', generationId: 1, memberId: a.memberId, assignments: assignAll(leader) }),
    )
    await settle()
    assert.equal(own.done || follower.done, false, 'not before the record is committed')
    assert.equal(log.queue.length, 1)
    assert.deepEqual(plain(log.queue[0]!.records), [
      {
        type: 'group',
        group: 'g',
        generation: 1,
        protocolType: 'consumer',
        protocol: 'range',
        leader: 'a-1',
        members: ['a-1', 'b-2'].map((memberId) => ({
          memberId,
          clientId: memberId[0],
          clientHost: '/10.0.0.1',
          sessionTimeoutMs: 10_000,
          rebalanceTimeoutMs: 30_000,
          subscription: plain(bytes('topics:t')),
          assignment: plain(bytes(`${memberId}@1`)),
        })),
      },
    ])
    assert.equal(c.describeGroup('g').state, 'CompletingRebalance')
    log.commitNext()
    await settle()
    assert.deepEqual(plain(own.value), { errorCode: 'NONE', assignment: plain(bytes('a-1@1')) })
    assert.deepEqual(plain(follower.value), { errorCode: 'NONE', assignment: plain(bytes('b-2@1')) })
    const described = c.describeGroup('g')
    assert.equal(described.state, 'Stable')
    assert.equal(described.protocol, 'range')
    assert.deepEqual(
      described.members.map((m) => [m.memberId, text(m.assignment), text(m.subscription)]),
      [
        ['a-1', 'a-1@1', 'topics:t'],
        ['b-2', 'b-2@1', 'topics:t'],
      ],
    )
  })

  it('fails every waiting sync when the record cannot be written, and rebalances', async () => {
    const { c, clock, log } = setup({}, false)
    const a = await join(c, { clientId: 'a' })
    const b = await join(c, { clientId: 'b' })
    await clock.advance(6_000)
    const follower = track(
      c.syncGroup({ groupId: 'g', generationId: 1, memberId: b.memberId, assignments: [] }),
    )
    const own = track(
      c.syncGroup({
        groupId: 'g',
        generationId: 1,
        memberId: a.memberId,
        assignments: assignAll(a.joined.value!),
      }),
    )
    log.failNext('NOT_LEADER_OR_FOLLOWER')
    await settle()
    assert.equal(own.value?.errorCode, 'NOT_COORDINATOR')
    assert.equal(follower.value?.errorCode, 'NOT_COORDINATOR')
    assert.equal(c.describeGroup('g').state, 'PreparingRebalance')
    assert.equal(log.committed.length, 0)
  })

  it('answers UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS; an unassigned member gets empty bytes', async () => {
    const env = setup()
    const { c, clock } = env
    const sync = async (memberId: string, generationId: number, groupId = 'g') =>
      (await c.syncGroup({ groupId, generationId, memberId, assignments: [] })).errorCode
    assert.equal(await sync('a-1', 0, 'nowhere'), 'UNKNOWN_MEMBER_ID', 'unknown group')
    const a = await join(c, { clientId: 'a' })
    assert.equal(await sync(a.memberId, 0), 'REBALANCE_IN_PROGRESS', 'during the initial delay')
    const b = await join(c, { clientId: 'b' })
    await clock.advance(6_000)
    assert.equal(await sync('ghost', 1), 'UNKNOWN_MEMBER_ID')
    assert.equal(await sync(b.memberId, 7), 'ILLEGAL_GENERATION')
    // The leader assigns to itself only.
    const own = await c.syncGroup({
      groupId: 'g',
      generationId: 1,
      memberId: a.memberId,
      assignments: [{ memberId: a.memberId, assignment: bytes('all') }],
    })
    assert.equal(text(own.assignment), 'all')
    const follower = await c.syncGroup({
      groupId: 'g',
      generationId: 1,
      memberId: b.memberId,
      assignments: [],
    })
    assert.deepEqual(follower, { errorCode: 'NONE', assignment: new Uint8Array(0) })
    const again = await c.syncGroup({ groupId: 'g', generationId: 1, memberId: a.memberId, assignments: [] })
    assert.equal(text(again.assignment), 'all', 'a sync in Stable returns the current assignment')
  })

  it('writes a generation’s assignment once, however often the leader retries its SyncGroup', async () => {
    const { c, clock, log } = setup({}, false)
    const a = await join(c, { clientId: 'a' })
    await clock.advance(3_000)
    const req = {
      groupId: 'g',
      generationId: 1,
      memberId: a.memberId,
      assignments: assignAll(a.joined.value!),
    }
    const first = track(c.syncGroup(req))
    const retry = track(
      c.syncGroup({ ...req, assignments: [{ memberId: a.memberId, assignment: bytes('other') }] }),
    )
    await settle()
    assert.equal(first.value?.errorCode, 'REBALANCE_IN_PROGRESS', 'the abandoned request is answered')
    assert.equal(log.queue.length, 1)
    log.commitNext()
    await settle()
    assert.equal(text(retry.value!.assignment), 'a-1@1', 'the assignment written is the one handed out')
  })

  it('removes a leader that never syncs after the rebalance timeout; waiting followers are told to rejoin', async () => {
    const { c, clock } = setup()
    const a = await join(c, { clientId: 'a' })
    const b = await join(c, { clientId: 'b' })
    await clock.advance(6_000)
    const follower = track(
      c.syncGroup({ groupId: 'g', generationId: 1, memberId: b.memberId, assignments: [] }),
    )
    for (let k = 0; k < 5; k++) {
      await clock.advance(5_000)
      assert.equal(hb(c, a.memberId, 1), 'NONE', 'heartbeats alone do not save a member that never syncs')
    }
    await clock.advance(4_999)
    assert.equal(follower.done, false)
    await clock.advance(1)
    assert.equal(follower.value?.errorCode, 'REBALANCE_IN_PROGRESS')
    assert.equal(hb(c, a.memberId, 1), 'UNKNOWN_MEMBER_ID')
    const rejoined = await c.joinGroup(joinReq({ clientId: 'b', memberId: b.memberId }))
    assert.equal(rejoined.generationId, 2)
    assert.equal(rejoined.leader, b.memberId)
  })
})

describe('Heartbeat and sessions', () => {
  it('keeps a member that heartbeats; one that stops expires after its session timeout and the rest rebalance', async () => {
    const env = setup()
    const { c, clock } = env
    const {
      ids: [a, b],
      generation,
    } = await formGroup(env, ['a', 'b'])
    await clock.advance(6_000)
    assert.equal(hb(c, a!, generation), 'NONE')
    assert.equal(hb(c, b!, generation), 'NONE')
    await clock.advance(6_000)
    assert.equal(hb(c, a!, generation), 'NONE')
    await clock.advance(3_999)
    assert.equal(c.describeGroup('g').members.length, 2, "b's session has 1 ms left")
    await clock.advance(1)
    assert.equal(c.describeGroup('g').state, 'PreparingRebalance')
    assert.deepEqual(
      c.describeGroup('g').members.map((m) => m.memberId),
      [a],
    )
    assert.equal(hb(c, a!, generation), 'REBALANCE_IN_PROGRESS')
    assert.equal(hb(c, b!, generation), 'UNKNOWN_MEMBER_ID')
    const rejoined = await c.joinGroup(joinReq({ clientId: 'a', memberId: a! }))
    assert.equal(rejoined.generationId, generation + 1)
  })

  it('answers UNKNOWN_MEMBER_ID and ILLEGAL_GENERATION, and NONE while the group completes its rebalance', async () => {
    const { c, clock } = setup()
    assert.equal(hb(c, 'a-1', 0, 'nowhere'), 'UNKNOWN_MEMBER_ID', 'unknown group')
    const a = await join(c, { clientId: 'a' })
    await clock.advance(3_000)
    assert.equal(c.describeGroup('g').state, 'CompletingRebalance')
    assert.equal(hb(c, a.memberId, 1), 'NONE')
    assert.equal(hb(c, 'ghost', 1), 'UNKNOWN_MEMBER_ID')
    assert.equal(hb(c, a.memberId, 0), 'ILLEGAL_GENERATION')
  })

  it('does not expire a member waiting for the join phase, but does a new one after the new-member join timeout', async () => {
    const env = setup({ newMemberJoinTimeoutMs: 50_000 })
    const { c, clock } = env
    const {
      ids: [a, b],
      generation,
    } = await formGroup(env, ['a', 'b'], { rebalanceTimeoutMs: 100_000 })
    const cc = await join(c, { clientId: 'c', rebalanceTimeoutMs: 100_000 })
    const ra = track(c.joinGroup(joinReq({ clientId: 'a', memberId: a!, rebalanceTimeoutMs: 100_000 })))
    // b heartbeats without rejoining; a waits without heartbeating, far beyond its 10 s session.
    for (let k = 0; k < 9; k++) {
      await clock.advance(5_000)
      assert.equal(hb(c, b!, generation), 'REBALANCE_IN_PROGRESS')
    }
    await clock.advance(4_999)
    assert.equal(cc.joined.done, false)
    await clock.advance(1)
    assert.equal(cc.joined.value?.errorCode, 'UNKNOWN_MEMBER_ID', 'the new member expired at 50 s')
    assert.equal(ra.done, false)
    for (let k = 0; k < 10; k++) {
      assert.equal(hb(c, b!, generation), 'REBALANCE_IN_PROGRESS')
      await clock.advance(5_000)
    }
    assert.equal(ra.value?.errorCode, 'NONE', 'the join phase ended at the rebalance timeout (100 s)')
    assert.deepEqual(
      ra.value?.members.map((m) => m.memberId),
      [a],
    )
  })

  it('forgets a handed-out member id after its session timeout, and with it a group that holds nothing', async () => {
    const { c, clock } = setup()
    const first = await c.joinGroup(joinReq({ clientId: 'a' }))
    assert.deepEqual(
      c.listGroups().map((g) => g.groupId),
      ['g'],
    )
    await clock.advance(10_000)
    assert.equal((await c.joinGroup(joinReq({ memberId: first.memberId }))).errorCode, 'UNKNOWN_MEMBER_ID')
    assert.deepEqual(c.listGroups(), [])
    assert.equal(clock.pendingTimers, 0)
  })
})

describe('LeaveGroup', () => {
  it('makes the rest rebalance; the last to leave empties the group, and that is stored', async () => {
    const env = setup()
    const { c, log } = env
    const {
      ids: [a, b],
    } = await formGroup(env, ['a', 'b'])
    assert.deepEqual(await c.leaveGroup({ groupId: 'g', memberIds: [b!] }), {
      errorCode: 'NONE',
      members: [{ memberId: b, errorCode: 'NONE' }],
    })
    assert.equal(c.describeGroup('g').state, 'PreparingRebalance')
    const rejoined = await c.joinGroup(joinReq({ clientId: 'a', memberId: a! }))
    assert.equal(rejoined.generationId, 2)
    await c.syncGroup({ groupId: 'g', generationId: 2, memberId: a!, assignments: assignAll(rejoined) })
    assert.equal(c.describeGroup('g').state, 'Stable')
    await c.leaveGroup({ groupId: 'g', memberIds: [a!] })
    assert.equal(c.describeGroup('g').state, 'Empty')
    assert.deepEqual(log.committed.at(-1), {
      type: 'group',
      group: 'g',
      generation: 3,
      protocolType: 'consumer',
      protocol: null,
      leader: null,
      members: [],
    })
  })

  it('answers UNKNOWN_MEMBER_ID per member it does not know; a waiting join of a member that leaves fails', async () => {
    const env = setup()
    const { c } = env
    assert.deepEqual(await c.leaveGroup({ groupId: 'nowhere', memberIds: ['x'] }), {
      errorCode: 'NONE',
      members: [{ memberId: 'x', errorCode: 'UNKNOWN_MEMBER_ID' }],
    })
    const {
      ids: [a],
    } = await formGroup(env, ['a', 'b'])
    const waiting = track(c.joinGroup(joinReq({ clientId: 'a', memberId: a! })))
    const left = await c.leaveGroup({ groupId: 'g', memberIds: ['ghost', a!] })
    assert.deepEqual(left.members, [
      { memberId: 'ghost', errorCode: 'UNKNOWN_MEMBER_ID' },
      { memberId: a, errorCode: 'NONE' },
    ])
    await settle()
    assert.equal(waiting.value?.errorCode, 'UNKNOWN_MEMBER_ID')
  })

  it('lets a member that was handed an id leave: the join phase stops waiting for it', async () => {
    const env = setup()
    const { c } = env
    const {
      ids: [a],
    } = await formGroup(env, ['a'])
    const handed = await c.joinGroup(joinReq({ clientId: 'b' }))
    const rejoin = track(c.joinGroup(joinReq({ clientId: 'a', memberId: a! })))
    await settle()
    assert.equal(rejoin.done, false, 'a rebalance waits for a handed-out id to join')
    // (The rebalance was started by a, the leader, rejoining.)
    await c.leaveGroup({ groupId: 'g', memberIds: [handed.memberId] })
    await settle()
    assert.equal(rejoin.value?.generationId, 2)
  })
})

describe('OffsetCommit and OffsetFetch', () => {
  it('takes a member’s commits in Stable and PreparingRebalance, not in CompletingRebalance', async () => {
    const env = setup()
    const { c } = env
    const {
      ids: [a, b],
      generation,
    } = await formGroup(env, ['a', 'b'])
    assert.deepEqual(await commit(c, a!, generation, 10), [{ topic: 't', partition: 0, errorCode: 'NONE' }])
    assert.equal(fetched(c), 10)
    await join(c, { clientId: 'c' })
    assert.equal(c.describeGroup('g').state, 'PreparingRebalance')
    assert.equal((await commit(c, a!, generation, 11))[0]?.errorCode, 'NONE')
    const ra = track(c.joinGroup(joinReq({ clientId: 'a', memberId: a! })))
    await c.joinGroup(joinReq({ clientId: 'b', memberId: b! }))
    await ra.promise
    assert.equal(c.describeGroup('g').state, 'CompletingRebalance')
    assert.equal((await commit(c, a!, generation + 1, 12))[0]?.errorCode, 'REBALANCE_IN_PROGRESS')
    assert.equal((await commit(c, a!, generation, 12))[0]?.errorCode, 'ILLEGAL_GENERATION')
    assert.equal(fetched(c), 11)
  })

  it('checks member and generation: UNKNOWN_MEMBER_ID, ILLEGAL_GENERATION', async () => {
    const env = setup()
    const { c } = env
    const {
      ids: [a],
      generation,
    } = await formGroup(env, ['a'])
    assert.equal((await commit(c, 'ghost', generation, 1))[0]?.errorCode, 'UNKNOWN_MEMBER_ID')
    assert.equal((await commit(c, a!, generation + 1, 1))[0]?.errorCode, 'ILLEGAL_GENERATION')
    assert.equal((await commit(c, a!, -1, 1))[0]?.errorCode, 'ILLEGAL_GENERATION')
    assert.equal(
      (await commit(c, 'ghost', 3, 1, 'nowhere'))[0]?.errorCode,
      'ILLEGAL_GENERATION',
      'unknown group',
    )
    assert.equal((await commit(c, 'ghost', -1, 1, 'nowhere'))[0]?.errorCode, 'UNKNOWN_MEMBER_ID')
    assert.equal(fetched(c), -1)
  })

  it('takes standalone commits for an unknown group (creating it Empty) or an Empty one, not a group with members', async () => {
    const env = setup()
    const { c } = env
    assert.equal((await commit(c, '', -1, 5, 'solo'))[0]?.errorCode, 'NONE')
    assert.deepEqual(c.describeGroup('solo'), {
      errorCode: 'NONE',
      groupId: 'solo',
      state: 'Empty',
      protocolType: '',
      protocol: '',
      members: [],
    })
    assert.equal((await commit(c, '', -1, 6, 'solo'))[0]?.errorCode, 'NONE')
    assert.equal(fetched(c, 'solo'), 6)
    await formGroup(env, ['a'])
    assert.equal((await commit(c, '', -1, 1))[0]?.errorCode, 'ILLEGAL_GENERATION', 'the group has members')
  })

  it('shows a commit only once its record is committed; a failed write changes nothing', async () => {
    const { c, log } = setup({}, false)
    const first = track(commit(c, '', -1, 42))
    await settle()
    assert.equal(first.done, false)
    assert.equal(fetched(c), -1, 'not visible before the log has it')
    log.commitNext()
    await settle()
    assert.equal(first.value?.[0]?.errorCode, 'NONE')
    assert.equal(fetched(c), 42)
    const second = track(commit(c, '', -1, 50))
    log.failNext('NOT_LEADER_OR_FOLLOWER')
    await settle()
    assert.equal(second.value?.[0]?.errorCode, 'NOT_COORDINATOR')
    assert.equal(fetched(c), 42)
    const third = track(commit(c, '', -1, 1, 'fresh'))
    log.failNext('NOT_ENOUGH_REPLICAS')
    await settle()
    assert.equal(third.value?.[0]?.errorCode, 'COORDINATOR_NOT_AVAILABLE')
    assert.deepEqual(
      c.listGroups().map((g) => g.groupId),
      ['g'],
      'a group created by a commit that failed is forgotten',
    )
  })

  it('fetches -1 for partitions never committed, every partition when none are named', async () => {
    const { c } = setup()
    assert.deepEqual(c.fetchOffsets({ groupId: 'nowhere' }), { errorCode: 'NONE', offsets: [] })
    await c.commitOffsets({
      groupId: 'g',
      generationId: -1,
      memberId: '',
      offsets: [
        { topic: 'u', partition: 1, offset: 7, metadata: 'm' },
        { topic: 't', partition: 3, offset: 9 },
      ],
    })
    assert.deepEqual(c.fetchOffsets({ groupId: 'g', partitions: [{ topic: 't', partition: 0 }] }), {
      errorCode: 'NONE',
      offsets: [{ topic: 't', partition: 0, offset: -1, metadata: '' }],
    })
    assert.deepEqual(c.fetchOffsets({ groupId: 'g' }).offsets, [
      { topic: 't', partition: 3, offset: 9, metadata: '' },
      { topic: 'u', partition: 1, offset: 7, metadata: 'm' },
    ])
    assert.deepEqual(c.committedOffsets(), [
      { group: 'g', topic: 't', partition: 3, offset: 9, commitTimestamp: 0 },
      { group: 'g', topic: 'u', partition: 1, offset: 7, commitTimestamp: 0 },
    ])
  })

  it('answers per partition: a bad entry does not stop the good ones', async () => {
    const { c } = setup({ offsetMetadataBytesMax: 8 })
    const result = await c.commitOffsets({
      groupId: 'g',
      generationId: -1,
      memberId: '',
      offsets: [
        { topic: 't', partition: 0, offset: 1, metadata: 'x'.repeat(9) },
        { topic: 't', partition: 1, offset: 1, metadata: 'é'.repeat(5) },
        { topic: 'bad topic', partition: 2, offset: 1 },
        { topic: 't', partition: -1, offset: 1 },
        { topic: 't', partition: 4, offset: -5 },
        { topic: 't', partition: 5, offset: 1.5 },
        { topic: 't', partition: 6, offset: 3, metadata: 'ok' },
      ],
    })
    assert.deepEqual(
      result.map((r) => r.errorCode),
      [
        'OFFSET_METADATA_TOO_LARGE',
        'OFFSET_METADATA_TOO_LARGE',
        'INVALID_TOPIC_EXCEPTION',
        'INVALID_REQUEST',
        'INVALID_REQUEST',
        'INVALID_REQUEST',
        'NONE',
      ],
    )
    assert.deepEqual(c.fetchOffsets({ groupId: 'g' }).offsets, [
      { topic: 't', partition: 6, offset: 3, metadata: 'ok' },
    ])
  })

  it('deletes offsets of an Empty group only', async () => {
    const env = setup()
    const { c, log } = env
    await commit(c, '', -1, 5)
    assert.deepEqual(await c.deleteOffsets({ groupId: 'g', partitions: [{ topic: 't', partition: 0 }] }), {
      errorCode: 'NONE',
      partitions: [{ topic: 't', partition: 0, errorCode: 'NONE' }],
    })
    assert.deepEqual(log.committed.at(-1), { type: 'delete-offset', group: 'g', topic: 't', partition: 0 })
    assert.equal(fetched(c), -1)
    assert.equal((await c.deleteOffsets({ groupId: 'g', partitions: [] })).errorCode, 'GROUP_ID_NOT_FOUND')
    await formGroup(env, ['a'])
    assert.equal((await c.deleteOffsets({ groupId: 'g', partitions: [] })).errorCode, 'NON_EMPTY_GROUP')
  })

  it('forgets the offsets of deleted topics in every group, members or not, as delete-offset records', async () => {
    const env = setup()
    const { c, log } = env
    const g = await formGroup(env, ['a'])
    await c.commitOffsets({
      groupId: 'g',
      generationId: g.generation,
      memberId: g.ids[0]!,
      offsets: [
        { topic: 't', partition: 0, offset: 3 },
        { topic: 'kept', partition: 0, offset: 4 },
      ],
    })
    await commit(c, '', -1, 9, 'solo')
    await c.forgetTopics(['t', 'never-committed'])
    assert.deepEqual(
      log.committed.filter((r) => r.type === 'delete-offset'),
      [
        { type: 'delete-offset', group: 'g', topic: 't', partition: 0 },
        { type: 'delete-offset', group: 'solo', topic: 't', partition: 0 },
      ],
    )
    assert.deepEqual(
      c.committedOffsets().map((o) => [o.group, o.topic, o.offset]),
      [['g', 'kept', 4]],
    )
    assert.equal(c.describeGroup('g').state, 'Stable', 'the members stay')
  })
})

describe('DeleteGroups, DescribeGroups, ListGroups', () => {
  it('deletes an Empty group with its offsets; not one with members, nor an unknown one', async () => {
    const env = setup({}, false)
    const { c, log } = env
    const first = track(commit(c, '', -1, 5, 'old'))
    log.commitNext()
    await settle()
    assert.equal(first.value?.[0]?.errorCode, 'NONE')
    const deleting = track(c.deleteGroup('old'))
    assert.equal(c.describeGroup('old').state, 'Dead', 'until the record is committed')
    assert.equal((await c.joinGroup(joinReq({ groupId: 'old' }))).errorCode, 'COORDINATOR_NOT_AVAILABLE')
    assert.equal((await commit(c, '', -1, 6, 'old'))[0]?.errorCode, 'COORDINATOR_NOT_AVAILABLE')
    const second = track(c.deleteGroup('old'))
    log.commitNext()
    await settle()
    assert.equal(deleting.value, 'NONE')
    assert.equal(second.value, 'GROUP_ID_NOT_FOUND')
    assert.deepEqual(log.committed.at(-1), { type: 'delete-group', group: 'old' })
    assert.equal(fetched(c, 'old'), -1)
    assert.deepEqual(c.describeGroup('old'), {
      errorCode: 'NONE',
      groupId: 'old',
      state: 'Dead',
      protocolType: '',
      protocol: '',
      members: [],
    })
    assert.equal(await c.deleteGroup('old'), 'GROUP_ID_NOT_FOUND')
    assert.deepEqual(c.listGroups(), [])
  })

  it('refuses NON_EMPTY_GROUP, and keeps the group when the delete cannot be written', async () => {
    const env = setup({}, false)
    const { c, clock, log } = env
    await c.joinGroup(joinReq({ groupInstanceId: null }))
    const joined = track(c.joinGroup(joinReq({ memberId: 'c-1' })))
    assert.equal(await c.deleteGroup('g'), 'NON_EMPTY_GROUP')
    await c.leaveGroup({ groupId: 'g', memberIds: ['c-1'] })
    assert.equal(joined.value?.errorCode, 'UNKNOWN_MEMBER_ID')
    assert.equal(
      c.describeGroup('g').state,
      'PreparingRebalance',
      'as in Kafka, the initial delay runs out first',
    )
    await clock.advance(3_000)
    assert.equal(c.describeGroup('g').state, 'Empty')
    log.commitNext()
    const deleting = track(c.deleteGroup('g'))
    log.failNext('NOT_LEADER_OR_FOLLOWER')
    await settle()
    assert.equal(deleting.value, 'NOT_COORDINATOR')
    assert.equal(c.describeGroup('g').state, 'Empty')
  })

  it('lists groups by id with their protocol type and state', async () => {
    const env = setup()
    const { c } = env
    await formGroup(env, ['a'], { groupId: 'b-group' })
    await commit(c, '', -1, 1, 'a-group')
    await join(c, { groupId: 'c-group', protocolType: 'connect' })
    assert.deepEqual(c.listGroups(), [
      { groupId: 'a-group', protocolType: '', state: 'Empty' },
      { groupId: 'b-group', protocolType: 'consumer', state: 'Stable' },
      { groupId: 'c-group', protocolType: 'connect', state: 'PreparingRebalance' },
    ])
    const described = c.describeGroup('c-group')
    assert.deepEqual(
      plain(described.members),
      [{ memberId: 'c-2', clientId: 'c', clientHost: '/10.0.0.1', assignment: '0x', subscription: '0x' }],
      'no metadata outside Stable',
    )
  })
})

describe('validation and limits', () => {
  const bad = <T>(x: unknown) => x as T

  it('refuses malformed requests with INVALID_REQUEST, an empty group id with INVALID_GROUP_ID', async () => {
    const { c, log } = setup()
    const joinCases: [Partial<Record<keyof JoinGroupRequest, unknown>>, GroupErrorName][] = [
      [{ groupId: '' }, 'INVALID_GROUP_ID'],
      [{ groupId: 'x'.repeat(1_025) }, 'INVALID_GROUP_ID'],
      [{ groupId: 5 }, 'INVALID_REQUEST'],
      [{ memberId: null }, 'INVALID_REQUEST'],
      [{ groupInstanceId: 'static-1' }, 'INVALID_REQUEST'],
      [{ clientId: 7 }, 'INVALID_REQUEST'],
      [{ clientHost: undefined }, 'INVALID_REQUEST'],
      [{ sessionTimeoutMs: '10000' }, 'INVALID_REQUEST'],
      [{ sessionTimeoutMs: 10_000.5 }, 'INVALID_REQUEST'],
      [{ sessionTimeoutMs: 5_999 }, 'INVALID_SESSION_TIMEOUT'],
      [{ sessionTimeoutMs: 1_800_001 }, 'INVALID_SESSION_TIMEOUT'],
      [{ rebalanceTimeoutMs: -1 }, 'INVALID_REQUEST'],
      [{ protocolType: null }, 'INVALID_REQUEST'],
      [{ protocols: 'range' }, 'INVALID_REQUEST'],
      [{ protocols: [{ name: 'range', metadata: 'topics' }] }, 'INVALID_REQUEST'],
      [{ protocols: [{ name: '', metadata: bytes('') }] }, 'INVALID_REQUEST'],
      [{ protocols: [...protocols('range'), ...protocols('range')] }, 'INVALID_REQUEST'],
      [{ protocols: protocols(...Array.from({ length: 33 }, (_, k) => `p${k}`)) }, 'INVALID_REQUEST'],
    ]
    for (const [over, expected] of joinCases) {
      const r = await c.joinGroup(bad({ ...joinReq(), ...over }))
      assert.equal(r.errorCode, expected, JSON.stringify(over).slice(0, 80))
      assert.equal(r.generationId, -1)
    }
    assert.equal((await c.joinGroup(bad(null))).errorCode, 'INVALID_REQUEST')

    const sync = (x: unknown) => c.syncGroup(bad(x))
    const syncReq = { groupId: 'g', generationId: 1, memberId: 'm', assignments: [] }
    assert.equal((await sync({ ...syncReq, groupId: '' })).errorCode, 'INVALID_GROUP_ID')
    assert.equal((await sync({ ...syncReq, generationId: 1.5 })).errorCode, 'INVALID_REQUEST')
    assert.equal((await sync({ ...syncReq, assignments: null })).errorCode, 'INVALID_REQUEST')
    const twice = [
      { memberId: 'm', assignment: bytes('') },
      { memberId: 'm', assignment: bytes('') },
    ]
    assert.equal((await sync({ ...syncReq, assignments: twice })).errorCode, 'INVALID_REQUEST')
    assert.equal(
      (await sync({ ...syncReq, assignments: [{ memberId: 'm', assignment: [1] }] })).errorCode,
      'INVALID_REQUEST',
    )

    const heartbeat = (x: unknown) => c.heartbeat(bad(x)).errorCode
    assert.equal(heartbeat({ groupId: 'g', generationId: Number.NaN, memberId: 'm' }), 'INVALID_REQUEST')
    assert.equal(heartbeat({ groupId: 'g', generationId: 1, memberId: null }), 'INVALID_REQUEST')
    assert.equal(heartbeat({ groupId: '', generationId: 1, memberId: 'm' }), 'INVALID_GROUP_ID')
    assert.equal(heartbeat(undefined), 'INVALID_REQUEST')

    assert.equal((await c.leaveGroup(bad({ groupId: 'g', memberIds: 'm' }))).errorCode, 'INVALID_REQUEST')
    assert.equal((await c.leaveGroup(bad({ groupId: 'g', memberIds: [3] }))).errorCode, 'INVALID_REQUEST')
    assert.equal((await c.leaveGroup(bad({ groupId: '', memberIds: [] }))).errorCode, 'INVALID_GROUP_ID')

    const commitReq = {
      groupId: 'g',
      generationId: -1,
      memberId: '',
      offsets: [{ topic: 't', partition: 0, offset: 1 }],
    }
    const commitErrors = async (x: unknown) => (await c.commitOffsets(bad(x))).map((r) => r.errorCode)
    assert.deepEqual(await commitErrors({ ...commitReq, generationId: 'x' }), ['INVALID_REQUEST'])
    assert.deepEqual(await commitErrors({ ...commitReq, memberId: 0 }), ['INVALID_REQUEST'])
    assert.deepEqual(await commitErrors({ ...commitReq, groupId: '' }), ['INVALID_GROUP_ID'])
    assert.deepEqual(await commitErrors({ ...commitReq, offsets: [{ topic: 7, partition: 0, offset: 1 }] }), [
      'INVALID_REQUEST',
    ])
    assert.deepEqual(
      await commitErrors({ ...commitReq, offsets: [{ topic: 't', partition: 0, offset: 1, metadata: 3 }] }),
      ['INVALID_REQUEST'],
    )
    assert.deepEqual(await commitErrors({ ...commitReq, offsets: null }), [])

    const fetchError = (x: unknown) => c.fetchOffsets(bad(x)).errorCode
    assert.equal(fetchError({ groupId: 'g', partitions: [{ topic: 't', partition: -1 }] }), 'INVALID_REQUEST')
    assert.equal(fetchError({ groupId: 'g', partitions: {} }), 'INVALID_REQUEST')
    assert.equal(fetchError({ groupId: '' }), 'INVALID_GROUP_ID')
    assert.equal(c.describeGroup('').errorCode, 'INVALID_GROUP_ID')
    assert.equal(c.describeGroup(bad(null)).errorCode, 'INVALID_REQUEST')
    assert.equal(await c.deleteGroup(''), 'INVALID_GROUP_ID')
    assert.equal(
      (await c.deleteOffsets(bad({ groupId: 'g', partitions: null }))).errorCode,
      'INVALID_REQUEST',
    )

    assert.deepEqual(c.listGroups(), [], 'nothing was created')
    assert.deepEqual(log.committed, [], 'nothing was written')
  })

  it('caps members per group (handed-out ids count) with GROUP_MAX_SIZE_REACHED', async () => {
    const { c } = setup({ membersPerGroupMax: 2 })
    const a = await join(c, { clientId: 'a' })
    await c.joinGroup(joinReq({ clientId: 'b' }))
    assert.equal((await c.joinGroup(joinReq({ clientId: 'c' }))).errorCode, 'GROUP_MAX_SIZE_REACHED')
    const b = track(c.joinGroup(joinReq({ clientId: 'b', memberId: 'b-2' })))
    await settle()
    assert.equal(b.done, false, 'b, counted when handed its id, joins and waits for the rebalance')
    assert.equal(a.joined.done, false)
    assert.equal((await c.joinGroup(joinReq({ clientId: 'c' }))).errorCode, 'GROUP_MAX_SIZE_REACHED')
  })

  it('caps the groups of a coordinator', async () => {
    const { c } = setup({ groupsMax: 1 })
    await c.joinGroup(joinReq({ groupId: 'one' }))
    assert.equal((await c.joinGroup(joinReq({ groupId: 'two' }))).errorCode, 'COORDINATOR_NOT_AVAILABLE')
    assert.equal((await commit(c, '', -1, 1, 'two'))[0]?.errorCode, 'COORDINATOR_NOT_AVAILABLE')
    assert.equal((await c.joinGroup(joinReq({ groupId: 'one' }))).errorCode, 'MEMBER_ID_REQUIRED')
  })

  it('refuses options out of range', () => {
    const base = { now: () => 0, setTimer: new FakeScheduler().setTimer, persist: async () => {} }
    assert.throws(() => new GroupCoordinator({ ...base, groupsMax: -1 }), RangeError)
    assert.throws(
      () => new GroupCoordinator({ ...base, sessionTimeoutMsMin: 10, sessionTimeoutMsMax: 5 }),
      RangeError,
    )
  })

  it('maps failed writes as Kafka’s coordinator does, and uses Kafka’s codes', () => {
    const err = (code: string) => Object.assign(new Error(code), { code })
    assert.equal(persistError(err('NOT_LEADER_OR_FOLLOWER'), 'offsets'), 'NOT_COORDINATOR')
    assert.equal(persistError(err('NOT_COORDINATOR'), 'sync'), 'NOT_COORDINATOR')
    assert.equal(persistError(err('NOT_ENOUGH_REPLICAS'), 'sync'), 'COORDINATOR_NOT_AVAILABLE')
    assert.equal(persistError(err('REQUEST_TIMED_OUT'), 'sync'), 'REBALANCE_IN_PROGRESS')
    assert.equal(persistError(err('REQUEST_TIMED_OUT'), 'offsets'), 'REQUEST_TIMED_OUT')
    assert.equal(persistError(err('MESSAGE_TOO_LARGE'), 'offsets'), 'INVALID_COMMIT_OFFSET_SIZE')
    assert.equal(persistError(new Error('disk on fire'), 'offsets'), 'UNKNOWN_SERVER_ERROR')
    for (const name of GROUP_ERROR_NAMES)
      assert.ok(ErrorCode[name], `${name} is in @cairn/protocol's ErrorCode`)
    assert.equal(ErrorCode.GROUP_MAX_SIZE_REACHED.code, 81)
  })
})

describe('load and snapshot', () => {
  async function history() {
    const env = setup()
    const { c } = env
    const g = await formGroup(env, ['a', 'b'])
    for (const offset of [5, 7]) await commit(c, g.ids[0]!, g.generation, offset)
    await c.commitOffsets({
      groupId: 'g',
      generationId: g.generation,
      memberId: g.ids[1]!,
      offsets: [{ topic: 't', partition: 1, offset: 3, metadata: 'b was here' }],
    })
    await commit(c, '', -1, 11, 'solo')
    const k = await formGroup(env, ['x'], { groupId: 'k', protocolType: 'connect' })
    await c.leaveGroup({ groupId: 'k', memberIds: k.ids })
    await commit(c, '', -1, 1, 'doomed')
    assert.equal(await c.deleteGroup('doomed'), 'NONE')
    await c.joinGroup(joinReq({ groupId: 'pending' }))
    return { ...env, g }
  }

  it('rebuilds the same offsets and groups from the whole log or from the snapshot, which keeps only the latest', async () => {
    const { c, log } = await history()
    const snapshot = c.snapshot()
    assert.deepEqual(
      snapshot.map(
        (r) => `${r.type} ${r.group}${r.type === 'offset' ? ` ${r.topic}-${r.partition}=${r.offset}` : ''}`,
      ),
      ['group g', 'offset g t-0=7', 'offset g t-1=3', 'group k', 'offset solo t-0=11'],
    )
    const fromLog = rebuilt(log.committed).c
    const fromSnapshot = rebuilt(snapshot).c
    assert.deepEqual(plain(fromLog.snapshot()), plain(snapshot))
    assert.deepEqual(plain(fromSnapshot.snapshot()), plain(snapshot))
    for (const groupId of ['g', 'k', 'solo', 'doomed']) {
      for (const other of [fromLog, fromSnapshot]) {
        assert.deepEqual(plain(other.describeGroup(groupId)), plain(c.describeGroup(groupId)), groupId)
        assert.deepEqual(other.fetchOffsets({ groupId }), c.fetchOffsets({ groupId }), groupId)
      }
    }
    assert.equal(fromLog.describeGroup('pending').state, 'Dead', 'a group only in memory is not in the log')
    assert.deepEqual(fromSnapshot.listGroups(), [
      { groupId: 'g', protocolType: 'consumer', state: 'Stable' },
      { groupId: 'k', protocolType: 'connect', state: 'Empty' },
      { groupId: 'solo', protocolType: '', state: 'Empty' },
    ])
    assert.deepEqual(fromSnapshot.committedOffsets(), fromLog.committedOffsets())
    assert.equal(
      fromSnapshot.fetchOffsets({ groupId: 'g', partitions: [{ topic: 't', partition: 1 }] }).offsets[0]
        ?.metadata,
      'b was here',
    )
  })

  it('brings members back with fresh session timers: they keep heartbeating, one that stops expires', async () => {
    const { c, log, g } = await history()
    c.close()
    const { c: next, clock } = rebuilt(log.committed)
    const [a, b] = g.ids as [string, string]
    await clock.advance(9_000)
    assert.equal(hb(next, a, g.generation), 'NONE')
    assert.equal((await commit(next, a, g.generation, 8))[0]?.errorCode, 'NONE', 'members may commit at once')
    await clock.advance(1_000)
    assert.equal(next.describeGroup('g').state, 'PreparingRebalance', 'b sent nothing for a session timeout')
    assert.equal(hb(next, a, g.generation), 'REBALANCE_IN_PROGRESS')
    assert.equal(hb(next, b, g.generation), 'UNKNOWN_MEMBER_ID')
  })

  it('keeps the last committed group record, not a rebalance in progress', async () => {
    const env = setup({}, false)
    const { c, clock, log } = env
    const a = await join(c, { clientId: 'a' })
    await clock.advance(3_000)
    const synced = track(
      c.syncGroup({
        groupId: 'g',
        generationId: 1,
        memberId: a.memberId,
        assignments: assignAll(a.joined.value!),
      }),
    )
    log.commitNext()
    await settle()
    assert.equal(synced.value?.errorCode, 'NONE')
    await join(c, { clientId: 'b' })
    assert.equal(c.describeGroup('g').state, 'PreparingRebalance')
    const records = c.snapshot()
    assert.equal(records.length, 1)
    assert.deepEqual(records[0]?.type === 'group' && records[0].members.map((m) => m.memberId), [a.memberId])
  })

  it('refuses records that are not well-formed', () => {
    const { c } = rebuilt([])
    const bad = (x: unknown) => () => c.load(x as GroupRecord)
    assert.throws(
      bad({
        type: 'offset',
        group: 'g',
        topic: 't',
        partition: 0,
        offset: -1,
        metadata: '',
        commitTimestamp: 0,
      }),
    )
    assert.throws(
      bad({
        type: 'group',
        group: 'g',
        generation: 1,
        protocolType: 'consumer',
        protocol: null,
        leader: 'x',
        members: [],
      }),
    )
    assert.throws(bad({ type: 'compaction', group: 'g' }))
    assert.throws(bad(null))
  })
})

describe('close', () => {
  it('answers waiting joins and syncs NOT_COORDINATOR, stops every timer, refuses what follows', async () => {
    const { c, clock, log } = setup({ groupInitialRebalanceDelayMs: 0 }, false)
    const a = await join(c, { clientId: 'a' })
    assert.equal((await a.joined.promise).generationId, 1)
    const sync = track(c.syncGroup({ groupId: 'g', generationId: 1, memberId: a.memberId, assignments: [] }))
    const b = await join(c, { groupId: 'h', clientId: 'b' })
    await b.joined.promise
    const waiting = await join(c, { groupId: 'h', clientId: 'c' })
    const committing = track(commit(c, '', -1, 1, 'solo'))
    c.close()
    await settle()
    assert.equal(sync.value?.errorCode, 'NOT_COORDINATOR')
    assert.equal(waiting.joined.value?.errorCode, 'NOT_COORDINATOR')
    assert.equal(clock.pendingTimers, 0)
    assert.equal(hb(c, a.memberId, 1), 'NOT_COORDINATOR')
    assert.equal((await c.joinGroup(joinReq())).errorCode, 'NOT_COORDINATOR')
    assert.equal(
      (await c.syncGroup({ groupId: 'g', generationId: 1, memberId: a.memberId, assignments: [] })).errorCode,
      'NOT_COORDINATOR',
    )
    assert.equal((await c.leaveGroup({ groupId: 'g', memberIds: [a.memberId] })).errorCode, 'NOT_COORDINATOR')
    assert.equal((await commit(c, '', -1, 1))[0]?.errorCode, 'NOT_COORDINATOR')
    assert.equal(c.fetchOffsets({ groupId: 'g' }).errorCode, 'NOT_COORDINATOR')
    assert.equal(c.describeGroup('g').errorCode, 'NOT_COORDINATOR')
    assert.equal(await c.deleteGroup('g'), 'NOT_COORDINATOR')
    assert.deepEqual(c.listGroups(), [])
    assert.throws(() => c.load({ type: 'delete-group', group: 'g' }))
    // Writes already made still settle with what the log says.
    log.commitNext()
    log.failNext()
    await settle()
    assert.equal(committing.value?.[0]?.errorCode, 'NOT_COORDINATOR')
    assert.equal(clock.pendingTimers, 0)
  })
})

// ---- The property ----------------------------------------------------------------------------

const GROUPS = ['g0', 'g1']
const CLIENTS = 6

type Action =
  | { kind: 'step' | 'join' | 'sync' | 'heartbeat' | 'leave'; client: number }
  | { kind: 'commit'; client: number; partition: number; offset: number; standalone: boolean }
  | { kind: 'advance'; ms: number }
  | { kind: 'write' }
  | { kind: 'failWrite'; code: string }
  | { kind: 'delete'; group: number }
  | { kind: 'checkpoint' }

interface Client {
  clientId: string
  groupId: string
  protocols: { name: string; metadata: Uint8Array }[]
  memberId: string
  generation: number
  leaderOf: string[] | null
  synced: boolean
  mustRejoin: boolean
  joinInFlight: boolean
  syncInFlight: boolean
}

/** What the runs exercised, so that a property that checks nothing does not pass unnoticed. */
const coverage = {
  syncedNone: 0,
  stableGroupsChecked: 0,
  stableWithSeveralMembers: 0,
  memberCommitsNone: 0,
  stableComparedWithRebuilt: 0,
  groupsDeleted: 0,
  writesFailed: 0,
  membersLost: 0,
}

/** One coordinator, simulated clients, the invariants, and a transcript of what happened. */
class Simulation {
  readonly clock = new FakeScheduler()
  readonly log = new FakeLog(false)
  readonly c: GroupCoordinator
  readonly clients: Client[]
  /** The offsets acknowledged NONE, by group, as `topic/partition` → offset. */
  readonly acknowledged = new Map<string, Map<string, number>>()
  /** The generation of each member's last successful join. */
  readonly joinedGeneration = new Map<string, number>()
  readonly transcript: string[] = []
  outstanding = 0
  writesFailed = 0
  failure: Error | null = null

  constructor(delayMs: number) {
    let ids = 0
    this.c = new GroupCoordinator({
      now: () => this.clock.now,
      setTimer: this.clock.setTimer,
      persist: this.log.persist,
      generateMemberId: (clientId) => `${clientId}-m${++ids}`,
      groupInitialRebalanceDelayMs: delayMs,
    })
    this.clients = Array.from({ length: CLIENTS }, (_, k) => ({
      clientId: `c${k}`,
      groupId: GROUPS[k < 4 ? 0 : 1]!,
      protocols: k % 3 === 2 ? protocols('roundrobin') : protocols('range', 'roundrobin'),
      memberId: '',
      generation: -1,
      leaderOf: null,
      synced: false,
      mustRejoin: false,
      joinInFlight: false,
      syncInFlight: false,
    }))
  }

  check(ok: boolean, what: string): void {
    if (!ok && !this.failure) this.failure = new Error(`invariant broken at t=${this.clock.now}: ${what}`)
  }

  private note(line: string): void {
    this.transcript.push(`t=${this.clock.now} ${line}`)
  }

  private track<T>(what: string, promise: Promise<T>, then: (value: T) => void): void {
    this.outstanding++
    promise.then(
      (value) => {
        this.outstanding--
        this.note(`  ${what} → ${JSON.stringify(plain(value))}`)
        try {
          then(value)
        } catch (e) {
          this.failure ??= e as Error
        }
      },
      (e) => {
        this.outstanding--
        this.failure ??= new Error(`${what} rejected: ${e}`)
      },
    )
  }

  private reset(cl: Client): void {
    cl.memberId = ''
    cl.generation = -1
    cl.leaderOf = null
    cl.synced = false
    cl.mustRejoin = false
  }

  async run(a: Action): Promise<void> {
    this.note(JSON.stringify(a))
    switch (a.kind) {
      case 'step': {
        const cl = this.clients[a.client]!
        if (cl.joinInFlight || cl.syncInFlight) this.heartbeat(cl)
        else if (cl.memberId === '' || cl.mustRejoin || cl.generation < 0) this.join(cl)
        else if (!cl.synced) this.sync(cl)
        else this.heartbeat(cl)
        break
      }
      case 'join':
        this.join(this.clients[a.client]!)
        break
      case 'sync':
        this.sync(this.clients[a.client]!)
        break
      case 'heartbeat':
        this.heartbeat(this.clients[a.client]!)
        break
      case 'leave': {
        const cl = this.clients[a.client]!
        if (cl.memberId === '') break
        this.track(
          `leave ${cl.memberId}`,
          this.c.leaveGroup({ groupId: cl.groupId, memberIds: [cl.memberId] }),
          () => {},
        )
        this.reset(cl)
        break
      }
      case 'commit':
        this.commit(this.clients[a.client]!, a.partition, a.offset, a.standalone)
        break
      case 'advance':
        await this.clock.advance(a.ms)
        break
      case 'write':
        if (this.log.queue.length > 0) this.log.commitNext()
        break
      case 'failWrite':
        if (this.log.queue.length > 0) {
          this.log.failNext(a.code)
          this.writesFailed++
          coverage.writesFailed++
        }
        break
      case 'delete': {
        const groupId = GROUPS[a.group]!
        this.track(`delete ${groupId}`, this.c.deleteGroup(groupId), (e) => {
          if (e !== 'NONE') return
          this.acknowledged.delete(groupId)
          coverage.groupsDeleted++
        })
        break
      }
      case 'checkpoint':
        this.compareWithRebuilt()
        break
    }
    await settle()
    this.checkInvariants()
    if (this.failure) throw this.failure
  }

  private join(cl: Client): void {
    if (cl.joinInFlight) return
    cl.joinInFlight = true
    const req = joinReq({
      groupId: cl.groupId,
      clientId: cl.clientId,
      memberId: cl.memberId,
      rebalanceTimeoutMs: 20_000,
      protocols: cl.protocols,
    })
    this.track(`join ${cl.clientId} ${cl.memberId}`, this.c.joinGroup(req), (r) => {
      cl.joinInFlight = false
      if (r.errorCode === 'MEMBER_ID_REQUIRED') cl.memberId = r.memberId
      else if (r.errorCode === 'UNKNOWN_MEMBER_ID') this.reset(cl)
      else if (r.errorCode === 'NONE') {
        this.check(r.memberId === cl.memberId, 'a join answers for the member that asked')
        const previous = this.joinedGeneration.get(r.memberId) ?? 0
        this.check(r.generationId >= previous, `generations only grow for ${r.memberId}`)
        this.check((r.leader === r.memberId) === r.members.length > 0, 'only the leader gets the member list')
        this.check(
          r.leader !== r.memberId || r.members.some((m) => m.memberId === r.memberId),
          'the leader is a member',
        )
        this.joinedGeneration.set(r.memberId, r.generationId)
        cl.generation = r.generationId
        cl.leaderOf = r.leader === r.memberId ? r.members.map((m) => m.memberId) : null
        cl.synced = false
        cl.mustRejoin = false
      }
    })
  }

  private sync(cl: Client): void {
    if (cl.syncInFlight || cl.memberId === '') return
    cl.syncInFlight = true
    const { memberId, generation } = cl
    const assignments = (cl.leaderOf ?? []).map((m) => ({
      memberId: m,
      assignment: bytes(`${m}@${generation}`),
    }))
    const req = { groupId: cl.groupId, generationId: generation, memberId, assignments }
    this.track(`sync ${memberId} gen ${generation}`, this.c.syncGroup(req), (r) => {
      cl.syncInFlight = false
      if (r.errorCode === 'NONE') {
        // The assignment handed out is the current generation's, and the group is Stable with it.
        this.check(this.c.describeGroup(cl.groupId).state === 'Stable', 'a sync succeeds only into Stable')
        this.check(
          generation === this.joinedGeneration.get(memberId),
          `sync NONE for ${memberId} is of its latest generation`,
        )
        this.check(text(r.assignment) === `${memberId}@${generation}`, `${memberId} got its own assignment`)
        if (cl.memberId === memberId && cl.generation === generation) cl.synced = true
        coverage.syncedNone++
      } else if (r.errorCode === 'UNKNOWN_MEMBER_ID') {
        if (cl.memberId === memberId) this.reset(cl)
      } else if (cl.memberId === memberId) cl.mustRejoin = true
    })
  }

  private heartbeat(cl: Client): void {
    const { memberId, generation } = cl
    const { errorCode } = this.c.heartbeat({ groupId: cl.groupId, generationId: generation, memberId })
    this.note(`  heartbeat ${memberId} gen ${generation} → ${errorCode}`)
    if (errorCode === 'NONE') {
      const state = this.c.describeGroup(cl.groupId).state
      this.check(
        state === 'Stable' || state === 'CompletingRebalance',
        'a heartbeat is NONE only when not rebalancing',
      )
      this.check(
        generation === this.joinedGeneration.get(memberId),
        'a heartbeat is NONE only for the latest generation',
      )
    } else if (errorCode === 'UNKNOWN_MEMBER_ID') {
      if (generation >= 0) coverage.membersLost++
      this.reset(cl)
    } else if (errorCode === 'REBALANCE_IN_PROGRESS' || errorCode === 'ILLEGAL_GENERATION')
      cl.mustRejoin = true
  }

  private commit(cl: Client, partition: number, offset: number, standalone: boolean): void {
    const req = {
      groupId: cl.groupId,
      generationId: standalone ? -1 : cl.generation,
      memberId: standalone ? '' : cl.memberId,
      offsets: [{ topic: 't', partition, offset }],
    }
    this.track(
      `commit ${req.groupId} ${req.memberId} gen ${req.generationId} t/${partition}=${offset}`,
      this.c.commitOffsets(req),
      (r) => {
        if (r[0]?.errorCode !== 'NONE') return
        if (!standalone && req.memberId !== '') coverage.memberCommitsNone++
        const offsets = this.acknowledged.get(cl.groupId) ?? new Map<string, number>()
        this.acknowledged.set(cl.groupId, offsets)
        offsets.set(`t/${partition}`, offset)
      },
    )
  }

  checkInvariants(): void {
    for (const groupId of GROUPS) {
      // Offsets are exactly the acknowledged commits: none lost, none that was not acknowledged.
      const fetchedOffsets = this.c
        .fetchOffsets({ groupId })
        .offsets.map((o) => [`${o.topic}/${o.partition}`, o.offset])
      const expected = [...(this.acknowledged.get(groupId) ?? new Map())].sort()
      this.check(
        JSON.stringify(fetchedOffsets) === JSON.stringify(expected),
        `${groupId} offsets ${JSON.stringify(fetchedOffsets)} are the acknowledged ${JSON.stringify(expected)}`,
      )
      // Stable: every member holds an assignment of the latest generation, all of the same one.
      const d = this.c.describeGroup(groupId)
      if (d.state !== 'Stable') continue
      coverage.stableGroupsChecked++
      if (d.members.length > 1) coverage.stableWithSeveralMembers++
      const generations = new Set<number>()
      for (const m of d.members) {
        const [owner, generation] = text(m.assignment).split('@')
        generations.add(Number(generation))
        this.check(owner === m.memberId, `${m.memberId} in Stable holds its own assignment`)
        this.check(
          Number(generation) === this.joinedGeneration.get(m.memberId),
          `${m.memberId} holds its latest generation's`,
        )
      }
      this.check(generations.size === 1, `${groupId} in Stable has one generation's assignments`)
    }
  }

  /** A coordinator rebuilt from the log, and one from the snapshot, agree with this one. */
  compareWithRebuilt(): void {
    const snapshot = this.c.snapshot()
    const fromLog = rebuilt(this.log.committed).c
    const fromSnapshot = rebuilt(snapshot).c
    const quiet = this.log.queue.length === 0
    this.check(
      JSON.stringify(plain(fromLog.snapshot())) === JSON.stringify(plain(snapshot)),
      'log replay = snapshot',
    )
    this.check(
      JSON.stringify(plain(fromSnapshot.snapshot())) === JSON.stringify(plain(snapshot)),
      'snapshot replay = snapshot',
    )
    for (const groupId of GROUPS) {
      const fetchLog = JSON.stringify(fromLog.fetchOffsets({ groupId }))
      this.check(
        fetchLog === JSON.stringify(fromSnapshot.fetchOffsets({ groupId })),
        `${groupId} offsets after rebuild`,
      )
      this.check(
        fetchLog === JSON.stringify(this.c.fetchOffsets({ groupId })),
        `${groupId} offsets as the live ones`,
      )
      const described = JSON.stringify(plain(fromLog.describeGroup(groupId)))
      this.check(
        described === JSON.stringify(plain(fromSnapshot.describeGroup(groupId))),
        `${groupId} described alike`,
      )
      // A Stable group's record is committed, so a new coordinator has it as it is. So has it an
      // Empty group's, unless a write failed: storing that a group emptied is best effort, as in
      // Kafka (a new coordinator brings the last members back until their sessions expire).
      const live = this.c.describeGroup(groupId)
      const rebuiltState = fromLog.describeGroup(groupId).state
      if (quiet && live.state === 'Stable') {
        this.check(
          described === JSON.stringify(plain(live)),
          `${groupId} Stable is described as the live one`,
        )
        coverage.stableComparedWithRebuilt++
      }
      if (quiet && live.state === 'Empty' && this.writesFailed === 0) {
        if (rebuiltState === 'Dead')
          this.check(
            !snapshot.some((r) => r.group === groupId),
            `${groupId} is rebuilt only if it is in the log`,
          )
        else
          this.check(
            described === JSON.stringify(plain(live)),
            `${groupId} Empty is described as the live one`,
          )
      }
    }
    fromLog.close()
    fromSnapshot.close()
  }

  /** Lets every write commit and every timer run out, then checks everything settled. */
  async finish(): Promise<void> {
    for (let round = 0; round < 10 && (this.log.queue.length > 0 || round < 2); round++) {
      while (this.log.queue.length > 0) {
        this.log.commitNext()
        await settle()
      }
      await this.clock.advance(60_000)
    }
    this.check(this.log.queue.length === 0, 'writes stop once the clients do')
    this.checkInvariants()
    this.compareWithRebuilt()
    this.c.close()
    await settle()
    this.check(this.outstanding === 0, `every request was answered (${this.outstanding} left)`)
    this.check(this.clock.pendingTimers === 0, 'close stops every timer')
    if (this.failure) throw this.failure
  }
}

const client = fc.nat(CLIENTS - 1)
const actionArb: fc.Arbitrary<Action> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('step' as const), client }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('join' as const), client }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('sync' as const), client }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('heartbeat' as const), client }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('leave' as const), client }) },
  {
    weight: 4,
    arbitrary: fc.record({
      kind: fc.constant('commit' as const),
      client,
      partition: fc.nat(2),
      offset: fc.nat(1_000),
      standalone: fc.boolean(),
    }),
  },
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 12_000 }) }),
  },
  { weight: 5, arbitrary: fc.constant({ kind: 'write' as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      kind: fc.constant('failWrite' as const),
      code: fc.constantFrom('NOT_LEADER_OR_FOLLOWER', 'NOT_ENOUGH_REPLICAS', 'REQUEST_TIMED_OUT'),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ kind: fc.constant('delete' as const), group: fc.nat(GROUPS.length - 1) }),
  },
  { weight: 1, arbitrary: fc.constant({ kind: 'checkpoint' as const }) },
)

describe('property: random clients against one coordinator', () => {
  it('keeps one generation’s assignment, never loses or invents an offset, and rebuilds the same from the log', async () => {
    const seed = Number(process.env.CAIRN_SEED ?? 20_240_611)
    const numRuns = Number(process.env.CAIRN_RUNS ?? 150)
    try {
      await fc.assert(
        fc.asyncProperty(
          fc.constantFrom(0, 3_000),
          fc.array(actionArb, { maxLength: 150, size: 'max' }),
          async (delayMs, actions) => {
            const sim = new Simulation(delayMs)
            try {
              for (const a of actions) await sim.run(a)
              await sim.finish()
            } catch (e) {
              const transcript = sim.transcript.slice(-80).join('\n')
              throw new Error(`${(e as Error).message}\n--- transcript (last 80 lines) ---\n${transcript}`)
            } finally {
              sim.c.close()
            }
          },
        ),
        { seed, numRuns },
      )
    } catch (e) {
      console.error(`group coordinator property failed with seed ${seed}; replay: CAIRN_SEED=${seed}`)
      throw e
    }
    console.log(`coverage over ${numRuns} runs (seed ${seed}): ${JSON.stringify(coverage)}`)
    for (const [what, count] of Object.entries(coverage)) assert.ok(count > 0, `no run exercised ${what}`)
  })
})
