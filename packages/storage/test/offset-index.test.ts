import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type Entry, EntryKind } from '@cairn/raft'
import { ClassicLevel } from 'classic-level'
import { type GroupLog, KeyKind, key, keyParts, LevelLogStore, type LogStoreOptions } from '../src/index.js'
import { batch, offsetsOf, tempDir } from './helpers.js'

function noop(index: number, term: number): Entry {
  return { index, term, kind: EntryKind.noop, data: new Uint8Array() }
}

/** Batches of 10 offsets each from offset 0, a no-op every fifth index. Returns the log. */
function batches(first: number, count: number, term: number, baseOffset: number): Entry[] {
  const out: Entry[] = []
  let offset = baseOffset
  for (let index = first; index < first + count; index++) {
    if (index % 5 === 0) out.push(noop(index, term))
    else {
      out.push(batch(index, term, offset, 10))
      offset += 10
    }
  }
  return out
}

async function lookup(group: GroupLog, offset: number): Promise<[number, number, number] | undefined> {
  const row = await group.indexForOffset(offset)
  return row && [row.index, row.baseOffset, row.lastOffset]
}

async function withGroup(options: LogStoreOptions, body: (group: GroupLog, path: string) => Promise<void>) {
  const dir = tempDir()
  const store = await LevelLogStore.open(dir.path, options)
  try {
    await body(await store.group(1, { offsetsOf }), dir.path)
  } finally {
    await store.close()
    dir.cleanup()
  }
}

for (const tailCacheBytesMax of [1 << 20, 0]) {
  const where = tailCacheBytesMax === 0 ? 'from LevelDB' : 'from the tail'
  test(`indexForOffset finds the batch that holds an offset (${where})`, async () => {
    await withGroup({ tailCacheBytesMax }, async (group) => {
      group.write({ entries: batches(1, 20, 1, 0) }) // indexes 1..4 hold 0..39, 5 is a no-op, 6..9 hold 40..79
      await group.verify()
      assert.deepEqual(await lookup(group, 0), [1, 0, 9])
      assert.deepEqual(await lookup(group, 9), [1, 0, 9])
      assert.deepEqual(await lookup(group, 39), [4, 30, 39])
      assert.deepEqual(await lookup(group, 40), [6, 40, 49], 'skips the no-op at 5')
      assert.deepEqual(await lookup(group, 159), [19, 150, 159])
      assert.equal(await lookup(group, 160), undefined, 'beyond the log end')
      assert.deepEqual(await lookup(group, 45), [6, 40, 49], 'a second lookup (cached) agrees')
    })
  })
}

test('after a truncation, lookups see the new batches and skip stale rows on disk', async () => {
  await withGroup({ tailCacheBytesMax: 0 }, async (group) => {
    group.write({ entries: batches(1, 20, 1, 0) })
    await group.verify() // durable, evicted: the old rows are on disk only
    // A new leader replaces 8..20 with one small batch: 8 holds 60..64, the log ends there.
    group.write({ entries: [batch(8, 2, 60, 5)] })
    assert.deepEqual(await lookup(group, 62), [8, 60, 64], 'in memory, not yet durable')
    await group.verify()
    assert.deepEqual(await lookup(group, 62), [8, 60, 64])
    assert.equal(
      await lookup(group, 65),
      undefined,
      'stale rows of truncated 9..19 (offsets 70..159) skipped',
    )
    assert.equal(await lookup(group, 150), undefined)
    assert.deepEqual(await lookup(group, 55), [7, 50, 59], 'rows before the truncation stay')
    // The log grows again past the stale rows' offsets; the new rows win.
    group.write({ entries: [batch(9, 2, 65, 100)] })
    await group.verify()
    assert.deepEqual(await lookup(group, 100), [9, 65, 164])
  })
})

test('a log start deletes the entries and offset rows of the deleted prefix', async () => {
  const dir = tempDir()
  try {
    const store = await LevelLogStore.open(dir.path, { tailCacheBytesMax: 0, deleteBatchRowsMax: 3 })
    const group = await store.group(1, { offsetsOf })
    group.write({ entries: batches(1, 20, 1, 0) })
    const membership = { voters: [1], learners: [] }
    group.write({ logStart: { index: 12, term: 1, payload: new Uint8Array(), membership } })
    assert.deepEqual(await lookup(group, 0), [13, 100, 109], 'nothing at or below the log start')
    await group.verify()
    await group.settle()
    await store.close()
    assert.equal(await countStored(dir.path, 1, KeyKind.offset), 6, 'rows of 13, 14, 16..19 remain')
    assert.equal(await countStored(dir.path, 1, KeyKind.entry), 8, 'entries 13..20 remain')
  } finally {
    dir.cleanup()
  }
})

async function countStored(path: string, group: number, kind: KeyKind): Promise<number> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  try {
    // In every segment: the group's rows may lie in several.
    const keys = await db.keys().all()
    return keys.filter((k) => {
      const parts = keyParts(k)
      return parts.group === group && parts.kind === kind
    }).length
  } finally {
    await db.close()
  }
}

test('a prefix deletion cut short by a crash is finished at the next open', async () => {
  const dir = tempDir()
  const membership = { voters: [1], learners: [] }
  try {
    let store = await LevelLogStore.open(dir.path)
    ;(await store.group(1, { offsetsOf })).write({ entries: batches(1, 20, 1, 0) })
    await store.close()
    const doomed = await rawRows(dir.path, (db) =>
      db.iterator({ gte: key(1, 1, KeyKind.entry, 0), lte: key(1, 1, KeyKind.entry, 12) }).all(),
    )
    const doomedOffsets = await rawRows(dir.path, (db) =>
      db.iterator({ gte: key(1, 1, KeyKind.offset, 0), lte: key(1, 1, KeyKind.offset, 99) }).all(),
    )
    store = await LevelLogStore.open(dir.path)
    ;(await store.group(1, { offsetsOf })).write({
      logStart: { index: 12, term: 1, payload: new Uint8Array(), membership },
    })
    await store.close()
    assert.equal(await countStored(dir.path, 1, KeyKind.entry), 8)
    // As if the process died after the log start was durable, before the deletion ran.
    await rawRows(dir.path, (db) =>
      db.batch(
        [...doomed, ...doomedOffsets].map(([k, v]) => ({ type: 'put', key: k, value: v })),
        { sync: true },
      ),
    )
    assert.equal(await countStored(dir.path, 1, KeyKind.entry), 20)

    store = await LevelLogStore.open(dir.path)
    const group = await store.group(1, { offsetsOf })
    assert.equal(group.damaged, null)
    assert.equal(group.lastIndex(), 20)
    assert.deepEqual(await lookup(group, 5), [13, 100, 109], 'leftover rows are not current')
    await group.settle()
    await store.close()
    assert.equal(await countStored(dir.path, 1, KeyKind.entry), 8)
    assert.equal(await countStored(dir.path, 1, KeyKind.offset), 6)
  } finally {
    dir.cleanup()
  }
})

async function rawRows<T>(
  path: string,
  body: (db: ClassicLevel<Uint8Array, Uint8Array>) => Promise<T>,
): Promise<T> {
  const db = new ClassicLevel<Uint8Array, Uint8Array>(path, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  try {
    return await body(db)
  } finally {
    await db.close()
  }
}
