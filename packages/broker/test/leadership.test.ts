/**
 * Leadership on a live cluster (three nodes in one process): preferred leaders are restored by
 * the balancer, a clean stop hands leadership off so writes resume at once, and /metrics tells.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import type { CairnNode } from '../src/index.js'
import { leaderAmong, oneRecordBatch, startNodes, waitFor } from './helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'cairn-leadership-'))
const nodes: CairnNode[] = []
after(async () => {
  for (const n of nodes) await n.close()
  rmSync(dir, { recursive: true, force: true })
})

const leaderOf = (topic: string, partition: number) => leaderAmong(nodes, topic, partition)
const batch = oneRecordBatch

describe('leadership', () => {
  it('restores preferred leaders, hands off on a clean stop, and reports in /metrics', async (t) => {
    const started = await startNodes(dir, [1, 2, 3], {
      secret: 'leadership-secret-0123456789',
      tickMs: 20,
      leaderBalanceIntervalMs: 200,
    })
    const peers = started.peers
    nodes.push(...started.nodes)
    await nodes
      .find((n) => n.isController())!
      .command({
        type: 'createTopic',
        name: 'bal',
        partitions: [
          [1, 2, 3],
          [2, 3, 1],
          [3, 1, 2],
        ],
        configs: {},
      })
    const preferredLeadersLead = () => [0, 1, 2].every((p) => leaderOf('bal', p)?.nodeId === p + 1)
    await waitFor('preferred leaders', preferredLeadersLead)

    // Pile every partition's leadership onto node 1; the balancer gives it back.
    for (const p of [1, 2]) {
      const n = leaderOf('bal', p)!
      n.host.transferLeadership(n.partition('bal', p)!.group, 1)
    }
    await waitFor('node 1 to lead everything', () => [0, 1, 2].every((p) => leaderOf('bal', p)?.nodeId === 1))
    await waitFor('the balancer to restore preferred leaders', preferredLeadersLead)

    // A clean stop of partition 0's leader: writes go on almost at once on the new leader.
    const old = leaderOf('bal', 0)!
    const stopped = Date.now()
    await old.close()
    nodes.splice(nodes.indexOf(old), 1)
    let resumedMs = -1
    for (let attempt = 0; attempt < 500 && resumedMs < 0; attempt++) {
      const n = leaderOf('bal', 0)
      if (n) {
        await n.partition('bal', 0)!.produce(batch('after'), -1)
        resumedMs = Date.now() - stopped
      } else await new Promise((resolve) => setTimeout(resolve, 5))
    }
    assert.ok(resumedMs >= 0, 'writes resumed')
    t.diagnostic(`writes resumed ${resumedMs} ms after the clean stop of the leader began`)
    assert.ok(resumedMs < 2000, `writes resumed ${resumedMs} ms after the clean stop began`)

    // nodes[0] may be a follower: its high watermark follows the leader's by one heartbeat.
    const port = peers.get(nodes[0]!.nodeId)!.port
    const text = await waitFor('the high watermark in /metrics', async () => {
      const body = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()
      return /cairn_partition_high_watermark\{topic="bal",partition="0"\} 1/.test(body) ? body : undefined
    })
    assert.match(text, /cairn_store_syncs_total \d+/)
    assert.match(text, /cairn_partition_leader\{topic="bal",partition="\d"\} 1/)
  })
})
