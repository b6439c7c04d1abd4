/**
 * Entries' data in the segments' data files: what goes there, that it reads back and is checked,
 * that it is durable before the rows that point at it, and that files go with their segments.
 */

import assert from 'node:assert/strict'
import { mkdirSync, readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { test } from 'node:test'
import { crc32c } from '@cairn/protocol'
import { type Entry, EntryKind } from '@cairn/raft'
import { ClassicLevel } from 'classic-level'
import { DataFiles } from '../src/data-files.js'
import {
  CorruptLogError,
  GROUP_ROWS,
  KeyKind,
  key,
  LevelLogStore,
  type LogStoreOptions,
} from '../src/index.js'
import { readThroughLoads, same, tempDir } from './helpers.js'

const KiB = 1024

/** `bytes` deterministic bytes for (group, index, term). */
function fixedData(group: number, index: number, term: number, bytes: number): Uint8Array {
  const out = new Uint8Array(bytes)
  let x = (Math.imul(group + 1, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca6b) ^ (term + 1)) >>> 0 || 1
  for (let i = 0; i < bytes; i++) {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    out[i] = x & 0xff
  }
  return out
}

function bigEntries(group: number, first: number, count: number, term: number, bytes = 4 * KiB): Entry[] {
  return Array.from({ length: count }, (_, i) => ({
    index: first + i,
    term,
    kind: EntryKind.normal,
    data: fixedData(group, first + i, term, bytes),
  }))
}

/** Waits for `condition`, checking every 10 ms, for at most `boundMs`. */
async function waitFor(condition: () => boolean, what: string, boundMs = 5000): Promise<void> {
  for (const started = Date.now(); !condition(); ) {
    if (Date.now() - started > boundMs) throw new Error(`${what}: not within ${boundMs} ms`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** Where segment `segment`'s data file is: the name is checked as written on disk, not imported. */
function dataFilePath(path: string, segment: number): string {
  return join(path, 'segments', `${String(segment).padStart(10, '0')}.data`)
}

/** A log start at `index` (term 1, a one-voter group): the group discards its entries up to it. */
function logStartAt(index: number) {
  return {
    logStart: { index, term: 1, payload: new Uint8Array(), membership: { voters: [1], learners: [] } },
  }
}

function files(path: string): number[] {
  return readdirSync(join(path, 'segments'))
    .map((name) => Number.parseInt(name, 10))
    .sort((a, b) => a - b)
}

async function rowBytes(path: string): Promise<number> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  try {
    let bytes = 0
    for (const [k, v] of await db.iterator().all()) bytes += k.length + v.length
    return bytes
  } finally {
    await db.close()
  }
}

/** Every entry of `group` in [first, last] reads back equal to `expected` (by index), from disk. */
async function assertReadsBack(store: LevelLogStore, id: number, expected: Entry[]): Promise<void> {
  const group = await store.group(id)
  const lo = expected[0]!.index
  const hi = expected.at(-1)!.index + 1
  const read = await group.read(lo, hi, 1 << 30)
  assert.equal(read.length, expected.length)
  for (const [i, entry] of read.entries())
    assert.ok(same(entry.data, expected[i]!.data), `group ${id} entry ${entry.index}`)
  const loaded = await readThroughLoads(group, lo, hi, 64 * KiB)
  for (const [i, entry] of loaded.entries())
    assert.ok(same(entry.data, expected[i]!.data), `loaded ${entry.index}`)
  await group.verify()
}

async function withStore<T>(
  path: string,
  options: LogStoreOptions,
  use: (store: LevelLogStore) => Promise<T>,
): Promise<T> {
  const store = await LevelLogStore.open(path, options)
  try {
    return await use(store)
  } finally {
    await store.close()
  }
}

test('a batch past inlineDataBytesMax writes its data once, to the data file, and it reads back after a reopen', async () => {
  const dir = tempDir()
  try {
    const written = bigEntries(1, 1, 64, 1) // 256 KiB in one batch
    await withStore(dir.path, { inlineDataBytesMax: 16 * KiB, tailCacheBytesMax: 0 }, async (store) => {
      const group = await store.group(1)
      group.write({ hardState: { term: 1, vote: 1, commit: 0 }, entries: written })
      await store.flush()
      const stats = store.stats()
      assert.equal(stats.dataSyncs, 1, 'one fdatasync of the data file')
      assert.equal(stats.syncs, 1, 'and one LevelDB batch')
      // The first 16 KiB stay in rows, the rest is in the file.
      assert.equal(stats.dataBytesWritten, 64 * 4 * KiB - 16 * KiB)
      await assertReadsBack(store, 1, written)
    })
    assert.ok((await rowBytes(dir.path)) < 24 * KiB, 'LevelDB holds the inline 16 KiB and small rows only')
    await withStore(dir.path, {}, (store) => assertReadsBack(store, 1, written))
  } finally {
    dir.cleanup()
  }
})

test('a batch within inlineDataBytesMax costs one fsync and writes no data file', async () => {
  const dir = tempDir()
  try {
    await withStore(dir.path, {}, async (store) => {
      const group = await store.group(1)
      group.write({ entries: bigEntries(1, 1, 8, 1, 1 * KiB) })
      await store.flush()
      assert.equal(store.stats().syncs, 1)
      assert.equal(store.stats().dataSyncs, 0)
      assert.equal(store.stats().dataBytesWritten, 0)
    })
    assert.deepEqual(files(dir.path), [])
  } finally {
    dir.cleanup()
  }
})

test('data is durable before the rows that point at it: a failed data write writes no row and stops the store', async () => {
  const dir = tempDir()
  try {
    await withStore(dir.path, { inlineDataBytesMax: 0 }, async (store) => {
      const group = await store.group(1)
      group.write({ entries: bigEntries(1, 1, 4, 1) })
      await store.flush()
      const append = DataFiles.prototype.append
      DataFiles.prototype.append = () => Promise.reject(new Error('EIO (injected)'))
      try {
        group.write({ entries: bigEntries(1, 5, 4, 1) })
        await assert.rejects(() => store.flush(), /batch write failed; store stopped/)
        assert.match(String(store.failed?.cause), /EIO \(injected\)/)
      } finally {
        DataFiles.prototype.append = append
      }
    })
    await withStore(dir.path, {}, async (store) => {
      const group = await store.group(1)
      assert.equal(group.lastIndex(), 4, 'the rows of the failed batch were never written')
      await group.verify()
    })
  } finally {
    dir.cleanup()
  }
})

test("a caller's data CRC is the entry's checksum, inline and in the file: it must match the data", async () => {
  const dir = tempDir()
  try {
    const options = { inlineDataBytesMax: 16 * KiB, tailCacheBytesMax: 0 }
    const right = bigEntries(1, 1, 8, 1) // 8 × 4 KiB: the first 4 inline, the rest in the file
    const wrong = bigEntries(2, 1, 8, 1)
    await withStore(dir.path, options, async (store) => {
      const one = await store.group(1, { dataCrcOf: (e) => crc32c(e.data) })
      one.write({ entries: right })
      await store.flush()
      const two = await store.group(2, { dataCrcOf: (e) => crc32c(e.data) ^ 1 })
      two.write({ entries: wrong })
      await store.flush()
      assert.ok(store.stats().dataBytesWritten > 0)
    })
    await withStore(dir.path, options, async (store) => {
      await assertReadsBack(store, 1, right)
      const two = await store.group(2)
      await assert.rejects(() => two.read(1, 2, 1 << 20), /entry 1: checksum mismatch/)
    })
    await withStore(dir.path, options, async (store) => {
      const two = await store.group(2)
      await assert.rejects(() => two.read(8, 9, 1 << 20), /entry 8: data checksum mismatch/)
    })
  } finally {
    dir.cleanup()
  }
})

const EXPECTED = {
  flip: /group 1: corrupt log: entry 2: data checksum mismatch \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}\)/,
  truncate: /group 1: corrupt log: entry 2: data file holds 2048 of its 4096 bytes at 4096/,
  remove: /group 1: corrupt log: entry 1: the data file of segment \d+ is missing/,
}

test('a data file damaged, cut short or missing damages its group only, with what was wrong', async () => {
  for (const damage of ['flip', 'truncate', 'remove'] as const) {
    const dir = tempDir()
    try {
      await withStore(dir.path, { inlineDataBytesMax: 0, segmentBytes: 1 }, async (store) => {
        // Group 2 writes in a batch (and segment) of its own, after group 1's.
        const one = await store.group(1)
        one.write({ entries: bigEntries(1, 1, 4, 1) })
        await store.flush()
        const two = await store.group(2)
        two.write({ entries: bigEntries(2, 1, 4, 1) })
        await store.flush()
      })
      const [first] = files(dir.path)
      const path = dataFilePath(dir.path, first!)
      if (damage === 'flip') {
        const bytes = readFileSync(path)
        bytes[5 * KiB]! ^= 0x01 // inside group 1's entry 2
        writeFileSync(path, bytes)
      } else if (damage === 'truncate') truncateSync(path, 6 * KiB)
      else rmSync(path)
      await withStore(dir.path, {}, async (store) => {
        const one = await store.group(1)
        await assert.rejects(
          () => one.read(1, 5, 1 << 20),
          (error: Error) => error instanceof CorruptLogError && EXPECTED[damage].test(error.message),
        )
        assert.ok(one.damaged instanceof CorruptLogError, `${damage}: group 1 damaged`)
        const two = await store.group(2)
        await two.verify()
        assert.equal(two.damaged, null)
      })
    } finally {
      dir.cleanup()
    }
  }
})

test('a data file goes with the last run in its segment; files of live runs stay', async () => {
  const dir = tempDir()
  try {
    // Each batch is a segment of its own.
    await withStore(
      dir.path,
      { inlineDataBytesMax: 0, segmentBytes: 1, tailCacheBytesMax: 0 },
      async (store) => {
        const one = await store.group(1)
        const two = await store.group(2)
        two.write({ entries: bigEntries(2, 1, 2, 1) }) // segment A: groups 1 and 2
        one.write({ entries: bigEntries(1, 1, 2, 1) })
        await store.flush()
        for (let i = 0; i < 3; i++) {
          one.write({ entries: bigEntries(1, 3 + 2 * i, 2, 1) }) // segments B, C, D: group 1 only
          await store.flush()
        }
        const [a, b, c, d] = files(dir.path)
        assert.deepEqual(files(dir.path), [a, b, c, d])
        // Group 1 discards entries 1..6: its runs in A, B and C go. C is kept: D starts at 7.
        one.write(logStartAt(6))
        await store.flush()
        await one.settle()
        await store.flush()
        // A stays for group 2; B goes; C holds entries 5 and 6 at or below the log start but is
        // the run before D, which starts at 7: gone as well.
        await waitFor(() => store.stats().dataFilesRemoved === 2, 'two files removed')
        assert.deepEqual(files(dir.path), [a, d])
        await assertReadsBack(store, 2, bigEntries(2, 1, 2, 1))
        await assertReadsBack(store, 1, bigEntries(1, 7, 2, 1))
      },
    )
  } finally {
    dir.cleanup()
  }
})

test('a data file that cannot be removed is counted and left for the next open; the store carries on', async () => {
  const dir = tempDir()
  try {
    await withStore(
      dir.path,
      { inlineDataBytesMax: 0, segmentBytes: 1, tailCacheBytesMax: 0 },
      async (store) => {
        const group = await store.group(1)
        for (let first = 1; first <= 5; first += 2) {
          group.write({ entries: bigEntries(1, first, 2, 1) }) // segments A, B, C
          await store.flush()
        }
        // A directory where segment A's file was: unlink refuses it (EISDIR), even for root.
        const [a] = files(dir.path)
        const path = dataFilePath(dir.path, a!)
        rmSync(path)
        mkdirSync(join(path, 'inside'), { recursive: true })
        group.write(logStartAt(2))
        await store.flush()
        await group.settle()
        await waitFor(() => store.stats().dataFileRemoveFailures === 1, 'the failed removal counted')
        assert.equal(store.failed, null)
        group.write({ entries: bigEntries(1, 7, 2, 1) })
        await store.flush()
        await assertReadsBack(store, 1, bigEntries(1, 3, 6, 1))
      },
    )
    // The next open tries again, counts the failure, and opens all the same.
    await withStore(dir.path, {}, async (store) => {
      assert.equal(store.stats().dataFileRemoveFailures, 1)
      await assertReadsBack(store, 1, bigEntries(1, 3, 6, 1))
    })
  } finally {
    dir.cleanup()
  }
})

test('at open, data files of segments with no run are removed; other names are left alone', async () => {
  const dir = tempDir()
  try {
    await withStore(dir.path, { inlineDataBytesMax: 0 }, async (store) => {
      ;(await store.group(1)).write({ entries: bigEntries(1, 1, 2, 1) })
      await store.flush()
    })
    const kept = files(dir.path)
    assert.equal(kept.length, 1)
    // A crash after a new segment's file was created, before any row of that segment was durable.
    writeFileSync(join(dir.path, 'segments', '0000000099.data'), new Uint8Array(100))
    writeFileSync(join(dir.path, 'segments', 'notes.txt'), 'kept')
    await withStore(dir.path, {}, async (store) => {
      assert.equal(store.stats().dataFilesRemoved, 1)
      await assertReadsBack(store, 1, bigEntries(1, 1, 2, 1))
    })
    assert.deepEqual(readdirSync(join(dir.path, 'segments')).sort(), [
      basename(dataFilePath(dir.path, kept[0]!)),
      'notes.txt',
    ])
  } finally {
    dir.cleanup()
  }
})

test('a database of format 2 (all data inline) opens, reads, and is marked format 3', async () => {
  const dir = tempDir()
  try {
    const written = bigEntries(1, 1, 3, 1, 100)
    await withStore(dir.path, {}, async (store) => {
      ;(await store.group(1)).write({ entries: written })
      await store.flush()
    })
    const formatKey = key(GROUP_ROWS, 0, KeyKind.storeFormat, 0)
    const db = new ClassicLevel<Uint8Array, Uint8Array>(dir.path, {
      keyEncoding: 'view',
      valueEncoding: 'view',
    })
    await db.open()
    await db.put(formatKey, Uint8Array.from([0, 0, 0, 2]), { sync: true })
    await db.close()
    await withStore(dir.path, {}, (store) => assertReadsBack(store, 1, written))
    await db.open()
    assert.deepEqual([...((await db.get(formatKey)) ?? [])], [0, 0, 0, 3])
    await db.close()
  } finally {
    dir.cleanup()
  }
})

test('DataFiles: writes of more buffers than one writev takes, and readFilesOpenMax bounds the open descriptors', async () => {
  const dir = tempDir()
  try {
    const files = DataFiles.open(dir.path, () => false, 2)
    try {
      // 3,000 buffers of 1..64 bytes, in one append: past IOV_MAX (1,024) buffers per writev.
      const parts = Array.from({ length: 3000 }, (_, i) => fixedData(0, i, 0, 1 + (i % 64)))
      const total = parts.reduce((sum, part) => sum + part.length, 0)
      await files.append(1, 0, parts)
      const whole = new Uint8Array(total)
      let at = 0
      for (const part of parts) {
        whole.set(part, at)
        at += part.length
      }
      assert.ok(same(await files.read(1, 0, total), whole))
      assert.equal(files.stats.dataBytesWritten, total)
      for (let segment = 2; segment <= 6; segment++)
        await files.append(segment, 0, [fixedData(segment, 0, 0, 100)])
      for (let segment = 2; segment <= 6; segment++) {
        assert.ok(same(await files.read(segment, 0, 100), fixedData(segment, 0, 0, 100)))
        assert.ok(files.readersOpen() <= 2, `${files.readersOpen()} descriptors open for reads`)
      }
      // A read past the end gets what there is.
      assert.equal((await files.read(6, 50, 100)).length, 50)
    } finally {
      files.close()
    }
    await assert.rejects(
      () => LevelLogStore.open(join(dir.path, 'store'), { readFilesOpenMax: 0 }),
      /readFilesOpenMax must be a positive integer, got 0/,
    )
  } finally {
    dir.cleanup()
  }
})
