/**
 * The link proxies over real sockets on 127.0.0.1: each node's target is a small recording
 * server (echoing when asked), each "node" a test client dialing address(from, to).
 */
import assert from 'node:assert/strict'
import { connect, createServer, type Server, type Socket } from 'node:net'
import { afterEach, describe, it } from 'node:test'
import { LinkProxies, type LinkProxiesOptions } from '../src/proxy.js'

const WAIT_MS_MAX = 5000
const POLL_MS = 5
/** A socket's write high-water mark (16 KiB) plus a read chunk (64 KiB), with room to spare. */
const BACKPRESSURE_BUFFERED_MAX = 1024 * 1024

/** Polls `condition` until it holds; fails after `timeoutMs`. */
async function waitFor(what: string, condition: () => boolean, timeoutMs = WAIT_MS_MAX): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, POLL_MS))
  }
}

/** Stands in for node `id`'s raft listener: records what each connection received. */
class Target {
  readonly sockets: Socket[] = []
  readonly received: Buffer[][] = []
  private readonly server: Server
  port = 0

  constructor(
    readonly id: number,
    o: { echo?: boolean; pauseOnConnect?: boolean } = {},
  ) {
    this.server = createServer({ pauseOnConnect: o.pauseOnConnect ?? false }, (socket) => {
      const chunks: Buffer[] = []
      this.sockets.push(socket)
      this.received.push(chunks)
      socket.on('error', () => socket.destroy())
      socket.on('data', (data: Buffer) => {
        chunks.push(data)
        if (o.echo) socket.write(data)
      })
    })
  }

  async listen(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    const address = this.server.address()
    assert.ok(address !== null && typeof address === 'object')
    this.port = address.port
    return this
  }

  get connections(): number {
    return this.sockets.length
  }

  text(connection?: number): string {
    const all = connection === undefined ? this.received.flat() : (this.received[connection] ?? [])
    return Buffer.concat(all).toString()
  }

  bytes(): number {
    return this.received.flat().reduce((sum, b) => sum + b.length, 0)
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy()
    if (!this.server.listening) return
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }
}

/** Stands in for a node dialing a peer through its proxy. */
class Client {
  readonly socket: Socket
  readonly chunks: Buffer[] = []
  closed = false
  connected = false

  constructor(address: { host: string; port: number }) {
    this.socket = connect(address)
    this.socket.on('connect', () => {
      this.connected = true
    })
    this.socket.on('data', (data: Buffer) => this.chunks.push(data))
    this.socket.on('error', () => {})
    this.socket.on('close', () => {
      this.closed = true
    })
  }

  text(): string {
    return Buffer.concat(this.chunks).toString()
  }
}

/** Everything a test opened, closed in afterEach; then no TCP handle or timer may remain. */
const opened: { proxies: LinkProxies[]; targets: Target[]; clients: Client[] } = {
  proxies: [],
  targets: [],
  clients: [],
}

afterEach(async () => {
  for (const client of opened.clients) client.socket.destroy()
  await Promise.all(opened.proxies.map((p) => p.close()))
  await Promise.all(opened.targets.map((t) => t.close()))
  opened.proxies.length = 0
  opened.targets.length = 0
  opened.clients.length = 0
  await waitFor('no sockets, servers or timers left', () => leftovers().length === 0)
})

function leftovers(): string[] {
  const kinds = ['TCPSocketWrap', 'TCPServerWrap', 'TCPConnectWrap', 'Timeout']
  return process.getActiveResourcesInfo().filter((kind) => kinds.includes(kind))
}

async function cluster(
  ids: number[],
  o: Partial<LinkProxiesOptions> & { echo?: boolean; pauseOnConnect?: boolean } = {},
): Promise<{ proxies: LinkProxies; targets: Map<number, Target> }> {
  const targets = new Map<number, Target>()
  for (const id of ids) {
    const target = await new Target(id, o).listen()
    opened.targets.push(target)
    targets.set(id, target)
  }
  const proxies = new LinkProxies({
    ...o,
    nodes: ids,
    target: o.target ?? ((to) => ({ host: '127.0.0.1', port: targets.get(to)!.port })),
  })
  opened.proxies.push(proxies)
  await proxies.start()
  return { proxies, targets }
}

function dial(proxies: LinkProxies, from: number, to: number): Client {
  const client = new Client(proxies.address(from, to))
  opened.clients.push(client)
  return client
}

function stat(proxies: LinkProxies, from: number, to: number) {
  const s = proxies.stats().find((x) => x.from === from && x.to === to)
  assert.ok(s, `no stats for ${from}→${to}`)
  return s
}

describe('LinkProxies forwarding', () => {
  it('forwards each ordered pair to its target, and replies back', async () => {
    const { proxies, targets } = await cluster([1, 2, 3], { echo: true })
    const pairs = [1, 2, 3].flatMap((from) => [1, 2, 3].filter((to) => to !== from).map((to) => [from, to]))
    assert.equal(new Set(pairs.map(([f, t]) => proxies.address(f!, t!).port)).size, 6)
    for (const [from, to] of pairs as [number, number][]) {
      const client = dial(proxies, from, to)
      client.socket.write(`${from}->${to};`)
      await waitFor(`echo on ${from}→${to}`, () => client.text() === `${from}->${to};`)
    }
    for (const [id, target] of targets) {
      const expected = [1, 2, 3].filter((from) => from !== id).map((from) => `${from}->${id};`)
      assert.deepEqual(target.received.map((_, i) => target.text(i)).sort(), expected)
    }
    for (const s of proxies.stats()) {
      const bytes = `${s.from}->${s.to};`.length
      assert.deepEqual(
        [s.bytes, s.bytesReturned, s.connections, s.open, s.bytesDropped, s.buffered, s.paused],
        [bytes, bytes, 1, 1, 0, 0, 0],
      )
    }
  })

  it('carries a large transfer intact through a slow reader (backpressure)', async () => {
    const { proxies, targets } = await cluster([1, 2], { pauseOnConnect: true })
    const payload = Buffer.alloc(64 * 1024 * 1024)
    for (let i = 0; i < payload.length; i += 4) payload.writeUInt32LE(i, i)
    const client = dial(proxies, 1, 2)
    client.socket.end(payload)
    const target = targets.get(2)!
    await waitFor('target accepted', () => target.connections === 1)
    // The target reads nothing yet: once the kernel buffers fill, the proxy pauses the dialer
    // rather than buffer the rest itself.
    await waitFor('proxy paused the dialer', () => stat(proxies, 1, 2).paused === 1)
    let bufferedMax = stat(proxies, 1, 2).buffered
    assert.ok(stat(proxies, 1, 2).bytes < payload.length)
    target.sockets[0]!.resume()
    await waitFor(
      'whole payload',
      () => {
        bufferedMax = Math.max(bufferedMax, stat(proxies, 1, 2).buffered)
        return target.bytes() === payload.length
      },
      20_000,
    )
    assert.ok(bufferedMax <= BACKPRESSURE_BUFFERED_MAX, `proxy held ${bufferedMax} bytes`)
    assert.ok(Buffer.concat(target.received[0]!).equals(payload))
    // The client's FIN is passed on after the last byte; the target closes; so does the client.
    target.sockets[0]!.end()
    await waitFor('client closed', () => client.closed)
    await waitFor('connection released', () => stat(proxies, 1, 2).open === 0)
  })
})

describe('LinkProxies cut and heal', () => {
  it('cut(1,2) destroys the live connection, black-holes new ones until heal, then reconnects', async () => {
    const { proxies, targets } = await cluster([1, 2, 3])
    const target2 = targets.get(2)!
    const live = dial(proxies, 1, 2)
    live.socket.write('before')
    await waitFor('bytes through 1→2', () => target2.text() === 'before')

    proxies.cut(1, 2)
    assert.deepEqual(proxies.cuts(), [[1, 2]])
    await waitFor('dialer side closed', () => live.closed)
    await waitFor('target side closed', () => target2.sockets[0]!.destroyed)

    const blackholed = dial(proxies, 1, 2)
    await waitFor('connected while cut', () => blackholed.connected)
    blackholed.socket.write('during the cut')
    await waitFor('proxy read and dropped the bytes', () => stat(proxies, 1, 2).bytesDropped === 14)
    assert.equal(target2.connections, 1, 'no upstream connection is opened while cut')
    assert.equal(target2.text(), 'before')
    assert.equal(blackholed.closed, false)

    proxies.heal()
    assert.deepEqual(proxies.cuts(), [])
    await waitFor('black-holed connection dropped at heal', () => blackholed.closed)
    const again = dial(proxies, 1, 2)
    again.socket.write('after')
    await waitFor('bytes through 1→2 after heal', () => target2.text(1) === 'after')
    assert.deepEqual(
      [stat(proxies, 1, 2).bytes, stat(proxies, 1, 2).connections, stat(proxies, 1, 2).open],
      [11, 3, 1],
    )
  })

  it('cut(1,2) is one-way: 2→1 keeps its connection and keeps forwarding', async () => {
    const { proxies, targets } = await cluster([1, 2, 3])
    const back = dial(proxies, 2, 1)
    back.socket.write('a')
    await waitFor('2→1 flows', () => targets.get(1)!.text() === 'a')
    proxies.cut(1, 2)
    const cutSide = dial(proxies, 1, 2)
    cutSide.socket.write('x')
    back.socket.write('b')
    await waitFor('2→1 still flows', () => targets.get(1)!.text() === 'ab')
    await waitFor('1→2 dropped', () => stat(proxies, 1, 2).bytesDropped === 1)
    assert.equal(back.closed, false)
    assert.equal(targets.get(2)!.connections, 0)
    assert.deepEqual(proxies.cuts(), [[1, 2]])
  })

  it('a second cut drops connections black-holed by the first; heal removes delays', async () => {
    const { proxies, targets } = await cluster([1, 2])
    proxies.cut(1, 2)
    const first = dial(proxies, 1, 2)
    await waitFor('black-holed', () => stat(proxies, 1, 2).open === 1)
    proxies.cut(1, 2)
    await waitFor('dropped by the second cut', () => first.closed)
    proxies.delay(2, 1, 60_000)
    proxies.heal()
    const client = dial(proxies, 2, 1)
    client.socket.write('now')
    await waitFor('no delay after heal', () => targets.get(1)!.text() === 'now')
  })
})

describe('LinkProxies cut sets', () => {
  // No sockets are needed to compute cut sets: these proxies are never started.
  const sorted = (pairs: [number, number][]) => pairs.slice().sort((a, b) => a[0] - b[0] || a[1] - b[1])
  const both = (pairs: [number, number][]): [number, number][] =>
    sorted(pairs.flatMap(([a, b]) => [[a, b] as [number, number], [b, a] as [number, number]]))

  it('isolate(node) cuts both directions to every other node', () => {
    const p = new LinkProxies({ nodes: [1, 2, 3], target: () => ({ host: '127.0.0.1', port: 1 }) })
    p.isolate(2)
    assert.deepEqual(
      p.cuts(),
      both([
        [2, 1],
        [2, 3],
      ]),
    )
    const p5 = new LinkProxies({ nodes: [1, 2, 3, 4, 5], target: () => ({ host: '127.0.0.1', port: 1 }) })
    p5.isolate(5)
    assert.deepEqual(
      p5.cuts(),
      both([
        [5, 1],
        [5, 2],
        [5, 3],
        [5, 4],
      ]),
    )
    p5.heal()
    assert.deepEqual(p5.cuts(), [])
    assert.throws(() => p5.isolate(9), /unknown node 9/)
  })

  it('partition(groups) cuts every pair across groups, both ways', () => {
    const p = new LinkProxies({ nodes: [1, 2, 3], target: () => ({ host: '127.0.0.1', port: 1 }) })
    p.partition([[1, 2], [3]])
    assert.deepEqual(
      p.cuts(),
      both([
        [1, 3],
        [2, 3],
      ]),
    )
    const p5 = new LinkProxies({ nodes: [1, 2, 3, 4, 5], target: () => ({ host: '127.0.0.1', port: 1 }) })
    p5.partition([
      [1, 4],
      [2, 3, 5],
    ])
    assert.deepEqual(
      p5.cuts(),
      both([
        [1, 2],
        [1, 3],
        [1, 5],
        [4, 2],
        [4, 3],
        [4, 5],
      ]),
    )
    assert.throws(() => p5.partition([[1], [1, 2]]), /two groups/)
  })

  it('ring() on 3 nodes is the one-way cycle 1→2→3→1', () => {
    const p = new LinkProxies({ nodes: [1, 2, 3], target: () => ({ host: '127.0.0.1', port: 1 }) })
    p.ring()
    assert.deepEqual(p.cuts(), [
      [1, 3],
      [2, 1],
      [3, 2],
    ])
  })

  it('ring() on 5 nodes cuts the pairs two apart, both ways', () => {
    const p = new LinkProxies({ nodes: [1, 2, 3, 4, 5], target: () => ({ host: '127.0.0.1', port: 1 }) })
    p.ring()
    assert.deepEqual(
      p.cuts(),
      both([
        [1, 3],
        [1, 4],
        [2, 4],
        [2, 5],
        [3, 5],
      ]),
    )
    p.heal()
    p.ring([3, 1, 4, 5, 2]) // neighbours: 3-1, 1-4, 4-5, 5-2, 2-3
    assert.deepEqual(
      p.cuts(),
      both([
        [3, 4],
        [3, 5],
        [1, 5],
        [1, 2],
        [4, 2],
      ]),
    )
    assert.throws(() => p.ring([1, 2, 3]), /not a permutation/)
  })

  it('ring(): every node hears from a majority, and no two from the same one (n = 1..9)', () => {
    for (let n = 1; n <= 9; n++) {
      const nodes = Array.from({ length: n }, (_, i) => i + 1)
      const p = new LinkProxies({ nodes, target: () => ({ host: '127.0.0.1', port: 1 }) })
      p.ring()
      const cut = new Set(p.cuts().map(([f, t]) => `${f}->${t}`))
      const majorities = nodes.map((to) =>
        nodes
          .filter((from) => from === to || !cut.has(`${from}->${to}`))
          .sort((a, b) => a - b)
          .join(','),
      )
      for (const m of majorities) assert.equal(m.split(',').length, Math.floor(n / 2) + 1, `n=${n}: ${m}`)
      if (n >= 3) assert.equal(new Set(majorities).size, n, `n=${n}: ${majorities}`)
    }
  })
})

describe('LinkProxies delay', () => {
  it('adds at least the given latency and keeps byte order when the delay changes', async () => {
    const { proxies, targets } = await cluster([1, 2])
    const target = targets.get(2)!
    const client = dial(proxies, 1, 2)
    await waitFor('connected', () => client.connected && target.connections === 1)

    proxies.delay(1, 2, 100)
    const sentAt = Date.now()
    client.socket.write('first;')
    await waitFor('first chunk', () => target.text() === 'first;')
    assert.ok(Date.now() - sentAt >= 100, `arrived after ${Date.now() - sentAt} ms`)

    // Chunks sent after the delay drops to 0 must still queue behind the delayed ones.
    let expected = 'first;'
    for (let i = 0; i < 200; i++) {
      if (i === 100) proxies.delay(1, 2, 0)
      if (i === 150) proxies.delay(1, 2, 20)
      client.socket.write(`${i};`)
      expected += `${i};`
    }
    await waitFor('all chunks', () => target.text().length === expected.length)
    assert.equal(target.text(), expected)
  })

  it('destroys a connection holding more than delayedBytesMax', async () => {
    const { proxies, targets } = await cluster([1, 2], { delayedBytesMax: 1024 })
    proxies.delay(1, 2, 60_000)
    const client = dial(proxies, 1, 2)
    client.socket.write(Buffer.alloc(512))
    await waitFor('proxy holds the delayed chunk', () => stat(proxies, 1, 2).buffered === 512)
    client.socket.write(Buffer.alloc(4096))
    await waitFor('client closed', () => client.closed)
    assert.equal(targets.get(2)!.bytes(), 0)
    await waitFor('connection released', () => stat(proxies, 1, 2).open === 0)
  })
})

describe('LinkProxies failures and bounds', () => {
  it('closes the dialer when the target is down, without crashing', async () => {
    // A port that was just free: nothing listens there.
    const gone = await new Target(0).listen()
    await gone.close()
    const { proxies } = await cluster([1, 2], { target: () => ({ host: '127.0.0.1', port: gone.port }) })
    const client = dial(proxies, 1, 2)
    client.socket.write('hello?')
    await waitFor('client closed', () => client.closed)
    assert.equal(stat(proxies, 1, 2).open, 0)
  })

  it('closes the dialer when the target resets (a SIGKILLed node)', async () => {
    const { proxies, targets } = await cluster([1, 2])
    const client = dial(proxies, 1, 2)
    client.socket.write('x')
    const target = targets.get(2)!
    await waitFor('target got bytes', () => target.text() === 'x')
    target.sockets[0]!.resetAndDestroy()
    await waitFor('client closed', () => client.closed)
  })

  it('refuses connections beyond connectionsPerLinkMax', async () => {
    const { proxies, targets } = await cluster([1, 2], { connectionsPerLinkMax: 2 })
    const a = dial(proxies, 1, 2)
    const b = dial(proxies, 1, 2)
    await waitFor('two upstream connections', () => targets.get(2)!.connections === 2)
    const c = dial(proxies, 1, 2)
    await waitFor('third closed', () => c.closed)
    assert.deepEqual([a.closed, b.closed], [false, false])
    assert.deepEqual([stat(proxies, 1, 2).open, stat(proxies, 1, 2).refused], [2, 1])
  })

  it('listens on fixed ports when given, and a failed listen closes everything', async () => {
    const free = await new Target(0).listen()
    await free.close()
    const { proxies } = await cluster([1, 2], { ports: (from) => (from === 1 ? free.port : 0) })
    assert.equal(proxies.address(1, 2).port, free.port)
    assert.notEqual(proxies.address(2, 1).port, free.port)

    const busy = new LinkProxies({
      nodes: [1, 2],
      target: () => ({ host: '127.0.0.1', port: 1 }),
      ports: (from) => (from === 1 ? free.port : 0),
    })
    opened.proxies.push(busy)
    await assert.rejects(busy.start(), /EADDRINUSE/)
  })

  it('close() is idempotent and drops every connection', async () => {
    const { proxies } = await cluster([1, 2, 3])
    const live = dial(proxies, 1, 2)
    proxies.cut(3, 1)
    const blackholed = dial(proxies, 3, 1)
    await waitFor('both accepted', () => stat(proxies, 1, 2).open === 1 && stat(proxies, 3, 1).open === 1)
    const first = proxies.close()
    assert.equal(proxies.close(), first)
    await first
    await proxies.close()
    await waitFor('dialers closed', () => live.closed && blackholed.closed)
    // afterEach then waits for no TCP handle or timer to remain.
  })
})
