/** Shared by the transport tests: seeds, bounded waits, loggers, clusters, raw peers. */
import { once } from 'node:events'
import type { RaftMessage } from '@cairn/raft'
import { WebSocket } from 'ws'
import { authHeaders, challengePath, dialProof, raftPath, randomToken, secretBytes } from '../src/auth.js'
import {
  type Logger,
  type PeerAddress,
  seededRandom,
  WsTransport,
  type WsTransportOptions,
} from '../src/index.js'

export const seed: number = process.env.CAIRN_SEED
  ? Number(process.env.CAIRN_SEED)
  : Math.floor(Math.random() * 0x7fffffff)
process.on('exit', (code) => {
  if (code !== 0) console.error(`test seed: CAIRN_SEED=${seed}`)
})

export const fcOptions = (numRuns: number) => ({ seed, numRuns })
export const secret = 'test-cluster-secret-0123456789abcdef'
export const localhost = '127.0.0.1'

/** Poll `condition` until it holds; fail with `what` (and the seed) after `timeoutMs`. */
export async function waitFor(what: string, condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = performance.now() + timeoutMs
  while (!condition()) {
    if (performance.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (seed ${seed})`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** Resolve with the event's arguments, or fail after `timeoutMs`. */
export async function within<T>(what: string, promise: Promise<T>, timeoutMs = 5_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} (seed ${seed})`)),
      timeoutMs,
    )
  })
  try {
    return await Promise.race([promise, timeout])
  } finally {
    clearTimeout(timer)
  }
}

export interface LogEntry {
  level: 'info' | 'warn' | 'error'
  message: string
  fields?: Record<string, unknown>
}

export function captureLogger(): Logger & { entries: LogEntry[]; text: () => string } {
  const entries: LogEntry[] = []
  const add = (level: LogEntry['level']) => (message: string, fields?: Record<string, unknown>) => {
    entries.push(fields ? { level, message, fields } : { level, message })
  }
  return {
    entries,
    info: add('info'),
    warn: add('warn'),
    error: add('error'),
    text: () => entries.map((e) => `${e.level} ${e.message} ${JSON.stringify(e.fields ?? {})}`).join('\n'),
  }
}

export type Options = Partial<Omit<WsTransportOptions, 'nodeId' | 'peers' | 'listen'>>

/** Fast limits for tests: quick redial and quick dead-peer detection. */
export const testLimits: Options = {
  reconnectDelayMsMin: 10,
  reconnectDelayMsMax: 200,
  pingIntervalMs: 200,
  pingTimeoutMs: 2_000,
  heartbeatResponseLingerMs: 20,
}

export async function startNode(
  nodeId: number,
  options: Options & { port?: number } = {},
): Promise<WsTransport> {
  return WsTransport.start({
    nodeId,
    listen: { host: localhost, port: options.port ?? 0 },
    peers: new Map(),
    secret,
    random: seededRandom(seed + nodeId),
    logger: captureLogger(),
    ...testLimits,
    ...options,
  })
}

/** Start nodes 1..n and introduce every pair. */
export async function startCluster(
  n: number,
  options: (id: number) => Options = () => ({}),
): Promise<WsTransport[]> {
  const nodes = await Promise.all(Array.from({ length: n }, (_, i) => startNode(i + 1, options(i + 1))))
  for (const a of nodes) for (const b of nodes) if (a !== b) a.setPeer(b.nodeId, b.address())
  return nodes
}

export function connected(nodes: WsTransport[]): boolean {
  return nodes.every((n) => n.stats().peers.every((p) => p.state === 'open'))
}

/** Collect what a node receives. */
export function inbox(node: WsTransport): {
  frames: { from: number; messages: RaftMessage[] }[]
  messages: RaftMessage[]
} {
  const box = { frames: [] as { from: number; messages: RaftMessage[] }[], messages: [] as RaftMessage[] }
  node.onMessages((from, messages) => {
    box.frames.push({ from, messages })
    box.messages.push(...messages)
  })
  return box
}

export function timeoutNow(from: number, to: number, group: number): RaftMessage {
  return { type: 'timeoutNow', group, from, to, term: 1 }
}

export async function fetchChallenge(target: PeerAddress): Promise<string> {
  const res = await fetch(`http://${target.host}:${target.port}${challengePath}`)
  const challenge = res.headers.get(authHeaders.challenge)
  if (!challenge) throw new Error(`no challenge: HTTP ${res.status}`)
  return challenge
}

/** A raw WebSocket that authenticates as node `from` (with `key`) and then does what the test says. */
export async function rawPeer(
  target: PeerAddress,
  from: number,
  to: number,
  key: string = secret,
  challenge?: string,
): Promise<WebSocket> {
  const c = challenge ?? (await fetchChallenge(target))
  const nonce = randomToken()
  const ws = new WebSocket(`ws://${target.host}:${target.port}${raftPath}`, {
    headers: {
      [authHeaders.from]: String(from),
      [authHeaders.to]: String(to),
      [authHeaders.challenge]: c,
      [authHeaders.nonce]: nonce,
      [authHeaders.proof]: dialProof(secretBytes(key), from, to, c, nonce),
    },
    perMessageDeflate: false,
  })
  ws.on('error', () => {}) // the tests look at 'close' and at the server's log
  return ws
}

/** Open `ws`, or report how the server refused it (e.g. 'Unexpected server response: 401'). */
export async function openOrRefusal(ws: WebSocket): Promise<'open' | string> {
  return within(
    'the WebSocket to open or be refused',
    new Promise((resolve) => {
      ws.once('open', () => resolve('open'))
      ws.once('error', (error) => resolve(error.message))
    }),
  )
}

export async function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  const [code, reason] = (await within('the server to close the connection', once(ws, 'close'))) as [
    number,
    Buffer,
  ]
  return { code, reason: reason.toString() }
}
