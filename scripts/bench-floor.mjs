#!/usr/bin/env node
// The floor under `cairn bench produce`: what this machine does with the least work a replicated,
// fsynced write can need, in Node, with none of Cairn's. Three replica processes on 127.0.0.1; the
// client sends batches over TCP to replica 1, which writes each to its file and forwards the same
// bytes to replicas 2 and 3; every replica appends what one turn received with one write and one
// fdatasync (one in flight, the rest gathered for the next); replica 1 answers a batch once two of
// the three copies are on disk (a quorum: its own and a follower's, or both followers'). By
// default no WebSocket, msgpack, Raft, LevelDB, CRC or record parsing: a figure Cairn cannot beat
// on the same machine; the gap is Cairn's own cost.
//
// It also times each batch from send to answer: with --in-flight 1 and small batches, the floor of
// one write's latency (four hops between processes, the replicas' fdatasyncs in parallel).
//
// With --rate B it sends B batches a second instead, each due at start + k / B and timed from then
// (corrected for coordinated omission, as `cairn bench --rate`): the floor of a fixed-rate run's tail.
//
// --leaders 3 sends batch k to replica k mod 3, which forwards it to the other two, as a Cairn topic's
// partitions spread their leaders over the nodes: each replica leads a third and follows the rest.
// --transport ws carries every message as Cairn's do, one WebSocket message (ws, no compression)
// holding one msgpackr map: the client's batch, the leader's copy to each follower (decoded and
// encoded again, as a Raft message is) and each answer. With --store split that is the floor of the
// stack Cairn is built on, still with none of Cairn's own code (Raft, xstate, records, the broker).
//
// Usage: node scripts/bench-floor.mjs [--mb 1000] [--batch-bytes 131072] [--in-flight 32] [--rate B]
//                                     [--store file|file-sync|leveldb|split|split-parallel] [--memtable-bytes N]
//                                     [--leaders 1|3] [--transport tcp|ws] [--no-fsync]
// --store: where each replica keeps what it receives: a plain file (the default; file-sync writes
// and fdatasyncs it on the main thread instead of the libuv pool), or LevelDB as
// @cairn/storage opens it (see durableLevel): the cost of LevelDB alone; --memtable-bytes sets its
// memtable (LevelDB's write_buffer_size; 8 MiB as @cairn/storage's).
import { fork } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import {
  closeSync,
  fdatasync,
  fdatasyncSync,
  mkdtempSync,
  openSync,
  rmSync,
  writev,
  writevSync,
} from 'node:fs'
import { createRequire } from 'node:module'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const HEADER_BYTES = 12 // u32 payload length, u64 batch id
const ACK_BYTES = 8
const FRAME_BYTES_MAX = 64 * 1024 * 1024
const STARTUP_MS_MAX = 10_000
const RUN_MS_MAX = 600_000
const PROGRESS_MS = 1_000
const BATCHES_MAX = 10_000_000
const HOST = '127.0.0.1'
const TRANSPORTS = ['tcp', 'ws']
const STORES = ['file', 'file-sync', 'leveldb', 'split', 'split-parallel']

/** Splits a byte stream into frames of `header` + payload; calls `onFrame(id, frameBytes)`. */
function framer(withPayload, onFrame) {
  let pending = Buffer.alloc(0)
  return (chunk) => {
    pending = pending.length === 0 ? chunk : Buffer.concat([pending, chunk])
    let at = 0
    for (;;) {
      const headerBytes = withPayload ? HEADER_BYTES : ACK_BYTES
      if (pending.length - at < headerBytes) break
      const length = withPayload ? pending.readUInt32BE(at) : 0
      if (length > FRAME_BYTES_MAX) throw new Error(`frame of ${length} bytes is over ${FRAME_BYTES_MAX}`)
      if (pending.length - at < headerBytes + length) break
      const id = pending.readBigUInt64BE(at + (withPayload ? 4 : 0))
      onFrame(id, pending.subarray(at, at + headerBytes + length))
      at += headerBytes + length
    }
    pending = at === pending.length ? Buffer.alloc(0) : pending.subarray(at)
  }
}

/**
 * Gathers the buffers of one turn into one batch and hands it to `write(batch)` (a promise), with
 * one batch in flight; `append(buf, done)` calls done once the buffer's batch is written.
 */
function groupCommit(write, close) {
  let open = []
  let busy = false
  const pump = () => {
    if (busy || open.length === 0) return
    busy = true
    const batch = open
    open = []
    write(batch).then(
      () => {
        busy = false
        for (const b of batch) b.done()
        pump()
      },
      (err) => {
        console.error(`bench-floor replica: write failed: ${err.message}`)
        process.exit(1)
      },
    )
  }
  return {
    append(buf, done) {
      open.push({ buf, done })
      if (open.length === 1) setImmediate(pump) // everything of this turn in one write
    },
    close,
  }
}

/** Appends a batch's buffers to the file `fd` with one writev, then fdatasyncs it (with `fsync`). */
function appendToFile(fd, fsync, batch) {
  return new Promise((resolve, reject) =>
    writev(
      fd,
      batch.map((b) => b.buf),
      (err) => (err ? reject(err) : fsync ? fdatasync(fd, (e) => (e ? reject(e) : resolve())) : resolve()),
    ),
  )
}

/** Appends buffers to a file; `append(buf, done)` calls done once the buffer is on disk. */
function durableFile(path, fsync) {
  const fd = openSync(path, 'a')
  return groupCommit(
    (batch) => appendToFile(fd, fsync, batch),
    () => closeSync(fd),
  )
}

/**
 * The same, written and fdatasynced on the main thread (`writevSync`, `fdatasyncSync`): no libuv
 * pool thread to wake and no completion to wait for, at the price of an event loop that stops for
 * every fdatasync.
 */
function durableFileSync(path, fsync) {
  const fd = openSync(path, 'a')
  return groupCommit(
    async (batch) => {
      const bufs = batch.map((b) => b.buf)
      let bytes = 0
      for (const b of bufs) bytes += b.length
      for (let written = 0; written < bytes; ) {
        written += writevSync(fd, written === 0 ? bufs : [Buffer.concat(bufs).subarray(written)])
      }
      if (fsync) fdatasyncSync(fd)
    },
    () => closeSync(fd),
  )
}

/**
 * The same with LevelDB, opened as @cairn/storage opens it (no compression, 2 MiB tables, an 8 MiB
 * memtable unless --memtable-bytes says otherwise); each turn's buffers are one batch written with
 * `sync`, one batch in flight.
 * - `leveldb`: one row per buffer holding its bytes;
 * - `split`: the bytes appended to a file and fdatasynced first, then a 16-byte row per buffer
 *   (where its bytes are) in LevelDB, as @cairn/storage keeps large entries;
 * - `split-parallel`: the same, the file's fdatasync and the LevelDB batch at once.
 */
async function durableLevel(path, fsync, mode, memtableBytes) {
  const { ClassicLevel } = createRequire(new URL('../packages/storage/package.json', import.meta.url))(
    'classic-level',
  )
  const db = new ClassicLevel(path, {
    keyEncoding: 'view',
    valueEncoding: 'view',
    compression: false,
    writeBufferSize: memtableBytes,
    maxFileSize: 2 * 1024 * 1024,
  })
  await db.open()
  const fd = mode === 'leveldb' ? -1 : openSync(`${path}.data`, 'a')
  let n = 0
  let fileBytes = 0
  const writeRows = (batch) => {
    const chained = db.batch()
    for (const b of batch) {
      const key = Buffer.allocUnsafe(8)
      key.writeBigUInt64BE(BigInt(n++))
      if (fd < 0) chained.put(key, b.buf)
      else {
        const row = Buffer.allocUnsafe(16)
        row.writeBigUInt64BE(BigInt(fileBytes))
        row.writeBigUInt64BE(BigInt(b.buf.length), 8)
        fileBytes += b.buf.length
        chained.put(key, row)
      }
    }
    return chained.write({ sync: fsync })
  }
  const write =
    mode === 'leveldb'
      ? writeRows
      : mode === 'split'
        ? (batch) => appendToFile(fd, fsync, batch).then(() => writeRows(batch))
        : (batch) => Promise.all([appendToFile(fd, fsync, batch), writeRows(batch)])
  return groupCommit(write, () => {})
}

/**
 * One end of a connection between two processes of the floor, for either transport:
 * `sendBatch(id, payload)` (client → leader), `forward(id, bytes)` (leader → follower: `bytes` as
 * its `onBatch` got them), `sendAck(id)`, and the handlers `onBatch(id, bytes)` (the bytes a replica
 * keeps) and `onAck(id)`.
 */
function tcpPeer(socket, receivesBatches) {
  socket.setNoDelay(true)
  const peer = {
    onBatch: () => {},
    onAck: () => {},
    sendBatch(id, payload) {
      const header = Buffer.allocUnsafe(HEADER_BYTES)
      header.writeUInt32BE(payload.length)
      header.writeBigUInt64BE(BigInt(id), 4)
      socket.write(header)
      socket.write(payload)
    },
    // The frame as received, header included: the same bytes go on to the follower and to disk.
    forward: (_id, frame) => socket.write(frame),
    sendAck(id) {
      const b = Buffer.allocUnsafe(ACK_BYTES)
      b.writeBigUInt64BE(BigInt(id))
      socket.write(b)
    },
  }
  socket.on(
    'data',
    framer(receivesBatches, (id, frame) =>
      receivesBatches ? peer.onBatch(Number(id), frame) : peer.onAck(Number(id)),
    ),
  )
  return peer
}

/** The same over a WebSocket: each message one msgpackr map, `{ id, bytes }` or `{ id }`. */
function wsPeer(ws, packr) {
  const peer = {
    onBatch: () => {},
    onAck: () => {},
    sendBatch: (id, payload) => ws.send(packr.pack({ id, bytes: payload })),
    // Encoded again, as a leader encodes each Raft message it sends.
    forward: (id, bytes) => ws.send(packr.pack({ id, bytes })),
    sendAck: (id) => ws.send(packr.pack({ id })),
  }
  ws.on('message', (data) => {
    const m = packr.unpack(data)
    if (m.bytes === undefined) peer.onAck(m.id)
    else peer.onBatch(m.id, m.bytes)
  })
  return peer
}

/** `listen(onPeer)` resolves to the port of a new server on 127.0.0.1; `dial(port)` to a peer. */
function transportOf(kind) {
  if (kind === 'tcp')
    return {
      listen: (onPeer) =>
        new Promise((resolve) => {
          const server = createServer((socket) => onPeer(tcpPeer(socket, true)))
          server.listen(0, HOST, () => resolve(server.address().port))
        }),
      dial: (port) =>
        new Promise((resolve, reject) => {
          const socket = connect(port, HOST)
          socket.once('error', reject)
          socket.once('connect', () => resolve(tcpPeer(socket, false)))
        }),
    }
  // ws and msgpackr as @cairn/transport uses them (its dependencies): no compression, no UTF-8
  // checks, and a zero mask on what the dialing side sends, so that its bytes are not XORed.
  const require = createRequire(new URL('../packages/transport/package.json', import.meta.url))
  const { WebSocket, WebSocketServer } = require('ws')
  const { Packr } = require('msgpackr')
  const packr = new Packr({ useRecords: false, variableMapSize: true })
  const options = { perMessageDeflate: false, maxPayload: FRAME_BYTES_MAX, skipUTF8Validation: true }
  const zeroMask = (mask) => mask.fill(0)
  return {
    listen: (onPeer) =>
      new Promise((resolve) => {
        const wss = new WebSocketServer({ host: HOST, port: 0, ...options }, () =>
          resolve(wss.address().port),
        )
        wss.on('connection', (ws) => onPeer(wsPeer(ws, packr)))
      }),
    dial: (port) =>
      new Promise((resolve, reject) => {
        const ws = new WebSocket(`ws://${HOST}:${port}/`, { ...options, generateMask: zeroMask })
        ws.once('error', reject)
        ws.once('open', () => resolve(wsPeer(ws, packr)))
      }),
  }
}

/**
 * A replica: it leads the batches the client sends to its client port (each kept on its own disk
 * and forwarded to its followers, answered once two of the three copies are durable), and
 * follows the batches a leader sends to its peer port (kept, then answered). The parent names its
 * followers once every replica listens.
 */
async function replica() {
  const [, , , idArg, dir, fsyncArg, storeArg, memtableArg, transportArg] = process.argv
  const path = join(dir, `replica-${idArg}`)
  const fsync = fsyncArg === 'fsync'
  const file =
    storeArg === 'file'
      ? durableFile(`${path}.log`, fsync)
      : storeArg === 'file-sync'
        ? durableFileSync(`${path}.log`, fsync)
        : await durableLevel(path, fsync, storeArg, Number(memtableArg))
  const transport = transportOf(transportArg)
  const followers = []
  /**
   * Batches led here: id → { left: copies still needed, client }. A quorum is any two of the three
   * copies (own disk, each follower's), as Raft counts them: the leader's own fsync is not awaited
   * if both followers are faster.
   */
  const waiting = new Map()
  const acked = (id) => {
    const w = waiting.get(id)
    if (w === undefined) return // the quorum was reached before: a third copy
    if (--w.left > 0) return
    waiting.delete(id)
    w.client.sendAck(id)
  }
  const clientPort = await transport.listen((client) => {
    client.onBatch = (id, bytes) => {
      waiting.set(id, { left: followers.length > 0 ? 2 : 1, client })
      for (const f of followers) f.forward(id, bytes)
      file.append(bytes, () => acked(id))
    }
  })
  const peerPort = await transport.listen((leader) => {
    leader.onBatch = (id, bytes) => file.append(bytes, () => leader.sendAck(id))
  })
  process.on('message', async ({ followerPorts }) => {
    for (const port of followerPorts) {
      const f = await transport.dial(port)
      f.onAck = acked
      followers.push(f)
    }
    process.send({ ready: true })
  })
  process.send({ clientPort, peerPort })
  process.on('disconnect', () => {
    file.close()
    process.exit(0)
  })
}

async function client() {
  const { values } = parseArgs({
    options: {
      mb: { type: 'string', default: '1000' },
      'batch-bytes': { type: 'string', default: '131072' },
      'in-flight': { type: 'string', default: '32' },
      rate: { type: 'string', default: '0' },
      store: { type: 'string', default: 'file' },
      'memtable-bytes': { type: 'string', default: String(8 * 1024 * 1024) },
      leaders: { type: 'string', default: '1' },
      transport: { type: 'string', default: 'tcp' },
      'no-fsync': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) {
    console.log(
      'usage: node scripts/bench-floor.mjs [--mb 1000] [--batch-bytes 131072] [--in-flight 32] [--rate B]\n' +
        '                                    [--store file|file-sync|leveldb|split|split-parallel] [--memtable-bytes N]\n' +
        '                                    [--leaders 1|3] [--transport tcp|ws] [--no-fsync]\n' +
        '  --rate B   B batches a second, each timed from when it was due (default: as fast as\n' +
        '             --in-flight allows)\n' +
        '  --store    where each replica keeps what it receives: a plain file (default), or the same\n' +
        '             written and fdatasynced on the main thread (file-sync); LevelDB rows\n' +
        '             holding the bytes (leveldb); the bytes in a file and a small LevelDB row each,\n' +
        '             the file synced first (split) or both at once (split-parallel). LevelDB is opened\n' +
        '             as @cairn/storage opens it, with a memtable of --memtable-bytes (8 MiB).\n' +
        '  --leaders  1: every batch to replica 1, which forwards it to 2 and 3 (default); 3: batch k\n' +
        '             to replica k mod 3, which forwards it to the other two (each replica leads a third)\n' +
        '  --transport  tcp: a 12-byte header and the bytes, forwarded as they came (default); ws: one\n' +
        '             WebSocket message of one msgpackr map each, decoded and encoded again on the way',
    )
    return
  }
  const totalBytes = Number(values.mb) * 1024 * 1024
  const batchBytes = Number(values['batch-bytes'])
  const inFlightMax = Number(values['in-flight'])
  const batches = Math.floor(totalBytes / batchBytes)
  if (!STORES.includes(values.store))
    throw new Error(`--store must be file, file-sync, leveldb, split or split-parallel, not ${values.store}`)
  if (!TRANSPORTS.includes(values.transport))
    throw new Error(`--transport must be tcp or ws, not ${values.transport}`)
  const leaders = Number(values.leaders)
  if (leaders !== 1 && leaders !== 3) throw new Error(`--leaders must be 1 or 3, not ${values.leaders}`)
  const memtableBytes = Number(values['memtable-bytes'])
  if (!(Number.isInteger(memtableBytes) && memtableBytes >= 64 * 1024))
    throw new Error('--memtable-bytes must be an integer of at least 65536')
  const ratePerS = Number(values.rate)
  if (!(Number.isFinite(ratePerS) && ratePerS >= 0))
    throw new Error('--rate must be a number of batches a second ≥ 0')
  const intervalMs = ratePerS > 0 ? 1000 / ratePerS : 0
  if (!(Number.isInteger(batchBytes) && batchBytes > 0 && batchBytes <= FRAME_BYTES_MAX && inFlightMax >= 1))
    throw new Error('--mb, --batch-bytes and --in-flight must be positive (a batch at most 64 MiB)')
  if (!(batches >= 1 && batches <= BATCHES_MAX))
    throw new Error(`--mb must hold between 1 and ${BATCHES_MAX} batches of --batch-bytes, not ${batches}`)
  const dir = mkdtempSync(join(tmpdir(), 'cairn-floor-'))
  const fsync = values['no-fsync'] ? 'nofsync' : 'fsync'
  const children = []
  let finished = false
  /** Resolves to the child's first message, or rejects after STARTUP_MS_MAX. */
  const reply = (child, what) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(what)), STARTUP_MS_MAX)
      child.once('message', (m) => {
        clearTimeout(timer)
        resolve(m)
      })
    })
  const start = (id) =>
    new Promise((resolve, reject) => {
      const child = fork(new URL(import.meta.url).pathname, [
        'replica',
        String(id),
        dir,
        fsync,
        values.store,
        String(memtableBytes),
        values.transport,
      ])
      children.push(child)
      reply(child, `replica ${id} did not start`).then((ports) => resolve({ child, ...ports }), reject)
      child.once('exit', (code) => {
        if (finished) return
        reject(new Error(`replica ${id} exited (${code})`))
        // After it started nothing awaits it: stop the run here.
        console.error(`bench-floor: replica ${id} exited (${code})`)
        rmSync(dir, { recursive: true, force: true })
        process.exit(1)
      })
    })
  try {
    const replicas = [await start(1), await start(2), await start(3)]
    // Replica i < leaders leads: it forwards to the other two, at their peer ports.
    for (const [i, r] of replicas.entries()) {
      const followerPorts = i < leaders ? replicas.filter((o) => o !== r).map((o) => o.peerPort) : []
      r.child.send({ followerPorts })
      await reply(r.child, `replica ${i + 1} did not reach its followers`)
    }
    const transport = transportOf(values.transport)
    const toLeaders = []
    for (const r of replicas.slice(0, leaders)) toLeaders.push(await transport.dial(r.clientPort))
    const payload = randomBytes(batchBytes)
    const sentAtMs = new Float64Array(batches)
    /** Answers that came back from each leader: each should answer the batches sent to it. */
    const ackedByLeader = new Array(leaders).fill(0)
    const latencyMs = new Float64Array(batches)
    let sent = 0
    let acked = 0
    const t0 = performance.now()
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not done in ${RUN_MS_MAX} ms`)), RUN_MS_MAX)
      let wake = null
      const send = () => {
        while (sent < batches && sent - acked < inFlightMax) {
          const now = performance.now()
          // At a fixed rate batch k is due at t0 + k × interval and timed from then, even if sent late.
          const dueMs = intervalMs > 0 ? t0 + sent * intervalMs : now
          if (dueMs > now) {
            if (wake === null)
              wake = setTimeout(
                () => {
                  wake = null
                  send()
                },
                Math.ceil(dueMs - now),
              )
            return
          }
          sentAtMs[sent] = dueMs
          toLeaders[sent % leaders].sendBatch(sent, payload)
          sent++
        }
      }
      const progress = setInterval(() => {
        const mb = (acked * batchBytes) / 1024 / 1024
        process.stderr.write(
          `[floor] ${mb.toFixed(0)} MB acknowledged, ${(mb / ((performance.now() - t0) / 1000)).toFixed(1)} MB/s\n`,
        )
      }, PROGRESS_MS)
      const onAck = (leader, id) => {
        ackedByLeader[leader]++
        latencyMs[acked++] = performance.now() - sentAtMs[id]
        if (acked === batches) {
          clearTimeout(timer)
          clearInterval(progress)
          resolve()
        } else send()
      }
      for (const [i, leader] of toLeaders.entries()) leader.onAck = (id) => onAck(i, id)
      send()
    })
    const seconds = (performance.now() - t0) / 1000
    const mbPerS = (batches * batchBytes) / 1024 / 1024 / seconds
    latencyMs.sort()
    const pct = (q) => Number(latencyMs[Math.min(batches - 1, Math.floor(q * batches))].toFixed(3))
    console.log(
      JSON.stringify({
        mb_per_s: Number(mbPerS.toFixed(1)),
        seconds: Number(seconds.toFixed(2)),
        batch_bytes: batchBytes,
        in_flight: inFlightMax,
        rate: ratePerS,
        fsync: fsync === 'fsync',
        store: values.store,
        leaders,
        transport: values.transport,
        batches_per_leader: ackedByLeader,
        memtable_bytes: values.store.startsWith('file') ? null : memtableBytes,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        p999_ms: pct(0.999),
        max_ms: pct(1),
      }),
    )
  } finally {
    finished = true
    for (const c of children) c.disconnect?.()
    rmSync(dir, { recursive: true, force: true })
  }
}

if (process.argv[2] === 'replica')
  replica().catch((err) => {
    console.error(`bench-floor replica: ${err.message}`)
    process.exit(1)
  })
else
  client().catch((err) => {
    console.error(`bench-floor: ${err.message}`)
    process.exit(1)
  })
