/**
 * The same RaftHost over the in-memory network instead of WebSocket: the node code does not care
 * which transport carries its messages. A one-way cut isolates the leader's outbound traffic;
 * a new leader is elected and commits; after the heal every replica agrees.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import type { NodeId } from '@cairn/raft'
import { LevelLogStore } from '@cairn/storage'
import { InMemoryNetwork } from '@cairn/transport'
import { NotLeaderError, RaftHost } from '../src/index.js'
import { waitFor } from './helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'cairn-host-mem-'))
after(() => rmSync(dir, { recursive: true, force: true }))

describe('RaftHost over the in-memory network', () => {
  it('elects, commits, fails over when the leader is cut off, and converges after the heal', async () => {
    const ids: NodeId[] = [1, 2, 3]
    const network = new InMemoryNetwork({ auto: true })
    const nodes = await Promise.all(
      ids.map(async (id) => {
        const store = await LevelLogStore.open(join(dir, `node-${id}`))
        let seed = id * 104729
        const host = new RaftHost({
          nodeId: id,
          store,
          transport: network.join(id),
          tickMs: 20,
          random: () => {
            seed = (seed * 16807) % 2147483647
            return seed / 2147483647
          },
        })
        const applied: string[] = []
        host.onCommitted((_g, entries) => {
          for (const e of entries) if (e.kind === 0) applied.push(new TextDecoder().decode(e.data))
        })
        await host.openGroup(0, { voters: ids, learners: [] })
        return { id, host, store, applied }
      }),
    )
    const leader = () => nodes.find((n) => n.host.status(0)?.role === 'leader')
    try {
      await waitFor('a leader', () => leader() !== undefined)
      const first = leader()!
      await first.host.propose(0, [new TextEncoder().encode('before')])
      for (const other of ids) if (other !== first.id) network.cut(first.id, other)
      await waitFor('a new leader', () =>
        nodes.some((n) => n !== first && n.host.status(0)?.role === 'leader'),
      )
      const second = nodes.find((n) => n !== first && n.host.status(0)?.role === 'leader')!
      await second.host.propose(0, [new TextEncoder().encode('after')])
      await assert.rejects(first.host.propose(0, [new TextEncoder().encode('lost')]), NotLeaderError)
      network.healAll()
      await waitFor('every replica to apply both records', () => nodes.every((n) => n.applied.length === 2))
      for (const n of nodes) assert.deepEqual(n.applied, ['before', 'after'], `node ${n.id}`)
    } finally {
      for (const n of nodes) {
        await n.host.close()
        await n.store.close()
      }
      network.close()
    }
  })
})
