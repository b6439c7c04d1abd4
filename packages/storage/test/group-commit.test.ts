import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ClassicLevel } from 'classic-level'
import { Batch } from '../src/group-commit.js'
import { LevelLogStore } from '../src/index.js'
import { entries, tempDir } from './helpers.js'

async function withStore<T>(
  options: Parameters<typeof LevelLogStore.open>[1],
  body: (store: LevelLogStore) => Promise<T>,
): Promise<T> {
  const dir = tempDir()
  const store = await LevelLogStore.open(dir.path, options)
  try {
    return await body(store)
  } finally {
    await store.close()
    dir.cleanup()
  }
}

test('writes of many groups in one turn share one batch and one fsync', async () => {
  await withStore({}, async (store) => {
    const groups = await Promise.all([1, 2, 3, 4, 5, 6, 7, 8].map((id) => store.group(id)))
    for (const group of groups)
      group.write({ hardState: { term: 1, vote: 1, commit: 0 }, entries: entries(1, 3, 1) })
    await store.flush()
    assert.equal(store.stats().syncs, 1)
    assert.equal(store.stats().batches, 1)
    await store.flush() // nothing new: no fsync
    assert.equal(store.stats().syncs, 1)
  })
})

test('reads see unsynced appends at once', async () => {
  await withStore({}, async (store) => {
    const group = await store.group(7)
    group.write({ entries: entries(1, 4, 2) })
    assert.equal(group.lastIndex(), 4)
    assert.equal(group.term(4), 2)
    assert.deepEqual(
      (group.entries(1, 5, 1 << 20) as { index: number }[]).map((e) => e.index),
      [1, 2, 3, 4],
    )
    assert.equal(store.stats().syncs, 0)
  })
})

test('flushes asked while a batch is in flight coalesce into the next single batch', async () => {
  await withStore({}, async (store) => {
    const group = await store.group(1)
    group.write({ entries: entries(1, 1, 1) })
    const first = store.flush() // batch 1 goes in flight
    const later: Promise<void>[] = []
    for (let i = 2; i <= 6; i++) {
      group.write({ entries: entries(i, 1, 1) })
      later.push(store.flush()) // all gather in batch 2
    }
    await Promise.all([first, ...later])
    assert.equal(store.stats().syncs, 2)
  })
})

test('flush resolves only after every write made before it is durable', async () => {
  await withStore({}, async (store) => {
    const a = await store.group(1)
    const b = await store.group(2)
    a.write({ entries: entries(1, 1, 1) })
    const inFlight = store.flush()
    b.write({ entries: entries(1, 1, 1) })
    const durable: string[] = []
    store.onDurable((groups) => durable.push([...groups].join(',')))
    await store.flush()
    await inFlight
    assert.deepEqual(durable, ['1', '2'])
  })
})

test('autoFlush syncs each turn by itself and reports durable groups', async () => {
  await withStore({ autoFlush: true }, async (store) => {
    const groups = await Promise.all([1, 2, 3].map((id) => store.group(id)))
    const durable = new Promise<ReadonlySet<number>>((resolve) => store.onDurable(resolve))
    for (const group of groups) group.write({ entries: entries(1, 2, 1) })
    assert.deepEqual([...(await durable)].sort(), [1, 2, 3])
    assert.equal(store.stats().syncs, 1)
  })
})

test('a batch past batchBytesMax is written without a flush', async () => {
  await withStore({ batchBytesMax: 1000 }, async (store) => {
    const group = await store.group(1)
    const big = { index: 1, term: 1, kind: 0 as const, data: new Uint8Array(2000) }
    const durable = new Promise<void>((resolve) => store.onDurable(() => resolve()))
    group.write({ entries: [big] })
    await durable
    assert.equal(store.stats().syncs, 1)
    assert.ok(store.stats().bytesWritten > 2000)
  })
})

test('close flushes pending writes; reopen reads them back', async () => {
  const dir = tempDir()
  try {
    let store = await LevelLogStore.open(dir.path)
    let group = await store.group(3)
    group.write({ hardState: { term: 4, vote: 2, commit: 1 }, entries: entries(1, 5, 4) })
    group.writeApplied({ index: 1, data: new Uint8Array([9]) })
    await store.close()
    store = await LevelLogStore.open(dir.path)
    group = await store.group(3)
    assert.deepEqual(group.initialState().hardState, { term: 4, vote: 2, commit: 1 })
    assert.equal(group.lastIndex(), 5)
    assert.deepEqual(group.applied(), { index: 1, data: new Uint8Array([9]) })
    await store.close()
    await assert.rejects(() => store.flush())
  } finally {
    dir.cleanup()
  }
})

test('Batch.put copies its value at once: entries are encoded into one reused buffer', async () => {
  // encodeEntryForPut hands every entry's value to put in the same buffer; that is only sound
  // while classic-level copies a value into its native WriteBatch before put returns.
  const dir = tempDir()
  const db = new ClassicLevel<Uint8Array, Uint8Array>(dir.path, {
    keyEncoding: 'view',
    valueEncoding: 'view',
  })
  try {
    await db.open()
    const batch = new Batch(db, 1, 0)
    const value = new Uint8Array(4096).fill(1)
    batch.put(new Uint8Array([1]), value)
    value.fill(2)
    batch.put(new Uint8Array([2]), value)
    await batch.write()
    assert.deepEqual(new Set(await db.get(new Uint8Array([1]))), new Set([1]))
    assert.deepEqual(new Set(await db.get(new Uint8Array([2]))), new Set([2]))
  } finally {
    await db.close()
    dir.cleanup()
  }
})
