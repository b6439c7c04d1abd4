/**
 * The receiving node of the throughput benchmark, run as its own process so that sender and
 * receiver each have a core. Reports its address, then answers "stats" with what it received.
 */
import { silentLogger, WsTransport } from '../src/index.js'

const secret = process.env.CAIRN_BENCH_SECRET ?? 'bench-cluster-secret-0123456789'
const node = await WsTransport.start({
  nodeId: 2,
  listen: { host: '127.0.0.1', port: 0 },
  peers: new Map(),
  secret,
  logger: silentLogger,
})
let frames = 0
let messages = 0
node.onMessages((_from, batch) => {
  frames++
  messages += batch.length
})

process.on('message', (request: { type: string; port?: number }) => {
  if (request.type === 'peer' && request.port) node.setPeer(1, { host: '127.0.0.1', port: request.port })
  if (request.type === 'stats') {
    const peer = node.stats().peers.find((p) => p.peer === 1)
    const cpu = process.cpuUsage()
    process.send?.({
      type: 'stats',
      frames,
      messages,
      bytes: peer?.bytesReceived ?? 0,
      atMs: performance.now(),
      cpuUs: cpu.user + cpu.system,
    })
  }
  if (request.type === 'exit') void node.close().then(() => process.exit(0))
})
process.send?.({ type: 'ready', port: node.address().port })
