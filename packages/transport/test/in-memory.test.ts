import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { RaftMessage } from '@cairn/raft'
import { type FrameFate, InMemoryNetwork, seededRandom } from '../src/index.js'
import { seed, timeoutNow } from './helpers.js'

function record(network: InMemoryNetwork, ids: number[]) {
  const transports = ids.map((id) => network.join(id))
  const got = new Map<number, { from: number; messages: RaftMessage[] }[]>(ids.map((id) => [id, []]))
  for (const t of transports) t.onMessages((from, messages) => got.get(t.nodeId)!.push({ from, messages }))
  return { transports, got }
}

describe('InMemoryNetwork', () => {
  it('delivers one frame per pair per step, through the codec', () => {
    const network = new InMemoryNetwork()
    const {
      transports: [a, b],
      got,
    } = record(network, [1, 2, 3])
    a!.send([timeoutNow(1, 2, 1), timeoutNow(1, 3, 1)])
    a!.send([timeoutNow(1, 2, 2), { type: 'heartbeat', group: 9, from: 1, to: 2, term: 1, commit: 0 }])
    b!.send([timeoutNow(2, 1, 5)])
    assert.equal(network.step(), 3)
    assert.equal(network.step(), 0)
    assert.equal(got.get(2)!.length, 1)
    assert.deepEqual(
      got.get(2)![0]!.messages.map((m) => [m.type, m.group]),
      [
        ['heartbeat', 9],
        ['timeoutNow', 1],
        ['timeoutNow', 2],
      ],
    )
    assert.equal(got.get(3)!.length, 1)
    assert.equal(got.get(1)![0]!.from, 2)
    assert.equal(a!.stats().peers.find((p) => p.peer === 2)!.framesSent, 1)
  })

  it('reports a node that leaves the network down to the others, as a closed connection would', async () => {
    const network = new InMemoryNetwork()
    const { transports } = record(network, [1, 2, 3])
    const down: string[] = []
    for (const t of transports) t.onPeerDown((peer) => down.push(`${t.nodeId} sees ${peer}`))
    await transports[1]!.close()
    assert.deepEqual(down.sort(), ['1 sees 2', '3 sees 2'])
  })

  it('drops invalid messages and messages to unknown nodes at send', () => {
    const network = new InMemoryNetwork()
    const { transports, got } = record(network, [1, 2])
    const a = transports[0]!
    a.send([
      timeoutNow(1, 9, 1),
      timeoutNow(2, 2, 1),
      { ...timeoutNow(1, 2, 1), term: -1 },
      timeoutNow(1, 1, 1),
    ])
    network.runUntilIdle()
    assert.equal(got.get(2)!.length, 0)
    assert.equal(a.stats().droppedUnknownPeer, 2)
    assert.equal(a.stats().droppedInvalid, 2)
  })

  it('cuts one direction only', () => {
    const network = new InMemoryNetwork()
    const {
      transports: [a, b],
      got,
    } = record(network, [1, 2])
    network.cut(1, 2)
    a!.send([timeoutNow(1, 2, 1)])
    b!.send([timeoutNow(2, 1, 1)])
    network.runUntilIdle()
    assert.equal(got.get(2)!.length, 0)
    assert.equal(got.get(1)!.length, 1)
    assert.equal(network.stats().droppedByCut, 1)
    network.healAll()
    a!.send([timeoutNow(1, 2, 2)])
    network.runUntilIdle()
    assert.equal(got.get(2)!.length, 1)
  })

  it('drops and delays by a seeded hook, reproducibly', () => {
    function run(): string[] {
      const random = seededRandom(seed)
      const hook = (): FrameFate => {
        const r = random()
        return r < 0.2 ? 'drop' : { delayMs: Math.floor(r * 50) }
      }
      const network = new InMemoryNetwork({ hook })
      const { transports, got } = record(network, [1, 2, 3])
      const log: string[] = []
      for (let round = 0; round < 30; round++) {
        for (const t of transports) {
          for (const to of [1, 2, 3]) if (to !== t.nodeId) t.send([timeoutNow(t.nodeId, to, round)])
        }
        network.advance(10)
      }
      network.runUntilIdle()
      for (const [id, frames] of got)
        for (const f of frames) log.push(`${id}<-${f.from}:${f.messages[0]!.group}`)
      return log
    }
    const first = run()
    assert.deepEqual(run(), first)
    assert.ok(first.length > 0 && first.length < 180, `${first.length} frames delivered`)
  })

  it('delivers delayed frames only when virtual time reaches them', () => {
    const network = new InMemoryNetwork({ hook: () => ({ delayMs: 100 }) })
    const { transports, got } = record(network, [1, 2])
    transports[0]!.send([timeoutNow(1, 2, 1)])
    network.advance(99)
    assert.equal(got.get(2)!.length, 0)
    network.advance(1)
    assert.equal(got.get(2)!.length, 1)
  })

  it('delivers on its own in auto mode', async () => {
    const network = new InMemoryNetwork({ auto: true, hook: () => ({ delayMs: 5 }) })
    const { transports, got } = record(network, [1, 2])
    transports[0]!.send([timeoutNow(1, 2, 1)])
    const deadline = performance.now() + 2_000
    while (got.get(2)!.length === 0 && performance.now() < deadline)
      await new Promise((r) => setTimeout(r, 2))
    assert.equal(got.get(2)!.length, 1)
    network.close()
  })
})
