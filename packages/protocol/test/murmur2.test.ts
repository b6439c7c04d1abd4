import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { murmur2, partitionForKey, toPositive } from '../src/index.js'
import { fcOptions } from './seed.js'

const ascii = (s: string) => new TextEncoder().encode(s)

/** Kafka's Utils.murmur2 transcribed with BigInt mod 2^32: independent of Math.imul tricks. */
function murmur2Reference(data: Uint8Array): number {
  const mask = 0xffffffffn
  const m = 0x5bd1e995n
  const mul = (a: bigint, b: bigint) => (a * b) & mask
  let h = (0x9747b28cn ^ BigInt(data.length)) & mask
  const tail = data.length - (data.length % 4)
  for (let i = 0; i < tail; i += 4) {
    let k = BigInt(data[i]! + data[i + 1]! * 256 + data[i + 2]! * 65536 + data[i + 3]! * 16777216)
    k = mul(k, m)
    k ^= k >> 24n
    k = mul(k, m)
    h = mul(h, m) ^ k
  }
  const rest = data.length % 4
  if (rest === 3) h ^= BigInt(data[tail + 2]!) << 16n
  if (rest >= 2) h ^= BigInt(data[tail + 1]!) << 8n
  if (rest >= 1) h = mul(h ^ BigInt(data[tail]!), m)
  h ^= h >> 13n
  h = mul(h, m)
  h ^= h >> 15n
  return Number(BigInt.asIntN(32, h))
}

describe('murmur2 (Kafka default partitioner)', () => {
  const vectors: [string, number][] = [
    ['21', -973932308],
    ['foobar', -790332482],
    ['a-little-bit-long-string', -985981536],
    ['a-little-bit-longer-string', -1486304829],
    ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
    ['abc', 479470107],
    ['0', 971027396],
    ['1', -1993445489],
    ['12', 126087238],
    ['123', -267702483],
    ['1234', -1614185708],
    ['12345', -1188365604],
    ['100:48069', 1009543857],
  ]
  for (const [key, hash] of vectors) {
    it(`murmur2(${JSON.stringify(key)}) = ${hash}`, () => assert.equal(murmur2(ascii(key)), hash))
  }

  it('agrees with a BigInt transcription of Kafka for any bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 64 }), (bytes) => {
        assert.equal(murmur2(bytes), murmur2Reference(bytes))
      }),
      fcOptions(3_000),
    )
  })

  it('toPositive clears the sign bit, including for -2^31', () => {
    assert.equal(toPositive(-973932308), -973932308 & 0x7fffffff)
    assert.equal(toPositive(-2147483648), 0)
    assert.equal(toPositive(2147483647), 2147483647)
    assert.equal(toPositive(-1), 2147483647)
  })

  it('partitionForKey picks (hash & 0x7fffffff) % n and refuses n < 1', () => {
    assert.equal(partitionForKey(ascii('21'), 3), (-973932308 & 0x7fffffff) % 3)
    assert.equal(partitionForKey(ascii('foobar'), 1), 0)
    assert.throws(() => partitionForKey(ascii('x'), 0), RangeError)
  })
})
