import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { crc32cUpdateJs, NATIVE_BYTES_MIN } from '../src/crc32c.js'
import { crc32c, crc32cCombine, crc32cImplementation, crc32cUpdate } from '../src/index.js'
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

describe('crc32cCombine', () => {
  it('gives the CRC of a ‖ b from the CRCs of a and b, at every split', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2000 }), fc.nat(), (bytes, at) => {
        const cut = at % (bytes.length + 1)
        const combined = crc32cCombine(crc32c(bytes, 0, cut), crc32c(bytes, cut), bytes.length - cut)
        assert.equal(combined, crc32cBitwise(bytes))
      }),
      fcOptions(300),
    )
  })

  it('combines across long runs of bytes without reading them', () => {
    const zeros = new Uint8Array(3 << 20)
    const a = ascii('head')
    const whole = new Uint8Array(a.length + zeros.length)
    whole.set(a)
    assert.equal(crc32cCombine(crc32c(a), crc32c(zeros), zeros.length), crc32c(whole))
    assert.equal(crc32cCombine(crc32c(a), 0, 0), crc32c(a), 'an empty b changes nothing')
    assert.throws(() => crc32cCombine(1, 2, -1), RangeError)
  })
})

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

  it('long ranges (the binary, where it loads) agree with the JavaScript and the bitwise definition', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ minLength: NATIVE_BYTES_MIN, maxLength: 4_096 }),
        fc.nat(64),
        fc.nat(64),
        fc.uint8Array({ maxLength: 40 }),
        (bytes, skip, cut, prefix) => {
          const start = Math.min(skip, bytes.length)
          const end = Math.max(start, bytes.length - cut)
          const seed = crc32c(prefix)
          const expected = crc32cBitwise(new Uint8Array([...prefix, ...bytes.subarray(start, end)]))
          assert.equal(crc32cUpdate(seed, bytes, start, end), expected)
          assert.equal(crc32cUpdateJs(seed, bytes, start, end), expected)
        },
      ),
      fcOptions(300),
    )
  })

  it('uses the binary on the platforms it ships for, and the JavaScript when told to', () => {
    const shipped = ['linux-x64', 'linux-arm64', 'darwin-x64', 'darwin-arm64', 'win32-x64']
    if (shipped.includes(`${process.platform}-${process.arch}`))
      assert.equal(crc32cImplementation(), 'native')
    // A process with CAIRN_CRC32C=js computes the same CRC of a 1 MiB range in JavaScript.
    const script = `import { crc32c, crc32cImplementation } from './src/index.ts'
      const b = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 7919) & 255)
      console.log(crc32cImplementation(), crc32c(b, 3))`
    const out = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: new URL('..', import.meta.url),
      env: { ...process.env, CAIRN_CRC32C: 'js' },
      encoding: 'utf8',
    })
    const b = Uint8Array.from({ length: 1 << 20 }, (_, i) => (i * 7919) & 255)
    assert.equal(out.trim(), `js ${crc32c(b, 3)}`)
  })
})
