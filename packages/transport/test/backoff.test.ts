import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { reconnectDelayMs, seededRandom } from '../src/index.js'
import { fcOptions, seed } from './helpers.js'

describe('reconnect backoff', () => {
  it('doubles from the minimum, caps at the maximum, jitters within 50..100%', () => {
    fc.assert(
      fc.property(
        fc.nat(100),
        fc.integer({ min: 1, max: 1_000 }),
        fc.integer({ min: 1, max: 100_000 }),
        (attempt, min, extra) => {
          const max = min + extra
          const random = seededRandom(seed + attempt)
          const ceiling = Math.min(max, min * 2 ** attempt)
          const delay = reconnectDelayMs(attempt, min, max, random)
          assert.ok(delay >= Math.floor(ceiling / 2) && delay <= ceiling, `${delay} for ceiling ${ceiling}`)
        },
      ),
      fcOptions(2_000),
    )
    const noJitter = () => 0.999_999_999
    assert.deepEqual(
      [0, 1, 2, 3, 10].map((a) => reconnectDelayMs(a, 50, 5_000, noJitter)),
      [50, 100, 200, 400, 5_000],
    )
  })

  it('is reproducible from a seed', () => {
    const a = seededRandom(seed)
    const b = seededRandom(seed)
    const xs = Array.from({ length: 100 }, () => a())
    assert.deepEqual(
      xs,
      Array.from({ length: 100 }, () => b()),
    )
    assert.ok(xs.every((x) => x >= 0 && x < 1))
    assert.ok(new Set(xs).size > 90)
  })
})
