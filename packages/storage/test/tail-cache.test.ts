import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type Entry, LOADING } from '@cairn/raft'
import { LevelLogStore } from '../src/index.js'
import {
  CACHED_ENTRY_OVERHEAD_BYTES,
  CACHED_VIEW_COPY_BYTES_MAX,
  keptEntry,
  TailCache,
} from '../src/tail-cache.js'
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
      cache.push({ entry: entry(first + i, 1, data), batchSeq: 1, offsets: undefined })
      return new WeakRef(data)
    })
  const evicted = pushed(1, 8)
  const kept = pushed(9, 2)
  cache.evict(2 * (ENTRY_BYTES + CACHED_ENTRY_OVERHEAD_BYTES), 1)
  assert.deepEqual([cache.start, cache.end], [9, 11])
  await collectGarbage()
  assert.deepEqual(
    evicted.map((ref) => ref.deref() === undefined),
    evicted.map(() => true),
    'every evicted entry collected',
  )
  assert.ok(kept.every((ref) => ref.deref() !== undefined) && cache.get(10) !== undefined)
})

test('entries that are views into one buffer charge it once, until the last of them leaves', () => {
  const cache = new TailCache(1)
  const frame = new Uint8Array(64 * 1024) // a decoded frame: entries are views into it
  const view = (at: number) => frame.subarray(at, at + 8 * 1024)
  for (let i = 0; i < 3; i++)
    cache.push({ entry: entry(1 + i, 1, view(i * 8192)), batchSeq: 1, offsets: undefined })
  const owned = new Uint8Array(ENTRY_BYTES)
  cache.push({ entry: entry(4, 1, owned), batchSeq: 1, offsets: undefined })
  const overhead = CACHED_ENTRY_OVERHEAD_BYTES
  assert.equal(
    cache.bytes,
    frame.byteLength + ENTRY_BYTES + 4 * overhead,
    'the frame once, the owned entry by its length',
  )
  cache.dropThrough(2) // two of the three views leave: the frame stays pinned by the third
  assert.equal(cache.bytes, frame.byteLength + ENTRY_BYTES + 2 * overhead)
  cache.dropThrough(3)
  assert.equal(cache.bytes, ENTRY_BYTES + overhead, 'the last view gone, the frame is no longer charged')
  cache.truncateFrom(4)
  assert.equal(cache.bytes, 0)
  // A truncation and a reset release views too.
  cache.push({ entry: entry(4, 2, view(0)), batchSeq: 1, offsets: undefined })
  cache.push({ entry: entry(5, 2, view(8192)), batchSeq: 1, offsets: undefined })
  cache.truncateFrom(5)
  assert.equal(cache.bytes, frame.byteLength + overhead)
  cache.reset(10)
  assert.equal(cache.bytes, 0)
  cache.push({ entry: entry(10, 2, view(0)), batchSeq: 1, offsets: undefined })
  assert.equal(cache.bytes, frame.byteLength + overhead, 'reset forgot the views it held')
})

test('a tail of views stays within its budget counted in the buffers it pins, and lets them go', async () => {
  const cache = new TailCache(1)
  const budget = 100 * 1024
  // Made in a function of their own, so that only the cache and the WeakRefs point at the frames.
  const pushed = (first: number, count: number) =>
    Array.from({ length: count }, (_, i) => {
      const frame = new Uint8Array(64 * 1024)
      cache.push({
        entry: entry(first + i, 1, frame.subarray(100, 100 + 8 * 1024)),
        batchSeq: 1,
        offsets: undefined,
      })
      return new WeakRef(frame.buffer)
    })
  const frames = pushed(1, 10)
  cache.evict(budget, 1)
  // Charged by their data alone the ten would fit (80 KiB); by the frames they pin, one does.
  assert.deepEqual([cache.start, cache.end], [10, 11])
  assert.ok(cache.bytes <= budget, `${cache.bytes} bytes charged, budget ${budget}`)
  await collectGarbage()
  assert.deepEqual(
    frames.map((ref) => ref.deref() === undefined),
    [...frames.map(() => true).slice(0, 9), false],
    'every frame of an evicted entry collected, the kept one alive',
  )
})

test('keptEntry copies a small view, keeps a large view and an entry that owns its buffer', () => {
  const frame = new Uint8Array(256 * 1024).fill(7)
  const small = entry(1, 1, frame.subarray(10, 10 + CACHED_VIEW_COPY_BYTES_MAX))
  const kept = keptEntry(small)
  assert.notEqual(kept.data.buffer, frame.buffer, 'a small view is copied')
  assert.equal(kept.data.byteLength, kept.data.buffer.byteLength)
  assert.ok(same(kept.data, small.data))
  assert.deepEqual([kept.index, kept.term, kept.kind], [small.index, small.term, small.kind])
  // A Buffer's slice() is a view: the copy must not be one.
  const fromBuffer = keptEntry(entry(2, 1, Buffer.from(frame.buffer, 20, 100)))
  assert.notEqual(fromBuffer.data.buffer, frame.buffer, 'a small Buffer view is copied too')
  const large = entry(3, 1, frame.subarray(0, CACHED_VIEW_COPY_BYTES_MAX + 1))
  assert.equal(keptEntry(large), large)
  const owned = entry(4, 1, new Uint8Array(10))
  assert.equal(keptEntry(owned), owned)
})

test('a group keeps a copy of a small entry received as a view, not the frame it came in', async () => {
  const dir = tempDir()
  const store = await LevelLogStore.open(dir.path)
  try {
    const group = await store.group(1)
    const frame = new Uint8Array(64 * 1024).fill(1)
    group.write({
      entries: [entry(1, 1, frame.subarray(0, 100)), entry(2, 1, frame.subarray(100, 100 + 16 * 1024))],
    })
    frame.fill(9) // the transport's buffer, reused or not: the small entry must not change with it
    const [small, large] = group.entries(1, 3, 1 << 20) as Entry[]
    assert.ok(
      small!.data.every((b) => b === 1),
      'the small entry was copied when it was written',
    )
    assert.equal(large!.data.buffer, frame.buffer, 'the large one is a view, charged as its frame')
    await store.flush()
    const reread = await group.read(1, 3, 1 << 20)
    assert.ok(reread[0]!.data.every((b) => b === 1))
  } finally {
    await store.close()
    dir.cleanup()
  }
})
