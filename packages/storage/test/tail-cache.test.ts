import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type Entry, LOADING } from '@cairn/raft'
import { LevelLogStore } from '../src/index.js'
import { TailCache } from '../src/tail-cache.js'
import { collectGarbage, dataFor, entry, nextLoad, readThroughLoads, same, tempDir } from './helpers.js'

const ENTRY_BYTES = 1000

function bigEntries(first: number, count: number, term: number): Entry[] {
  return Array.from({ length: count }, (_, i) => {
    const data = new Uint8Array(ENTRY_BYTES)
    data.set(dataFor(1, first + i, 0, ENTRY_BYTES))
    return entry(first + i, term, data)
  })
}

test('entries older than the tail cache answer LOADING, then arrive via onLoaded', async () => {
  const dir = tempDir()
  const store = await LevelLogStore.open(dir.path, { tailCacheBytesMax: 10 * 1024, loadBytesMax: 4 * 1024 })
  try {
    const group = await store.group(1)
    const written = bigEntries(1, 100, 1)
    group.write({ entries: written })
    // Not durable yet: the whole log must stay in memory, whatever the cache budget.
    assert.equal((group.entries(1, 2, 1) as Entry[])[0]?.index, 1)
    await store.flush()

    // Durable now: the tail shrank to its budget, the newest entries are still in memory.
    const recent = group.entries(95, 101, 1 << 20)
    assert.notEqual(recent, LOADING)
    assert.deepEqual(
      (recent as Entry[]).map((e) => e.index),
      [95, 96, 97, 98, 99, 100],
    )

    assert.equal(group.entries(1, 10, 1 << 20), LOADING)
    const loaded = nextLoad(group)
    assert.equal(group.entries(1, 10, 1 << 20), LOADING, 'a second call while loading is still LOADING')
    await loaded
    const got = group.entries(1, 10, 1 << 20)
    assert.notEqual(got, LOADING)
    const list = got as Entry[]
    assert.ok(list.length >= 1 && list.length <= 9)
    list.forEach((e, i) => {
      assert.equal(e.index, 1 + i)
      assert.ok(same(e.data, written[i]!.data))
    })
    // bytesMax bounds the answer but never below one entry.
    assert.equal((group.entries(1, 10, 1) as Entry[]).length, 1)
    assert.equal((group.entries(1, 10, 2 * ENTRY_BYTES) as Entry[]).length <= 2, true)
  } finally {
    await store.close()
    dir.cleanup()
  }
})

test('a truncation during a load discards the stale result', async () => {
  const dir = tempDir()
  const store = await LevelLogStore.open(dir.path, { tailCacheBytesMax: 0 })
  try {
    const group = await store.group(1)
    group.write({ entries: bigEntries(1, 20, 1) })
    await store.flush()
    assert.equal(group.entries(5, 21, 1 << 20), LOADING)
    const loaded = nextLoad(group)
    group.write({ entries: [entry(5, 2, new Uint8Array([42]))] }) // truncates 5..20 while loading
    await loaded
    const got = group.entries(5, 6, 1 << 20)
    assert.notEqual(got, LOADING, 'the replacing entry is in the tail')
    assert.deepEqual(
      (got as Entry[]).map((e) => [e.index, e.term, [...e.data]]),
      [[5, 2, [42]]],
    )
    // Once the new entry is durable the tail lets it go; a read must then fetch it from disk,
    // not from the window the stale load would have left.
    await store.flush()
    const reread = await readThroughLoads(group, 5, 6, 1 << 20)
    assert.deepEqual(
      reread.map((e) => [e.index, e.term, [...e.data]]),
      [[5, 2, [42]]],
    )
  } finally {
    await store.close()
    dir.cleanup()
  }
})

test('read() serves old entries from LevelDB without disturbing the tail', async () => {
  const dir = tempDir()
  const store = await LevelLogStore.open(dir.path, { tailCacheBytesMax: 0 })
  try {
    const group = await store.group(2)
    const written = bigEntries(1, 30, 3)
    group.write({ entries: written })
    await store.flush()
    const got = await group.read(10, 31, 5 * ENTRY_BYTES)
    assert.ok(got.length >= 1 && got.length <= 5)
    got.forEach((e, i) => {
      assert.ok(same(e.data, written[9 + i]!.data))
    })
  } finally {
    await store.close()
    dir.cleanup()
  }
})

test('an entry evicted from the tail is not kept alive by it', async () => {
  const cache = new TailCache(1)
  // Made in a function of their own, so that only the cache and the WeakRefs point at the data.
  const pushed = (first: number, count: number) =>
    Array.from({ length: count }, (_, i) => {
      const data = new Uint8Array(ENTRY_BYTES)
      cache.push({ entry: entry(first + i, 1, data), bytes: ENTRY_BYTES, batchSeq: 1, offsets: undefined })
      return new WeakRef(data)
    })
  const evicted = pushed(1, 8)
  const kept = pushed(9, 2)
  cache.evict(2 * ENTRY_BYTES, 1)
  assert.deepEqual([cache.start, cache.end], [9, 11])
  await collectGarbage()
  assert.deepEqual(
    evicted.map((ref) => ref.deref() === undefined),
    evicted.map(() => true),
    'every evicted entry collected',
  )
  assert.ok(kept.every((ref) => ref.deref() !== undefined) && cache.get(10) !== undefined)
})
