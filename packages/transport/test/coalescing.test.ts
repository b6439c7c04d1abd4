/**
 * Heartbeats coalesce: between two nodes, one frame per tick each way carries the heartbeats and
 * the heartbeat responses of every group they share.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { InMemoryNetwork, type WsTransport } from '../src/index.js'
import { driveHeartbeats } from './heartbeat-driver.js'
import { connected, startCluster, waitFor } from './helpers.js'

describe('coalesced heartbeats', () => {
  it('in memory: 3 nodes, 3,000 groups, one frame per kind and direction per tick', () => {
    const network = new InMemoryNetwork()
    const nodes = [1, 2, 3].map((id) => network.join(id))
    const driver = driveHeartbeats(nodes, 3_000)
    const ticks = 10
    for (let t = 0; t < ticks; t++) {
      for (const node of nodes) driver.tick(node)
      network.advance(100)
    }
    // The responses of the last tick are framed by the next step; deliver them.
    network.runUntilIdle()
    assert.equal(driver.responses(), ticks * 3_000 * 2)
    for (const [pair, frames] of driver.framesPerPair()) {
      // Per tick: heartbeats each way, then responses each way (responses do not linger in memory).
      assert.equal(frames / ticks, 4, pair)
    }
  })

  it('over WebSocket: 3 nodes, 900 groups, at most 3 frames per pair per tick', async () => {
    const tickMs = 50
    const nodes = await startCluster(3, () => ({ heartbeatResponseLingerMs: tickMs }))
    const timers: NodeJS.Timeout[] = []
    try {
      await waitFor('links open', () => connected(nodes))
      const driver = driveHeartbeats(nodes, 900)
      const before = driver.framesPerPair()
      const ticks = 20
      let ticked = 0
      // Each node ticks on its own timer, as independent processes would.
      nodes.forEach((node: WsTransport, i) => {
        setTimeout(
          () => {
            timers.push(
              setInterval(() => {
                if (i === 0) ticked++
                driver.tick(node)
              }, tickMs),
            )
          },
          (i * tickMs) / 3,
        )
      })
      await waitFor(`${ticks} ticks`, () => ticked >= ticks, 10_000)
      for (const [pair, frames] of driver.framesPerPair()) {
        const perTick = (frames - (before.get(pair) ?? 0)) / ticked
        assert.ok(perTick <= 3, `${pair}: ${perTick.toFixed(2)} frames per tick`)
      }
      assert.ok(driver.responses() > 0)
    } finally {
      for (const t of timers) clearInterval(t)
      await Promise.all(nodes.map((n) => n.close()))
    }
  })
})
