/**
 * Packing into a given buffer with msgpackr, for SendBuffers (send-buffers.ts). Internal: kept out
 * of the package's index, so that its types (msgpackr's, which need Node's) stay out of what a
 * user of @cairn/client compiles against.
 */
import type { Packr } from 'msgpackr'

/**
 * Pack `value` into `target` (from a {@link SendBuffers}), or, without one, as `packr.pack` does.
 *
 * msgpackr keeps one buffer and position for every Packr of the process, and packs each value
 * after the last. So that nothing packed afterwards lands in `target` — which goes back to the
 * pool and is written over while that frame may still be queued — msgpackr is put back where it
 * was: a one-byte pack first marks its buffer and position, and packing resumes after that byte.
 */
export function packInto(packr: Packr, value: unknown, target: Uint8Array | undefined): Uint8Array {
  if (target === undefined) return packr.pack(value)
  const mark = packr.pack(null)
  // msgpackr packs into the same buffer for many frames: one view of it serves them all.
  if (resumeView === null || resumeView.buffer !== mark.buffer)
    resumeView = Buffer.from(mark.buffer, 0, mark.buffer.byteLength)
  packr.useBuffer(target)
  try {
    return packr.pack(value)
  } finally {
    packr.useBuffer(resumeView)
    packr.position = mark.byteOffset + mark.length
  }
}

/** The whole of msgpackr's current buffer, to hand back to it after packing into a target. */
let resumeView: Buffer | null = null
