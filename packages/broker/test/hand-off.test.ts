/**
 * What a client sees while leadership moves (three nodes in one process, real sockets and LevelDB):
 * a produce that arrives during a hand-off waits for it and is answered NOT_LEADER_OR_FOLLOWER
 * naming the new leader and its epoch (KIP-951), taking no offsets; and a node that stops answers
 * the requests it has received before it closes its connections with 1001.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import {
  type CairnNode,
  handOffTarget,
  LEADERSHIP_WAIT_MS_MAX,
  NotLeaderError,
  type PeerAddress,
} from '../src/index.js'
import { Client, leaderAmong, oneRecordBatch, startNodes, waitFor } from './helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'cairn-hand-off-'))
const nodes: CairnNode[] = []
let peers = new Map<number, PeerAddress>()
after(async () => {
  for (const n of nodes) await n.close()
  rmSync(dir, { recursive: true, force: true })
})

const leaderOf = (topic: string, partition: number) => leaderAmong(nodes, topic, partition)
const batch = oneRecordBatch

describe('hand-off', () => {
  it('a produce during a hand-off waits for it, then names the new leader and its epoch', async () => {
    const started = await startNodes(dir, [1, 2, 3], { secret: 'hand-off-secret-0123456789', tickMs: 20 })
    nodes.push(...started.nodes)
    peers = started.peers
    await nodes
      .find((n) => n.isController())!
      .command({ type: 'createTopic', name: 'ho', partitions: [[1, 2, 3]], configs: {} })
    const old = await waitFor('a leader', () => leaderOf('ho', 0))
    const partition = old.partition('ho', 0)!
    await waitFor('a full ISR', () => old.host.status(partition.group)?.isr.length === 3)
    const first = await partition.produce(batch('first'), -1)
    assert.equal(first.baseOffset, 0)

    const to = [1, 2, 3].find((id) => id !== old.nodeId)!
    const startedMs = performance.now()
    assert.ok(old.host.transferLeadership(partition.group, to))
    assert.ok(old.host.leadershipChanging(partition.group), 'the hand-off is under way')
    // Before this wait existed the produce was refused at once without a leader to name.
    const refused = await partition.produce(batch('during'), -1).then(
      () => assert.fail('appended on a node handing its leadership off'),
      (e: unknown) => e,
    )
    const waitedMs = performance.now() - startedMs
    assert.ok(refused instanceof NotLeaderError, String(refused))
    assert.equal(refused.leaderId, to, refused.message)
    const next = nodes.find((n) => n.nodeId === to)!
    assert.equal(refused.leaderEpoch, next.host.status(partition.group)!.term, 'the new leader’s epoch')
    assert.ok(waitedMs < LEADERSHIP_WAIT_MS_MAX, `answered when the hand-off ended (${waitedMs} ms)`)

    // The answer's offsets were not taken: the next batch on the new leader follows the first.
    await waitFor('the new leader', () => leaderOf('ho', 0)?.nodeId === to)
    const after = await waitFor('an append on the new leader', () =>
      next
        .partition('ho', 0)!
        .produce(batch('after'), -1)
        .catch(() => undefined),
    )
    assert.equal(after.baseOffset, 1)

    // Over the wire the old leader names the new one with its epoch.
    const client = await Client.to(peers.get(old.nodeId)!.port)
    const r = await client.request('produce', {
      acks: -1,
      timeoutMs: 5000,
      topics: [{ name: 'ho', partitions: [{ partition: 0, records: batch('wire') }] }],
    })
    const answer = r.topics[0]!.partitions[0]!
    assert.equal(answer.error, 'NOT_LEADER_OR_FOLLOWER')
    assert.equal(answer.leaderId, to)
    assert.equal(answer.leaderEpoch, refused.leaderEpoch)
    client.ws.close()
  })

  it('a new leader answers acks=all once it has heard from its followers, not NOT_ENOUGH_REPLICAS before', async () => {
    const controller = nodes.find((n) => n.isController())!
    await controller.command({
      type: 'createTopic',
      name: 'fresh',
      partitions: [[1, 2, 3]],
      configs: { 'min.insync.replicas': '2' },
    })
    let caught = 0
    const seen: string[] = []
    for (let attempt = 0; attempt < 8 && caught < 3; attempt++) {
      const old = await waitFor('a leader', () => leaderOf('fresh', 0))
      const group = old.partition('fresh', 0)!.group
      await waitFor('a full ISR', () => old.host.status(group)?.isr.length === 3)
      const next = nodes.find((n) => n.nodeId !== old.nodeId)!
      assert.ok(old.host.transferLeadership(group, next.nodeId))
      // Every turn of the event loop, until node `next` leads: then produce at once, before the
      // followers' answers to its first append can have arrived.
      const deadline = performance.now() + 5_000
      while (next.host.status(group)?.role !== 'leader') {
        assert.ok(performance.now() < deadline, `node ${next.nodeId} did not take over`)
        await new Promise((resolve) => setImmediate(resolve))
      }
      const isrAtStart = next.host.isrOf(group).length
      if (isrAtStart < 2) caught++
      const r = await next
        .partition('fresh', 0)!
        .produce(batch(`fresh ${attempt}`), -1)
        .then(
          (ok) => `ok at ${ok.baseOffset}`,
          (e: unknown) => String(e),
        )
      seen.push(`ISR ${isrAtStart} at election: ${r}`)
      assert.match(r, /^ok at \d+$/, seen.join('; '))
    }
    assert.ok(caught > 0, `a produce reached a leader that had heard from no follower: ${seen.join('; ')}`)
  })

  it('a stopping node answers the requests it received, then closes each connection with 1001', async () => {
    const leader = await waitFor('a leader', () => leaderOf('ho', 0))
    const port = peers.get(leader.nodeId)!.port
    const clients = [await Client.to(port), await Client.to(port)]
    const produce = (c: Client, v: string) =>
      c.request('produce', {
        acks: -1,
        timeoutMs: 5000,
        topics: [{ name: 'ho', partitions: [{ partition: 0, records: batch(v) }] }],
      })
    const answers = [produce(clients[0]!, 'a'), produce(clients[1]!, 'b'), produce(clients[0]!, 'c')]
    const closing = leader.close()
    nodes.splice(nodes.indexOf(leader), 1)
    for (const a of answers) {
      const p = (await a).topics[0]!.partitions[0]!
      // Appended before the hand-off, or refused naming the node that leads now.
      assert.ok(
        p.error === null ||
          (p.error === 'NOT_LEADER_OR_FOLLOWER' && p.leaderId !== leader.nodeId && p.leaderId > 0),
        JSON.stringify(p),
      )
    }
    await closing
    for (const c of clients) {
      await waitFor('the close frame', () => c.closed)
      assert.equal(c.closed!.code, 1001, c.closed!.reason)
    }
  })
})

describe('handOffTarget', () => {
  // Node 1 leads and stops; its log ends at 100. Heard: node 2 20 ms ago, node 3 5 ms ago.
  const status = (match2: number, match3: number) => ({
    isr: [1, 2, 3],
    match: new Map([
      [1, 100],
      [2, match2],
      [3, match3],
    ]),
    lastHeardMs: new Map([
      [2, 980],
      [3, 995],
    ]),
  })
  const pick = (s: ReturnType<typeof status>, preferred: number | undefined, skip = new Set<number>()) =>
    handOffTarget(s, 1, preferred, skip, 500, 1000)

  it('prefers the preferred replica when it is as caught up as any', () => {
    assert.equal(pick(status(100, 100), 2), 2)
    assert.equal(pick(status(100, 100), undefined), 3, 'else the one heard from last')
  })

  it('passes over an in-sync replica that is entries behind, preferred or not', () => {
    assert.equal(pick(status(60, 100), 2), 3)
    assert.equal(pick(status(100, 60), 3), 2)
  })

  it('skips replicas tried already, and starts over once each was', () => {
    const skip = new Set([3])
    assert.equal(pick(status(100, 100), 3, skip), 2)
    skip.add(2)
    assert.equal(pick(status(100, 100), undefined, skip), 3)
    assert.equal(skip.size, 0)
  })
})
