/**
 * Kafka's variable-length integers (RecordBatch v2 records): zig-zag, then LEB128 — seven bits a
 * byte, least significant group first, the high bit set on every byte but the last.
 *
 *   varint   a signed 32-bit integer, 1..5 bytes
 *   varlong  a signed 64-bit integer, 1..10 bytes
 *
 * Varlongs here are JavaScript numbers, not bigints: every value must be a safe integer
 * (|n| ≤ 2^53 − 1). A record's timestamp delta is the only varlong in a batch and is milliseconds,
 * so this costs nothing real, and keeps bigint off the per-record path. The zig-zag of a safe
 * integer can exceed 2^53, so it is never formed: the sign goes into the first byte's low bit and
 * the magnitude is split with exact divisions.
 *
 * Readers never throw: they return undefined for bytes that run out before the last byte, for a
 * varint longer than 5 bytes (a varlong longer than 10), and for a value out of range (a varint
 * above 32 bits, a varlong beyond the safe integers). Non-minimal encodings (0x80 0x00 for 0) are
 * accepted, as Kafka accepts them.
 */

/** A read position in bytes; readers advance `pos`, and never read at or past `end`. */
export interface ByteCursor {
  bytes: Uint8Array
  pos: number
  end: number
}

export const varintBytesMax = 5
export const varlongBytesMax = 10

/** Zig-zag of a signed 32-bit integer, as an unsigned 32-bit integer: 0→0, −1→1, 1→2, −2→3, … */
export function zigZagEncode32(n: number): number {
  return ((n << 1) ^ (n >> 31)) >>> 0
}

/** Inverse of {@link zigZagEncode32}. */
export function zigZagDecode32(u: number): number {
  return (u >>> 1) ^ -(u & 1)
}

/** Bytes {@link writeVarint} takes for n (a signed 32-bit integer). */
export function varintSize(n: number): number {
  const u = zigZagEncode32(n)
  if (u < 0x80) return 1
  if (u < 0x4000) return 2
  if (u < 0x20_0000) return 3
  if (u < 0x1000_0000) return 4
  return 5
}

/** Write n (a signed 32-bit integer) at bytes[pos]; returns the position after it. */
export function writeVarint(bytes: Uint8Array, pos: number, n: number): number {
  let u = zigZagEncode32(n)
  while (u >= 0x80) {
    bytes[pos++] = (u & 0x7f) | 0x80
    u >>>= 7
  }
  bytes[pos++] = u
  return pos
}

/** Read a varint at cursor.pos and advance past it; undefined if truncated, too long or over 32 bits. */
export function readVarint(c: ByteCursor): number | undefined {
  const { bytes, end } = c
  let pos = c.pos
  let u = 0
  for (let shift = 0; shift < 28; shift += 7) {
    if (pos >= end) return undefined
    const b = bytes[pos++]!
    u |= (b & 0x7f) << shift
    if (b < 0x80) {
      c.pos = pos
      return zigZagDecode32(u)
    }
  }
  if (pos >= end) return undefined
  const last = bytes[pos++]!
  // The fifth byte carries bits 28..31: anything above is a sixth byte or bits past 32.
  if (last > 0x0f) return undefined
  c.pos = pos
  return zigZagDecode32((u | (last << 28)) >>> 0)
}

function checkSafe(n: number): void {
  if (!Number.isSafeInteger(n)) throw new RangeError(`varlong: ${n} is not a safe integer`)
}

/** Bytes {@link writeVarlong} takes for n (a safe integer). */
export function varlongSize(n: number): number {
  checkSafe(n)
  // zig-zag(n) = 2·m + sign, with m = n or −n−1; it takes one byte per started 7 bits.
  let m = n >= 0 ? n : -n - 1
  let size = 1
  if (m < 0x40) return size
  m = Math.floor(m / 0x40)
  for (size = 2; m >= 0x80; size++) m = Math.floor(m / 0x80)
  return size
}

/** Write n (a safe integer) at bytes[pos]; returns the position after it. */
export function writeVarlong(bytes: Uint8Array, pos: number, n: number): number {
  checkSafe(n)
  // Small values are the common case (timestamp deltas within a batch): use 32-bit arithmetic.
  if (n >= -0x8000_0000 && n <= 0x7fff_ffff) return writeVarint(bytes, pos, n)
  const sign = n < 0 ? 1 : 0
  let m = sign ? -n - 1 : n
  let group = ((m % 0x40) << 1) | sign
  m = Math.floor(m / 0x40)
  while (m > 0) {
    bytes[pos++] = group | 0x80
    group = m % 0x80
    m = Math.floor(m / 0x80)
  }
  bytes[pos++] = group
  return pos
}

/** Read a varlong at cursor.pos and advance past it; undefined if truncated, too long or not safe. */
export function readVarlong(c: ByteCursor): number | undefined {
  const { bytes, end } = c
  let pos = c.pos
  if (pos >= end) return undefined
  const first = bytes[pos++]!
  const sign = first & 1
  let m = (first & 0x7f) >>> 1
  let more = first >= 0x80
  for (let scale = 0x40; more; scale *= 0x80) {
    if (pos >= end || pos - c.pos >= varlongBytesMax) return undefined
    const b = bytes[pos++]!
    more = b >= 0x80
    // Each term is a small integer times a power of two, so exact; refuse before m leaves 2^53.
    const term = (b & 0x7f) * scale
    if (term > Number.MAX_SAFE_INTEGER - m) return undefined
    m += term
  }
  if (sign && m === Number.MAX_SAFE_INTEGER) return undefined // −2^53 is not safe
  c.pos = pos
  return sign ? -m - 1 : m
}
