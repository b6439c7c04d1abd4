/**
 * Append throughput with group commit: GROUPS groups each append ENTRIES_PER_TURN entries of
 * ENTRY_BYTES per turn of the event loop, one flush (one fsync) per turn, for DURATION_MS.
 * At most two flushes are outstanding: one batch in flight, the next one gathering, as a broker
 * keeps appending while the previous batch syncs.
 *
 *   node --import tsx bench/append.ts [groups] [entriesPerTurn] [durationMs]
 *
 * CAIRN_BENCH_DIR: parent directory of the database (default: the OS temp dir), e.g. /dev/shm to
 * measure without the disk. CAIRN_BENCH_WRITE_BUFFER_MIB, CAIRN_BENCH_TABLE_FILE_MIB,
 * CAIRN_BENCH_SEGMENT_MIB: LevelDB and segment sizes (unset: the store's defaults).
 */

import { randomFillSync } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type Entry, EntryKind } from '@cairn/raft'
import { type GroupLog, LevelLogStore } from '../src/index.js'

const GROUPS = Number(process.argv[2] ?? 16)
const ENTRIES_PER_TURN = Number(process.argv[3] ?? 4)
const DURATION_MS = Number(process.argv[4] ?? 10_000)
const PARENT_DIR = process.env.CAIRN_BENCH_DIR ?? tmpdir()
const MiB = 1024 * 1024
const mibFromEnv = (name: string): number | undefined =>
  process.env[name] === undefined ? undefined : Number(process.env[name]) * MiB
const WRITE_BUFFER_BYTES = mibFromEnv('CAIRN_BENCH_WRITE_BUFFER_MIB')
const TABLE_FILE_BYTES = mibFromEnv('CAIRN_BENCH_TABLE_FILE_MIB')
const SEGMENT_BYTES = mibFromEnv('CAIRN_BENCH_SEGMENT_MIB')
const ENTRY_BYTES = 16 * 1024
/** Distinct random payloads, so LevelDB sees incompressible data without a fresh buffer per entry. */
const PAYLOADS = 64
const FLUSHES_OUTSTANDING_MAX = 2

const payloads = Array.from({ length: PAYLOADS }, () => randomFillSync(new Uint8Array(ENTRY_BYTES)))

function nextEntries(group: GroupLog, count: number): Entry[] {
  const first = group.lastIndex() + 1
  return Array.from({ length: count }, (_, i) => ({
    index: first + i,
    term: 1,
    kind: EntryKind.normal,
    data: payloads[(first + i) % PAYLOADS]!,
  }))
}

function mib(bytes: number | undefined): string {
  return bytes === undefined ? 'default' : `${bytes / MiB}MiB`
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(PARENT_DIR, 'cairn-bench-'))
  const store = await LevelLogStore.open(dir, {
    writeBufferBytes: WRITE_BUFFER_BYTES,
    tableFileBytes: TABLE_FILE_BYTES,
    segmentBytes: SEGMENT_BYTES,
  })
  const groups = await Promise.all(Array.from({ length: GROUPS }, (_, id) => store.group(id)))
  const outstanding: Promise<void>[] = []
  let entries = 0
  let slowestFlushMs = 0
  const started = performance.now()
  while (performance.now() - started < DURATION_MS) {
    for (const group of groups) group.write({ entries: nextEntries(group, ENTRIES_PER_TURN) })
    entries += GROUPS * ENTRIES_PER_TURN
    const asked = performance.now()
    const flushed = store.flush().then(() => {
      slowestFlushMs = Math.max(slowestFlushMs, performance.now() - asked)
    })
    outstanding.push(flushed)
    if (outstanding.length >= FLUSHES_OUTSTANDING_MAX) await outstanding.shift()
  }
  await Promise.all(outstanding)
  const seconds = (performance.now() - started) / 1000
  report(store, entries, seconds, slowestFlushMs)
  await store.close()
  rmSync(dir, { recursive: true, force: true })
}

function report(store: LevelLogStore, entries: number, seconds: number, slowestFlushMs: number): void {
  const { syncs, bytesWritten } = store.stats()
  const dataMB = (entries * ENTRY_BYTES) / 1e6
  console.log(
    `groups=${GROUPS} entry=${ENTRY_BYTES}B entries/turn/group=${ENTRIES_PER_TURN} ` +
      `duration=${seconds.toFixed(1)}s dir=${PARENT_DIR} ` +
      `writeBuffer=${mib(WRITE_BUFFER_BYTES)} tableFile=${mib(TABLE_FILE_BYTES)} segment=${mib(SEGMENT_BYTES)}`,
  )
  console.log(
    `  data      ${(dataMB / seconds).toFixed(1)} MB/s (${(entries / seconds).toFixed(0)} entries/s)`,
  )
  console.log(
    `  written   ${(bytesWritten / 1e6 / seconds).toFixed(1)} MB/s to LevelDB (keys, headers, term runs)`,
  )
  console.log(
    `  fsyncs    ${(syncs / seconds).toFixed(1)}/s, ${(entries / syncs).toFixed(1)} entries per fsync`,
  )
  console.log(`  slowest flush ${slowestFlushMs.toFixed(0)} ms`)
}

await main()
