import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  decodeFrame,
  decodeRequest,
  encodeFrame,
  encodeRequest,
  type Frame,
  type PackedFrame,
  type RequestEnvelope,
  SendBuffers,
} from '../src/index.js'
import { canonicalOrder, frameArb, plain } from './arbitraries.js'
import { fcOptions } from './seed.js'

const small = { bufferBytesMin: 4096, bufferBytesMax: 64 * 1024, buffersMax: 2 }

/** A produce request carrying `bytes` bytes of records. */
function produce(id: number, bytes: number): RequestEnvelope<'produce'> {
  const records = new Uint8Array(bytes).fill(id & 0xff)
  return {
    id,
    api: 'produce',
    body: { acks: -1, timeoutMs: 30_000, topics: [{ name: 't', partitions: [{ partition: 0, records }] }] },
  }
}

function inside(bytes: Uint8Array, buffer: Uint8Array): boolean {
  return bytes.buffer === buffer.buffer
}

describe('SendBuffers', () => {
  it('packs into a pooled buffer and reuses it once the frame is written', () => {
    const buffers = new SendBuffers(small)
    const first = buffers.pack((target) => encodeRequest(produce(1, 100), undefined, target))
    const decoded = decodeRequest(first.bytes)
    assert.ok(decoded.ok)
    assert.equal(decoded.value.id, 1)
    assert.equal(buffers.outstanding, 1)
    const firstBuffer = first.bytes.buffer
    first.written()
    assert.equal(buffers.outstanding, 0)
    const second = buffers.pack((target) => encodeRequest(produce(2, 100), undefined, target))
    assert.equal(second.bytes.buffer, firstBuffer, 'the written buffer is packed into again')
    second.written()
    assert.deepEqual(buffers.stats, { pooled: 2, unpooled: 0 })
  })

  it('gives out at most buffersMax, then packs without one', () => {
    const buffers = new SendBuffers(small)
    const a = buffers.take()
    const b = buffers.take()
    assert.ok(a && b && a !== b)
    assert.equal(buffers.take(), undefined)
    const third = buffers.pack((target) => {
      assert.equal(target, undefined)
      return encodeRequest(produce(3, 10), undefined, target)
    })
    assert.ok(decodeRequest(third.bytes).ok)
    third.written()
    assert.equal(buffers.outstanding, 2)
  })

  it('grows its buffers to a frame that did not fit, up to bufferBytesMax', () => {
    const buffers = new SendBuffers(small)
    const big = buffers.pack((target) => encodeRequest(produce(1, 10_000), undefined, target))
    big.written()
    assert.deepEqual(buffers.stats, { pooled: 0, unpooled: 1 }, 'a 10 KB request does not fit 4 KiB')
    const target = buffers.take()
    assert.ok(target !== undefined && target.length >= 10_000 + 0x80a)
    buffers.give(target, new Uint8Array(0))
    const again = buffers.pack((t) => encodeRequest(produce(2, 10_000), undefined, t))
    assert.ok(decodeRequest(again.bytes).ok)
    again.written()
    assert.equal(buffers.stats.pooled, 1)
    const huge = buffers.pack((t) => encodeRequest(produce(3, 100_000), undefined, t))
    huge.written()
    const capped = buffers.take()
    assert.ok(capped !== undefined && capped.length <= small.bufferBytesMax)
  })

  it('gives the buffer back when encoding throws', () => {
    const buffers = new SendBuffers(small)
    assert.throws(
      () =>
        buffers.pack((target) =>
          encodeRequest({ ...produce(1, 1), api: 'nope' as 'produce' }, undefined, target),
        ),
      /unknown api/,
    )
    assert.equal(buffers.outstanding, 0)
  })

  it('refuses limits that make no sense', () => {
    assert.throws(() => new SendBuffers({ ...small, bufferBytesMin: 100 }), /bufferBytesMin/)
    assert.throws(() => new SendBuffers({ ...small, bufferBytesMax: 1024 }), /bufferBytesMax/)
    assert.throws(() => new SendBuffers({ ...small, buffersMax: 0 }), /buffersMax/)
  })

  it('never lets a frame packed without a buffer land in a pooled one', () => {
    const buffers = new SendBuffers(small)
    const before = encodeFrame(frameOf(1))
    const pooled = buffers.pack((target) => encodeFrame(frameOf(2), target))
    const target = pooled.bytes
    const after = encodeFrame(frameOf(3))
    assert.ok(!inside(after, target), 'msgpackr went back to its own buffer')
    const beforeCopy = new Uint8Array(before)
    const afterCopy = new Uint8Array(after)
    pooled.written()
    // The pooled buffer is written over by the next frame; the others must not change.
    const reused = buffers.pack((t) => encodeFrame(frameOf(4), t))
    assert.ok(inside(reused.bytes, target))
    assert.deepEqual(new Uint8Array(before), beforeCopy)
    assert.deepEqual(new Uint8Array(after), afterCopy)
    reused.written()
  })

  it('property: every frame not yet written decodes as packed, whatever the order of packs and writes', () => {
    const step = fc.record({ frame: frameArb, pooled: fc.boolean(), writeOne: fc.nat() })
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 40 }), (steps) => {
        const buffers = new SendBuffers({ bufferBytesMin: 4096, bufferBytesMax: 256 * 1024, buffersMax: 3 })
        const live: { frame: Frame; packed: PackedFrame | { bytes: Uint8Array } }[] = []
        for (const s of steps) {
          const packed = s.pooled
            ? buffers.pack((target) => encodeFrame(s.frame, target))
            : { bytes: encodeFrame(s.frame) }
          live.push({ frame: s.frame, packed })
          // Now and then the socket finishes writing one of the frames still out.
          if (s.writeOne % 3 === 0) {
            const [done] = live.splice(s.writeOne % live.length, 1)
            if (done && 'written' in done.packed) done.packed.written()
          }
          for (const { frame, packed } of live) {
            const decoded = decodeFrame(packed.bytes)
            assert.ok(decoded.ok, decoded.ok ? '' : decoded.reason)
            assert.deepEqual(
              plain(decoded.value),
              plain({ ...frame, messages: canonicalOrder(frame.messages) }),
            )
          }
        }
      }),
      fcOptions(100),
    )
  })
})

/** A frame with one append of 2,000 bytes of `n`. */
function frameOf(n: number): Frame {
  const entries = [{ index: 1, term: n, kind: 0 as const, data: new Uint8Array(2000).fill(n) }]
  return {
    from: 1,
    to: 2,
    messages: [
      { type: 'append', group: n, from: 1, to: 2, term: n, prevIndex: 0, prevTerm: 0, entries, commit: 0 },
    ],
  }
}
