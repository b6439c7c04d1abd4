import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { PEER_DOWN_CAMPAIGN_TICKS_MAX, PRE_VOTE_REASK_TICKS } from '../src/core.js'
import { setDefects } from '../src/defects.js'
import type { RaftMessage } from '../src/index.js'
import { TestCluster, values } from './harness.js'

const isAppend = (m: RaftMessage) => m.type === 'append' || m.type === 'snapshot'

describe('election', () => {
  it('elects one leader that replicates committed entries to every node', () => {
    const c = new TestCluster([1, 2, 3])
    c.elect(1)
    assert.equal(c.node(1).raft.role, 'leader')
    assert.equal(c.node(2).raft.status().leaderId, 1)
    const r = c.propose(1, 'a', 'b')
    assert.ok(r.ok)
    c.deliverAll()
    c.tickAll(2)
    for (const id of [1, 2, 3]) assert.deepEqual(values(c.node(id)), ['a', 'b'], `node ${id}`)
  })

  it('answers NOT_LEADER with the leader id on a follower', () => {
    const c = new TestCluster([1, 2, 3])
    c.elect(1)
    const r = c.propose(2, 'x')
    assert.deepEqual(r, { ok: false, error: 'NOT_LEADER', leaderId: 1 })
  })

  it('campaign(): a follower elects itself at once; nothing on a leader, nor against a live leader, nor on a non-voter', () => {
    const c = new TestCluster([1, 2, 3])
    c.node(2).raft.campaign() // no tick: the election timer has not run
    c.process()
    c.deliverAll()
    assert.equal(c.node(2).raft.role, 'leader')
    assert.equal(c.node(1).raft.status().leaderId, 2)
    const term = c.node(2).raft.term
    c.node(2).raft.campaign()
    c.node(3).raft.campaign() // pre-vote: the others still hear from leader 2
    c.process()
    c.deliverAll()
    assert.equal(c.node(2).raft.role, 'leader')
    assert.equal(c.node(2).raft.term, term)
    // A node outside the membership never campaigns.
    const outsider = c.addNode(4, [1, 2, 3])
    c.addNode(5, [1, 2, 3]) // (a second, so the cluster's own nodes are not the only members)
    outsider.raft.campaign()
    c.process()
    assert.equal(outsider.raft.role, 'follower')
    assert.equal(outsider.raft.term, 0)
    assert.equal(c.inflight.filter((m) => m.from === 4).length, 0, 'it sent nothing')
  })

  it('pre-vote: a node cut off does not raise its term or disrupt the leader when it returns', () => {
    const c = new TestCluster([1, 2, 3])
    c.elect(1)
    const term = c.node(1).raft.term
    const cut = (m: RaftMessage) => m.from !== 3 && m.to !== 3
    for (let k = 0; k < 100; k++) {
      for (const id of [1, 2, 3]) c.node(id).raft.tick()
      c.process()
      c.deliverAll(cut)
    }
    assert.equal(c.node(3).raft.term, term, 'pre-vote keeps the cut-off node from raising its term')
    c.tickAll(30)
    assert.equal(c.node(1).raft.role, 'leader')
    assert.equal(c.node(1).raft.term, term)
  })

  it('check-quorum: a leader that hears from no quorum steps down', () => {
    const c = new TestCluster([1, 2, 3])
    c.elect(1)
    for (let k = 0; k < 30; k++) {
      c.node(1).raft.tick()
      c.process()
      c.inflight = []
    }
    assert.equal(c.node(1).raft.role, 'follower')
  })

  it('does not send a vote before the vote is durable', () => {
    const c = new TestCluster([1, 2, 3])
    const n1 = c.node(1)
    for (let k = 0; k < 30 && !c.inflight.some((m) => m.type === 'vote'); k++) {
      n1.raft.tick()
      c.process()
      // let pre-votes through
      for (const m of c.inflight.filter((x) => x.type === 'preVote')) c.node(m.to).raft.step(m)
      c.inflight = c.inflight.filter((m) => m.type !== 'preVote')
      c.process()
      for (const m of c.inflight.filter((x) => x.type === 'preVoteResponse')) n1.raft.step(m)
      c.inflight = c.inflight.filter((m) => m.type !== 'preVoteResponse')
      c.process()
    }
    const vote = c.inflight.find((m) => m.type === 'vote' && m.to === 2)
    assert.ok(vote, 'node 1 campaigns')
    c.inflight = []
    const n2 = c.node(2)
    n2.raft.step(vote)
    const rd = n2.raft.ready()
    assert.ok(rd?.sync, 'the vote is a write to make durable')
    assert.equal(rd.messages.filter((m) => m.type === 'voteResponse').length, 0, 'no vote before fsync')
    n2.storage.sync()
    n2.raft.advance(rd.sync)
    const after = n2.raft.ready()
    const response = after?.messages.find((m) => m.type === 'voteResponse')
    assert.equal(response?.type === 'voteResponse' && response.granted, true)
  })

  it('a restarted node keeps its term and vote; a commit index it had not synced it learns again', () => {
    const c = new TestCluster([1, 2, 3])
    c.elect(1)
    c.propose(1, 'a')
    c.deliverAll()
    c.tickAll(2)
    const before = c.node(2).raft.status()
    assert.deepEqual(values(c.node(2)), ['a'])
    c.crash(2)
    c.restart(2)
    const after = c.node(2).raft.status()
    assert.equal(after.term, before.term)
    assert.equal(after.vote, before.vote)
    assert.ok(after.commit <= before.commit)
    c.tickAll(3)
    assert.ok(c.node(2).raft.status().commit >= before.commit, 'the leader brings the commit index back')
    assert.deepEqual(values(c.node(2)), ['a'], 'committed entries are applied again after a restart')
  })

  it('a commit index alone asks for no sync: it reaches the disk with the next synced write', () => {
    const c = new TestCluster([1, 2, 3])
    c.elect(1)
    const follower = c.node(2)
    const r = c.node(1).raft.propose([new TextEncoder().encode('x')])
    assert.ok(r.ok)
    // Deliver everything but keep the follower's Readies to look at them: the commit index comes
    // with the leader's next message, after the entry itself was synced.
    c.deliverAll()
    c.tickAll(2)
    assert.ok(follower.raft.commitIndex >= r.lastIndex)
    const synced = follower.storage.pendingCount()
    assert.ok(synced > 0, 'the commit index was written, not synced')
    assert.equal(follower.raft.ready()?.sync ?? null, null)
    // A vote still waits for its sync: "does not send a vote before the vote is durable" above.
  })
})

describe('replication and commit', () => {
  it('a leader counts its own append only once it is durable', () => {
    const c = new TestCluster([1, 2, 3])
    c.elect(1)
    const leader = c.node(1)
    const r = leader.raft.propose([new TextEncoder().encode('x')])
    assert.ok(r.ok)
    const rd = leader.raft.ready()
    assert.ok(rd?.sync)
    c.inflight.push(...rd.messages)
    // node 2 acknowledges; node 3 hears nothing; the leader has not synced yet
    c.deliverAll((m) => m.to !== 3 && m.from !== 3)
    assert.ok(leader.raft.commitIndex < r.lastIndex, 'one durable replica of three is no quorum')
    leader.storage.sync()
    leader.raft.advance(rd.sync)
    c.process()
    assert.ok(leader.raft.commitIndex >= r.lastIndex)
  })

  it('commits an earlier term entry only through an entry of its own term (Figure 8)', () => {
    const { c, leader, x } = figure8()
    assert.ok(leader.commitIndex < x, 'x is on a majority but of an earlier term: not committed')
    c.deliverAll((m) => m.to !== 2)
    assert.ok(leader.commitIndex > x, 'committed with the new term entry after it')
  })

  it('the Figure 8 check catches a leader that counts replicas for an earlier term', () => {
    setDefects(['commit-old-term'])
    try {
      const { leader, x } = figure8()
      assert.ok(leader.commitIndex >= x, 'with the defect, x commits by counting replicas')
    } finally {
      setDefects([])
    }
  })

  it('refuses proposals past uncommittedBytesMax with PROPOSALS_FULL', () => {
    const c = new TestCluster([1, 2, 3], { uncommittedBytesMax: 10 })
    c.elect(1)
    c.inflight = []
    assert.ok(c.propose(1, '0123456789').ok)
    const r = c.propose(1, 'more')
    assert.equal(r.ok, false)
    assert.equal(!r.ok && r.error, 'PROPOSALS_FULL')
  })
})

describe('commit propagation', () => {
  it('a commit alone rides on the next append or heartbeat: no append of its own to fsync and answer', () => {
    const c = new TestCluster([1, 2, 3])
    c.elect(1)
    c.tickAll(2)
    const r = c.propose(1, 'a')
    assert.ok(r.ok)
    const delivered: RaftMessage[] = []
    c.deliverAll((m) => delivered.push(m) > 0)
    assert.ok(c.node(1).raft.commitIndex >= r.lastIndex, 'committed on the leader')
    // The followers' acknowledgements committed the entry; the leader sends nothing for that alone.
    const commitOnly = delivered.filter((m) => m.type === 'append' && m.entries.length === 0)
    assert.deepEqual(commitOnly, [])
    assert.deepEqual(values(c.node(2)), [], 'node 2 has not heard of the commit yet')
    const next = c.propose(1, 'b')
    assert.ok(next.ok)
    const append = c.inflight.find((m) => m.type === 'append' && m.to === 2)
    assert.ok(append?.type === 'append' && append.commit >= r.lastIndex, 'the next append carries it')
    c.deliverAll()
    c.tickAll(2) // the heartbeat carries the second commit
    for (const id of [1, 2, 3]) assert.deepEqual(values(c.node(id)), ['a', 'b'], `node ${id}`)
  })

  it('a committed membership change goes to the followers at once', () => {
    const c = new TestCluster([1, 2, 3])
    c.elect(1)
    c.tickAll(2)
    const r = c.node(1).raft.changeMembership({ type: 'remove', node: 3 })
    assert.ok(r.ok)
    c.process()
    c.deliverAll()
    assert.ok(c.node(1).raft.commitIndex >= r.lastIndex)
    assert.ok(c.node(2).raft.commitIndex >= r.lastIndex, 'node 2 knows the change is committed')
  })
})

describe('leadership transfer', () => {
  it('moves leadership to the named node with TimeoutNow', () => {
    const c = new TestCluster([1, 2, 3])
    c.elect(1)
    c.propose(1, 'a')
    c.deliverAll()
    const r = c.node(1).raft.transferLeadership(3)
    assert.ok(r.ok)
    c.process()
    c.deliverAll()
    assert.equal(c.node(3).raft.role, 'leader')
    assert.equal(c.node(1).raft.role, 'follower')
  })

  it('refuses proposals while a transfer is in progress', () => {
    const c = new TestCluster([1, 2, 3])
    c.elect(1)
    c.node(1).raft.transferLeadership(2)
    c.process()
    const r = c.propose(1, 'late')
    assert.equal(!r.ok && r.error, 'TRANSFER_IN_PROGRESS')
  })
})

describe('membership', () => {
  it('adds a learner that becomes a voter once caught up, and removes a voter', () => {
    const c = new TestCluster([1, 2, 3])
    c.elect(1)
    c.propose(1, 'a', 'b')
    c.deliverAll()
    c.addNode(4, [1, 2, 3])
    const r = c.node(1).raft.changeMembership({ type: 'addLearner', node: 4 })
    assert.ok(r.ok)
    c.tickAll(20)
    assert.deepEqual(c.node(1).raft.status().membership.voters, [1, 2, 3, 4])
    assert.deepEqual(values(c.node(4)), ['a', 'b'])
    const removal = c.node(1).raft.changeMembership({ type: 'remove', node: 2 })
    assert.ok(removal.ok)
    c.tickAll(5)
    assert.deepEqual(c.node(1).raft.status().membership.voters, [1, 3, 4])
  })

  it('allows one configuration change at a time', () => {
    const c = new TestCluster([1, 2, 3])
    c.elect(1)
    c.tickAll(3)
    assert.ok(c.node(1).raft.changeMembership({ type: 'remove', node: 3 }).ok)
    const second = c.node(1).raft.changeMembership({ type: 'remove', node: 2 })
    assert.equal(!second.ok && second.error, 'CONFIG_CHANGE_PENDING')
  })
})

describe('prefix truncation', () => {
  it('sends a follower behind the log start the log start instead of entries', () => {
    const c = new TestCluster([1, 2, 3])
    c.elect(1)
    c.crash(3)
    for (let k = 0; k < 5; k++) {
      c.propose(1, `v${k}`)
      c.deliverAll()
    }
    c.tickAll(2)
    const leader = c.node(1).raft
    const applied = leader.status().applied
    assert.ok(leader.compact(applied - 1, new TextEncoder().encode('offset=42')).ok)
    c.process()
    assert.equal(c.node(1).storage.logStart().index, applied - 1)
    c.restart(3)
    c.tickAll(10)
    const n3 = c.node(3)
    assert.equal(n3.storage.logStart().index, applied - 1)
    assert.equal(new TextDecoder().decode(n3.storage.logStart().payload), 'offset=42')
    assert.equal(n3.raft.status().commit, leader.commitIndex)
  })
})

describe('ISR', () => {
  it('drops a follower that lags past replicaLagTimeMs and takes it back once caught up', () => {
    const c = new TestCluster([1, 2, 3], { replicaLagTimeMs: 100 })
    c.elect(1)
    c.tickAll(2)
    assert.deepEqual(c.node(1).raft.status().isr, [1, 2, 3])
    const cut = (m: RaftMessage) => m.from !== 3 && m.to !== 3
    for (let k = 0; k < 15; k++) {
      c.now += 10
      c.propose(1, `v${k}`)
      for (const id of [1, 2, 3]) c.node(id).raft.tick()
      c.process()
      c.deliverAll(cut)
    }
    assert.deepEqual(c.node(1).raft.status().isr, [1, 2])
    c.now += 10
    c.tickAll(3)
    assert.deepEqual(c.node(1).raft.status().isr, [1, 2, 3])
  })
})

/**
 * Node 1 appends x that nobody receives and crashes; node 2 wins and writes its own entry at x's
 * index, which nobody receives, and crashes; node 1 returns, wins with node 3, and x reaches
 * node 3 one entry at a time. Returns when the leader knows node 3 holds x.
 */
function figure8() {
  const c = new TestCluster([1, 2, 3], { appendEntriesMax: 1 })
  c.elect(1)
  c.propose(1, 'a')
  c.deliverAll()
  c.tickAll(2)
  const proposed = c.propose(1, 'x')
  assert.ok(proposed.ok)
  const x = proposed.firstIndex
  c.inflight = []
  c.crash(1)
  // node 3's lease on node 1 runs out; node 2 wins with its vote
  for (let k = 0; k < 11; k++) c.node(3).raft.tick()
  c.inflight = []
  c.elect(2, (m) => !isAppend(m))
  assert.equal(c.node(2).raft.status().lastIndex, x)
  c.inflight = []
  c.crash(2)
  c.restart(1)
  for (let k = 0; k < 11; k++) c.node(3).raft.tick()
  c.inflight = []
  c.elect(1, (m) => !isAppend(m))
  const leader = c.node(1).raft
  // one message at a time, until the leader learns that node 3 holds x
  for (let k = 0; k < 200 && (leader.status().match.get(3) ?? 0) < x; k++) {
    const m = c.inflight.shift()
    if (!m) leader.tick()
    else if (m.to !== 2) c.node(m.to).raft.step(m)
    c.process()
  }
  assert.equal(leader.status().match.get(3), x, 'node 3 holds x')
  return { c, leader, x }
}

describe('quiescence', () => {
  const quiet = { quiesce: true, replicaLagTimeMs: 1_000 }

  /** Elects node 1, commits one entry everywhere, and ticks until every replica has gone quiet. */
  function quiesced(seed = 1): TestCluster {
    const c = new TestCluster([1, 2, 3], quiet, seed)
    c.elect(1)
    c.propose(1, 'a')
    c.deliverAll()
    for (let k = 0; k < 30 && ![1, 2, 3].every((id) => c.node(id).raft.quiesced); k++) c.tickAll()
    for (const id of [1, 2, 3]) assert.ok(c.node(id).raft.quiesced, `node ${id} quiesced`)
    return c
  }

  it('an idle, replicated group stops sending anything, keeps its leader and its ISR', () => {
    const c = quiesced()
    const term = c.node(1).raft.term
    for (let k = 0; k < 200; k++) {
      c.now += 100
      for (const id of [1, 2, 3]) c.node(id).raft.tick()
      c.process()
      assert.deepEqual(c.inflight, [], `tick ${k}: a quiesced group sends nothing`)
    }
    assert.equal(c.node(1).raft.role, 'leader')
    assert.equal(c.node(1).raft.term, term)
    assert.deepEqual(c.node(1).raft.status().isr, [1, 2, 3], '20 s of silence do not shrink the ISR')
    for (const id of [2, 3]) assert.equal(c.node(id).raft.role, 'follower')
  })

  it('a proposal wakes the group; it commits everywhere and goes quiet again', () => {
    const c = quiesced()
    assert.ok(c.propose(1, 'b').ok)
    assert.equal(c.node(1).raft.quiesced, false)
    c.deliverAll()
    c.tickAll(2)
    for (const id of [1, 2, 3]) assert.deepEqual(values(c.node(id)), ['a', 'b'], `node ${id}`)
    for (let k = 0; k < 30 && !c.node(1).raft.quiesced; k++) c.tickAll()
    assert.ok(c.node(1).raft.quiesced, 'quiet again')
    assert.deepEqual(c.node(1).raft.status().isr, [1, 2, 3])
  })

  it('followers of a dead leader campaign only once told the peer is down, then within 2 ticks', () => {
    const c = quiesced()
    c.crash(1)
    for (let k = 0; k < 100; k++) c.tickAll()
    assert.equal(c.leader(), undefined, 'quiesced followers do not notice a failure by themselves')
    for (const id of [2, 3]) c.node(id).raft.peerDown(1)
    let ticks = 0
    for (; ticks < 30 && !c.leader(); ticks++) c.tickAll()
    assert.ok(c.leader(), 'a new leader')
    assert.ok(
      ticks <= PEER_DOWN_CAMPAIGN_TICKS_MAX,
      `elected after ${ticks} ticks (election timeout is 10..19)`,
    )
  })

  it('two survivors that campaign at once do not split the vote (lower id wins the pre-vote)', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const c = quiesced(seed)
      c.crash(1)
      for (const id of [2, 3]) c.node(id).raft.peerDown(1)
      let ticks = 0
      for (; ticks < 40 && !c.leader(); ticks++) c.tickAll()
      assert.ok(ticks <= PEER_DOWN_CAMPAIGN_TICKS_MAX, `seed ${seed}: elected after ${ticks} ticks`)
    }
  })

  /**
   * Survivor `first` hears that `dead` is down and campaigns while `last`, still in its leader's
   * lease, drops the pre-vote; then `last` hears too, after `first` stopped asking again on ticks
   * (PRE_VOTE_REASK_TICKS), as when it learns only from a ping timeout. Returns the ticks from then
   * to a leader: `first`'s next round (its election timeout, 10..19 ticks) is too late to count.
   */
  function heardOneAfterTheOther(
    c: TestCluster,
    { dead, first, last, seed }: { dead: number; first: number; last: number; seed: number },
  ): number {
    const [early, late] = [c.node(first).raft, c.node(last).raft]
    early.peerDown(dead)
    for (let k = 0; k < 10 && early.role !== 'preCandidate'; k++) c.tickAll()
    assert.equal(early.role, 'preCandidate', `seed ${seed}: node ${first} campaigns`)
    c.tickAll(PRE_VOTE_REASK_TICKS + 1)
    assert.equal(early.role, 'preCandidate', `seed ${seed}: node ${first} still campaigns`)
    assert.equal(late.role, 'follower', `seed ${seed}: node ${last} dropped the pre-vote`)
    late.peerDown(dead)
    let ticks = 0
    for (; ticks < 40 && !c.leader(); ticks++) c.tickAll()
    return ticks
  }

  it('a pre-candidate whose pre-vote was dropped (that survivor still followed the dead leader) asks again when it campaigns', () => {
    // Node 2 hears of node 1's death first and campaigns; node 3 has not heard yet, is in its
    // leader's lease and drops the pre-vote. When node 3 campaigns in turn, node 2 refuses it (the
    // lower id wins between pre-candidates) — and must then ask node 3 again, or both wait out a
    // whole election timeout.
    for (let seed = 1; seed <= 20; seed++) {
      const c = quiesced(seed)
      c.crash(1)
      const ticks = heardOneAfterTheOther(c, { dead: 1, first: 2, last: 3, seed })
      assert.ok(
        ticks <= PEER_DOWN_CAMPAIGN_TICKS_MAX + 1,
        `seed ${seed}: elected ${ticks} ticks after node 3 heard`,
      )
    }
  })

  it('a pre-candidate refusing a lower-id pre-candidate whose log is behind asks it again for its own', () => {
    // As above, but the survivor that hears last (node 1, the lower id) missed the dead leader's
    // last entry: node 2 refuses it as behind — and must then ask node 1 again, which dropped
    // node 2's first pre-vote while it still followed node 3, or both wait out an election timeout.
    for (let seed = 1; seed <= 20; seed++) {
      const c = new TestCluster([1, 2, 3], quiet, seed)
      c.elect(3)
      assert.ok(c.propose(3, 'a').ok)
      c.deliverAll()
      c.tickAll(2)
      assert.ok(c.propose(3, 'b').ok)
      c.deliverAll((m) => m.to !== 1) // node 1 misses 'b'
      c.crash(3)
      assert.ok(
        c.node(2).storage.lastIndex() > c.node(1).storage.lastIndex(),
        `seed ${seed}: node 1 is behind`,
      )
      const ticks = heardOneAfterTheOther(c, { dead: 3, first: 2, last: 1, seed })
      assert.equal(c.leader()?.id, 2, `seed ${seed}: the survivor with the whole log leads`)
      assert.ok(
        ticks <= PEER_DOWN_CAMPAIGN_TICKS_MAX + 1,
        `seed ${seed}: elected ${ticks} ticks after node 1 heard (election timeout is 10..19)`,
      )
    }
  })

  it('a pre-candidate asks again a voter that dropped its pre-vote, without waiting for that voter to campaign', () => {
    // Node 2 hears of node 1's death first and campaigns; node 3 has not heard yet, is in its
    // leader's lease and drops the pre-vote. Node 3 then hears, but does not campaign yet (its
    // timer runs later, or its process is busy: here it is not ticked at all). Node 2 asks it
    // again on its next tick and is elected, instead of waiting out its election timeout (10..19).
    for (let seed = 1; seed <= 20; seed++) {
      const c = quiesced(seed)
      c.crash(1)
      const [early, late] = [c.node(2).raft, c.node(3).raft]
      early.peerDown(1)
      for (let k = 0; k < 10 && early.role !== 'preCandidate'; k++) c.tick(2)
      c.deliverAll()
      assert.equal(early.role, 'preCandidate', `seed ${seed}: node 2 campaigns`)
      assert.equal(late.role, 'follower', `seed ${seed}: node 3 dropped the pre-vote`)
      late.peerDown(1)
      let ticks = 0
      for (; ticks < 40 && !c.leader(); ticks++) {
        c.tick(2)
        c.deliverAll()
      }
      assert.equal(c.leader()?.id, 2, `seed ${seed}: node 2 is elected`)
      assert.ok(
        ticks <= 2,
        `seed ${seed}: elected ${ticks} ticks after node 3 heard (election timeout is 10..19)`,
      )
    }
  })

  it('a pre-candidate cut off from a live leader asks again only at the start of each round', () => {
    // Node 3 cannot reach the leader, node 1, and campaigns; node 2 still hears node 1 and drops
    // every pre-vote. Node 3 asks again on the first ticks of a round only, not on every tick.
    const c = quiesced()
    c.node(3).raft.peerDown(1)
    let asked = 0
    for (let tick = 0; tick < 40; tick++) {
      c.tick(3)
      asked += c.inflight.filter((m) => m.type === 'preVote' && m.from === 3 && m.to === 2).length
      c.deliverAll((m) => !(m.from === 3 && m.to === 1) && !(m.from === 1 && m.to === 3))
      c.tick(1)
      c.deliverAll((m) => !(m.from === 3 && m.to === 1) && !(m.from === 1 && m.to === 3))
    }
    assert.equal(c.node(1).raft.role, 'leader', 'node 1 still leads')
    assert.notEqual(c.node(3).raft.role, 'leader')
    // 40 ticks: at most 4 rounds (election timeout 10..19 ticks), each 1 + 3 asks.
    assert.ok(asked >= 2 && asked <= 16, `node 3 asked node 2 ${asked} times in 40 ticks`)
  })

  it('a leader wakes when a member goes down, and the member leaves the ISR after the lag time', () => {
    const c = quiesced()
    c.crash(3)
    c.node(1).raft.peerDown(3)
    assert.equal(c.node(1).raft.quiesced, false)
    for (let k = 0; k < 15; k++) {
      c.now += 100
      c.tickAll()
      assert.equal(c.node(1).raft.quiesced, false, 'no quiescence while a member is silent')
    }
    assert.deepEqual(c.node(1).raft.status().isr, [1, 2])
  })

  it('a follower restarted in a quiet group learns the commit index it had not synced from the woken leader', () => {
    const c = quiesced()
    const committed = c.node(3).raft.commitIndex
    c.crash(3)
    c.restart(3)
    assert.ok(c.node(3).raft.commitIndex < committed, 'the commit index alone was not synced')
    assert.deepEqual(values(c.node(3)), [])
    // The transport reports a restarted peer down (it was silent), which wakes the leader.
    c.node(1).raft.peerDown(3)
    for (let k = 0; k < 5 && c.node(3).raft.commitIndex < committed; k++) {
      c.now += 100
      c.tickAll()
    }
    assert.equal(c.node(3).raft.commitIndex, committed)
    assert.deepEqual(values(c.node(3)), ['a'], 'its committed entries are applied again')
  })

  it('a follower whose log does not end at the quiesce index answers instead, which wakes the leader', () => {
    const c = quiesced()
    const n2 = c.node(2).raft
    const last = n2.status().lastIndex
    n2.step({
      type: 'append',
      group: 0,
      from: 1,
      to: 2,
      term: n2.term,
      prevIndex: last,
      prevTerm: n2.term,
      entries: [],
      commit: last,
    })
    c.process()
    c.inflight = []
    n2.step({ type: 'quiesce', group: 0, from: 1, to: 2, term: n2.term, commit: last + 5 })
    c.process()
    assert.equal(n2.quiesced, false)
    const answer = c.inflight.find((m) => m.from === 2)
    assert.equal(answer?.type, 'heartbeatResponse')
    c.deliverAll()
    assert.equal(c.node(1).raft.quiesced, false, 'the answer woke the leader')
  })
})
