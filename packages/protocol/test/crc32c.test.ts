import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { crc32c, crc32cUpdate } from '../src/index.js'
import { fcOptions } from './seed.js'

const ascii = (s: string) => new TextEncoder().encode(s)

/** Bit-at-a-time CRC-32C: slow, obviously right, and independent of the tables under test. */
function crc32cBitwise(bytes: Uint8Array): number {
  let crc = 0xffffffff
  for (const byte of bytes) {
    crc ^= byte
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1
  }
  return (crc ^ 0xffffffff) >>> 0
}

describe('crc32c', () => {
  it("matches Kafka's Crc32CTest vector", () => {
    assert.equal(crc32c(ascii('Some String')), 608512271)
  })

  it('matches the CRC-32C check value and the RFC 3720 (iSCSI) vectors', () => {
    assert.equal(crc32c(ascii('123456789')), 0xe3069283)
    assert.equal(crc32c(new Uint8Array(32)), 0x8a9136aa)
    assert.equal(crc32c(new Uint8Array(32).fill(0xff)), 0x62a8ab43)
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => i)), 0x46dd794e)
    assert.equal(crc32c(Uint8Array.from({ length: 32 }, (_, i) => 31 - i)), 0x113fdb5c)
    assert.equal(crc32c(new Uint8Array(0)), 0)
  })

  it('covers only [start, end), as a RecordBatch CRC covers bytes 21..end', () => {
    const batch = ascii(`${'x'.repeat(21)}Some String`)
    assert.equal(crc32c(batch, 21), 608512271)
    assert.equal(crc32c(ascii('--123456789--'), 2, 11), 0xe3069283)
    assert.throws(() => crc32c(batch, 0, batch.length + 1), RangeError)
  })

  it('slicing-by-8 agrees with the bitwise definition at every length and alignment', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 300 }), fc.nat(16), (bytes, skip) => {
        const start = Math.min(skip, bytes.length)
        assert.equal(crc32c(bytes, start), crc32cBitwise(bytes.subarray(start)))
      }),
      fcOptions(2_000),
    )
  })

  it('can be computed incrementally', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.uint8Array({ maxLength: 200 }), (a, b) => {
        const joined = new Uint8Array([...a, ...b])
        assert.equal(crc32cUpdate(crc32c(a), b), crc32c(joined))
      }),
      fcOptions(1_000),
    )
  })
})
