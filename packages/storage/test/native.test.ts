import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ClassicLevel } from 'classic-level'
import { tempDir } from './helpers.js'

test("classic-level's native binding loads: open, put with sync, get, reopen", async () => {
  const dir = tempDir()
  try {
    const db = new ClassicLevel<Uint8Array, Uint8Array>(dir.path, {
      keyEncoding: 'view',
      valueEncoding: 'view',
    })
    await db.open()
    await db.put(new Uint8Array([1, 2, 3]), new Uint8Array([4, 5, 6]), { sync: true })
    assert.deepEqual([...((await db.get(new Uint8Array([1, 2, 3]))) ?? [])], [4, 5, 6])
    await db.close()
    const reopened = new ClassicLevel<Uint8Array, Uint8Array>(dir.path, {
      keyEncoding: 'view',
      valueEncoding: 'view',
    })
    await reopened.open()
    assert.deepEqual([...((await reopened.get(new Uint8Array([1, 2, 3]))) ?? [])], [4, 5, 6])
    await reopened.close()
  } finally {
    dir.cleanup()
  }
})
