#!/usr/bin/env node
// LevelDB's write amplification under a node's write pattern, for three key layouts. Many Raft
// groups append at once; each turn writes one entry per group, that entry's offset row and the
// group's hard state into one batch, synced, as @cairn/storage's group commit does. What differs
// is where the rows sort:
//
//   group      [group u32][kind u8][number u64]: Cairn's layout (DESIGN.md). Every memtable holds
//              every group's key range, so level-0 tables overlap each other and every level below,
//              and entries are rewritten at each level they pass.
//   sequence   entries under [0x01][node-wide sequence u64], their offset rows and hard states under
//              [0x02][group][kind][number]: entries only ever append at the top of their key range.
//   entries    entries under [0x01][sequence] only (offsets and hard state carried in the entry):
//              the bound of what a sequence layout can save.
//   epoch      every row as `group`, under a node-wide epoch [epoch u32][group u32][kind][number]
//              that moves on every --epoch-mib MiB of entries (Kafka's segments, in key space): a
//              level-0 table overlaps the tables of its own epoch and its neighbour's, not older
//              ones. --flush-at-epoch also has LevelDB flush its memtable at each new epoch (an
//              empty-range CompactRange), so a table holds one epoch.
//
// --meta-every-turns N (sequence): the offset rows and hard states go into every Nth turn's batch
// only, as a layout that checkpoints its group rows now and then would write them. One such row in
// a memtable is enough to make its level-0 table overlap every table of older entries.
//
// It reports entry MB/s, the bytes the process wrote to disk (/proc/self/io, LevelDB's log, tables
// and compactions alike) per entry byte, the compactions LevelDB's LOG records, and how long each
// turn's synced write took (p50, p99, max). Same options as @cairn/storage: no compression, 32 MiB
// memtable (--write-buffer-mib), 2 MiB tables.
//
// --rate-mb R paces the turns at R MB/s of entries; a turn's time then counts from when it was due,
// so a stall shows in the figures instead of in a slower rate. Several processes at once (one per
// node of a local cluster) show what they do to each other's syncs on one disk.
//
// Usage: node scripts/bench-leveldb-layout.mjs [--layout group|sequence|entries|epoch] [--mb 1000]
//          [--groups 16] [--entry-bytes 16384] [--meta-every-turns 1] [--write-buffer-mib 32]
//          [--epoch-mib 4] [--flush-at-epoch] [--rate-mb R] [--dir D] [--json]
import { randomBytes } from 'node:crypto'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'

const require = createRequire(new URL('../packages/storage/package.json', import.meta.url))
const { ClassicLevel } = require('classic-level')

const MiB = 1024 * 1024
const MB = 1_000_000
const LAYOUTS = ['group', 'sequence', 'entries', 'epoch']
const MB_MAX = 100_000
const GROUPS_MAX = 10_000
const ENTRY_BYTES_MAX = 4 * MiB
const PROGRESS_MS = 1_000
const TURNS_MAX = 1_000_000
/** LevelDB compacts level 0 once it holds this many tables (kL0_CompactionTrigger). */
const LEVEL0_COMPACTION_TRIGGER = 4
const SETTLE_MS_MAX = 60_000
const SETTLE_POLL_MS = 20
const WRITE_BUFFER_MIB_MAX = 1024
const OFFSET_ROW_BYTES = 24
const HARD_STATE_BYTES = 24

function fail(message) {
  console.error(`bench-leveldb-layout: ${message}`)
  process.exit(2)
}

function positive(value, name, max) {
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 1 || n > max)
    fail(`--${name} must be positive and at most ${max}, got '${value}'`)
  return n
}

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        layout: { type: 'string', default: 'group' },
        mb: { type: 'string', default: '1000' },
        groups: { type: 'string', default: '16' },
        'entry-bytes': { type: 'string', default: '16384' },
        'meta-every-turns': { type: 'string', default: '1' },
        'write-buffer-mib': { type: 'string', default: '32' },
        'epoch-mib': { type: 'string' },
        'flush-at-epoch': { type: 'boolean', default: false },
        'rate-mb': { type: 'string' },
        dir: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h' },
      },
    })
  } catch (err) {
    return fail(err.message.split('\n')[0])
  }
})()
if (values.help) {
  console.log(
    'usage: node scripts/bench-leveldb-layout.mjs [--layout group|sequence|entries|epoch] [--mb 1000] [--groups 16] [--entry-bytes 16384] [--meta-every-turns 1] [--write-buffer-mib 32] [--epoch-mib 4] [--flush-at-epoch] [--rate-mb R] [--dir D] [--json]',
  )
  process.exit(0)
}
if (!LAYOUTS.includes(values.layout)) fail(`--layout is one of ${LAYOUTS.join(', ')}, not '${values.layout}'`)
const layout = values.layout
const totalBytes = positive(values.mb, 'mb', MB_MAX) * MB
const groups = positive(values.groups, 'groups', GROUPS_MAX)
const entryBytes = positive(values['entry-bytes'], 'entry-bytes', ENTRY_BYTES_MAX)
const metaEveryTurns = positive(values['meta-every-turns'], 'meta-every-turns', TURNS_MAX)
if (metaEveryTurns > 1 && layout !== 'sequence') fail('--meta-every-turns applies to --layout sequence only')
if ((values['epoch-mib'] !== undefined || values['flush-at-epoch']) && layout !== 'epoch')
  fail('--epoch-mib and --flush-at-epoch apply to --layout epoch only')
const writeBufferMiB = positive(values['write-buffer-mib'], 'write-buffer-mib', WRITE_BUFFER_MIB_MAX)
const epochBytes = positive(values['epoch-mib'] ?? '4', 'epoch-mib', WRITE_BUFFER_MIB_MAX) * MiB
const flushAtEpoch = values['flush-at-epoch']
const rateMb = values['rate-mb'] === undefined ? null : positive(values['rate-mb'], 'rate-mb', MB_MAX)

function u64(view, at, n) {
  view.setUint32(at, Math.floor(n / 2 ** 32))
  view.setUint32(at + 4, n >>> 0)
}

function groupKey(group, kind, n) {
  const key = new Uint8Array(13)
  const view = new DataView(key.buffer)
  view.setUint32(0, group)
  view.setUint8(4, kind)
  u64(view, 5, n)
  return key
}

function sequenceKey(seq) {
  const key = new Uint8Array(9)
  key[0] = 0x01
  u64(new DataView(key.buffer), 1, seq)
  return key
}

function metaKey(group, kind, n) {
  const key = new Uint8Array(14)
  key[0] = 0x02
  key.set(groupKey(group, kind, n), 1)
  return key
}

function epochKey(epoch, group, kind, n) {
  const key = new Uint8Array(17)
  new DataView(key.buffer).setUint32(0, epoch)
  key.set(groupKey(group, kind, n), 4)
  return key
}

let epoch = 0
let epochWritten = 0
let flushes = Promise.resolve()

function diskWriteBytes() {
  const line = readFileSync('/proc/self/io', 'utf8')
    .split('\n')
    .find((l) => l.startsWith('write_bytes:'))
  return Number(line.split(':')[1])
}

const dir = mkdtempSync(join(values.dir ?? tmpdir(), 'cairn-leveldb-layout-'))
const db = new ClassicLevel(join(dir, 'db'), { keyEncoding: 'view', valueEncoding: 'view' })
let cleaned = false
const cleanup = () => {
  if (cleaned) return
  cleaned = true
  rmSync(dir, { recursive: true, force: true })
}
process.on('exit', cleanup)
process.on('SIGINT', () => process.exit(130))

await db.open({
  compression: false,
  writeBufferSize: writeBufferMiB * MiB,
  maxFileSize: 2 * MiB,
  cacheSize: 32 * MiB,
})
const payload = randomBytes(entryBytes)
const offsetRow = randomBytes(OFFSET_ROW_BYTES)
const hardState = randomBytes(HARD_STATE_BYTES)
const indexes = new Array(groups).fill(0)
let sequence = 0
let written = 0
let turns = 0
const startBytes = diskWriteBytes()
const startCpu = process.cpuUsage()
const startMs = performance.now()
let lastProgress = { atMs: startMs, written: 0 }
/** Each turn's synced write, from when it was due (--rate-mb) or began, in ms. */
const turnMs = []
const turnBytes = groups * entryBytes

/** Adds one turn's rows (one entry per group) to `batch`. */
function addTurn(batch) {
  const withMeta = turns++ % metaEveryTurns === 0
  for (let g = 0; g < groups; g++) {
    const index = ++indexes[g]
    const seq = ++sequence
    if (layout === 'group') {
      batch.put(groupKey(g, 0x20, index), payload)
      batch.put(groupKey(g, 0x30, index), offsetRow)
      batch.put(groupKey(g, 0x01, 0), hardState)
    } else if (layout === 'sequence') {
      batch.put(sequenceKey(seq), payload)
      if (withMeta) {
        batch.put(metaKey(g, 0x30, index), offsetRow)
        batch.put(metaKey(g, 0x01, 0), hardState)
      }
    } else if (layout === 'epoch') {
      batch.put(epochKey(epoch, g, 0x20, index), payload)
      batch.put(epochKey(epoch, g, 0x30, index), offsetRow)
      batch.put(epochKey(epoch, g, 0x01, 0), hardState)
    } else {
      batch.put(sequenceKey(seq), payload)
    }
    written += entryBytes
  }
}

const dueAt = (turn) => startMs + (turn * turnBytes) / (rateMb * 1000)
while (written < totalBytes) {
  // One synced batch at a time, as storage's group commit: at a fixed rate it takes every turn
  // due by now (those that came due during the last sync wait for this one).
  const batch = db.batch()
  const dues = []
  if (rateMb === null) {
    dues.push(performance.now())
    addTurn(batch)
  } else {
    const waitMs = dueAt(turns) - performance.now()
    if (waitMs > 0) await new Promise((resolve) => setTimeout(resolve, waitMs))
    const now = performance.now()
    while (written < totalBytes && (dues.length === 0 || dueAt(turns) <= now)) {
      dues.push(dueAt(turns))
      addTurn(batch)
    }
  }
  await batch.write({ sync: true })
  if (layout === 'epoch') {
    epochWritten += dues.length * turnBytes
    if (epochWritten >= epochBytes) {
      epoch++
      epochWritten = 0
      // An empty range: LevelDB's CompactRange flushes the memtable first, so tables hold one epoch.
      if (flushAtEpoch) {
        const empty = epochKey(0xffffffff, 0, 0, 0)
        flushes = flushes.then(() => db.compactRange(empty, empty))
      }
    }
  }
  const now = performance.now()
  for (const due of dues) turnMs.push(now - due)
  if (now - lastProgress.atMs >= PROGRESS_MS) {
    const rate = (written - lastProgress.written) / MB / ((now - lastProgress.atMs) / 1000)
    process.stderr.write(
      `[${layout}] ${(written / MB).toFixed(0)} of ${totalBytes / MB} MB, ${rate.toFixed(1)} MB/s, disk ${((diskWriteBytes() - startBytes) / MB).toFixed(0)} MB\n`,
    )
    lastProgress = { atMs: now, written }
  }
}
const seconds = (performance.now() - startMs) / 1000
await flushes
// The level-0 compaction the last memtables started belongs to the run: wait (bounded) until level
// 0 is below LevelDB's compaction trigger, or closing would cut it short.
const settleStartMs = performance.now()
while (Number(db.getProperty('leveldb.num-files-at-level0')) >= LEVEL0_COMPACTION_TRIGGER) {
  if (performance.now() - settleStartMs > SETTLE_MS_MAX)
    fail(`level 0 still compacting after ${SETTLE_MS_MAX} ms`)
  await new Promise((resolve) => setTimeout(resolve, SETTLE_POLL_MS))
}
const cpu = process.cpuUsage(startCpu)
const cpuSeconds = (performance.now() - startMs) / 1000
await db.close()
const disk = diskWriteBytes() - startBytes
const log = readFileSync(join(dir, 'db', 'LOG'), 'utf8')
const count = (re) => (log.match(re) ?? []).length
turnMs.sort((a, b) => a - b)
const turnAt = (q) =>
  Math.round(turnMs[Math.min(turnMs.length - 1, Math.floor(q * turnMs.length))] * 100) / 100
const result = {
  layout,
  groups,
  entry_bytes: entryBytes,
  meta_every_turns: metaEveryTurns,
  epoch_mib: layout === 'epoch' ? epochBytes / MiB : null,
  flush_at_epoch: layout === 'epoch' ? flushAtEpoch : null,
  write_buffer_mib: writeBufferMiB,
  rate_mb: rateMb,
  mb: Math.round(written / MB),
  seconds: Math.round(seconds * 100) / 100,
  mb_per_s: Math.round((written / MB / seconds) * 10) / 10,
  // null where the kernel does not count this process's writes (tmpfs, some containers).
  disk_mb: disk > 0 ? Math.round(disk / MB) : null,
  write_amplification: disk > 0 ? Math.round((disk / written) * 100) / 100 : null,
  // Over the run and the wait for its level-0 compaction: LevelDB's background thread included.
  cpu_percent: Math.round(((cpu.user + cpu.system) / 1000 / (cpuSeconds * 1000)) * 100),
  level0_tables: count(/Level-0 table #\d+: \d+ bytes/g),
  compactions: count(/Compacted \d+@\d+ \+ \d+@\d+ files/g),
  moves: count(/Moved #\d+ to level-\d+/g),
  turn_p50_ms: turnAt(0.5),
  turn_p99_ms: turnAt(0.99),
  turn_max_ms: turnAt(1),
}
console.log(
  `${layout}${metaEveryTurns > 1 ? ` (group rows every ${metaEveryTurns} turns)` : ''}` +
    `${layout === 'epoch' ? ` (${epochBytes / MiB} MiB epochs${flushAtEpoch ? ', flushed at each' : ''})` : ''}` +
    `${writeBufferMiB !== 32 ? `, ${writeBufferMiB} MiB memtables` : ''}${rateMb !== null ? `, paced at ${rateMb} MB/s` : ''}: ${result.mb} MB of ${entryBytes}-byte entries in ${result.seconds} s: ${result.mb_per_s} MB/s; ` +
    `${disk > 0 ? `disk ${result.disk_mb} MB written (${result.write_amplification}x)` : 'disk writes not counted here'}; CPU ${result.cpu_percent}% of a core; ` +
    `${result.level0_tables} level-0 tables, ${result.compactions} compactions, ${result.moves} moves; ` +
    `a turn's synced write p50 ${result.turn_p50_ms} ms, p99 ${result.turn_p99_ms} ms, max ${result.turn_max_ms} ms`,
)
if (values.json) console.log(JSON.stringify(result))
cleanup()
