import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  type Assignor,
  AssignorInputError,
  assignedPartitionsMax,
  assignorByName,
  ConsumerProtocolError,
  compareTopicPartitions,
  cooperativeStickyAssignor,
  decodeAssignment,
  decodeSubscription,
  encodeAssignment,
  encodeSubscription,
  type MemberSubscription,
  rangeAssignor,
  revokedPartitions,
  roundRobinAssignor,
  subscriptionTopicsMax,
  type TopicPartition,
  topicNameBytesMax,
  userDataBytesMax,
} from '../src/assignors.js'
import { ConfigError } from '../src/errors.js'
import { fcOptions } from './helpers.js'

// ---------------------------------------------------------------------------------------------
// Helpers: partitions written as Kafka's docs write them, `t0p1`.

type Assignment = Map<string, TopicPartition[]>

const tp = (s: string): TopicPartition => {
  const at = s.lastIndexOf('p')
  return { topic: s.slice(0, at), partition: Number(s.slice(at + 1)) }
}
const tps = (s: string): TopicPartition[] => (s === '' ? [] : s.split(',').map(tp))
const show = (list: TopicPartition[]): string => list.map((x) => `${x.topic}p${x.partition}`).join(',')
const showAll = (a: Assignment): Record<string, string> =>
  Object.fromEntries([...a].map(([id, list]) => [id, show(list)]))
const key = (x: TopicPartition) => `${x.partition}:${x.topic}`

function member(memberId: string, topics: string[], owned = '', generation?: number): MemberSubscription {
  const m: MemberSubscription = { memberId, topics, ownedPartitions: tps(owned) }
  if (generation !== undefined) m.generation = generation
  return m
}

const topics = (counts: Record<string, number>) => new Map(Object.entries(counts))

/** Members of the next generation, owning what `assignment` gave them. */
function nextGeneration(members: MemberSubscription[], assignment: Assignment, generation: number) {
  return members.map((m) => ({ ...m, ownedPartitions: assignment.get(m.memberId)!, generation }))
}

/** A run of the two-phase cooperative rebalance: the first round, then the one after revocation. */
function cooperativeRounds(members: MemberSubscription[], ppt: Map<string, number>) {
  const first = cooperativeStickyAssignor.assign(members, ppt)
  const generation = Math.max(0, ...members.map((m) => m.generation ?? 0)) + 1
  const second = cooperativeStickyAssignor.assign(nextGeneration(members, first, generation), ppt)
  return { first, second, generation }
}

// ---------------------------------------------------------------------------------------------
// Invariants every assignor keeps

function subscribedPartitions(members: MemberSubscription[], ppt: Map<string, number>): Set<string> {
  const all = new Set<string>()
  for (const topic of new Set(members.flatMap((m) => m.topics))) {
    for (let p = 0; p < (ppt.get(topic) ?? 0); p++) all.add(key({ topic, partition: p }))
  }
  return all
}

/** Each member listed once, lists sorted, each partition real, subscribed and given at most once. */
function checkValid(
  members: MemberSubscription[],
  ppt: Map<string, number>,
  result: Assignment,
): Set<string> {
  assert.deepEqual([...result.keys()].sort(), members.map((m) => m.memberId).sort())
  const given = new Set<string>()
  for (const m of members) {
    const list = result.get(m.memberId)!
    for (let i = 1; i < list.length; i++)
      assert.ok(compareTopicPartitions(list[i - 1]!, list[i]!) < 0, 'sorted')
    for (const x of list) {
      assert.ok(m.topics.includes(x.topic), `${m.memberId} got ${show([x])} without subscribing`)
      assert.ok(x.partition >= 0 && x.partition < (ppt.get(x.topic) ?? 0), `${show([x])} exists`)
      assert.ok(!given.has(key(x)), `${show([x])} given twice`)
      given.add(key(x))
    }
  }
  return given
}

function checkComplete(members: MemberSubscription[], ppt: Map<string, number>, result: Assignment): void {
  const given = checkValid(members, ppt, result)
  assert.deepEqual([...given].sort(), [...subscribedPartitions(members, ppt)].sort(), 'every partition once')
}

/** Identical subscriptions (over existing topics) differ by at most one partition. */
function checkBalancedWithinEqualSubscriptions(
  members: MemberSubscription[],
  ppt: Map<string, number>,
  result: Assignment,
): void {
  const byClass = new Map<string, number[]>()
  for (const m of members) {
    const cls = JSON.stringify([...new Set(m.topics.filter((t) => ppt.has(t)))].sort())
    byClass.set(cls, [...(byClass.get(cls) ?? []), result.get(m.memberId)!.length])
  }
  for (const [cls, counts] of byClass) {
    assert.ok(Math.max(...counts) - Math.min(...counts) <= 1, `members subscribing ${cls} hold ${counts}`)
  }
}

/** No partition could move to a member that subscribes to it and holds two or more fewer. */
function checkNoImprovingMove(members: MemberSubscription[], result: Assignment): void {
  for (const x of members) {
    const held = result.get(x.memberId)!
    for (const y of members) {
      if (result.get(y.memberId)!.length + 2 > held.length) continue
      const movable = held.find((p) => y.topics.includes(p.topic))
      if (movable) assert.fail(`${show([movable])} could move from ${x.memberId} to ${y.memberId}`)
    }
  }
}

/** The owner each partition had before the rebalance, as the spec says: highest generation wins. */
function previousOwners(members: MemberSubscription[]): {
  owner: Map<string, string>
  contested: Set<string>
} {
  const best = new Map<string, { generation: number; ids: Set<string> }>()
  for (const m of members) {
    const g = m.generation ?? -1
    for (const x of m.ownedPartitions) {
      const b = best.get(key(x))
      if (b === undefined || g > b.generation) best.set(key(x), { generation: g, ids: new Set([m.memberId]) })
      else if (g === b.generation) b.ids.add(m.memberId)
    }
  }
  const owner = new Map<string, string>()
  const contested = new Set<string>()
  for (const [k, b] of best) {
    if (b.ids.size === 1) owner.set(k, [...b.ids][0]!)
    else contested.add(k)
  }
  return { owner, contested }
}

// ---------------------------------------------------------------------------------------------
// Generators

const topicPool = ['a', 'b', 'c', 'd', 'e']

interface Group {
  members: MemberSubscription[]
  ppt: Map<string, number>
}

/** Up to 8 members over 5 topics (some missing from metadata), with random ownership claims. */
const groupArb = (opts: { equalSubscriptions?: boolean } = {}): fc.Arbitrary<Group> =>
  fc
    .record({
      counts: fc.array(fc.option(fc.integer({ min: 0, max: 9 }), { nil: undefined }), {
        minLength: topicPool.length,
        maxLength: topicPool.length,
      }),
      members: fc.uniqueArray(
        fc.record({
          id: fc.integer({ min: 0, max: 30 }),
          topics: fc.subarray([...topicPool, 'gone']),
          owned: fc.array(
            fc.record({
              topic: fc.constantFrom(...topicPool, 'gone'),
              partition: fc.integer({ min: -1, max: 10 }),
            }),
            { maxLength: 12 },
          ),
          generation: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
        }),
        { selector: (m) => m.id, maxLength: 8 },
      ),
    })
    .map(({ counts, members }) => {
      const ppt = new Map<string, number>()
      topicPool.forEach((t, i) => {
        const c = counts[i]
        if (c !== undefined) ppt.set(t, c)
      })
      const shared = members[0]?.topics ?? []
      return {
        ppt,
        members: members.map((m) => {
          const s: MemberSubscription = {
            memberId: `m${m.id}`,
            topics: opts.equalSubscriptions ? shared : m.topics,
            ownedPartitions: m.owned,
          }
          if (m.generation !== undefined) s.generation = m.generation
          return s
        }),
      }
    })

/** A group and a permutation of its members, each member's lists reversed too. */
const shuffledGroupArb = groupArb().chain((g) =>
  fc
    .shuffledSubarray(g.members, { minLength: g.members.length, maxLength: g.members.length })
    .map((shuffled) => ({
      g,
      shuffled: shuffled.map((m) => ({
        ...m,
        topics: [...m.topics].reverse(),
        ownedPartitions: [...m.ownedPartitions].reverse(),
      })),
    })),
)

// ---------------------------------------------------------------------------------------------
// range

describe('range assignor', () => {
  it("Kafka's example: 2 members, t0 and t1 of 3 partitions", () => {
    const result = rangeAssignor.assign(
      [member('C1', ['t0', 't1']), member('C0', ['t0', 't1'])],
      topics({ t0: 3, t1: 3 }),
    )
    assert.deepEqual(showAll(result), { C0: 't0p0,t0p1,t1p0,t1p1', C1: 't0p2,t1p2' })
  })

  it('works topic by topic over the subscribers of each; unsubscribed and unknown topics skipped', () => {
    const result = rangeAssignor.assign(
      [member('C0', ['t0']), member('C1', ['t0', 't1', 'unknown']), member('C2', [])],
      topics({ t0: 3, t1: 2, t2: 4 }),
    )
    assert.deepEqual(showAll(result), { C0: 't0p0,t0p1', C1: 't0p2,t1p0,t1p1', C2: '' })
  })

  it('more members than partitions: the first members by id take one each', () => {
    const result = rangeAssignor.assign(
      [member('C2', ['t0']), member('C0', ['t0']), member('C1', ['t0'])],
      topics({ t0: 2 }),
    )
    assert.deepEqual(showAll(result), { C0: 't0p0', C1: 't0p1', C2: '' })
  })

  it('empty: no members, no topics, a topic of no partitions', () => {
    assert.equal(rangeAssignor.assign([], topics({ t0: 3 })).size, 0)
    assert.deepEqual(showAll(rangeAssignor.assign([member('C0', ['t0'])], topics({}))), { C0: '' })
    assert.deepEqual(showAll(rangeAssignor.assign([member('C0', ['t0'])], topics({ t0: 0 }))), { C0: '' })
  })

  it('property: every subscribed partition once; per topic, contiguous ranges, ±1, extras to the first', () => {
    fc.assert(
      fc.property(groupArb(), ({ members, ppt }) => {
        const result = rangeAssignor.assign(members, ppt)
        checkComplete(members, ppt, result)
        for (const [topic, count] of ppt) {
          const subscribers = members
            .filter((m) => m.topics.includes(topic))
            .map((m) => m.memberId)
            .sort()
          let next = 0
          subscribers.forEach((id, i) => {
            const mine = result.get(id)!.filter((x) => x.topic === topic)
            const expected = Math.floor(count / subscribers.length) + (i < count % subscribers.length ? 1 : 0)
            assert.equal(mine.length, expected)
            assert.deepEqual(
              mine.map((x) => x.partition),
              mine.map((_, j) => next + j),
            )
            next += mine.length
          })
        }
      }),
      fcOptions(300),
    )
  })
})

// ---------------------------------------------------------------------------------------------
// roundrobin

describe('roundrobin assignor', () => {
  it("Kafka's example: 2 members, t0 and t1 of 3 partitions", () => {
    const result = roundRobinAssignor.assign(
      [member('C0', ['t0', 't1']), member('C1', ['t1', 't0'])],
      topics({ t0: 3, t1: 3 }),
    )
    assert.deepEqual(showAll(result), { C0: 't0p0,t0p2,t1p1', C1: 't0p1,t1p0,t1p2' })
  })

  it("Kafka's example of unequal subscriptions: the deal passes over members not subscribed", () => {
    const result = roundRobinAssignor.assign(
      [member('C0', ['t0']), member('C1', ['t0', 't1']), member('C2', ['t0', 't1', 't2'])],
      topics({ t0: 1, t1: 2, t2: 3 }),
    )
    assert.deepEqual(showAll(result), { C0: 't0p0', C1: 't1p0', C2: 't1p1,t2p0,t2p1,t2p2' })
  })

  it('more members than partitions, unknown topics, empty', () => {
    const result = roundRobinAssignor.assign(
      [member('C0', ['t0']), member('C1', ['t0', 'unknown']), member('C2', ['t0'])],
      topics({ t0: 2, t1: 5 }),
    )
    assert.deepEqual(showAll(result), { C0: 't0p0', C1: 't0p1', C2: '' })
    assert.equal(roundRobinAssignor.assign([], topics({ t0: 1 })).size, 0)
    assert.deepEqual(showAll(roundRobinAssignor.assign([member('C0', [])], topics({ t0: 1 }))), { C0: '' })
  })

  it('property: every subscribed partition once; balanced when subscriptions are equal', () => {
    fc.assert(
      fc.property(
        fc.boolean().chain((equal) => groupArb({ equalSubscriptions: equal })),
        ({ members, ppt }) => {
          const result = roundRobinAssignor.assign(members, ppt)
          checkComplete(members, ppt, result)
          const norm = (m: MemberSubscription) => JSON.stringify([...new Set(m.topics)].sort())
          if (members.every((m) => norm(m) === norm(members[0]!))) {
            checkBalancedWithinEqualSubscriptions(members, ppt, result)
          }
        },
      ),
      fcOptions(300),
    )
  })
})

// ---------------------------------------------------------------------------------------------
// cooperative-sticky

describe('cooperative-sticky assignor: hand examples', () => {
  it("Kafka's StickyAssignor example 1: three members, four topics of 2 partitions, then C1 leaves", () => {
    const ppt = topics({ t0: 2, t1: 2, t2: 2, t3: 2 })
    const all = ['t0', 't1', 't2', 't3']
    const first = cooperativeStickyAssignor.assign(
      [member('C0', all), member('C1', all), member('C2', all)],
      ppt,
    )
    assert.deepEqual(showAll(first), { C0: 't0p0,t1p1,t3p0', C1: 't0p1,t2p0,t3p1', C2: 't1p0,t2p1' })
    // C1 leaves: only its partitions move, and nobody owns them, so they go at once.
    const after = cooperativeStickyAssignor.assign(
      [member('C0', all, 't0p0,t1p1,t3p0', 1), member('C2', all, 't1p0,t2p1', 1)],
      ppt,
    )
    assert.deepEqual(showAll(after), { C0: 't0p0,t1p1,t2p0,t3p0', C2: 't0p1,t1p0,t2p1,t3p1' })
  })

  it("Kafka's StickyAssignor example 2: unequal subscriptions, then C0 leaves", () => {
    const ppt = topics({ t0: 1, t1: 2, t2: 3 })
    const first = cooperativeStickyAssignor.assign(
      [member('C0', ['t0']), member('C1', ['t0', 't1']), member('C2', ['t0', 't1', 't2'])],
      ppt,
    )
    assert.deepEqual(showAll(first), { C0: 't0p0', C1: 't1p0,t1p1', C2: 't2p0,t2p1,t2p2' })
    const after = cooperativeStickyAssignor.assign(
      [member('C1', ['t0', 't1'], 't1p0,t1p1', 1), member('C2', ['t0', 't1', 't2'], 't2p0,t2p1,t2p2', 1)],
      ppt,
    )
    assert.deepEqual(showAll(after), { C1: 't0p0,t1p0,t1p1', C2: 't2p0,t2p1,t2p2' })
  })

  it('a member joins 4 members on 16 partitions: 3 are revoked, one from each of three, then handed over', () => {
    const ppt = topics({ t0: 16 })
    const owners = ['A', 'B', 'C', 'D'].map((id, i) =>
      member(id, ['t0'], [0, 1, 2, 3].map((j) => `t0p${4 * i + j}`).join(','), 1),
    )
    const joined = [...owners, member('E', ['t0'])]
    const { first, second } = cooperativeRounds(joined, ppt)
    // Round 1: E gets nothing yet (all it will get is still owned); A, B and C each revoke one.
    assert.deepEqual(showAll(first), {
      A: 't0p0,t0p1,t0p2',
      B: 't0p4,t0p5,t0p6',
      C: 't0p8,t0p9,t0p10',
      D: 't0p12,t0p13,t0p14,t0p15',
      E: '',
    })
    for (const m of owners) {
      assert.ok(first.get(m.memberId)!.length >= 3)
      assert.ok(revokedPartitions(m.ownedPartitions, first.get(m.memberId)!).length <= 1)
    }
    // Round 2: the revoked partitions, and only they, go to E; nobody else moves.
    assert.deepEqual(showAll(second), { ...showAll(first), E: 't0p3,t0p7,t0p11' })
  })

  it('a member leaves: only its partitions move, spread over the least loaded', () => {
    const ppt = topics({ t0: 16 })
    const fresh = cooperativeStickyAssignor.assign(
      ['A', 'B', 'C', 'D', 'E'].map((id) => member(id, ['t0'])),
      ppt,
    )
    const rest = nextGeneration(
      ['A', 'B', 'C', 'E'].map((id) => member(id, ['t0'])),
      fresh,
      1,
    )
    const after = cooperativeStickyAssignor.assign(rest, ppt)
    checkComplete(rest, ppt, after)
    for (const m of rest) {
      const kept = after.get(m.memberId)!.filter((x) => m.ownedPartitions.some((o) => key(o) === key(x)))
      assert.equal(kept.length, m.ownedPartitions.length, `${m.memberId} keeps everything`)
      assert.equal(after.get(m.memberId)!.length, 4)
    }
  })

  it('a partition claimed by two members belongs to the higher generation; a stale claim is ignored', () => {
    const ppt = topics({ t0: 2 })
    const result = cooperativeStickyAssignor.assign(
      [member('A', ['t0'], 't0p0', 2), member('B', ['t0'], 't0p0,t0p1', 1)],
      ppt,
    )
    assert.deepEqual(showAll(result), { A: 't0p0', B: 't0p1' })
  })

  it('a partition claimed by two members of the same generation goes to nobody until both let go', () => {
    const ppt = topics({ t0: 2 })
    const members = [member('A', ['t0'], 't0p0', 3), member('B', ['t0'], 't0p0,t0p1', 3)]
    const { first, second } = cooperativeRounds(members, ppt)
    assert.deepEqual(showAll(first), { A: '', B: 't0p1' })
    assert.deepEqual(showAll(second), { A: 't0p0', B: 't0p1' })
  })

  it('a member that unsubscribes from a topic keeps its partitions until it has revoked them', () => {
    const ppt = topics({ t0: 2, t1: 2 })
    const members = [member('A', ['t0'], 't0p0,t1p0,t1p1', 1), member('B', ['t0', 't1'], 't0p1', 1)]
    const { first, second } = cooperativeRounds(members, ppt)
    // The target is A: t0p0,t0p1 and B: t1p0,t1p1 (2 and 2). Each of the moves waits: A first
    // revokes t1p0 and t1p1, B revokes t0p1.
    assert.deepEqual(showAll(first), { A: 't0p0', B: '' })
    assert.deepEqual(show(revokedPartitions(members[0]!.ownedPartitions, first.get('A')!)), 't1p0,t1p1')
    assert.deepEqual(show(revokedPartitions(members[1]!.ownedPartitions, first.get('B')!)), 't0p1')
    assert.deepEqual(showAll(second), { A: 't0p0,t0p1', B: 't1p0,t1p1' })
  })

  it('more members than partitions, unknown topics, empty', () => {
    const result = cooperativeStickyAssignor.assign(
      [member('C0', ['t0', 'unknown']), member('C1', ['t0']), member('C2', ['t0'])],
      topics({ t0: 2 }),
    )
    assert.deepEqual(showAll(result), { C0: 't0p0', C1: 't0p1', C2: '' })
    assert.equal(cooperativeStickyAssignor.assign([], topics({ t0: 1 })).size, 0)
    assert.deepEqual(
      showAll(cooperativeStickyAssignor.assign([member('C0', [], 't0p0', 1)], topics({ t0: 1 }))),
      {
        C0: '',
      },
    )
  })

  it('a group of 200 members over 40 topics of 50 partitions settles in two rounds', () => {
    const ppt = new Map(Array.from({ length: 40 }, (_, i) => [`topic-${i}`, 50]))
    const names = [...ppt.keys()]
    const members = Array.from({ length: 200 }, (_, i) =>
      member(
        `member-${i}`,
        names.filter((_, t) => (t + i) % 3 !== 0),
      ),
    )
    const fresh = cooperativeStickyAssignor.assign(members, ppt)
    checkComplete(members, ppt, fresh)
    checkNoImprovingMove(members, fresh)
    const joined = [...nextGeneration(members.slice(1), fresh, 1), member('newcomer', names)]
    const { second } = cooperativeRounds(joined, ppt)
    checkComplete(joined, ppt, second)
    checkBalancedWithinEqualSubscriptions(joined, ppt, second)
  })
})

describe('cooperative-sticky assignor: properties', () => {
  it('round 1 gives nothing twice and nothing another member still owns; round 2 completes it, revoking nothing', () => {
    fc.assert(
      fc.property(
        fc.boolean().chain((equal) => groupArb({ equalSubscriptions: equal })),
        ({ members, ppt }) => {
          const { first, second, generation } = cooperativeRounds(members, ppt)
          checkValid(members, ppt, first)
          const { owner, contested } = previousOwners(members)
          for (const [id, list] of first) {
            for (const x of list) {
              assert.ok(!contested.has(key(x)), `${show([x])} is contested, yet given to ${id}`)
              const o = owner.get(key(x))
              assert.ok(o === undefined || o === id, `${show([x])} given to ${id} while ${o} owns it`)
            }
          }
          const next = nextGeneration(members, first, generation)
          checkComplete(next, ppt, second)
          for (const [id, list] of first) {
            assert.deepEqual(revokedPartitions(list, second.get(id)!), [], `${id} revokes nothing in round 2`)
          }
          checkBalancedWithinEqualSubscriptions(members, ppt, second)
          checkNoImprovingMove(members, second)
          // A settled group stays as it is.
          const third = cooperativeStickyAssignor.assign(nextGeneration(members, second, generation + 1), ppt)
          assert.deepEqual(showAll(third), showAll(second))
        },
      ),
      fcOptions(400),
    )
  })

  const settledGroupArb = fc
    .record({
      size: fc.integer({ min: 1, max: 8 }),
      counts: fc.array(fc.integer({ min: 0, max: 12 }), { minLength: 1, maxLength: 4 }),
    })
    .map(({ size, counts }) => {
      const ppt = new Map(counts.map((c, i) => [`t${i}`, c]))
      const names = [...ppt.keys()]
      const fresh = Array.from({ length: size }, (_, i) => member(`m${i}`, names))
      return { ppt, names, members: nextGeneration(fresh, cooperativeStickyAssignor.assign(fresh, ppt), 1) }
    })

  it('a member joining takes only what balance needs, and nothing moves between the others', () => {
    fc.assert(
      fc.property(settledGroupArb, ({ ppt, names, members }) => {
        const total = [...ppt.values()].reduce((a, b) => a + b, 0)
        const joined = [...members, member('new', names)]
        const { first, second } = cooperativeRounds(joined, ppt)
        assert.deepEqual(first.get('new'), [], 'all it will get is still owned in round 1')
        const revoked = members.flatMap((m) => revokedPartitions(m.ownedPartitions, first.get(m.memberId)!))
        for (const m of members) {
          const kept = first.get(m.memberId)!
          assert.ok(kept.length >= Math.min(m.ownedPartitions.length, Math.floor(total / joined.length)))
          assert.deepEqual(second.get(m.memberId), kept, `${m.memberId} neither gains nor loses in round 2`)
        }
        assert.deepEqual(show(second.get('new')!), show(revoked.sort(compareTopicPartitions)))
        assert.equal(revoked.length, Math.floor(total / joined.length))
      }),
      fcOptions(300),
    )
  })

  it('a member leaving moves only its partitions, and at once (no one else owns them)', () => {
    fc.assert(
      fc.property(
        settledGroupArb.filter((g) => g.members.length >= 2),
        fc.nat(),
        ({ ppt, members }, pick) => {
          const leaver = members[pick % members.length]!
          const rest = members.filter((m) => m !== leaver)
          const after = cooperativeStickyAssignor.assign(rest, ppt)
          checkComplete(rest, ppt, after)
          checkBalancedWithinEqualSubscriptions(rest, ppt, after)
          const leaverKeys = new Set(leaver.ownedPartitions.map(key))
          for (const m of rest) {
            const list = after.get(m.memberId)!
            assert.deepEqual(revokedPartitions(m.ownedPartitions, list), [], `${m.memberId} keeps all`)
            for (const x of list) {
              const ownedBefore = m.ownedPartitions.some((o) => key(o) === key(x))
              assert.ok(ownedBefore || leaverKeys.has(key(x)), `${show([x])} moved to ${m.memberId}`)
            }
          }
        },
      ),
      fcOptions(300),
    )
  })
})

// ---------------------------------------------------------------------------------------------
// All assignors

describe('all assignors', () => {
  const all: Assignor[] = [rangeAssignor, roundRobinAssignor, cooperativeStickyAssignor]

  it('determinism: the order of members, of their topics and of their partitions does not matter', () => {
    fc.assert(
      fc.property(shuffledGroupArb, ({ g, shuffled }) => {
        for (const assignor of all) {
          assert.deepEqual(
            showAll(assignor.assign(shuffled, g.ppt)),
            showAll(assignor.assign(g.members, g.ppt)),
            assignor.name,
          )
        }
      }),
      fcOptions(300),
    )
  })

  it('a fresh group: every subscribed partition once, only to subscribers', () => {
    fc.assert(
      fc.property(groupArb(), ({ members, ppt }) => {
        const fresh = members.map((m) => ({ ...m, ownedPartitions: [] }))
        for (const assignor of all) checkComplete(fresh, ppt, assignor.assign(fresh, ppt))
        checkBalancedWithinEqualSubscriptions(fresh, ppt, cooperativeStickyAssignor.assign(fresh, ppt))
      }),
      fcOptions(300),
    )
  })

  it('refuse duplicate member ids and bad partition counts', () => {
    for (const assignor of all) {
      assert.throws(
        () => assignor.assign([member('A', ['t']), member('A', ['t'])], topics({ t: 1 })),
        AssignorInputError,
      )
      assert.throws(() => assignor.assign([member('A', ['t'])], topics({ t: -1 })), /partition count -1/)
      assert.throws(() => assignor.assign([member('A', ['t'])], topics({ t: 1.5 })), AssignorInputError)
    }
  })

  it('assignorByName finds each by its protocol name and names the known ones otherwise', () => {
    assert.equal(assignorByName('range'), rangeAssignor)
    assert.equal(assignorByName('roundrobin'), roundRobinAssignor)
    assert.equal(assignorByName('cooperative-sticky'), cooperativeStickyAssignor)
    assert.equal(rangeAssignor.rebalanceProtocol, 'EAGER')
    assert.equal(roundRobinAssignor.rebalanceProtocol, 'EAGER')
    assert.equal(cooperativeStickyAssignor.rebalanceProtocol, 'COOPERATIVE')
    assert.throws(
      () => assignorByName('sticky'),
      (e: unknown) =>
        e instanceof ConfigError && /'sticky'.*'range', 'roundrobin', 'cooperative-sticky'/.test(e.message),
    )
  })

  it('revokedPartitions: owned less assigned, sorted, once each', () => {
    assert.deepEqual(show(revokedPartitions(tps('t1p0,t0p2,t0p1,t0p2'), tps('t0p1,t2p0'))), 't0p2,t1p0')
    assert.deepEqual(revokedPartitions([], tps('t0p1')), [])
  })
})

// ---------------------------------------------------------------------------------------------
// Wire encoding

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const bytes = (h: string) => new Uint8Array(Buffer.from(h.replace(/\s/g, ''), 'hex'))

describe('consumer protocol encoding: fixtures', () => {
  it('subscription v3, byte for byte Kafka', () => {
    const s = { topics: ['t0'], ownedPartitions: tps('t0p0'), generation: 5 }
    const expected =
      '0003' + // version
      '00000001 0002 7430' + // topics: ["t0"]
      'ffffffff' + // userData: null
      '00000001 0002 7430 00000001 00000000' + // ownedPartitions: t0 [0]
      '00000005' + // generationId
      'ffff' // rackId: null
    assert.equal(hex(encodeSubscription(s)), expected.replace(/\s/g, ''))
    assert.deepEqual(decodeSubscription(bytes(expected)), s)
  })

  it('assignment v3, byte for byte Kafka, partitions grouped by topic', () => {
    const a = { partitions: tps('t1p1,t0p2,t0p0'), userData: new Uint8Array([1, 2]) }
    const expected =
      '0003' +
      '00000002' +
      '0002 7430 00000002 00000000 00000002' + // t0 [0, 2]
      '0002 7431 00000001 00000001' + // t1 [1]
      '00000002 0102' // userData
    assert.equal(hex(encodeAssignment(a)), expected.replace(/\s/g, ''))
    assert.deepEqual(decodeAssignment(bytes(expected)), {
      partitions: tps('t0p0,t0p2,t1p1'),
      userData: a.userData,
    })
  })

  it('reads older versions: v0 (topics, userData), v1 (+ ownedPartitions)', () => {
    assert.deepEqual(decodeSubscription(bytes('0000 00000001 0002 7430 ffffffff')), {
      topics: ['t0'],
      ownedPartitions: [],
    })
    assert.deepEqual(
      decodeSubscription(bytes('0001 00000000 00000000 00000001 0002 7430 00000001 00000003')),
      {
        topics: [],
        ownedPartitions: tps('t0p3'),
        userData: new Uint8Array(0),
      },
    )
  })

  it('reads a later version as v3 and ignores what follows; trailing bytes after v0..v3 are an error', () => {
    const v3 = encodeSubscription({ topics: ['t0'], ownedPartitions: [] })
    const v4 = new Uint8Array([...v3, 0xab, 0xcd])
    v4[1] = 4
    assert.deepEqual(decodeSubscription(v4), { topics: ['t0'], ownedPartitions: [] })
    assert.throws(() => decodeSubscription(new Uint8Array([...v3, 0])), /1 trailing bytes/)
    const a = encodeAssignment({ partitions: tps('t0p1') })
    assert.throws(() => decodeAssignment(new Uint8Array([...a, 0])), ConsumerProtocolError)
  })

  const rejected: [string, string, RegExp][] = [
    ['empty', '', /truncated: version/],
    ['negative version', 'ffff', /version -1/],
    ['a topic count beyond its bound', '0003 7fffffff', /subscriptionTopicsMax/],
    ['a topic count beyond the bytes', '0003 00000009 0002 7430', /truncated/],
    ['a negative topic count', '0003 ffffffff', /count -1 is negative/],
    ['an empty topic name', '0003 00000001 0000', /topic length 0/],
    ['a topic name longer than Kafka allows', '0003 00000001 00fa', /topic length 250/],
    ['a topic that is not UTF-8', '0003 00000001 0002 c328 ffffffff 00000000 ffffffff ffff', /UTF-8/],
    ['a topic listed twice', '0003 00000002 0001 61 0001 61 ffffffff 00000000 ffffffff ffff', /twice/],
    ['userData of negative length', '0000 00000000 fffffffe', /userData length -2/],
    ['userData beyond its bound', '0000 00000000 7fffffff', /userDataBytesMax/],
    ['a negative partition', '0001 00000000 ffffffff 00000001 0001 61 00000001 ffffffff', /negative/],
    [
      'a partition twice',
      '0001 00000000 ffffffff 00000002 0001 61 00000001 00000000 0001 61 00000001 00000000',
      /twice/,
    ],
    ['a generation below -1', '0002 00000000 ffffffff 00000000 fffffffe', /generationId -2/],
  ]
  for (const [what, h, message] of rejected) {
    it(`rejects a subscription with ${what}`, () => {
      assert.throws(
        () => decodeSubscription(bytes(h)),
        (e: unknown) => e instanceof ConsumerProtocolError && message.test(e.message),
      )
    })
  }

  it('refuses to encode what it would refuse to decode', () => {
    const refuse = (f: () => unknown, message: RegExp) =>
      assert.throws(f, (e: unknown) => e instanceof ConsumerProtocolError && message.test(e.message))
    const base = { topics: ['t0'], ownedPartitions: [] as TopicPartition[] }
    refuse(() => encodeSubscription({ ...base, topics: [''] }), /topic name/)
    refuse(() => encodeSubscription({ ...base, topics: ['x'.repeat(topicNameBytesMax + 1)] }), /250 bytes/)
    refuse(() => encodeSubscription({ ...base, topics: ['a', 'a'] }), /twice/)
    refuse(
      () =>
        encodeSubscription({
          ...base,
          topics: Array.from({ length: subscriptionTopicsMax + 1 }, (_, i) => `t${i}`),
        }),
      /subscriptionTopicsMax/,
    )
    refuse(() => encodeSubscription({ ...base, ownedPartitions: tps('t0p1,t0p1') }), /twice/)
    refuse(() => encodeSubscription({ ...base, ownedPartitions: [{ topic: 't0', partition: -1 }] }), /int32/)
    refuse(() => encodeSubscription({ ...base, generation: -1 }), /generation -1/)
    refuse(() => encodeSubscription({ ...base, generation: 1.5 }), /generation 1.5/)
    refuse(
      () => encodeSubscription({ ...base, userData: new Uint8Array(userDataBytesMax + 1) }),
      /userDataBytesMax/,
    )
    refuse(
      () =>
        encodeAssignment({
          partitions: Array.from({ length: assignedPartitionsMax + 1 }, (_, i) => ({
            topic: 't',
            partition: i,
          })),
        }),
      /assignedPartitionsMax/,
    )
  })
})

describe('consumer protocol encoding: properties', () => {
  const topicName = fc
    .string({ unit: 'grapheme', minLength: 1, maxLength: 12 })
    .filter((t) => new TextEncoder().encode(t).length <= topicNameBytesMax)
  const partitionsArb = fc.uniqueArray(
    fc.record(
      {
        topic: fc.constantFrom('a', 'b', 'topic-c', 'ü'),
        partition: fc.integer({ min: 0, max: 0x7fffffff }),
      },
      { noNullPrototype: true },
    ),
    { selector: key, maxLength: 20 },
  )
  const userDataArb = fc.option(fc.uint8Array({ maxLength: 40 }), { nil: undefined })
  const subscriptionArb = fc
    .record({
      topics: fc.uniqueArray(topicName, { maxLength: 8 }),
      ownedPartitions: partitionsArb,
      generation: fc.option(fc.integer({ min: 0, max: 0x7fffffff }), { nil: undefined }),
      userData: userDataArb,
    })
    .map(({ generation, userData, ...rest }) => {
      const s: Omit<MemberSubscription, 'memberId'> = rest
      if (generation !== undefined) s.generation = generation
      if (userData !== undefined) s.userData = userData
      return s
    })
  const assignmentArb = fc
    .record({ partitions: partitionsArb, userData: userDataArb })
    .map(({ partitions, userData }) => (userData === undefined ? { partitions } : { partitions, userData }))
  const sorted = (list: TopicPartition[]) => [...list].sort(compareTopicPartitions)

  it('round trip: decode(encode(x)) is x, partitions sorted', () => {
    fc.assert(
      fc.property(subscriptionArb, assignmentArb, (s, a) => {
        assert.deepEqual(decodeSubscription(encodeSubscription(s)), {
          ...s,
          ownedPartitions: sorted(s.ownedPartitions),
        })
        assert.deepEqual(decodeAssignment(encodeAssignment(a)), { ...a, partitions: sorted(a.partitions) })
      }),
      fcOptions(500),
    )
  })

  it('every truncation of a valid encoding is rejected', () => {
    fc.assert(
      fc.property(subscriptionArb, assignmentArb, (s, a) => {
        const sb = encodeSubscription(s)
        const ab = encodeAssignment(a)
        for (let n = 0; n < sb.length; n++)
          assert.throws(() => decodeSubscription(sb.subarray(0, n)), ConsumerProtocolError)
        for (let n = 0; n < ab.length; n++)
          assert.throws(() => decodeAssignment(ab.subarray(0, n)), ConsumerProtocolError)
      }),
      fcOptions(200),
    )
  })

  /** What decoding garbage may do: throw a ConsumerProtocolError, or return what re-encodes as itself. */
  function decodesSoundly(b: Uint8Array): void {
    try {
      const s = decodeSubscription(b)
      assert.deepEqual(decodeSubscription(encodeSubscription(s)), {
        ...s,
        ownedPartitions: sorted(s.ownedPartitions),
      })
    } catch (e) {
      if (!(e instanceof ConsumerProtocolError)) throw e
    }
    try {
      const a = decodeAssignment(b)
      assert.deepEqual(decodeAssignment(encodeAssignment(a)), { ...a, partitions: sorted(a.partitions) })
    } catch (e) {
      if (!(e instanceof ConsumerProtocolError)) throw e
    }
  }

  it('garbage and corrupted encodings are rejected with a ConsumerProtocolError or decode to valid values', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 64 }), decodesSoundly), fcOptions(1000))
    fc.assert(
      fc.property(subscriptionArb, fc.nat(), fc.integer({ min: 0, max: 255 }), (s, at, value) => {
        const b = encodeSubscription(s)
        b[at % b.length] = value
        decodesSoundly(b)
      }),
      fcOptions(1000),
    )
  })
})
