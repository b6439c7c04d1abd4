#!/usr/bin/env node
// The floor under `cairn bench produce`: what this machine does with the least work a replicated,
// fsynced write can need, in Node, with none of Cairn's. Three replica processes on 127.0.0.1; the
// client sends batches over TCP to replica 1, which writes each to its file and forwards the same
// bytes to replicas 2 and 3; every replica appends what one turn received with one write and one
// fdatasync (one in flight, the rest gathered for the next); replica 1 answers a batch once it is
// on its own disk and on one follower's (a quorum of 3). No WebSocket, msgpack, Raft, LevelDB, CRC
// or record parsing. A figure Cairn cannot beat on the same machine; the gap is Cairn's own cost.
//
// It also times each batch from send to answer: with --in-flight 1 and small batches, the floor of
// one write's latency (four hops between processes, the replicas' fdatasyncs in parallel).
//
// With --rate B it sends B batches a second instead, each due at start + k / B and timed from then
// (corrected for coordinated omission, as `cairn bench --rate`): the floor of a fixed-rate run's tail.
//
// Usage: node scripts/bench-floor.mjs [--mb 1000] [--batch-bytes 131072] [--in-flight 32] [--rate B]
//                                     [--store file|file-sync|leveldb|split|split-parallel] [--memtable-bytes N]
//                                     [--no-fsync]
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

async function replica() {
  const [, , , idArg, dir, fsyncArg, storeArg, memtableArg, ...followerPorts] = process.argv
  const path = join(dir, `replica-${idArg}`)
  const fsync = fsyncArg === 'fsync'
  const file =
    storeArg === 'file'
      ? durableFile(`${path}.log`, fsync)
      : storeArg === 'file-sync'
        ? durableFileSync(`${path}.log`, fsync)
        : await durableLevel(path, fsync, storeArg, Number(memtableArg))
  const followers = []
  /** Batch ids one follower has acknowledged: the first ack completes the quorum. */
  const acksSeen = new Set()
  const server = createServer((socket) => {
    socket.setNoDelay(true)
    const waiting = new Map() // id -> acks still needed before answering (leader only)
    const ack = (id) => {
      const b = Buffer.allocUnsafe(ACK_BYTES)
      b.writeBigUInt64BE(id)
      socket.write(b)
    }
    const acked = (id) => {
      const left = waiting.get(id) - 1
      if (left === 0) {
        waiting.delete(id)
        ack(id)
      } else waiting.set(id, left)
    }
    if (followers.length > 0) for (const f of followers) f.onAck = acked
    socket.on(
      'data',
      framer(true, (id, frame) => {
        if (followers.length === 0) return file.append(frame, () => ack(id))
        waiting.set(id, 2) // own disk + one follower
        for (const f of followers) f.socket.write(frame)
        file.append(frame, () => acked(id))
      }),
    )
  })
  server.listen(0, '127.0.0.1', async () => {
    for (const port of followerPorts) {
      const socket = connect(Number(port), '127.0.0.1')
      socket.setNoDelay(true)
      await new Promise((r) => socket.once('connect', r))
      const f = { socket, onAck: () => {} }
      // The first follower's ack completes the quorum; the second one's is ignored.
      socket.on(
        'data',
        framer(false, (id) => {
          if (acksSeen.has(id)) acksSeen.delete(id)
          else {
            acksSeen.add(id)
            f.onAck(id)
          }
        }),
      )
      followers.push(f)
    }
    process.send({ port: server.address().port })
  })
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
      'no-fsync': { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  })
  if (values.help) {
    console.log(
      'usage: node scripts/bench-floor.mjs [--mb 1000] [--batch-bytes 131072] [--in-flight 32] [--rate B]\n' +
        '                                    [--store file|file-sync|leveldb|split|split-parallel] [--memtable-bytes N]\n' +
        '                                    [--no-fsync]\n' +
        '  --rate B   B batches a second, each timed from when it was due (default: as fast as\n' +
        '             --in-flight allows)\n' +
        '  --store    where each replica keeps what it receives: a plain file (default), or the same\n' +
        '             written and fdatasynced on the main thread (file-sync); LevelDB rows\n' +
        '             holding the bytes (leveldb); the bytes in a file and a small LevelDB row each,\n' +
        '             the file synced first (split) or both at once (split-parallel). LevelDB is opened\n' +
        '             as @cairn/storage opens it, with a memtable of --memtable-bytes (8 MiB).',
    )
    return
  }
  const totalBytes = Number(values.mb) * 1024 * 1024
  const batchBytes = Number(values['batch-bytes'])
  const inFlightMax = Number(values['in-flight'])
  const batches = Math.floor(totalBytes / batchBytes)
  if (!['file', 'file-sync', 'leveldb', 'split', 'split-parallel'].includes(values.store))
    throw new Error(`--store must be file, file-sync, leveldb, split or split-parallel, not ${values.store}`)
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
  const start = (id, ports) =>
    new Promise((resolve, reject) => {
      const child = fork(new URL(import.meta.url).pathname, [
        'replica',
        String(id),
        dir,
        fsync,
        values.store,
        String(memtableBytes),
        ...ports,
      ])
      children.push(child)
      const timer = setTimeout(() => reject(new Error(`replica ${id} did not start`)), STARTUP_MS_MAX)
      child.once('message', (m) => {
        clearTimeout(timer)
        resolve(m.port)
      })
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
    const p3 = await start(3, [])
    const p2 = await start(2, [])
    const p1 = await start(1, [String(p2), String(p3)])
    const socket = connect(p1, '127.0.0.1')
    socket.setNoDelay(true)
    await new Promise((r) => socket.once('connect', r))
    const payload = randomBytes(batchBytes)
    const sentAtMs = new Float64Array(batches)
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
          const header = Buffer.allocUnsafe(HEADER_BYTES)
          header.writeUInt32BE(batchBytes)
          sentAtMs[sent] = dueMs
          header.writeBigUInt64BE(BigInt(sent++), 4)
          socket.write(header)
          socket.write(payload)
        }
      }
      const progress = setInterval(() => {
        const mb = (acked * batchBytes) / 1024 / 1024
        process.stderr.write(
          `[floor] ${mb.toFixed(0)} MB acknowledged, ${(mb / ((performance.now() - t0) / 1000)).toFixed(1)} MB/s\n`,
        )
      }, PROGRESS_MS)
      socket.on(
        'data',
        framer(false, (id) => {
          latencyMs[acked++] = performance.now() - sentAtMs[Number(id)]
          if (acked === batches) {
            clearTimeout(timer)
            clearInterval(progress)
            resolve()
          } else send()
        }),
      )
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
        memtable_bytes: values.store.startsWith('file') ? null : memtableBytes,
        p50_ms: pct(0.5),
        p99_ms: pct(0.99),
        p999_ms: pct(0.999),
        max_ms: pct(1),
      }),
    )
    socket.destroy()
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
