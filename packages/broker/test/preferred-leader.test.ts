/**
 * A new topic's partitions are led by their preferred (first) replicas from the start, as Kafka's
 * controller elects them at creation, without waiting for the leader balancer.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import type { CairnNode } from '../src/index.js'
import { leaderAmong, startNodes, waitFor } from './helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'cairn-preferred-'))
const nodes: CairnNode[] = []
after(async () => {
  for (const n of nodes) await n.close()
  rmSync(dir, { recursive: true, force: true })
})

describe('a new topic', () => {
  it("is led by each partition's preferred replica, with no leader balancer", async () => {
    const started = await startNodes(dir, [1, 2, 3], {
      secret: 'preferred-secret-0123456789',
      tickMs: 20,
      leaderBalanceIntervalMs: 3_600_000, // never within the test
    })
    nodes.push(...started.nodes)
    const orders = [
      [1, 2, 3],
      [2, 3, 1],
      [3, 1, 2],
      [2, 1, 3],
      [3, 2, 1],
      [1, 3, 2],
    ]
    const partitions = [...orders, ...orders] // 12: by chance all preferred about once in 500,000
    await nodes
      .find((n) => n.isController())!
      .command({ type: 'createTopic', name: 'fresh', partitions, configs: {} })
    const leaders = await waitFor('a leader for every partition', () => {
      const ids = partitions.map((_, p) => leaderAmong(nodes, 'fresh', p)?.nodeId)
      return ids.every((id) => id !== undefined) ? ids : undefined
    })
    assert.deepEqual(
      leaders,
      partitions.map((replicas) => replicas[0]),
      'each partition led by the first of its replicas',
    )
  })
})
