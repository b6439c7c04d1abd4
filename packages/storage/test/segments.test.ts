import assert from 'node:assert/strict'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { EntryKind } from '@cairn/raft'
import { ClassicLevel } from 'classic-level'
import { GROUP_ROWS, KeyKind, key, keyParts, LevelLogStore, StoreFormatError } from '../src/index.js'
import { SegmentRuns } from '../src/segments.js'
import { batch, offsetsOf, prng, tempDir } from './helpers.js'

const run = (segment: number, firstIndex: number, offsetLo?: number) => ({ segment, firstIndex, offsetLo })

test('SegmentRuns: the run of an index, the runs an offset lookup scans, removal from an index', () => {
  const runs = new SegmentRuns([run(2, 1, 9), run(5, 11), run(7, 21, 199), run(8, 31, 299)])
  assert.equal(runs.runOf(0), undefined)
  assert.equal(runs.runOf(1)?.segment, 2)
  assert.equal(runs.runOf(20)?.segment, 5)
  assert.equal(runs.runOf(21)?.segment, 7)
  assert.equal(runs.runOf(1000)?.segment, 8)
  assert.deepEqual(
    runs.from(15).map((r) => r.segment),
    [5, 7, 8],
  )
  // Runs without offset rows are skipped; the scan starts at the last run starting at or below.
  assert.deepEqual(
    runs.forOffset(5).map((r) => r.segment),
    [2, 7, 8],
  )
  assert.deepEqual(
    runs.forOffset(200).map((r) => r.segment),
    [7, 8],
  )
  assert.deepEqual(
    runs.forOffset(10_000).map((r) => r.segment),
    [8],
  )
  assert.deepEqual(
    runs.removeFrom(11).map((r) => r.segment),
    [5, 7],
    'the latest run stays',
  )
  assert.deepEqual(
    runs.list().map((r) => r.segment),
    [2, 8],
  )
  assert.throws(() => runs.push(run(8, 40)), /does not follow/)
  assert.throws(() => new SegmentRuns([run(3, 5), run(4, 4)]), /out of order/)
  assert.throws(() => new SegmentRuns([run(3, 5), run(3, 6)]), /out of order/)
  // A run that holds no entry is shadowed by the next with the same first index.
  const shadowed = new SegmentRuns([run(3, 5), run(4, 7), run(6, 7)])
  assert.equal(shadowed.runOf(7)?.segment, 6)
  assert.deepEqual(
    shadowed.from(7).map((r) => r.segment),
    [6],
  )
})

test('SegmentRuns.fromRows: a run followed by one starting below it is retired', () => {
  // 4 and 6 were removed by a truncation at 15 (the latest re-based: 9@15); 2 is shadowed by 3.
  const rows = [run(1, 1), run(2, 10), run(3, 10), run(4, 20), run(6, 30), run(9, 15)]
  const { runs, retired } = SegmentRuns.fromRows(rows)
  assert.deepEqual(
    runs.list().map((r) => [r.segment, r.firstIndex]),
    [
      [1, 1],
      [2, 10],
      [3, 10],
      [9, 15],
    ],
  )
  assert.deepEqual(retired.map((r) => r.segment).sort(), [4, 6])
})

/** Every stored key of `group`, as [segment, kind]. */
async function storedKeys(path: string, group: number): Promise<[number, number][]> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  try {
    return (await db.keys().all())
      .map((k) => keyParts(k))
      .filter((parts) => parts.group === group)
      .map((parts): [number, number] => [parts.segment, parts.kind])
  } finally {
    await db.close()
  }
}

test('a log over many segments: reads, offset lookups, truncation into an older segment, retention', async () => {
  const dir = tempDir()
  const options = { segmentBytes: 1, tailCacheBytesMax: 0, loadBytesMax: 1 << 20 }
  try {
    let store = await LevelLogStore.open(dir.path, options)
    let group = await store.group(1, { offsetsOf })
    // Entries 1..20, four per batch: every batch is a new segment (segmentBytes 1).
    for (let first = 1; first <= 20; first += 4) {
      group.write({ entries: [0, 1, 2, 3].map((i) => batch(first + i, 1, (first + i - 1) * 10, 10)) })
      await store.flush()
    }
    const segmentsOf = async () =>
      new Set((await storedKeys(dir.path, 1)).filter(([s]) => s !== GROUP_ROWS).map(([s]) => s))
    await group.verify()
    assert.deepEqual(
      (await group.read(3, 19, 1 << 20)).map((e) => e.index),
      Array.from({ length: 16 }, (_, i) => 3 + i),
      'a read crosses runs',
    )
    const row = await group.indexForOffset(125)
    assert.deepEqual(row && [row.index, row.baseOffset], [13, 120])
    // A new leader replaces 7..20 (runs of segments 1..4) with one batch in the current segment.
    group.write({ entries: [batch(7, 2, 60, 5)] })
    await store.flush()
    await group.verify()
    assert.equal(group.lastIndex(), 7)
    assert.equal((await group.indexForOffset(65))?.index, undefined, 'stale rows of 8..20 skipped')
    assert.equal((await group.indexForOffset(62))?.index, 7)
    assert.equal((await group.indexForOffset(55))?.index, 6)
    await group.settle()
    await store.close()
    // Retired runs leave nothing: segments 3..5 held only truncated entries.
    assert.deepEqual(
      [...(await segmentsOf())].sort((a, b) => a - b),
      [1, 2, 6],
    )

    store = await LevelLogStore.open(dir.path, options)
    group = await store.group(1, { offsetsOf })
    assert.equal(group.lastIndex(), 7)
    assert.equal(group.term(7), 2)
    await group.verify()
    group.write({ entries: [batch(8, 2, 65, 10)] })
    await store.flush()
    // Retention: the log starts at 7; runs wholly below it go, directory row and all.
    group.write({
      logStart: { index: 7, term: 2, payload: new Uint8Array(), membership: { voters: [1], learners: [] } },
    })
    await store.flush()
    await group.settle()
    assert.deepEqual(
      (await group.read(8, 9, 1 << 20)).map((e) => e.index),
      [8],
    )
    assert.equal((await group.indexForOffset(0))?.index, 8)
    await store.close()
    const keys = await storedKeys(dir.path, 1)
    assert.deepEqual(
      keys.filter(([, kind]) => kind === KeyKind.entry).map(([s]) => s),
      [7],
      'only entry 8 is left, in the first segment of the second open',
    )
    assert.deepEqual(
      keys.filter(([, kind]) => kind === KeyKind.hardState).map(([s]) => s),
      [7, 8],
      'each live run keeps the hard state written when it began; the latest, where the log start was written, is read',
    )
  } finally {
    dir.cleanup()
  }
})

test('LevelDB moves the tables of a segment-first store down without merging them', async () => {
  const dir = tempDir()
  try {
    // 16 groups, 4 KiB entries, a flush per turn: ~3 MiB over 64 KiB segments. A memtable flush is
    // asked at each new segment (one at a time: a segment that starts while one runs joins the next
    // table). The tables overlap nothing, so LevelDB even places most below level 0 at once; with
    // the group first in the key every table overlaps every other and level 0 is merged at every
    // fourth table.
    const store = await LevelLogStore.open(dir.path, { segmentBytes: 64 * 1024 })
    const groups = await Promise.all(Array.from({ length: 16 }, (_, id) => store.group(id)))
    const data = new Uint8Array(4096).fill(7)
    for (let index = 1; index <= 48; index++) {
      for (const group of groups) group.write({ entries: [{ index, term: 1, kind: EntryKind.normal, data }] })
      await store.flush()
    }
    const flushes = store.stats().memtableFlushes
    await store.close()
    const log = readFileSync(join(dir.path, 'LOG'), 'utf8')
    const count = (re: RegExp) => (log.match(re) ?? []).length
    const tables = count(/Level-0 table #\d+: \d+ bytes OK/g)
    const merges = count(/Compacted \d+@\d+ \+ \d+@\d+ files/g)
    const seen = JSON.stringify({ flushes, tables, merges })
    assert.ok(flushes >= 10 && tables >= 10, seen)
    // The flush request races the segment's first batch to LevelDB's writer queue: rarely, a table
    // straddles two segments and is merged once.
    assert.ok(merges * 10 < tables, seen)
  } finally {
    dir.cleanup()
  }
})

test('a database of another layout is refused with one clear error, and left as it was', async () => {
  const dir = tempDir()
  const raw = () =>
    new ClassicLevel<Uint8Array, Uint8Array>(dir.path, { keyEncoding: 'view', valueEncoding: 'view' })
  try {
    // The layout before segments: 13-byte keys [group][kind][number], no format row.
    const old = raw()
    await old.open()
    const oldKey = Uint8Array.from([0, 0, 0, 1, 0x20, 0, 0, 0, 0, 0, 0, 0, 1])
    await old.put(oldKey, Uint8Array.from([1, 2, 3]), { sync: true })
    await old.close()
    await assert.rejects(
      () => LevelLogStore.open(dir.path),
      (error: Error) =>
        error instanceof StoreFormatError &&
        error.message ===
          `log store at ${dir.path}: written by an older Cairn (keys of 13 bytes, no format row); this version reads formats 2 and 3 only: keep the directory for that version, or remove it to start empty`,
    )
    const after = raw()
    await after.open()
    assert.deepEqual(
      (await after.keys().all()).map((k) => [...k]),
      [[...oldKey]],
      'nothing written',
    )
    // A format row of another version is refused too.
    await after.batch([
      { type: 'del', key: oldKey },
      { type: 'put', key: key(GROUP_ROWS, 0, KeyKind.storeFormat, 0), value: Uint8Array.from([0, 0, 0, 4]) },
    ])
    await after.close()
    await assert.rejects(
      () => LevelLogStore.open(dir.path),
      /log store at .*: format 4; this version reads formats 2 and 3 only/,
    )
  } finally {
    dir.cleanup()
  }
})

test('a new store records its format, and opens again', async () => {
  const dir = tempDir()
  try {
    const store = await LevelLogStore.open(dir.path)
    await store.close()
    await (await LevelLogStore.open(dir.path)).close()
    const db = new ClassicLevel<Uint8Array, Uint8Array>(dir.path, {
      keyEncoding: 'view',
      valueEncoding: 'view',
    })
    await db.open()
    assert.deepEqual([...((await db.get(key(GROUP_ROWS, 0, KeyKind.storeFormat, 0))) ?? [])], [0, 0, 0, 3])
    await db.close()
  } finally {
    dir.cleanup()
  }
})

test('segment lengths are drawn from segmentBytes × [1 − spread, 1 + spread): replicas do not flush together', async () => {
  // Equal batches, one per flush: a segment holds as many as fit its drawn length. With no spread
  // every full segment holds the same number; with 0.25 they differ, within 0.75–1.25 × the length.
  const entriesPerSegment = async (spread: number, seed: number) => {
    const dir = tempDir()
    try {
      const { next } = prng(seed)
      const store = await LevelLogStore.open(dir.path, {
        segmentBytes: 4096,
        segmentSpread: spread,
        random: next,
      })
      const group = await store.group(1)
      const data = new Uint8Array(100).fill(3)
      for (let index = 1; index <= 400; index++) {
        group.write({ entries: [{ index, term: 1, kind: EntryKind.normal, data }] })
        await store.flush()
      }
      await store.close()
      const counts = new Map<number, number>()
      for (const [segment, kind] of await storedKeys(dir.path, 1))
        if (kind === KeyKind.entry) counts.set(segment, (counts.get(segment) ?? 0) + 1)
      // The first and last segments may be partial (the store's first batches, the run's end).
      return [...counts]
        .sort((a, b) => a[0] - b[0])
        .map(([, n]) => n)
        .slice(1, -1)
    } finally {
      dir.cleanup()
    }
  }
  const seed = 20261126
  const flat = await entriesPerSegment(0, seed)
  assert.ok(flat.length >= 5, `segments: ${flat}`)
  assert.equal(new Set(flat).size, 1, `no spread: equal segments, got ${flat}`)
  const perSegment = flat[0]!
  const spread = await entriesPerSegment(0.25, seed)
  const seen = `seed ${seed}: ${spread} (${perSegment} per segment without spread)`
  assert.ok(new Set(spread).size >= 3, `lengths differ: ${seen}`)
  for (const n of spread) assert.ok(n >= perSegment * 0.75 - 1 && n <= perSegment * 1.25 + 1, seen)
  const refused = tempDir()
  try {
    await assert.rejects(
      LevelLogStore.open(refused.path, { segmentSpread: 0.6 }),
      /segmentSpread must be from 0 to 0.5, got 0.6/,
    )
  } finally {
    refused.cleanup()
  }
})
