/**
 * @cairn/raft over the real store: three replicas, each with its own LevelDB, driven the way a
 * broker drives them — every Ready of a turn written, one flush, then advance — with a tail cache
 * small enough that replication must load older entries from disk. Then every store is closed and
 * reopened, and the replicas come back with their logs, terms and commits.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { type NodeId, type RaftMessage, RaftNode } from '@cairn/raft'
import { type GroupLog, LevelLogStore } from '../src/index.js'

const ids: NodeId[] = [1, 2, 3]
const dir = mkdtempSync(join(tmpdir(), 'cairn-raft-level-'))
after(() => rmSync(dir, { recursive: true, force: true }))

interface Replica {
  id: NodeId
  store: LevelLogStore
  log: GroupLog
  raft: RaftNode
  applied: string[]
}

async function open(id: NodeId): Promise<Replica> {
  const store = await LevelLogStore.open(join(dir, `node-${id}`), { tailCacheBytesMax: 4096 })
  const log = await store.group(7)
  if (log.logStart().membership.voters.length === 0) {
    // A fresh group learns its initial membership through its first log start.
    log.write({
      logStart: { index: 0, term: 0, payload: new Uint8Array(0), membership: { voters: ids, learners: [] } },
    })
    await store.flush()
  }
  let seed = id
  const raft = new RaftNode({
    id,
    group: 7,
    storage: log,
    now: () => performance.now(),
    random: () => {
      seed = (seed * 16807) % 2147483647
      return seed / 2147483647
    },
  })
  return { id, store, log, raft, applied: [] }
}

/** One turn for every replica: ready, write (done by Raft), one flush, advance; then deliver. */
async function turn(replicas: Replica[], inflight: RaftMessage[]): Promise<RaftMessage[]> {
  const out: RaftMessage[] = []
  for (const r of replicas) {
    const rd = r.raft.ready()
    if (!rd) continue
    out.push(...rd.messages)
    if (rd.sync) {
      await r.store.flush()
      r.raft.advance(rd.sync)
    }
    for (const e of rd.committed) if (e.kind === 0) r.applied.push(new TextDecoder().decode(e.data))
  }
  for (const m of inflight) replicas.find((r) => r.id === m.to)?.raft.step(m)
  return out
}

async function runUntil(replicas: Replica[], done: () => boolean, turnsMax = 5000): Promise<void> {
  let inflight: RaftMessage[] = []
  for (let t = 0; t < turnsMax && !done(); t++) {
    if (t % 5 === 0) for (const r of replicas) r.raft.tick()
    inflight = await turn(replicas, inflight)
    // Loads from LevelDB complete on later turns.
    await new Promise((resolve) => setImmediate(resolve))
  }
  assert.ok(done(), 'the cluster did not get there within the turn bound')
}

describe('raft over LevelDB', () => {
  it('replicates, commits, survives a restart of every store', async () => {
    let replicas = await Promise.all(ids.map(open))
    const leader = () => replicas.find((r) => r.raft.role === 'leader')
    await runUntil(replicas, () => leader() !== undefined)
    // node 3 stops hearing anything while 300 entries are committed: it must later read old
    // entries the leader no longer holds in its tail cache.
    const lagging = replicas.find((r) => r !== leader())!
    const active = replicas.filter((r) => r !== lagging)
    const data = Array.from({ length: 300 }, (_, k) =>
      new TextEncoder().encode(`record-${k}-${'x'.repeat(100)}`),
    )
    for (let k = 0; k < data.length; k += 30) {
      const res = leader()!.raft.propose(data.slice(k, k + 30))
      assert.ok(res.ok)
      await runUntil(active, () => active.every((r) => r.applied.length >= k + 30))
    }
    await runUntil(replicas, () => replicas.every((r) => r.applied.length === 300))
    for (const r of replicas) assert.equal(r.applied[299], `record-299-${'x'.repeat(100)}`)
    const before = replicas.map((r) => r.raft.status())
    for (const r of replicas) {
      r.raft.stop()
      await r.store.close()
    }
    replicas = await Promise.all(ids.map(open))
    for (const [k, r] of replicas.entries()) {
      const s = r.raft.status()
      assert.equal(s.term, before[k]!.term)
      assert.equal(s.lastIndex, before[k]!.lastIndex)
      assert.ok(s.commit >= before[k]!.applied, 'commit does not go back across a restart')
    }
    await runUntil(replicas, () => replicas.every((r) => r.applied.length === 300))
    for (const r of replicas) await r.store.close()
  })
})
