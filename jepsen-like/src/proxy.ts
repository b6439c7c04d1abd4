/**
 * The network-partition nemesis: one TCP proxy per ordered node pair (from → to).
 *
 * A Cairn node sends its Raft messages to peer j only on the connection it dialed to j, so the
 * harness starts node i with peer j's raft address set to `address(i, j)`: everything i sends to
 * j crosses proxy (i, j), and cutting that one proxy is a one-way partition — j stops hearing
 * from i while i still hears from j (over proxy (j, i)).
 *
 * A cut link behaves like an iptables DROP on that direction of the pair's TCP connections:
 * - `cut` destroys every live connection through the proxy (both sockets) at once;
 * - while cut, new connections are accepted but nothing is forwarded either way: the dialer's
 *   bytes are discarded and no upstream connection is opened;
 * - `heal` destroys those black-holed connections, so the dialer notices and reconnects.
 *
 * Fault methods add to the current faults (`cut`, `isolate`, `partition`, `ring`, `delay`);
 * call `heal()` first to replace them.
 *
 * Bounds: `connectionsPerLinkMax` open connections per link (extra ones are dropped),
 * `connectTimeoutMs` to reach the target, and `delayedBytesMax` bytes held per connection by
 * `delay` (the connection is destroyed beyond it). Without delay, a slow writer pauses the
 * reader (backpressure), so the proxy holds at most a socket's high-water mark per direction.
 */
import { connect, createServer, type Server, type Socket } from 'node:net'

export interface LinkProxiesOptions {
  nodes: number[]
  /** Where node `to` really listens for raft connections. */
  target: (to: number) => { host: string; port: number }
  /** Listen host; default 127.0.0.1. */
  host?: string
  /** Fixed listen ports; default ephemeral (0). */
  ports?: (from: number, to: number) => number
  /** default 64 */
  connectionsPerLinkMax?: number
  /** default 64 MiB */
  delayedBytesMax?: number
  /** default 5000 */
  connectTimeoutMs?: number
}

export interface LinkStats {
  from: number
  to: number
  /** Bytes forwarded from → to (delivered to the target), over the proxy's lifetime. */
  bytes: number
  /** Bytes forwarded back, to → from, on the connections `from` dialed. */
  bytesReturned: number
  /** Bytes discarded because the link was cut. */
  bytesDropped: number
  /** Connections accepted over the proxy's lifetime (including black-holed ones). */
  connections: number
  /** Connections open now. */
  open: number
  /** Connections refused because `connectionsPerLinkMax` were open. */
  refused: number
  /** Bytes the proxy holds now, both directions: delayed chunks and socket write buffers. */
  buffered: number
  /** Connections whose reading side is paused now because the writing side is full. */
  paused: number
}

const CONNECTIONS_PER_LINK_MAX = 64
const DELAYED_BYTES_MAX = 64 * 1024 * 1024
const CONNECT_TIMEOUT_MS = 5000

interface Chunk {
  data: Buffer
  /** Date.now() at which the chunk may be written; non-decreasing along a pipe. */
  dueAt: number
}

/**
 * One direction of one proxied connection: reads `src` and writes `dst` in order, each chunk no
 * earlier than its due time. While `dst` is full, `src` is paused. Once `src` is done and
 * everything is written, `dst` is ended, and destroyed after its FIN if `src` is closed.
 */
class Pipe {
  private readonly queue: Chunk[] = []
  private queuedBytes = 0
  private lastDueAt = 0
  private timer: NodeJS.Timeout | undefined
  private blocked = false
  private srcDone = false
  private dstEnding = false

  constructor(
    private readonly src: Socket,
    private readonly dst: Socket,
    private readonly delayMs: () => number,
    private readonly delayedBytesMax: number,
    private readonly onForwarded: (bytes: number) => void,
    private readonly fail: () => void,
  ) {
    src.on('data', (data: Buffer) => this.push(data))
    src.on('end', () => this.finish())
    src.on('close', () => this.finish())
  }

  private push(data: Buffer): void {
    this.lastDueAt = Math.max(this.lastDueAt, Date.now() + this.delayMs())
    this.queue.push({ data, dueAt: this.lastDueAt })
    this.queuedBytes += data.length
    if (this.queuedBytes > this.delayedBytesMax) return this.fail()
    this.flush()
  }

  private finish(): void {
    this.srcDone = true
    this.flush()
  }

  /** Writes every due chunk, then arms one timer for the next. */
  private flush(): void {
    if (this.blocked || this.dst.destroyed) return
    const now = Date.now()
    while (this.queue.length > 0) {
      const chunk = this.queue[0]!
      if (chunk.dueAt > now) return this.arm(chunk.dueAt - now)
      this.queue.shift()
      this.queuedBytes -= chunk.data.length
      this.onForwarded(chunk.data.length)
      if (!this.dst.write(chunk.data)) return this.block()
    }
    if (this.srcDone && !this.dstEnding) {
      this.dstEnding = true
      // With the source closed nothing can come back the other way either: drop dst after its FIN.
      this.dst.end(() => {
        if (this.src.destroyed) this.dst.destroy()
      })
    }
  }

  private arm(ms: number): void {
    if (this.timer !== undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.flush()
    }, ms)
  }

  private block(): void {
    this.blocked = true
    this.src.pause()
    this.dst.once('drain', () => {
      this.blocked = false
      this.src.resume()
      this.flush()
    })
  }

  /** Bytes read from `src` and not yet handed to the kernel for `dst`. */
  bufferedBytes(): number {
    return this.queuedBytes + (this.dst.destroyed ? 0 : this.dst.writableLength)
  }

  isBlocked(): boolean {
    return this.blocked
  }

  dispose(): void {
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.queue.length = 0
    this.queuedBytes = 0
  }
}

/** One accepted connection: the dialer's socket and, unless black-holed, the upstream one. */
interface Connection {
  sockets: Socket[]
  pipes: Pipe[]
  destroy: () => void
}

class Link {
  readonly open = new Set<Connection>()
  server: Server | undefined
  port = 0
  isCut = false
  delayMs = 0
  bytes = 0
  bytesReturned = 0
  bytesDropped = 0
  connections = 0
  refused = 0

  constructor(
    readonly from: number,
    readonly to: number,
  ) {}

  /** Destroys every connection through this link, forwarding or black-holed. */
  destroyAll(): void {
    for (const connection of this.open) connection.destroy()
    this.open.clear()
  }
}

export class LinkProxies {
  private readonly nodes: number[]
  private readonly host: string
  private readonly links = new Map<string, Link>()
  private readonly connectionsPerLinkMax: number
  private readonly delayedBytesMax: number
  private readonly connectTimeoutMs: number
  private started = false
  private closing: Promise<void> | undefined

  constructor(private readonly o: LinkProxiesOptions) {
    this.nodes = [...o.nodes]
    if (new Set(this.nodes).size !== this.nodes.length) throw new Error(`duplicate node ids: ${o.nodes}`)
    this.host = o.host ?? '127.0.0.1'
    this.connectionsPerLinkMax = o.connectionsPerLinkMax ?? CONNECTIONS_PER_LINK_MAX
    this.delayedBytesMax = o.delayedBytesMax ?? DELAYED_BYTES_MAX
    this.connectTimeoutMs = o.connectTimeoutMs ?? CONNECT_TIMEOUT_MS
    if (this.connectionsPerLinkMax < 1) throw new Error('connectionsPerLinkMax must be >= 1')
    for (const from of this.nodes) {
      for (const to of this.nodes) if (from !== to) this.links.set(key(from, to), new Link(from, to))
    }
  }

  /** Listens on one port per ordered pair; if any fails, closes them all and rejects. */
  async start(): Promise<void> {
    if (this.started) throw new Error('LinkProxies already started')
    if (this.closing !== undefined) throw new Error('LinkProxies closed')
    this.started = true
    try {
      await Promise.all([...this.links.values()].map((link) => this.listen(link)))
    } catch (error) {
      await this.close()
      throw error
    }
  }

  address(from: number, to: number): { host: string; port: number } {
    const link = this.link(from, to)
    if (link.port === 0) throw new Error('LinkProxies not started')
    return { host: this.host, port: link.port }
  }

  /** One-way: `to` stops hearing from `from`. */
  cut(from: number, to: number): void {
    const link = this.link(from, to)
    link.isCut = true
    link.destroyAll()
  }

  /** Cuts both directions between `node` and every other node. */
  isolate(node: number): void {
    if (!this.nodes.includes(node)) throw new Error(`unknown node ${node}`)
    for (const other of this.nodes) {
      if (other === node) continue
      this.cut(node, other)
      this.cut(other, node)
    }
  }

  /**
   * Nodes in different groups cannot talk, in either direction. A node may be in at most one
   * group; a node in no group keeps all its links.
   */
  partition(groups: number[][]): void {
    const groupOf = new Map<number, number>()
    groups.forEach((group, g) => {
      for (const node of group) {
        if (!this.nodes.includes(node)) throw new Error(`unknown node ${node}`)
        if (groupOf.has(node)) throw new Error(`node ${node} is in two groups`)
        groupOf.set(node, g)
      }
    })
    for (const link of this.links.values()) {
      const a = groupOf.get(link.from)
      const b = groupOf.get(link.to)
      if (a !== undefined && b !== undefined && a !== b) this.cut(link.from, link.to)
    }
  }

  /**
   * Jepsen's majorities ring: every node hears from a majority (itself and h = floor(n/2)
   * others), and no two nodes hear from the same majority. The nodes sit on a ring in `order`
   * (a permutation of the nodes; default their order in `nodes` — shuffle it with a seeded
   * random). The node at position k hears from the ceil(h/2) nodes before it and the floor(h/2)
   * nodes after it; every other link into it is cut.
   *
   * - 5 nodes, ring 1-2-3-4-5: each node talks, both ways, to its two neighbours only; the pairs
   *   two apart are cut both ways: 1↔3, 1↔4, 2↔4, 2↔5, 3↔5 (10 one-way cuts). Majorities:
   *   {5,1,2}, {1,2,3}, {2,3,4}, {3,4,5}, {4,5,1}.
   * - 3 nodes, ring 1-2-3: no symmetric answer exists (each node must hear from exactly one
   *   other), so the ring is one-way: a node hears only from its predecessor. Open: 1→2, 2→3,
   *   3→1; cut: 2→1, 3→2, 1→3. Majorities: {3,1}, {1,2}, {2,3}. No pair has a two-way link, so
   *   no request gets its reply.
   * - n ≤ 2: nothing is cut.
   */
  ring(order: number[] = this.nodes): void {
    const n = order.length
    if (n !== this.nodes.length || new Set(order).size !== n || !order.every((x) => this.nodes.includes(x))) {
      throw new Error(`ring order ${order} is not a permutation of ${this.nodes}`)
    }
    const others = Math.floor(n / 2)
    const before = Math.ceil(others / 2)
    const after = others - before
    order.forEach((to, k) => {
      const hears = new Set<number>([to])
      for (let d = 1; d <= before; d++) hears.add(order[(k - d + n) % n]!)
      for (let d = 1; d <= after; d++) hears.add(order[(k + d) % n]!)
      for (const from of order) if (!hears.has(from)) this.cut(from, to)
    })
  }

  /**
   * Adds `ms` of latency to every chunk forwarded from → to from now on (replies, to → from on
   * the same connections, are not delayed). Byte order is kept: a chunk is never written before
   * one read ahead of it, even when the delay shrinks.
   */
  delay(from: number, to: number, ms: number): void {
    if (!(Number.isFinite(ms) && ms >= 0)) throw new Error(`delay must be a finite ms >= 0, not ${ms}`)
    this.link(from, to).delayMs = ms
  }

  /**
   * Everything flows again: black-holed connections are destroyed (dialers reconnect) and delays
   * removed (chunks already delayed keep their time, so order holds).
   */
  heal(): void {
    for (const link of this.links.values()) {
      if (link.isCut) {
        link.isCut = false
        link.destroyAll()
      }
      link.delayMs = 0
    }
  }

  /** The cut links, [from, to], sorted. */
  cuts(): [number, number][] {
    return this.sortedLinks()
      .filter((link) => link.isCut)
      .map((link) => [link.from, link.to])
  }

  stats(): LinkStats[] {
    return this.sortedLinks().map((link) => ({
      from: link.from,
      to: link.to,
      bytes: link.bytes,
      bytesReturned: link.bytesReturned,
      bytesDropped: link.bytesDropped,
      connections: link.connections,
      open: link.open.size,
      refused: link.refused,
      buffered: sum([...link.open].flatMap((c) => c.pipes.map((pipe) => pipe.bufferedBytes()))),
      paused: [...link.open].filter((c) => c.pipes.some((pipe) => pipe.isBlocked())).length,
    }))
  }

  /** Closes every listener and socket. Idempotent: later calls return the first call's promise. */
  close(): Promise<void> {
    if (this.closing === undefined) {
      const closed = [...this.links.values()].map((link) => {
        link.destroyAll()
        const server = link.server
        if (server === undefined || !server.listening) return undefined
        return new Promise<void>((resolve) => server.close(() => resolve()))
      })
      this.closing = Promise.all(closed).then(() => undefined)
    }
    return this.closing
  }

  private link(from: number, to: number): Link {
    const link = this.links.get(key(from, to))
    if (link === undefined) throw new Error(`no link ${from}→${to} among nodes ${this.nodes}`)
    return link
  }

  private sortedLinks(): Link[] {
    return [...this.links.values()].sort((a, b) => a.from - b.from || a.to - b.to)
  }

  private listen(link: Link): Promise<void> {
    const server = createServer({ allowHalfOpen: true }, (client) => this.accept(link, client))
    link.server = server
    return new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.o.ports?.(link.from, link.to) ?? 0, this.host, () => {
        server.off('error', reject)
        // Later server errors (EMFILE on accept) must not crash the harness.
        server.on('error', () => {})
        const address = server.address()
        if (address === null || typeof address === 'string') return reject(new Error('no TCP address'))
        link.port = address.port
        resolve()
      })
    })
  }

  private accept(link: Link, client: Socket): void {
    client.on('error', () => client.destroy())
    if (this.closing !== undefined) return void client.destroy()
    if (link.open.size >= this.connectionsPerLinkMax) {
      link.refused++
      return void client.destroy()
    }
    link.connections++
    if (link.isCut) this.blackhole(link, client)
    else this.forward(link, client)
  }

  /** Reads and discards until the link heals (or is cut again, or closed). */
  private blackhole(link: Link, client: Socket): void {
    client.on('data', (data: Buffer) => {
      link.bytesDropped += data.length
    })
    this.track(link, { sockets: [client], pipes: [], destroy: () => client.destroy() })
  }

  private forward(link: Link, client: Socket): void {
    const target = this.o.target(link.to)
    const upstream = connect({ host: target.host, port: target.port, allowHalfOpen: true })
    upstream.setTimeout(this.connectTimeoutMs, () => upstream.destroy())
    upstream.once('connect', () => upstream.setTimeout(0))
    const pipes: Pipe[] = []
    const destroy = (): void => {
      for (const pipe of pipes) pipe.dispose()
      client.destroy()
      upstream.destroy()
    }
    // ECONNREFUSED (target down), ECONNRESET (target killed), EPIPE: drop the whole connection.
    upstream.on('error', destroy)
    client.on('error', destroy)
    const forward = (bytes: number): void => {
      link.bytes += bytes
    }
    const returned = (bytes: number): void => {
      link.bytesReturned += bytes
    }
    pipes.push(new Pipe(client, upstream, () => link.delayMs, this.delayedBytesMax, forward, destroy))
    pipes.push(new Pipe(upstream, client, () => 0, this.delayedBytesMax, returned, destroy))
    this.track(link, { sockets: [client, upstream], pipes, destroy })
  }

  /** Counts the connection open until all its sockets have closed. */
  private track(link: Link, connection: Connection): void {
    link.open.add(connection)
    let open = connection.sockets.length
    for (const socket of connection.sockets) {
      socket.once('close', () => {
        open--
        if (open > 0) return
        link.open.delete(connection)
        connection.destroy() // releases the pipes' timers
      })
    }
  }
}

function key(from: number, to: number): string {
  return `${from}->${to}`
}

function sum(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0)
}
