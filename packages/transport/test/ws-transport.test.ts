/**
 * Live tests on 127.0.0.1: real sockets, real handshakes. Every wait is for a condition, with a
 * deadline; every random choice comes from the printed seed.
 */
import assert from 'node:assert/strict'
import { after, before, describe, it } from 'node:test'
import { encodeFrame, frameBytesMax } from '@cairn/protocol'
import type { RaftMessage } from '@cairn/raft'
import { Packr } from 'msgpackr'
import { WebSocket } from 'ws'
import type { WsTransport } from '../src/index.js'
import {
  captureLogger,
  closeOf,
  connected,
  fetchChallenge,
  inbox,
  localhost,
  openOrRefusal,
  rawPeer,
  secret,
  startCluster,
  startNode,
  timeoutNow,
  waitFor,
} from './helpers.js'

const packr = new Packr({ useRecords: false })

function append(from: number, to: number, group: number, bytes: number, index = 1): RaftMessage {
  const data = new Uint8Array(bytes).map((_, i) => (i * 31 + group) & 0xff)
  return {
    type: 'append',
    group,
    from,
    to,
    term: 2,
    prevIndex: index - 1,
    prevTerm: 1,
    commit: 0,
    entries: [{ index, term: 2, kind: 0, data }],
  }
}

/** Every node sends one message to every other; resolves once all arrived. */
async function exchangeAll(nodes: WsTransport[], group: number): Promise<void> {
  const boxes = nodes.map(inbox)
  for (const a of nodes)
    a.send(nodes.filter((b) => b !== a).map((b) => timeoutNow(a.nodeId, b.nodeId, group)))
  await waitFor(`every node to hear from every other (group ${group})`, () =>
    boxes.every((box) => box.messages.filter((m) => m.group === group).length === nodes.length - 1),
  )
}

describe('three nodes on 127.0.0.1', () => {
  let nodes: WsTransport[] = []
  before(async () => {
    nodes = await startCluster(3)
    await waitFor('all links open', () => connected(nodes))
  })
  after(() => Promise.all(nodes.map((n) => n.close())))

  it('exchange every kind of message, byte for byte', async () => {
    const [a, b, c] = nodes as [WsTransport, WsTransport, WsTransport]
    const boxB = inbox(b)
    const sent: RaftMessage[] = [
      append(1, 2, 7, 1000),
      { type: 'vote', group: 7, from: 1, to: 2, term: 3, lastIndex: 9, lastTerm: 2, transfer: false },
      { type: 'voteResponse', group: 8, from: 1, to: 2, term: 3, granted: true },
      {
        type: 'appendResponse',
        group: 7,
        from: 1,
        to: 2,
        term: 3,
        index: 9,
        reject: true,
        hintIndex: 4,
        hintTerm: 1,
      },
      {
        type: 'snapshot',
        group: 7,
        from: 1,
        to: 2,
        term: 3,
        logStart: {
          index: 50,
          term: 2,
          payload: new Uint8Array([1, 2, 3]),
          membership: { voters: [1, 2, 3], learners: [] },
        },
      },
      { type: 'heartbeat', group: 11, from: 1, to: 2, term: 3, commit: 4 },
      { type: 'heartbeatResponse', group: 12, from: 1, to: 2, term: 3 },
    ]
    a.send(sent)
    await waitFor('node 2 to receive all 7', () => boxB.messages.length === 7)
    assert.equal(boxB.frames.length, 1, 'one turn, one frame')
    const byType = new Map(boxB.messages.map((m) => [m.type, m]))
    for (const m of sent) {
      const got = byType.get(m.type)
      assert.ok(got, m.type)
      assert.deepEqual(JSON.parse(JSON.stringify(got, replacer)), JSON.parse(JSON.stringify(m, replacer)))
    }
    await exchangeAll([a, b, c], 100)
  })

  it('send everything queued for a peer in one turn as one frame', async () => {
    const [a, b] = nodes as [WsTransport, WsTransport]
    const boxB = inbox(b)
    const before = a.stats().peers.find((p) => p.peer === 2)!.framesSent
    for (let i = 0; i < 500; i++) a.send([timeoutNow(1, 2, 1_000 + i)])
    await waitFor('500 messages', () => boxB.messages.length === 500)
    assert.equal(boxB.frames.length, 1)
    assert.equal(a.stats().peers.find((p) => p.peer === 2)!.framesSent, before + 1)
  })

  it('keep order across turns', async () => {
    const [a, b] = nodes as [WsTransport, WsTransport]
    const boxB = inbox(b)
    const peerStats = () => a.stats().peers.find((p) => p.peer === 2)!
    const before = peerStats()
    for (let i = 0; i < 300; i++) {
      a.send([append(1, 2, 5, 64, i + 1)])
      await new Promise((resolve) => setImmediate(resolve))
    }
    await waitFor('300 appends', () => boxB.messages.length === 300)
    assert.deepEqual(
      boxB.messages.map((m) => (m.type === 'append' ? m.entries[0]!.index : -1)),
      Array.from({ length: 300 }, (_, i) => i + 1),
    )
    // One frame a turn, each written before the next: all but the first few reuse a buffer.
    const after = peerStats()
    assert.ok(after.framesSent - before.framesSent >= 300)
    assert.ok(
      after.framesPooled - before.framesPooled >= 290,
      `${after.framesPooled - before.framesPooled} pooled`,
    )
  })

  it('drop and count messages to unknown nodes and invalid messages', () => {
    const a = nodes[0]!
    const before = a.stats()
    a.send([timeoutNow(1, 42, 1), timeoutNow(3, 2, 1), { ...timeoutNow(1, 2, 1), group: -1 }])
    const now = a.stats()
    assert.equal(now.droppedUnknownPeer, before.droppedUnknownPeer + 1)
    assert.equal(now.droppedInvalid, before.droppedInvalid + 2)
  })
})

function replacer(_key: string, value: unknown): unknown {
  if (value instanceof Uint8Array) return Array.from(value)
  if (typeof value === 'object' && value !== null && (value as { type?: string }).type === 'Buffer') {
    return (value as { data: number[] }).data
  }
  return value
}

describe('bad input from an authenticated peer', () => {
  const logger = captureLogger()
  let nodes: WsTransport[] = []
  let target: WsTransport
  // Raw clients authenticate as node 9: a configured peer of node 1 that is not running, so they
  // replace no real node's connection.
  before(async () => {
    nodes = await startCluster(3, (id) => (id === 1 ? { logger } : {}))
    target = nodes[0]!
    target.setPeer(9, { host: localhost, port: 1 })
    await waitFor(
      'all links open',
      () => connected(nodes.slice(1)) && target.stats().peers.filter((p) => p.state === 'open').length === 2,
    )
  })
  after(() => Promise.all(nodes.map((n) => n.close())))

  it('delivers a valid frame from it (the control case)', async () => {
    const box = inbox(target)
    const raw = await rawPeer(target.address(), 9, 1)
    assert.equal(await openOrRefusal(raw), 'open')
    raw.send(encodeFrame({ from: 9, to: 1, messages: [timeoutNow(9, 1, 77)] }))
    await waitFor('the frame from node 9', () => box.messages.some((m) => m.group === 77 && m.from === 9))
    raw.terminate()
  })

  const cases: { name: string; send: (raw: WebSocket) => void; code: number; reason: RegExp }[] = [
    {
      name: 'undecodable bytes',
      send: (raw) => raw.send(Buffer.from([0xc1, 0x00])),
      code: 1008,
      reason: /msgpack: invalid byte 0xc1/,
    },
    {
      name: 'a frame failing the schema',
      send: (raw) => raw.send(packr.pack([1, 9, 1, [[9, 1, -1]], null, null])),
      code: 1008,
      reason: /frame\[3\]\[0\]\.term: expected a non-negative safe integer, got -1/,
    },
    { name: 'a text frame', send: (raw) => raw.send('{"v":1}'), code: 1008, reason: /text frame/ },
    {
      name: 'an oversize frame',
      send: (raw) => raw.send(Buffer.alloc(frameBytesMax + 1)),
      code: 1009,
      reason: /Max payload size exceeded/,
    },
    {
      name: 'a frame forging another node as its sender',
      send: (raw) => raw.send(encodeFrame({ from: 2, to: 1, messages: [timeoutNow(2, 1, 1)] })),
      code: 1008,
      reason: /frame claims node 2, connection authenticated as node 9/,
    },
    {
      name: 'a message with extra fields',
      send: (raw) => raw.send(packr.pack([1, 9, 1, [[9, 1, 1, 'extra']], null, null])),
      code: 1008,
      reason: /frame\[3\]\[0\]: timeoutNow has 3 fields, got 4/,
    },
    {
      name: 'a frame for another node',
      send: (raw) => raw.send(encodeFrame({ from: 9, to: 3, messages: [timeoutNow(9, 3, 1)] })),
      code: 1008,
      reason: /frame addressed to node 3/,
    },
  ]
  let group = 200
  for (const c of cases) {
    it(`closes the connection on ${c.name}, logs why, and keeps serving the others`, async () => {
      const box = inbox(target)
      const closedBefore = target.stats().connectionsClosedBadInput
      const raw = await rawPeer(target.address(), 9, 1)
      assert.equal(await openOrRefusal(raw), 'open')
      c.send(raw)
      const { code } = await closeOf(raw)
      assert.equal(code, c.code)
      assert.match(logger.text(), c.reason)
      assert.equal(target.stats().connectionsClosedBadInput, closedBefore + 1)
      assert.ok(!box.messages.some((m) => m.from === 9), 'nothing from the bad connection was delivered')
      await exchangeAll(nodes, group++)
    })
  }

  it('cuts an accepted connection that goes silent (no pings) for pingTimeoutMs', async () => {
    const quiet = await startNode(5, { pingTimeoutMs: 300, pingIntervalMs: 50, logger })
    try {
      quiet.setPeer(9, { host: localhost, port: 1 })
      const raw = await rawPeer(quiet.address(), 9, 5)
      assert.equal(await openOrRefusal(raw), 'open')
      const started = performance.now()
      await closeOf(raw)
      assert.ok(performance.now() - started >= 250, 'not before the timeout')
      assert.match(logger.text(), /accepted connection idle/)
    } finally {
      await quiet.close()
    }
  })
})

describe('authentication', () => {
  const logger = captureLogger()
  let node: WsTransport
  before(async () => {
    node = await startNode(1, { logger })
    node.setPeer(2, { host: localhost, port: 1 })
  })
  after(() => node.close())

  it('refuses a client with no credentials (401), before any frame', async () => {
    const before = node.stats().handshakesRefused
    const ws = new WebSocket(`ws://${localhost}:${node.address().port}/cairn/v1/raft`)
    assert.equal(await openOrRefusal(ws), 'Unexpected server response: 401')
    assert.equal(node.stats().handshakesRefused, before + 1)
    assert.match(logger.text(), /missing or malformed authentication headers/)
  })

  it('refuses a client with the wrong secret (401)', async () => {
    const ws = await rawPeer(node.address(), 2, 1, 'not-the-cluster-secret-at-all')
    assert.equal(await openOrRefusal(ws), 'Unexpected server response: 401')
    assert.match(logger.text(), /wrong proof \(secret mismatch\)/)
  })

  it('refuses a replayed challenge, an unknown node, and another path', async () => {
    const challenge = await fetchChallenge(node.address())
    const first = await rawPeer(node.address(), 2, 1, secret, challenge)
    assert.equal(await openOrRefusal(first), 'open')
    first.terminate()
    const replay = await rawPeer(node.address(), 2, 1, secret, challenge)
    assert.equal(await openOrRefusal(replay), 'Unexpected server response: 401')
    const stranger = await rawPeer(node.address(), 7, 1)
    assert.equal(await openOrRefusal(stranger), 'Unexpected server response: 401')
    assert.match(logger.text(), /node 7 is not a configured peer/)
    const elsewhere = new WebSocket(`ws://${localhost}:${node.address().port}/other`)
    assert.equal(await openOrRefusal(elsewhere), 'Unexpected server response: 404')
  })

  it('two nodes with different secrets never connect', async () => {
    const other = await startNode(2, {
      secret: 'a-different-cluster-secret-000',
      port: 0,
      logger: captureLogger(),
    })
    try {
      node.setPeer(2, other.address())
      other.setPeer(1, node.address())
      await waitFor(
        'both sides to refuse twice',
        () => node.stats().handshakesRefused >= 2 && other.stats().handshakesRefused >= 2,
      )
      assert.notEqual(node.stats().peers.find((p) => p.peer === 2)!.state, 'open')
      assert.equal(other.stats().peers.find((p) => p.peer === 1)!.connects, 0)
    } finally {
      await other.close()
      node.setPeer(2, { host: localhost, port: 1 })
    }
  })

  it('never sends to a server that cannot prove the secret', async () => {
    const { impostor, upgrades, messages, close } = await startImpostor()
    try {
      node.setPeer(3, impostor)
      node.send([timeoutNow(1, 3, 1)])
      await waitFor('the node to try the impostor twice', () => upgrades() >= 2)
      assert.equal(messages(), 0)
      assert.equal(node.stats().peers.find((p) => p.peer === 3)!.connects, 0)
    } finally {
      await node.removePeer(3)
      await close()
    }
  })
})

/** A server that hands out challenges and accepts any upgrade, but cannot prove the secret. */
async function startImpostor() {
  const { createServer } = await import('node:http')
  const { WebSocketServer } = await import('ws')
  let upgrades = 0
  let messages = 0
  const wss = new WebSocketServer({ noServer: true })
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'x-cairn-challenge': 'A'.repeat(43), connection: 'close' })
    res.end()
  })
  server.on('upgrade', (req, socket, head) => {
    upgrades++
    wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', () => messages++))
  })
  await new Promise<void>((resolve) => server.listen(0, localhost, resolve))
  const port = (server.address() as { port: number }).port
  return {
    impostor: { host: localhost, port },
    upgrades: () => upgrades,
    messages: () => messages,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
        for (const client of wss.clients) client.terminate()
      }),
  }
}

describe('reconnect', () => {
  it('redials a peer that restarts on the same address, and delivers again', async () => {
    const logger = captureLogger()
    const [a, b] = (await startCluster(2, () => ({ logger }))) as [WsTransport, WsTransport]
    let restarted: WsTransport | undefined
    const down: string[] = []
    a.onPeerDown((peer, reason) => down.push(`${peer}: ${reason}`))
    try {
      await waitFor('links open', () => connected([a, b]))
      const port = b.address().port
      await b.close()
      await waitFor('node 1 to notice', () => a.stats().peers[0]!.state !== 'open')
      await waitFor('node 1 to report node 2 down', () => down.length > 0)
      restarted = await startNode(2, { port, logger })
      restarted.setPeer(1, a.address())
      const box = inbox(restarted)
      await waitFor('node 1 to redial', () => a.stats().peers[0]!.state === 'open', 10_000)
      a.send([timeoutNow(1, 2, 5)])
      await waitFor('delivery after the restart', () => box.messages.some((m) => m.group === 5))
      const stats = a.stats().peers[0]!
      assert.ok(stats.connects >= 2 && stats.disconnects >= 1, JSON.stringify(stats))
      await exchangeAll([a, restarted], 6)
      assert.equal(down.length, 1, `reported once per outage, however many redials: ${down.join('; ')}`)
      assert.match(down[0]!, /^2: /)
    } finally {
      await Promise.all([a.close(), restarted?.close()])
    }
  })
})

/** The connection peer `from` dialed to `t`, as t's server holds it (test access to internals). */
function inboundFrom(t: WsTransport, from: number): WebSocket {
  const server = (t as unknown as { server: { connections: Map<number, { ws: WebSocket }> } }).server
  const connection = server.connections.get(from)
  if (!connection) throw new Error(`node ${t.nodeId} holds no connection from node ${from}`)
  return connection.ws
}

/**
 * Node 2 sends node 1 a frame (group 9) and stops, while node 1 reads nothing from the connection
 * node 2 dialed: the frame waits unread in the kernel, as a killed process's last frames can while
 * its other connection's close is seen. Returns node 1, that connection, and what node 1 told.
 */
async function diesWithFrameUnread(waitMs: number) {
  const [a, b] = (await startCluster(2, () => ({ peerDownInboundWaitMs: waitMs }))) as [
    WsTransport,
    WsTransport,
  ]
  const events: string[] = []
  a.onMessages((_from, messages) => {
    for (const m of messages) events.push(`message ${m.group}`)
  })
  a.onPeerDown((peer) => events.push(`down ${peer}`))
  try {
    await waitFor('links open', () => connected([a, b]))
    const fromB = inboundFrom(a, 2)
    fromB.pause()
    b.send([timeoutNow(2, 1, 9)])
    b.flush()
    await b.close()
    return { a, fromB, events }
  } catch (err) {
    await Promise.all([a.close(), b.close()])
    throw err
  }
}

describe('a peer that dies', () => {
  it('is reported down after the frames it sent before dying, not before', async () => {
    // A long bound: the report must come from node 2's connection to us closing, not from the bound.
    const waitMs = 5_000
    const { a, fromB, events } = await diesWithFrameUnread(waitMs)
    try {
      await waitFor("node 1's own connection to node 2 to close", () => a.stats().peers[0]!.state !== 'open')
      assert.equal(events.join(', '), '', 'nothing reported while a frame from node 2 is unread')
      const resumedAt = performance.now()
      fromB.resume()
      await waitFor('node 1 to report node 2 down', () => events.includes('down 2'))
      const ms = performance.now() - resumedAt
      assert.deepEqual(events, ['message 9', 'down 2'])
      assert.ok(
        ms < waitMs / 2,
        `reported ${Math.round(ms)} ms after the frame was read: on the close, not the bound`,
      )
    } finally {
      await a.close()
    }
  })

  it('once reported down at the bound, its connection to us is cut: frames still unread there are never delivered', async () => {
    // As above, but node 1 reads nothing from node 2's connection until after the bound: the frame
    // would tell Raft a dead leader is alive again, after the report that it is down.
    const { a, fromB, events } = await diesWithFrameUnread(200)
    try {
      await waitFor('node 1 to report node 2 down at the bound', () => events.includes('down 2'), 5_000)
      fromB.resume()
      await waitFor("node 2's connection to node 1 to be closed", () => fromB.readyState === WebSocket.CLOSED)
      assert.deepEqual(events, ['down 2'], 'the unread frame is dropped with the connection')
      assert.throws(() => inboundFrom(a, 2), /holds no connection from node 2/)
    } finally {
      await a.close()
    }
  })

  it('is reported down within peerDownInboundWaitMs if only our connection to it closed', async () => {
    const waitMs = 300
    const [a, b] = (await startCluster(2, () => ({ peerDownInboundWaitMs: waitMs }))) as [
      WsTransport,
      WsTransport,
    ]
    const down: { reason: string; atMs: number }[] = []
    a.onPeerDown((_peer, reason) => down.push({ reason, atMs: performance.now() }))
    try {
      await waitFor('links open', () => connected([a, b]))
      // Node 2 cuts the connection node 1 dialed; its own connection to node 1 stays open.
      const cutAt = performance.now()
      inboundFrom(b, 1).terminate()
      await waitFor('node 1 to report node 2 down', () => down.length > 0, 5_000)
      const ms = down[0]!.atMs - cutAt
      assert.match(down[0]!.reason, /connection closed/)
      assert.ok(
        ms >= waitMs - 20,
        `reported ${Math.round(ms)} ms after the cut, before the bound of ${waitMs} ms`,
      )
    } finally {
      await Promise.all([a.close(), b.close()])
    }
  })
})

describe('a peer that comes back', () => {
  it('is dialed as soon as it dials us, not after the redial backoff', async () => {
    // A long backoff: without the shortcut node 1 would wait seconds before dialing node 2 again.
    const slow = { reconnectDelayMsMin: 4_000, reconnectDelayMsMax: 4_000 }
    const [a, b] = (await startCluster(2, () => slow)) as [WsTransport, WsTransport]
    let restarted: WsTransport | undefined
    try {
      await waitFor('links open', () => connected([a, b]))
      const port = b.address().port
      await b.close()
      await waitFor('node 1 to wait out its backoff', () => a.stats().peers[0]!.state === 'waiting')
      const back = performance.now()
      restarted = await startNode(2, { port, ...slow })
      restarted.setPeer(1, a.address())
      await waitFor('node 1 to dial node 2 again', () => a.stats().peers[0]!.state === 'open', 3_000)
      const ms = performance.now() - back
      assert.ok(ms < 1_000, `dialed ${Math.round(ms)} ms after node 2 came back (backoff 2,000–4,000 ms)`)
    } finally {
      await Promise.all([a.close(), restarted?.close()])
    }
  })
})

describe('backpressure and dead peers', () => {
  it('keeps the queue and the socket buffer bounded when a peer stops reading', async () => {
    const stalled = await startStalledPeer(2, 1)
    const limits = {
      frameBytesMax: 256 * 1024,
      queueBytesMax: 2 * 1024 * 1024,
      queueMessagesMax: 4_000,
      sendBufferBytesHigh: 512 * 1024,
      sendBufferBytesLow: 128 * 1024,
      pingTimeoutMs: 60_000, // this test is about memory, not about declaring the peer dead
    }
    const a = await startNode(1, { ...limits, logger: captureLogger() })
    try {
      a.setPeer(2, stalled.address)
      await waitFor('link open', () => a.stats().peers[0]!.state === 'open')
      let queueBytesPeak = 0
      let bufferedPeak = 0
      const rssBefore = process.memoryUsage().rss
      for (let turn = 0; turn < 400; turn++) {
        const messages: RaftMessage[] = []
        for (let g = 0; g < 8; g++) messages.push(append(1, 2, g, 16 * 1024, turn + 1))
        for (let g = 0; g < 50; g++)
          messages.push({ type: 'heartbeat', group: g, from: 1, to: 2, term: 2, commit: turn })
        a.send(messages)
        await new Promise((resolve) => setImmediate(resolve))
        const s = a.stats().peers[0]!
        queueBytesPeak = Math.max(queueBytesPeak, s.queueBytes)
        bufferedPeak = Math.max(bufferedPeak, s.bufferedBytes)
        assert.ok(
          s.queueBytes <= limits.queueBytesMax && s.queueMessages <= limits.queueMessagesMax,
          JSON.stringify(s),
        )
        assert.ok(s.bufferedBytes <= limits.sendBufferBytesHigh + limits.frameBytesMax, JSON.stringify(s))
      }
      const s = a.stats().peers[0]!
      const offeredMiB = (400 * 8 * 16) / 1024
      console.log(
        `backpressure: offered ${offeredMiB} MiB; peaks: queue ${(queueBytesPeak / 1024).toFixed(0)} KiB, ` +
          `socket buffer ${(bufferedPeak / 1024).toFixed(0)} KiB; drops ${JSON.stringify(s.dropped)}; ` +
          `rss +${((process.memoryUsage().rss - rssBefore) / 2 ** 20).toFixed(0)} MiB`,
      )
      assert.ok(s.sendPauses >= 1, 'sending paused at the high watermark')
      assert.ok(s.dropped.heartbeats > 0 && s.dropped.replication > 0, JSON.stringify(s.dropped))
      assert.ok(s.bytesSent < offeredMiB * 2 ** 20, 'most of the offered bytes never reached the socket')
    } finally {
      await a.close()
      await stalled.close()
    }
  })

  it('declares a peer dead when pings go unanswered, and redials it', async () => {
    const stalled = await startStalledPeer(2, 1)
    const logger = captureLogger()
    const a = await startNode(1, { pingIntervalMs: 50, peerDownAfterMs: 100, pingTimeoutMs: 300, logger })
    const down: { peer: number; reason: string; atMs: number }[] = []
    a.onPeerDown((peer, reason) => down.push({ peer, reason, atMs: performance.now() }))
    try {
      a.setPeer(2, stalled.address)
      await waitFor('two connections to the stalled peer', () => stalled.upgrades() >= 2, 10_000)
      assert.match(logger.text(), /connection lost.*no pong within 300 ms/)
      // Reported down on the silence (peerDownAfterMs), before the connection is given up.
      assert.ok(down.length >= 1, 'reported down')
      assert.equal(down[0]!.peer, 2)
      assert.match(down[0]!.reason, /^no pong for \d+ ms$/)
      assert.ok(a.stats().peers[0]!.disconnects >= 1)
    } finally {
      await a.close()
      await stalled.close()
    }
  })
})

/**
 * A peer that completes the handshake properly (it knows the secret) and then never reads a byte:
 * the kernel's buffers fill, then the sender's.
 */
async function startStalledPeer(self: number, dialer: number) {
  const { createServer } = await import('node:http')
  const { createHash } = await import('node:crypto')
  const { acceptProof, authHeaders, ChallengeCache, challengePath, secretBytes, verifyDial } = await import(
    '../src/auth.js'
  )
  const key = secretBytes(secret)
  const challenges = new ChallengeCache(5_000, 100)
  const sockets: import('node:stream').Duplex[] = []
  let upgrades = 0
  const server = createServer((req, res) => {
    if (req.url === challengePath)
      res.writeHead(200, { [authHeaders.challenge]: challenges.issue(performance.now()) })
    else res.writeHead(404)
    res.end()
  })
  server.on('upgrade', (req, socket) => {
    socket.on('error', () => {})
    const verdict = verifyDial(req.headers, {
      secret: key,
      self,
      isPeer: (id) => id === dialer,
      challenges,
      nowMs: performance.now(),
    })
    if (typeof verdict === 'string') return socket.destroy()
    upgrades++
    const accept = createHash('sha1')
      .update(`${req.headers['sec-websocket-key']}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`)
      .digest('base64')
    const proof = acceptProof(key, dialer, self, verdict.claim.challenge, verdict.claim.nonce)
    socket.write(
      `HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Accept: ${accept}\r\n${authHeaders.acceptProof}: ${proof}\r\n\r\n`,
    )
    socket.pause()
    sockets.push(socket)
  })
  await new Promise<void>((resolve) => server.listen(0, localhost, resolve))
  return {
    address: { host: localhost, port: (server.address() as { port: number }).port },
    upgrades: () => upgrades,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
        server.closeAllConnections()
      }),
  }
}
