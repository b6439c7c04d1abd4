import assert from 'node:assert/strict'
import { test } from 'node:test'
import { LOADING } from '@cairn/raft'
import { ClassicLevel } from 'classic-level'
import { CorruptLogError, type GroupLog, groupKey, KeyKind, key, LevelLogStore } from '../src/index.js'
import { entries, nextLoad, tempDir } from './helpers.js'

type RawDb = ClassicLevel<Uint8Array, Uint8Array>

/** Writes groups 1 and 2 with ten entries each, closes, then lets `tamper` change LevelDB directly. */
async function tamperedStore(path: string, tamper: (db: RawDb) => Promise<void>): Promise<void> {
  const store = await LevelLogStore.open(path)
  for (const id of [1, 2]) {
    const group = await store.group(id)
    group.write({ hardState: { term: 1, vote: 1, commit: 0 }, entries: entries(1, 10, 1) })
  }
  await store.close()
  const db: RawDb = new ClassicLevel(path, { keyEncoding: 'view', valueEncoding: 'view' })
  await db.open()
  await tamper(db)
  await db.close()
}

/** Flips one bit in the last byte of the value at `target`. */
function damagedStore(path: string, target: Uint8Array): Promise<void> {
  return tamperedStore(path, async (db) => {
    const value = await db.get(target)
    assert.ok(value, 'the value to damage exists')
    const flipped = Uint8Array.from(value)
    flipped[flipped.length - 1]! ^= 0x01
    await db.put(target, flipped, { sync: true })
  })
}

/** Reads `damaged` afresh (TypeScript keeps an earlier narrowing of the property otherwise). */
function damageOf(group: GroupLog): Error | null {
  return group.damaged
}

async function assertOtherGroupWorks(store: LevelLogStore): Promise<void> {
  const healthy = await store.group(2)
  assert.equal(healthy.damaged, null)
  assert.equal(healthy.lastIndex(), 10)
  healthy.write({ entries: entries(11, 1, 1) })
  await store.flush()
  await healthy.verify()
}

test('a damaged last entry is caught at open: that group is damaged, the other works', async () => {
  const dir = tempDir()
  try {
    await damagedStore(dir.path, key(1, 1, KeyKind.entry, 10))
    const store = await LevelLogStore.open(dir.path)
    const group = await store.group(1)
    assert.ok(group.damaged instanceof CorruptLogError)
    assert.match(group.damaged.message, /group 1: corrupt log: entry 10: checksum mismatch/)
    assert.throws(() => group.lastIndex(), CorruptLogError)
    assert.throws(() => group.term(3), CorruptLogError)
    assert.throws(() => group.write({ entries: entries(11, 1, 1) }), CorruptLogError)
    await assertOtherGroupWorks(store)
    await store.close()
  } finally {
    dir.cleanup()
  }
})

test('a damaged hard state is caught at open', async () => {
  const dir = tempDir()
  try {
    await damagedStore(dir.path, key(1, 1, KeyKind.hardState, 0))
    const store = await LevelLogStore.open(dir.path)
    const group = await store.group(1)
    assert.match(String(group.damaged?.message), /hard state: checksum mismatch/)
    assert.throws(() => group.initialState(), CorruptLogError)
    await assertOtherGroupWorks(store)
    await store.close()
  } finally {
    dir.cleanup()
  }
})

test('a damaged older entry is caught when loaded: LOADING, onLoaded, then CorruptLogError', async () => {
  const dir = tempDir()
  try {
    await damagedStore(dir.path, key(1, 1, KeyKind.entry, 4))
    const store = await LevelLogStore.open(dir.path)
    const group = await store.group(1)
    assert.equal(group.damaged, null, 'open reads no old entries')
    assert.equal(group.term(4), 1, 'terms come from the term runs')
    const loaded = nextLoad(group)
    assert.equal(group.entries(2, 8, 1 << 20), LOADING)
    await loaded
    assert.throws(() => group.entries(2, 8, 1 << 20), /entry 4: checksum mismatch/)
    assert.ok(damageOf(group) instanceof CorruptLogError)
    await assertOtherGroupWorks(store)
    await store.close()
  } finally {
    dir.cleanup()
  }
})

test('verify() finds a damaged entry anywhere in the log', async () => {
  const dir = tempDir()
  try {
    await damagedStore(dir.path, key(1, 1, KeyKind.entry, 6))
    const store = await LevelLogStore.open(dir.path)
    const group = await store.group(1)
    await assert.rejects(() => group.verify(), CorruptLogError)
    assert.ok(group.damaged instanceof CorruptLogError)
    await assertOtherGroupWorks(store)
    await store.close()
  } finally {
    dir.cleanup()
  }
})

test('a value stored under another key fails its check (the CRC covers the key)', async () => {
  const dir = tempDir()
  try {
    await tamperedStore(dir.path, async (db) => {
      // Entry 3's intact value, copied over entry 10: same term, valid on its own.
      await db.put(key(1, 1, KeyKind.entry, 10), (await db.get(key(1, 1, KeyKind.entry, 3)))!, { sync: true })
    })
    const store = await LevelLogStore.open(dir.path)
    const group = await store.group(1)
    assert.match(String(group.damaged?.message), /entry 10: checksum mismatch/)
    await assertOtherGroupWorks(store)
    await store.close()
  } finally {
    dir.cleanup()
  }
})

test('a hole in the log (a missing entry) is corruption, found by verify', async () => {
  const dir = tempDir()
  try {
    await tamperedStore(dir.path, (db) => db.del(key(1, 1, KeyKind.entry, 5), { sync: true }))
    const store = await LevelLogStore.open(dir.path)
    const group = await store.group(1)
    await assert.rejects(() => group.verify(), /entry 5 is missing/)
    await assertOtherGroupWorks(store)
    await store.close()
  } finally {
    dir.cleanup()
  }
})

test('lost term runs are caught at open', async () => {
  const dir = tempDir()
  try {
    await tamperedStore(dir.path, (db) => db.del(groupKey(1, KeyKind.termRun, 1), { sync: true }))
    const store = await LevelLogStore.open(dir.path)
    const group = await store.group(1)
    assert.match(String(group.damaged?.message), /no term run covers the first entry 1/)
    await assertOtherGroupWorks(store)
    await store.close()
  } finally {
    dir.cleanup()
  }
})

test('read() of a damaged entry rejects and marks the group damaged', async () => {
  const dir = tempDir()
  try {
    await damagedStore(dir.path, key(1, 1, KeyKind.entry, 2))
    const store = await LevelLogStore.open(dir.path)
    const group = await store.group(1)
    await assert.rejects(() => group.read(1, 5, 1 << 20), /entry 2: checksum mismatch/)
    assert.ok(damageOf(group) instanceof CorruptLogError)
    await assertOtherGroupWorks(store)
    await store.close()
  } finally {
    dir.cleanup()
  }
})
