/**
 * Throughput of one node-to-node connection: the sender here, the receiver in a child process.
 *
 *   node --import tsx bench/throughput.ts            both sizes
 *   node --import tsx bench/throughput.ts 16k|100b   one
 *
 * Each frame carries one append with one entry (send + flush per frame). The sender keeps the socket's buffer
 * between the watermarks and never lets its queue drop anything; rates are measured at the
 * receiver, after decoding and validating, over a window that starts after a warm-up.
 */
import { type ChildProcess, fork } from 'node:child_process'
import { once } from 'node:events'
import { fileURLToPath } from 'node:url'
import { encodeFrame } from '@cairn/protocol'
import type { RaftMessage } from '@cairn/raft'
import { silentLogger, WsTransport } from '../src/index.js'

const warmupMs = 1_000
const windowMs = 5_000
const secret = 'bench-cluster-secret-0123456789'

interface ReceiverStats {
  frames: number
  messages: number
  bytes: number
  atMs: number
  cpuUs: number
}

function ask(child: ChildProcess): Promise<ReceiverStats> {
  const reply = once(child, 'message') as Promise<[ReceiverStats]>
  child.send({ type: 'stats' })
  return reply.then(([stats]) => stats)
}

/** An append carrying one entry, sized so that its frame is exactly `frameBytes`. */
function appendOfFrameSize(frameBytes: number): (i: number) => RaftMessage {
  // Raft sends entries it already holds: the data is not allocated per send.
  const buffers = new Map<number, Uint8Array>()
  const dataOf = (bytes: number) =>
    buffers.get(bytes) ?? buffers.set(bytes, new Uint8Array(bytes).fill(7)).get(bytes)!
  const make = (dataBytes: number, i: number): RaftMessage => ({
    type: 'append',
    group: 1_234,
    from: 1,
    to: 2,
    term: 3,
    prevIndex: 1_000_000 + i,
    prevTerm: 3,
    commit: 1_000_000 + i,
    entries: [{ index: 1_000_001 + i, term: 3, kind: 0, data: dataOf(dataBytes) }],
  })
  let dataBytes = frameBytes
  while (encodeFrame({ from: 1, to: 2, messages: [make(dataBytes, 0)] }).length > frameBytes) dataBytes--
  return (i) => make(dataBytes, i)
}

async function run(name: string, make: (i: number) => RaftMessage, framesPerTurn: number): Promise<void> {
  const child = fork(fileURLToPath(new URL('./receiver.ts', import.meta.url)), [], {
    execArgv: [
      '--import',
      'tsx',
      ...(process.env.CAIRN_BENCH_PROF ? ['--cpu-prof', '--cpu-prof-dir=/tmp/prof'] : []),
    ],
    env: { ...process.env, CAIRN_BENCH_SECRET: secret },
  })
  const [ready] = (await once(child, 'message')) as [{ port: number }]
  const sender = await WsTransport.start({
    nodeId: 1,
    listen: { host: '127.0.0.1', port: 0 },
    peers: new Map([[2, { host: '127.0.0.1', port: ready.port }]]),
    secret,
    logger: silentLogger,
  })
  child.send({ type: 'peer', port: sender.address().port })
  while (sender.stats().peers[0]!.state !== 'open') await new Promise((r) => setTimeout(r, 10))

  const frameBytes = encodeFrame({ from: 1, to: 2, messages: [make(0)] }).length
  let i = 0
  let running = true
  const pump = async () => {
    while (running) {
      const peer = sender.stats().peers[0]!
      // Stay below the high watermark ourselves, so nothing is ever dropped from the queue.
      if (peer.queueMessages === 0 && peer.bufferedBytes < 2 * 1024 * 1024) {
        for (let k = 0; k < framesPerTurn; k++) {
          sender.send([make(i++)])
          sender.flush()
        }
      }
      await new Promise((resolve) => setImmediate(resolve))
    }
  }
  const pumping = pump()
  await new Promise((r) => setTimeout(r, warmupMs))
  const start = await ask(child)
  const senderCpuStart = process.cpuUsage()
  await new Promise((r) => setTimeout(r, windowMs))
  const end = await ask(child)
  const senderCpu = process.cpuUsage(senderCpuStart)
  running = false
  await pumping

  const seconds = (end.atMs - start.atMs) / 1000
  const frames = end.frames - start.frames
  const bytes = end.bytes - start.bytes
  const dropped = sender.stats().peers[0]!.dropped
  console.log(
    `${name}: frame ${frameBytes} B; ${(frames / seconds / 1000).toFixed(1)}k frames/s; ` +
      `${(bytes / seconds / 1e6).toFixed(1)} MB/s (${(bytes / seconds / 2 ** 20).toFixed(1)} MiB/s); ` +
      `CPU per frame: sender ${((senderCpu.user + senderCpu.system) / frames).toFixed(2)} µs, ` +
      `receiver ${((end.cpuUs - start.cpuUs) / frames).toFixed(2)} µs; ` +
      `window ${seconds.toFixed(2)} s; drops ${JSON.stringify(dropped)}`,
  )
  child.send({ type: 'exit' })
  await Promise.all([sender.close(), once(child, 'exit')])
}

const which = process.argv[2]
if (!which || which === '16k') await run('16 KiB frames', appendOfFrameSize(16 * 1024), 64)
if (!which || which === '100b') await run('100-byte frames', appendOfFrameSize(100), 1_000)
