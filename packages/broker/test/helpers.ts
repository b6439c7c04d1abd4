import assert from 'node:assert/strict'
import { createServer } from 'node:net'
import {
  type ApiName,
  type ApiRequest,
  type ApiResponse,
  decodeResponseById,
  encodeRecordBatch,
  encodeRequest,
} from '@cairn/protocol'
import WebSocket from 'ws'
import { CairnNode, type NodeOptions, type PeerAddress } from '../src/index.js'

/**
 * Ports handed out below Linux's default ephemeral range (32768–60999). A port the kernel picked
 * for `listen(0)` comes from that range, where any outgoing connection — these tests open hundreds
 * between nodes — may take it as its source port before the node listens on it (EADDRINUSE).
 */
const PORT_MIN = 20_000
const PORT_SPAN = 12_000
const PORT_ATTEMPTS_MAX = 100
/** Ports this process handed out: never twice, even if one is not listened on yet. */
const handedOut = new Set<number>()

/** A port on 127.0.0.1, below the ephemeral range, that was free a moment ago. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < PORT_ATTEMPTS_MAX; attempt++) {
    const port = PORT_MIN + Math.floor(Math.random() * PORT_SPAN)
    if (handedOut.has(port) || !(await isFree(port))) continue
    handedOut.add(port)
    return port
  }
  throw new Error(`no free port from ${PORT_MIN} in ${PORT_ATTEMPTS_MAX} attempts`)
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer()
    server.once('error', () => resolve(false))
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)))
  })
}

/**
 * Starts nodes `ids` in this process on free ports, data under `dir`, and waits until every one
 * knows every other and a controller leads. `options` are given to every node.
 */
export async function startNodes(
  dir: string,
  ids: number[],
  options: Partial<Omit<NodeOptions, 'nodeId' | 'dataDir' | 'peers'>> & { secret: string },
): Promise<{ peers: Map<number, PeerAddress>; nodes: CairnNode[] }> {
  const peers = new Map<number, PeerAddress>()
  for (const id of ids)
    peers.set(id, { host: '127.0.0.1', port: await freePort(), raftPort: await freePort() })
  const nodes: CairnNode[] = []
  try {
    for (const id of ids)
      nodes.push(await CairnNode.start({ ...options, nodeId: id, dataDir: `${dir}/node-${id}`, peers }))
    await waitFor('registration', () => nodes.every((n) => n.metadata.brokers.size === ids.length))
    await waitFor('a controller', () => nodes.some((n) => n.isController()))
  } catch (err) {
    // The caller never sees these nodes: close them, or their sockets and timers keep the test
    // process alive after the failure.
    await Promise.allSettled(nodes.map((n) => n.close()))
    throw err
  }
  return { peers, nodes }
}

/** The node among `nodes` whose replica of `topic`-`partition` leads, if one does. */
export function leaderAmong(nodes: CairnNode[], topic: string, partition: number): CairnNode | undefined {
  return nodes.find((n) => {
    const p = n.partition(topic, partition)
    return p !== undefined && n.host.status(p.group)?.role === 'leader'
  })
}

/** A record batch of one record, value `v`, as a producer sends it. */
export const oneRecordBatch = (v: string): Uint8Array =>
  encodeRecordBatch({ records: [{ key: null, value: new TextEncoder().encode(v), timestamp: Date.now() }] })

/** Polls `probe` until it gives a value (not undefined, not false), failing after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** A bare client: one socket per node, requests matched by id. */
export class Client {
  private next = 1
  private readonly pending = new Map<
    number,
    { api: ApiName; resolve: (v: unknown) => void; reject: (e: Error) => void }
  >()
  closed: { code: number; reason: string } | null = null

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const decoded = decodeResponseById(data as Buffer, (id) => this.pending.get(id)?.api)
      if (!decoded.ok || !decoded.value) return
      const p = this.pending.get(decoded.value.id)!
      this.pending.delete(decoded.value.id)
      if (decoded.value.error)
        p.reject(Object.assign(new Error(decoded.value.message ?? ''), { code: decoded.value.error }))
      else p.resolve(decoded.value.body)
    })
    ws.on('close', (code, reason) => {
      this.closed = { code, reason: reason.toString() }
      const error = Object.assign(new Error(`connection closed: ${code} ${reason}`), {
        code: 'CONNECTION_CLOSED',
      })
      for (const p of this.pending.values()) p.reject(error)
      this.pending.clear()
    })
  }

  static async to(port: number): Promise<Client> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`)
    await new Promise((resolve, reject) => {
      ws.once('open', resolve)
      ws.once('error', reject)
    })
    return new Client(ws)
  }

  request<A extends ApiName>(api: A, body: ApiRequest<A>): Promise<ApiResponse<A>> {
    const id = this.next++
    return new Promise((resolve, reject) => {
      this.pending.set(id, { api, resolve: resolve as (v: unknown) => void, reject })
      this.ws.send(encodeRequest({ id, api, body }))
    })
  }
}
