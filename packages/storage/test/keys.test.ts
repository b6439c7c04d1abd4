import assert from 'node:assert/strict'
import { test } from 'node:test'
import fc from 'fast-check'
import { GROUP_ROWS, groupKey, KEY_BYTES, KeyKind, key, keyNumber, keyParts } from '../src/index.js'

const SEED = Number(process.env.CAIRN_SEED ?? Date.now() % 0x7fffffff)

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  return Buffer.compare(a, b)
}

test('keys are 17 bytes: segment u32 BE, group u32 BE, kind, u64 BE', () => {
  const k = key(0x0a0b0c0d, 0x01020304, KeyKind.entry, 2 ** 40 + 5)
  assert.equal(k.length, KEY_BYTES)
  assert.deepEqual([...k], [10, 11, 12, 13, 1, 2, 3, 4, KeyKind.entry, 0, 0, 1, 0, 0, 0, 0, 5])
  assert.equal(keyNumber(k), 2 ** 40 + 5)
  assert.deepEqual(keyParts(k), { segment: 0x0a0b0c0d, group: 0x01020304, kind: KeyKind.entry })
  assert.deepEqual(groupKey(7, KeyKind.logStart, 0), key(GROUP_ROWS, 7, KeyKind.logStart, 0))
})

test('byte order of keys is numeric order of (segment, group, kind, number)', () => {
  console.log(`keys property seed: ${SEED}`)
  const kinds = Object.values(KeyKind)
  const arbitraryKey = fc.tuple(
    fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    fc.integer({ min: 0, max: 2 ** 32 - 1 }),
    fc.constantFrom(...kinds),
    fc.maxSafeNat(),
  )
  fc.assert(
    fc.property(arbitraryKey, arbitraryKey, (a, b) => {
      const numeric = a[0] - b[0] || a[1] - b[1] || a[2] - b[2] || Math.sign(a[3] - b[3])
      assert.equal(Math.sign(compareBytes(key(...a), key(...b))), Math.sign(numeric))
      assert.equal(keyNumber(key(...a)), a[3])
    }),
    { seed: SEED, numRuns: 1000 },
  )
})
