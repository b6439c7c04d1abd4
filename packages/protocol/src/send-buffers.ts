/**
 * Buffers that outgoing frames are packed into and that come back once the socket has written
 * them, so a busy connection allocates no new ArrayBuffer per large frame.
 *
 * Why it matters: V8 runs a scavenge whenever the ArrayBuffers allocated in its young generation
 * add up to twice its largest semi-space (32 MiB), however little else was allocated, and each
 * scavenge copies every young object still alive (a client's records in flight, a node's pending
 * entries). msgpackr packs a frame larger than what is left of its buffer into a fresh one four
 * times the frame's size, so at 100 MB/s of 1 MiB frames every process on the data path ran a
 * scavenge every ~100 ms for that alone (BENCHMARKS.md, issue 8).
 *
 * A buffer is out from {@link SendBuffers.take} until {@link SendBuffers.give}, which the sender
 * calls from the socket's write callback: until then the socket may still read it. A frame that
 * does not fit its buffer is packed by msgpackr into a fresh one, as without a pool, and the pool's
 * buffers grow to the largest frame seen, up to `bufferBytesMax`. Bounded: at most `buffersMax`
 * buffers out or free at once; past that, frames are packed without one.
 */
export interface SendBufferLimits {
  /** The size of the first buffers, in bytes (≥ 4 KiB, so msgpackr starts in them). */
  bufferBytesMin: number
  /** Buffers never grow past this; larger frames are packed into fresh buffers. */
  bufferBytesMax: number
  /** Buffers out and free together, at most. */
  buffersMax: number
}

/** At most 16 MiB per pool, and only after frames that large. */
export const defaultSendBufferLimits: Readonly<SendBufferLimits> = Object.freeze({
  bufferBytesMin: 64 * 1024,
  bufferBytesMax: 4 * 1024 * 1024,
  buffersMax: 4,
})

/** Buffers grow in steps of this many bytes. */
const GROWTH_STEP_BYTES = 64 * 1024
/** msgpackr allocates a buffer of its own when fewer than 0x800 bytes (+10) are left in its target. */
const MSGPACKR_HEADROOM_BYTES = 0x80a

export interface SendBufferStats {
  /** Frames packed into a pooled buffer. */
  pooled: number
  /** Frames packed into a fresh buffer: every buffer was out, or the frame outgrew its buffer. */
  unpooled: number
}

/** A packed frame, and what to call once the socket has written it (or failed to). */
export interface PackedFrame {
  bytes: Uint8Array
  /** Gives the frame's buffer back to the pool; call it exactly once, from the write callback. */
  written: () => void
}

const noFrame = new Uint8Array(0)

export class SendBuffers {
  private readonly free: Uint8Array[] = []
  private out = 0
  private bufferBytes: number
  readonly stats: SendBufferStats = { pooled: 0, unpooled: 0 }

  constructor(private readonly limits: Readonly<SendBufferLimits> = defaultSendBufferLimits) {
    const { bufferBytesMin, bufferBytesMax, buffersMax } = limits
    if (!Number.isSafeInteger(bufferBytesMin) || bufferBytesMin < 4096)
      throw new RangeError(`bufferBytesMin must be an integer ≥ 4096, got ${bufferBytesMin}`)
    if (!Number.isSafeInteger(bufferBytesMax) || bufferBytesMax < bufferBytesMin)
      throw new RangeError(`bufferBytesMax must be an integer ≥ bufferBytesMin, got ${bufferBytesMax}`)
    if (!Number.isSafeInteger(buffersMax) || buffersMax < 1)
      throw new RangeError(`buffersMax must be a positive integer, got ${buffersMax}`)
    this.bufferBytes = bufferBytesMin
  }

  /** Buffers handed out and not given back yet. */
  get outstanding(): number {
    return this.out
  }

  /**
   * Packs a frame with `encode`, into a pooled buffer when one is free (`encode` passes it on to
   * encodeFrame, encodeRequest or encodeResponse). If `encode` throws, the buffer goes back at once.
   */
  pack(encode: (target: Uint8Array | undefined) => Uint8Array): PackedFrame {
    const target = this.take()
    let bytes: Uint8Array
    try {
      bytes = encode(target)
    } catch (e) {
      this.give(target, noFrame)
      throw e
    }
    return { bytes, written: () => this.give(target, bytes) }
  }

  /** A buffer to pack the next frame into, or undefined when `buffersMax` are out. */
  take(): Uint8Array | undefined {
    const buffer = this.free.pop()
    if (buffer !== undefined) {
      this.out++
      return buffer
    }
    if (this.out >= this.limits.buffersMax) return undefined
    this.out++
    return Buffer.allocUnsafeSlow(this.bufferBytes)
  }

  /**
   * `buffer` (from take(), or undefined) is no longer read by anyone; `frame` is what was packed
   * for it. A frame that did not fit grows the buffers that later frames get.
   */
  give(buffer: Uint8Array | undefined, frame: Uint8Array): void {
    if (buffer === undefined) {
      this.stats.unpooled++
      return
    }
    this.out--
    if (frame.buffer === buffer.buffer) this.stats.pooled++
    else {
      this.stats.unpooled++
      const wanted =
        Math.ceil((frame.length + MSGPACKR_HEADROOM_BYTES) / GROWTH_STEP_BYTES) * GROWTH_STEP_BYTES
      this.bufferBytes = Math.min(this.limits.bufferBytesMax, Math.max(this.bufferBytes, wanted))
    }
    if (buffer.length < this.bufferBytes) {
      // Smaller than frames are now: let it go, and the free ones with it.
      this.free.length = 0
      return
    }
    if (this.free.length + this.out < this.limits.buffersMax) this.free.push(buffer)
  }
}
