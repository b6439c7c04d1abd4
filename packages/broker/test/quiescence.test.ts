/**
 * Idle partitions go quiet on a live cluster (three nodes in one process, real sockets and
 * LevelDB): no Raft frames flow once every group is quiesced, a write wakes its group, and when
 * a leader's node drops off the network its followers notice through the transport's liveness
 * and elect a new leader, although nothing was ticking.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { OFFSETS_TOPIC } from '@cairn/protocol'
import type { CairnNode } from '../src/index.js'
import { leaderAmong, oneRecordBatch, startNodes, waitFor } from './helpers.js'

const PARTITIONS = 24
const TICK_MS = 20
const dir = mkdtempSync(join(tmpdir(), 'cairn-quiescence-'))
const nodes: CairnNode[] = []
after(async () => {
  for (const n of nodes) await n.close()
  rmSync(dir, { recursive: true, force: true })
})

const batch = oneRecordBatch

const statusOf = (n: CairnNode, partition: number) => {
  const p = n.partition('idle', partition)
  return p ? n.host.status(p.group) : undefined
}
const leaderOf = (partition: number, among = nodes) => leaderAmong(among, 'idle', partition)
/** Every group every node hosts: the topic's, the controller's, `__consumer_offsets`'. */
const allQuiesced = (among = nodes) =>
  among.every((n) => n.host.groupIds().every((g) => n.host.status(g)?.quiesced))
/**
 * Every node hosts every group it will (the controller's, the topic's, and `__consumer_offsets`',
 * which the controller creates on its own once every node has registered, at a moment of its
 * choosing), and each is quiesced.
 */
const settled = () =>
  nodes.every((n) => {
    const offsets = n.metadata.topics.get(OFFSETS_TOPIC)
    return offsets !== undefined && n.host.groupIds().length === 1 + PARTITIONS + offsets.partitions.length
  }) && allQuiesced()
const framesSent = (among = nodes) =>
  among.reduce((sum, n) => sum + n.transport.stats().peers.reduce((s, p) => s + p.framesSent, 0), 0)

describe('quiescence', () => {
  it('idle partitions send nothing, wake on a write, and fail over without ticking', async (t) => {
    const started = await startNodes(dir, [1, 2, 3], {
      secret: 'quiescence-secret-0123456789',
      tickMs: TICK_MS,
    })
    nodes.push(...started.nodes)
    await nodes
      .find((n) => n.isController())!
      .command({
        type: 'createTopic',
        name: 'idle',
        partitions: Array.from({ length: PARTITIONS }, (_, p) => [1, 2, 3].map((k) => ((p + k) % 3) + 1)),
        configs: {},
      })
    await waitFor('leaders', () => Array.from({ length: PARTITIONS }, (_, p) => leaderOf(p)).every(Boolean))
    await waitFor('every group of every node, __consumer_offsets too, to quiesce', settled, 20_000)

    // Quiet: over 50 ticks no group sends anything (a stray controller write is allowed for).
    const quietGroups = new Set(nodes.flatMap((n) => n.host.groupIds()))
    const before = framesSent()
    await new Promise((resolve) => setTimeout(resolve, 50 * TICK_MS))
    const sent = framesSent() - before
    t.diagnostic(`${sent} frames in 50 ticks among 3 nodes sharing ${quietGroups.size} groups`)
    assert.ok(sent <= 6, `${sent} frames in 50 ticks: idle groups should send nothing`)
    for (let p = 0; p < PARTITIONS; p++) {
      const leader = leaderOf(p)!
      assert.deepEqual(statusOf(leader, p)!.isr, [1, 2, 3], `partition ${p} keeps its ISR while quiet`)
    }

    // A write wakes its group and is acknowledged (acks=all); the group goes quiet again.
    const leader0 = leaderOf(0)!
    const written = await leader0.partition('idle', 0)!.produce(batch('wake'), -1)
    assert.equal(written.baseOffset, 0)
    await waitFor('partition 0 to go quiet again', () => allQuiesced(), 10_000)

    // The leader of partition 1 drops off the network (its transport closes, as a crash closes
    // its sockets): the followers, quiesced, hear it from the transport and elect a new leader.
    const old = leaderOf(1)!
    const survivors = nodes.filter((n) => n !== old)
    const cutAt = Date.now()
    await old.transport.close()
    await waitFor('a new leader of partition 1', () => leaderOf(1, survivors) !== undefined, 5_000)
    const electedMs = Date.now() - cutAt
    t.diagnostic(`partition 1 had a new leader ${electedMs} ms after its leader's node dropped off`)
    // Campaign within electionTicks / 2 ticks (5 × 20 ms) of the report, not an election timeout.
    assert.ok(electedMs < 1_000, `new leader after ${electedMs} ms`)
    const newLeader = leaderOf(1, survivors)!
    const after = await newLeader.partition('idle', 1)!.produce(batch('after'), -1)
    assert.equal(after.baseOffset, 0)
  })
})
