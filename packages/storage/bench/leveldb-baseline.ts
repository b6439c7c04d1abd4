/**
 * The ceiling under bench/append.ts: classic-level alone, same key layout (16 interleaved group
 * ranges), same values (16 KiB), same batch size, one `{ sync: true }` batch at a time, no Cairn
 * code (no checksums, caches, term runs). What append.ts loses against this is Cairn's overhead;
 * what this loses against the disk is LevelDB's (write-ahead log plus compaction).
 *
 *   node --import tsx bench/leveldb-baseline.ts [groups] [entriesPerTurn] [durationMs]
 */

import { randomFillSync } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ClassicLevel } from 'classic-level'

const GROUPS = Number(process.argv[2] ?? 16)
const ENTRIES_PER_TURN = Number(process.argv[3] ?? 4)
const DURATION_MS = Number(process.argv[4] ?? 10_000)
const PARENT_DIR = process.env.CAIRN_BENCH_DIR ?? tmpdir()
const ENTRY_BYTES = 16 * 1024
const MiB = 1024 * 1024

function entryKey(group: number, index: number): Uint8Array {
  const key = new Uint8Array(13)
  const view = new DataView(key.buffer)
  view.setUint32(0, group)
  view.setUint8(4, 0x20)
  view.setUint32(9, index)
  return key
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(PARENT_DIR, 'cairn-baseline-'))
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir, {
    keyEncoding: 'view',
    valueEncoding: 'view',
    compression: false,
    writeBufferSize: 64 * MiB,
    maxFileSize: 32 * MiB,
  })
  await db.open()
  const value = randomFillSync(new Uint8Array(ENTRY_BYTES))
  let batches = 0
  let index = 0
  const started = performance.now()
  while (performance.now() - started < DURATION_MS) {
    const batch = db.batch()
    index++
    for (let group = 0; group < GROUPS; group++) {
      for (let i = 0; i < ENTRIES_PER_TURN; i++)
        batch.put(entryKey(group, index * ENTRIES_PER_TURN + i), value)
    }
    await batch.write({ sync: true })
    batches++
  }
  const seconds = (performance.now() - started) / 1000
  const entries = batches * GROUPS * ENTRIES_PER_TURN
  console.log(`leveldb baseline: groups=${GROUPS} entries/turn/group=${ENTRIES_PER_TURN} dir=${PARENT_DIR}`)
  console.log(
    `  data      ${((entries * ENTRY_BYTES) / 1e6 / seconds).toFixed(1)} MB/s (${(entries / seconds).toFixed(0)} entries/s)`,
  )
  console.log(`  fsyncs    ${(batches / seconds).toFixed(1)}/s`)
  await db.close()
  rmSync(dir, { recursive: true, force: true })
}

await main()
