/**
 * 3,000 idle groups shared by 3 nodes (each leads 1,000), a Raft-like heartbeat every tick from
 * each leader to its two followers, a response to each. Counts frames and bytes per tick per node
 * pair (both directions together), with the transport's default limits.
 *
 *   node --import tsx bench/heartbeats.ts [groups] [tickMs] [ticks]
 *
 * Each node ticks on its own timer with its own phase, as separate processes would.
 */
import { seededRandom, silentLogger, WsTransport } from '../src/index.js'
import { driveHeartbeats } from '../test/heartbeat-driver.js'

const groups = Number(process.argv[2] ?? 3_000)
const tickMs = Number(process.argv[3] ?? 100)
const ticks = Number(process.argv[4] ?? 50)
const warmupTicks = 5
const secret = 'bench-cluster-secret-0123456789'
const random = seededRandom(Number(process.env.CAIRN_SEED ?? 1))

const nodes = await Promise.all(
  [1, 2, 3].map((nodeId) =>
    WsTransport.start({
      nodeId,
      listen: { host: '127.0.0.1', port: 0 },
      peers: new Map(),
      secret,
      logger: silentLogger,
    }),
  ),
)
for (const a of nodes) for (const b of nodes) if (a !== b) a.setPeer(b.nodeId, b.address())
while (!nodes.every((n) => n.stats().peers.every((p) => p.state === 'open')))
  await new Promise((r) => setTimeout(r, 10))

const driver = driveHeartbeats(nodes, groups)
const timers: NodeJS.Timeout[] = []
let ticked = 0
for (const [i, node] of nodes.entries()) {
  const phaseMs = Math.floor(random() * tickMs)
  setTimeout(() => {
    timers.push(
      setInterval(() => {
        if (i === 0) ticked++
        driver.tick(node)
      }, tickMs),
    )
  }, phaseMs)
}

const bytesPerPair = () => {
  const out = new Map<string, number>()
  for (const node of nodes) {
    for (const p of node.stats().peers) {
      const key = [node.nodeId, p.peer].sort().join('-')
      out.set(key, (out.get(key) ?? 0) + p.bytesSent)
    }
  }
  return out
}

while (ticked < warmupTicks) await new Promise((r) => setTimeout(r, 5))
const framesBefore = driver.framesPerPair()
const bytesBefore = bytesPerPair()
const responsesBefore = driver.responses()
const cpuBefore = process.cpuUsage()
const tickedBefore = ticked
while (ticked < tickedBefore + ticks) await new Promise((r) => setTimeout(r, 5))
const cpu = process.cpuUsage(cpuBefore)
const measured = ticked - tickedBefore
for (const t of timers) clearInterval(t)

const framesAfter = driver.framesPerPair()
const bytesAfter = bytesPerPair()
console.log(`${groups} groups, 3 nodes, tick ${tickMs} ms, ${measured} ticks measured`)
for (const [pair, frames] of framesAfter) {
  const perTick = (frames - (framesBefore.get(pair) ?? 0)) / measured
  const bytes = ((bytesAfter.get(pair) ?? 0) - (bytesBefore.get(pair) ?? 0)) / measured
  console.log(
    `  pair ${pair}: ${perTick.toFixed(2)} frames per tick (both directions), ${(bytes / 1024).toFixed(1)} KiB per tick`,
  )
}
const heartbeatsPerTick = groups * 2
console.log(
  `  ${heartbeatsPerTick} heartbeats + ${heartbeatsPerTick} responses per tick; responses received: ` +
    `${((driver.responses() - responsesBefore) / measured).toFixed(0)} per tick; ` +
    `CPU (3 nodes, one process): ${((cpu.user + cpu.system) / 1000 / measured).toFixed(1)} ms per tick`,
)
await Promise.all(nodes.map((n) => n.close()))
