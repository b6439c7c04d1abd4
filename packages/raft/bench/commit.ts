/**
 * The ceiling the rest of the stack works under: proposals committed per second by one 3-node
 * Raft group in memory — no disk, no network — with proposals batched per turn as the broker does.
 *
 *   node --import tsx bench/commit.ts [--seconds 10] [--batch 256] [--bytes 100]
 */
import { parseArgs } from 'node:util'
import { MemoryStorage, type RaftMessage, RaftNode } from '../src/index.js'

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    batch: { type: 'string', default: '256' },
    bytes: { type: 'string', default: '100' },
  },
})
const seconds = Number(values.seconds)
const batch = Number(values.batch)
const payload = new Uint8Array(Number(values.bytes))

const ids = [1, 2, 3]
const nodes = ids.map((id) => {
  const storage = new MemoryStorage({ voters: ids, learners: [] })
  let r = id * 7919
  const random = () => {
    r = (r * 16807) % 2147483647
    return r / 2147483647
  }
  return { storage, raft: new RaftNode({ id, group: 0, storage, now: () => performance.now(), random }) }
})
const byId = new Map(ids.map((id, k) => [id, nodes[k]!]))

let inflight: RaftMessage[] = []
function pump(): void {
  for (let round = 0; round < 50; round++) {
    for (const n of nodes) {
      const rd = n.raft.ready()
      if (!rd) continue
      inflight.push(...rd.messages)
      if (rd.sync) {
        n.storage.sync()
        n.raft.advance(rd.sync)
      }
    }
    if (inflight.length === 0) return
    const batchOut = inflight
    inflight = []
    for (const m of batchOut) byId.get(m.to)!.raft.step(m)
  }
}

const leader = nodes[0]!
for (let k = 0; k < 30 && leader.raft.role !== 'leader'; k++) {
  leader.raft.tick()
  pump()
}
if (leader.raft.role !== 'leader') throw new Error('no leader')

const data = Array.from({ length: batch }, () => payload)
const started = performance.now()
const startCommit = leader.raft.commitIndex
let turns = 0
let lastReport = started
while (performance.now() - started < seconds * 1000) {
  const r = leader.raft.propose(data)
  if (!r.ok) throw new Error(`propose failed: ${JSON.stringify(r)}`)
  pump()
  turns++
  if (turns % 64 === 0) {
    // Retention keeps the in-memory log bounded, as it would in a broker.
    for (const n of nodes) {
      const applied = n.raft.status().applied
      if (applied > 100_000) n.raft.compact(applied - 50_000, new Uint8Array(0))
    }
    const now = performance.now()
    if (now - lastReport > 2000) {
      lastReport = now
      const rate = (leader.raft.commitIndex - startCommit) / ((now - started) / 1000)
      process.stderr.write(`bench: ${Math.round(rate).toLocaleString()} proposals/s\n`)
    }
  }
}
const elapsed = (performance.now() - started) / 1000
const committed = leader.raft.commitIndex - startCommit
console.log(
  `3-node group in memory, batch ${batch} x ${payload.byteLength} B: ${Math.round(committed / elapsed).toLocaleString()} proposals committed/s (${turns} turns, ${elapsed.toFixed(1)} s)`,
)
