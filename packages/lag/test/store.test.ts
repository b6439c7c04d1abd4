/**
 * The per-partition rings: the window of commits with the lag at each, min-distance merging,
 * group expiry, deleted topics and groups, and the log-end rings the evaluator reads.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { ClusterStore, Ring } from '../src/index.js'

const s = (x: number) => x * 1000

describe('Ring', () => {
  it('keeps the last `capacity` items, oldest first, and pads slots with null in front', () => {
    const r = new Ring<number>(3)
    assert.deepEqual(r.slots(), [null, null, null])
    for (const x of [1, 2, 3, 4]) r.push(x)
    assert.deepEqual(r.toArray(), [2, 3, 4])
    r.replaceLast(5)
    assert.deepEqual(r.slots(), [2, 3, 5])
    assert.throws(() => new Ring(0), /capacity/)
  })
})

describe('ClusterStore', () => {
  it('keeps the last `intervals` commits with the lag against the latest log end', () => {
    const store = new ClusterStore({ intervals: 3, minDistanceMs: 0 })
    store.addCommit({ group: 'g', topic: 't', partition: 0, offset: 5, timestamp: s(1) }, s(1))
    store.setLogEndOffsets([{ topic: 't', offsets: [100, 50] }], s(2))
    for (const [offset, at] of [
      [10, 3],
      [20, 4],
      [120, 5],
    ] as const)
      store.addCommit({ group: 'g', topic: 't', partition: 0, offset, timestamp: s(at) }, s(at) + 7)
    const [p0, p1] = store.partitionInputs('g', s(6))!
    assert.deepEqual(
      p0!.offsets.map((o) => o && [o.offset, o.timestamp, o.lag, o.observedAt]),
      [
        [10, s(3), 90, s(3) + 7],
        [20, s(4), 80, s(4) + 7],
        [120, s(5), 0, s(5) + 7],
      ],
    )
    assert.equal(p0!.currentLag, 0)
    assert.deepEqual(p0!.brokerOffsets, [100])
    // Every partition of the topic is evaluated, committed or not.
    assert.deepEqual(p1!.offsets, [null, null, null])
    assert.equal(p1!.currentLag, 0)
  })

  it('a commit read late gets its lag against the log end of its own time', () => {
    const store = new ClusterStore({ intervals: 5, minDistanceMs: 0 })
    store.setLogEndOffsets([{ topic: 't', offsets: [100] }], s(1))
    store.setLogEndOffsets([{ topic: 't', offsets: [200] }], s(2))
    store.setLogEndOffsets([{ topic: 't', offsets: [300] }], s(3))
    // Committed at 2.5 s, read at 3.5 s: the poll at 2 s is what the consumer faced.
    store.addCommit({ group: 'g', topic: 't', partition: 0, offset: 190, timestamp: 2500 }, 3500)
    // Older than every poll kept: the latest, as Burrow does for history read at start.
    store.addCommit({ group: 'h', topic: 't', partition: 0, offset: 50, timestamp: 500 }, 3500)
    assert.equal(store.partitionInputs('g', s(4))![0]!.offsets[4]!.lag, 10)
    assert.equal(store.partitionInputs('h', s(4))![0]!.offsets[4]!.lag, 250)
    assert.equal(store.partitionInputs('g', s(4))![0]!.currentLag, 110)
  })

  it('a first commit before any log end has lag null', () => {
    const store = new ClusterStore({ intervals: 2 })
    store.addCommit({ group: 'g', topic: 't', partition: 0, offset: 5, timestamp: s(1) }, s(1))
    const [p] = store.partitionInputs('g', s(2))!
    assert.equal(p!.offsets[1]!.lag, null)
    assert.equal(p!.currentLag, 0)
    assert.equal(p!.currentLagSeconds, null)
  })

  it('current lag is the latest log end minus the last commit, and the log-end ring is bounded', () => {
    const store = new ClusterStore({ intervals: 2 })
    for (const [end, at] of [
      [10, 1],
      [30, 2],
      [60, 3],
    ])
      store.setLogEndOffsets([{ topic: 't', offsets: [end!] }], s(at!))
    store.addCommit({ group: 'g', topic: 't', partition: 0, offset: 25, timestamp: s(4) }, s(4))
    const [p] = store.partitionInputs('g', s(4))!
    assert.equal(p!.currentLag, 35)
    assert.deepEqual(p!.brokerOffsets, [30, 60])
    assert.deepEqual(store.logEndOffsets('t'), [60])
  })

  it('a poll that cannot read a partition keeps what was known', () => {
    const store = new ClusterStore({ intervals: 3 })
    store.setLogEndOffsets([{ topic: 't', offsets: [10, 20] }], s(1))
    store.setLogEndOffsets([{ topic: 't', offsets: [null, 25] }], s(2))
    assert.deepEqual(store.logEndOffsets('t'), [10, 25])
  })

  it('min-distance: a commit closer than it replaces the previous one, keeping the earlier timestamp', () => {
    const store = new ClusterStore({ intervals: 5, minDistanceMs: 1000 })
    store.setLogEndOffsets([{ topic: 't', offsets: [1000] }], 0)
    const commit = (offset: number, ts: number) =>
      store.addCommit({ group: 'g', topic: 't', partition: 0, offset, timestamp: ts }, ts)
    commit(100, 10_000)
    commit(110, 10_999) // 999 ms later: merged
    commit(120, 11_000) // 1000 ms after the kept timestamp: a new slot
    commit(130, 11_500)
    const filled = store.partitionInputs('g', 12_000)![0]!.offsets.filter((o) => o !== null)
    assert.deepEqual(
      filled.map((o) => [o.offset, o.timestamp, o.lag, o.observedAt]),
      [
        [110, 10_000, 890, 10_999],
        [130, 11_000, 870, 11_500],
      ],
    )
  })

  it('ignores a commit older than the last one, and the last one restated', () => {
    const store = new ClusterStore({ intervals: 5, minDistanceMs: 0 })
    assert.ok(store.addCommit({ group: 'g', topic: 't', partition: 0, offset: 10, timestamp: 5000 }, 1))
    assert.equal(
      store.addCommit({ group: 'g', topic: 't', partition: 0, offset: 20, timestamp: 4999 }, 2),
      false,
    )
    // A snapshot restating the same commit adds nothing.
    assert.equal(
      store.addCommit({ group: 'g', topic: 't', partition: 0, offset: 10, timestamp: 5000 }, 3),
      false,
    )
    assert.equal(store.partitionInputs('g', 0)![0]!.offsets.filter((o) => o !== null).length, 1)
  })

  it('expires a group whose newest commit is older than expire-group', () => {
    const store = new ClusterStore({ expireGroupMs: s(60) })
    store.addCommit({ group: 'old', topic: 't', partition: 0, offset: 1, timestamp: s(100) }, s(100))
    store.addCommit({ group: 'young', topic: 't', partition: 0, offset: 1, timestamp: s(100) }, s(100))
    store.addCommit({ group: 'young', topic: 't', partition: 1, offset: 1, timestamp: s(130) }, s(130))
    assert.deepEqual(store.expireGroups(s(160)), [])
    assert.deepEqual(store.expireGroups(s(160) + 1), ['old'])
    assert.deepEqual(store.groupNames(), ['young'])
  })

  it('drops deleted topics, from the cluster and from every group, and groups left empty', () => {
    const store = new ClusterStore()
    store.setLogEndOffsets(
      [
        { topic: 'a', offsets: [10] },
        { topic: 'b', offsets: [10] },
      ],
      s(1),
    )
    store.addCommit({ group: 'both', topic: 'a', partition: 0, offset: 1, timestamp: s(2) }, s(2))
    store.addCommit({ group: 'both', topic: 'b', partition: 0, offset: 1, timestamp: s(2) }, s(2))
    store.addCommit({ group: 'only-b', topic: 'b', partition: 0, offset: 1, timestamp: s(2) }, s(2))
    // A commit read after the poll began is kept: its topic may just be new.
    store.addCommit({ group: 'new', topic: 'c', partition: 0, offset: 1, timestamp: s(3) }, s(3))
    assert.deepEqual(store.setLogEndOffsets([{ topic: 'a', offsets: [12] }], s(3)), ['b'])
    assert.deepEqual(store.topicNames(), ['a'])
    assert.deepEqual(store.groupNames(), ['both', 'new'])
    assert.deepEqual(
      store.partitionInputs('both', s(4))!.map((p) => p.topic),
      ['a'],
    )
    store.setLogEndOffsets([{ topic: 'a', offsets: [12] }], s(4))
    assert.deepEqual(store.groupNames(), ['both'])
  })

  it('drops a deleted group, and one partition of a group on an offset delete', () => {
    const store = new ClusterStore()
    store.addCommit({ group: 'g', topic: 't', partition: 0, offset: 1, timestamp: 1 }, 1)
    store.addCommit({ group: 'g', topic: 't', partition: 1, offset: 1, timestamp: 1 }, 1)
    store.addCommit({ group: 'h', topic: 't', partition: 0, offset: 1, timestamp: 1 }, 1)
    store.deleteOffsets('g', 't', 1)
    assert.deepEqual(
      store.partitionInputs('g', 2)!.map((p) => p.partition),
      [0],
    )
    store.deleteOffsets('g', 't', 0)
    assert.equal(store.hasGroup('g'), false)
    assert.ok(store.deleteGroup('h'))
    assert.equal(store.deleteGroup('h'), false)
    assert.deepEqual(store.groupNames(), [])
  })

  it('owners come from the assignment and are replaced as a whole', () => {
    const store = new ClusterStore()
    store.addCommit({ group: 'g', topic: 't', partition: 0, offset: 1, timestamp: 1 }, 1)
    store.setOwners('g', [{ topic: 't', partition: 0, owner: '/10.0.0.7', clientId: 'billing-1' }])
    assert.deepEqual(
      store.partitionInputs('g', 2)!.map((p) => [p.owner, p.clientId]),
      [['/10.0.0.7', 'billing-1']],
    )
    store.setOwners('g', [])
    assert.deepEqual(
      store.partitionInputs('g', 2)!.map((p) => [p.owner, p.clientId]),
      [['', '']],
    )
  })

  it('the detail view pads each ring to `intervals` slots', () => {
    const store = new ClusterStore({ intervals: 4 })
    store.setLogEndOffsets([{ topic: 't', offsets: [50] }], 1)
    store.addCommit({ group: 'g', topic: 't', partition: 0, offset: 40, timestamp: 2 }, 3)
    const detail = store.groupDetail('g')!
    const [p] = detail.get('t')!
    assert.deepEqual(p!.offsets, [null, null, null, { offset: 40, timestamp: 2, observedAt: 3, lag: 10 }])
    assert.equal(p!.currentLag, 10)
  })

  it('property: rings never exceed intervals, timestamps never go back, lag is never negative', () => {
    const seed = Number(process.env.FC_SEED ?? Date.now() % 2 ** 31)
    console.log(`store properties: seed ${seed} (FC_SEED=${seed} to replay)`)
    const op = fc.oneof(
      fc.record({
        kind: fc.constant('commit' as const),
        offset: fc.nat(1000),
        dt: fc.integer({ min: -500, max: 3000 }),
      }),
      fc.record({ kind: fc.constant('poll' as const), end: fc.nat(1200), dt: fc.nat(3000) }),
    )
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.nat(2000),
        fc.array(op, { maxLength: 60 }),
        (intervals, minDistanceMs, ops) => {
          const store = new ClusterStore({ intervals, minDistanceMs })
          let now = 1_000_000
          for (const o of ops) {
            now += o.dt
            if (o.kind === 'commit')
              store.addCommit({ group: 'g', topic: 't', partition: 0, offset: o.offset, timestamp: now }, now)
            else store.setLogEndOffsets([{ topic: 't', offsets: [o.end] }], now)
            const p = store.partitionInputs('g', now)?.[0]
            if (!p) continue
            assert.equal(p.offsets.length, intervals)
            assert.ok(p.brokerOffsets.length <= intervals)
            const filled = p.offsets.filter((x) => x !== null)
            for (let i = 1; i < filled.length; i++)
              assert.ok(filled[i]!.timestamp - filled[i - 1]!.timestamp >= minDistanceMs)
            for (const f of filled) assert.ok(f.lag === null || f.lag >= 0)
            assert.ok(p.currentLag >= 0)
          }
        },
      ),
      { seed, numRuns: 300 },
    )
  })
})
