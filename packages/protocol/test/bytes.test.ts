import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { isWhole, messageBytes, ownedBytes } from '../src/bytes.js'

describe('bytes received and kept', () => {
  it('messageBytes takes one buffer as it is (no copy of every message), joins fragments', () => {
    const one = Buffer.from([1, 2, 3])
    assert.equal(messageBytes(one), one)
    const raw = new Uint8Array([4, 5]).buffer
    assert.equal(messageBytes(raw).buffer, raw)
    assert.deepEqual([...messageBytes([Buffer.from([1]), Buffer.from([2, 3])])], [1, 2, 3])
  })

  it('ownedBytes copies a view, Buffer or not, and keeps what spans its whole buffer', () => {
    const whole = new Uint8Array([1, 2, 3])
    assert.ok(isWhole(whole))
    assert.equal(ownedBytes(whole), whole)
    const buffer = Buffer.from([9, 1, 2, 9])
    for (const view of [buffer.subarray(1, 3), new Uint8Array(buffer.buffer, buffer.byteOffset + 1, 2)]) {
      assert.ok(!isWhole(view))
      const kept = ownedBytes(view)
      assert.ok(isWhole(kept) && kept.buffer !== buffer.buffer, 'a copy (a Buffer slice() would be a view)')
      assert.deepEqual([...kept], [1, 2])
    }
  })
})
