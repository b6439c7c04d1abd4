/**
 * CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of Kafka's RecordBatch v2
 * (bytes 21..end of a batch) and of every value Cairn stores.
 *
 * Two implementations, one answer. Ranges of at least {@link NATIVE_BYTES_MIN} bytes go to
 * `@node-rs/crc32` (SSE 4.2 / ARMv8 CRC instructions, a prebuilt binary) when it loads: 5.7 GB/s on
 * 128 KiB against 0.8–1.3 GB/s for the JavaScript below, and every byte a node stores is checked
 * two or three times on its way (the producer's batch, the leader's check, the storage value).
 * Shorter ranges, and every range where the binary does not load, use the JavaScript: table-driven,
 * slicing-by-8, eight 256-entry tables letting the loop consume eight bytes per step with
 * independent lookups instead of one byte per dependent lookup.
 */

import { createRequire } from 'node:module'

/** Below this many bytes a call into the binary costs more than the JavaScript loop (216 vs 112 ns at 100 B). */
export const NATIVE_BYTES_MIN = 256

type NativeCrc32c = (input: Uint8Array, initialState?: number) => number

/** The binary's crc32c, or null: not installed for this platform, or CAIRN_CRC32C=js asks for the JavaScript. */
function loadNative(): NativeCrc32c | null {
  if (process.env.CAIRN_CRC32C === 'js') return null
  try {
    const loaded = createRequire(import.meta.url)('@node-rs/crc32') as { crc32c?: unknown }
    return typeof loaded.crc32c === 'function' ? (loaded.crc32c as NativeCrc32c) : null
  } catch {
    return null
  }
}

const native = loadNative()

/** Which implementation long ranges use in this process. */
export function crc32cImplementation(): 'native' | 'js' {
  return native === null ? 'js' : 'native'
}

const polynomial = 0x82f63b78
const tables = buildTables()

/** tables[k * 256 + b]: the CRC of byte b followed by k zero bytes. */
function buildTables(): Int32Array {
  const t = new Int32Array(8 * 256)
  for (let b = 0; b < 256; b++) {
    let crc = b
    for (let bit = 0; bit < 8; bit++) crc = crc & 1 ? (crc >>> 1) ^ polynomial : crc >>> 1
    t[b] = crc
  }
  for (let k = 1; k < 8; k++) {
    for (let b = 0; b < 256; b++) {
      const previous = t[(k - 1) * 256 + b]!
      t[k * 256 + b] = (previous >>> 8) ^ t[previous & 0xff]!
    }
  }
  return t
}

/**
 * Continue a CRC-32C over bytes[start, end). `crc` is a previous result (0 to begin), so
 * crc32cUpdate(crc32c(a), b) === crc32c(a ++ b).
 */
export function crc32cUpdate(crc: number, bytes: Uint8Array, start = 0, end = bytes.length): number {
  if (start < 0 || end > bytes.length || start > end) throw new RangeError('crc32c: range outside the bytes')
  if (native !== null && end - start >= NATIVE_BYTES_MIN)
    return native(start === 0 && end === bytes.length ? bytes : bytes.subarray(start, end), crc) >>> 0
  return crc32cUpdateJs(crc, bytes, start, end)
}

/** The JavaScript implementation, whatever the length; crc32cUpdate's arguments, already checked. */
export function crc32cUpdateJs(crc: number, bytes: Uint8Array, start: number, end: number): number {
  const t = tables
  let c = ~crc
  let i = start
  for (; i + 8 <= end; i += 8) {
    c ^= bytes[i]! | (bytes[i + 1]! << 8) | (bytes[i + 2]! << 16) | (bytes[i + 3]! << 24)
    c =
      t[7 * 256 + (c & 0xff)]! ^
      t[6 * 256 + ((c >>> 8) & 0xff)]! ^
      t[5 * 256 + ((c >>> 16) & 0xff)]! ^
      t[4 * 256 + (c >>> 24)]! ^
      t[3 * 256 + bytes[i + 4]!]! ^
      t[2 * 256 + bytes[i + 5]!]! ^
      t[256 + bytes[i + 6]!]! ^
      t[bytes[i + 7]!]!
  }
  for (; i < end; i++) c = (c >>> 8) ^ t[(c ^ bytes[i]!) & 0xff]!
  return ~c >>> 0
}

/** CRC-32C of bytes[start, end) as an unsigned 32-bit integer. */
export function crc32c(bytes: Uint8Array, start = 0, end = bytes.length): number {
  return crc32cUpdate(0, bytes, start, end)
}

// ---- Combining: the CRC of a ‖ b from the CRCs of a and b -------------------------------------

/** x⁰ in the reflected representation (bit 31 is the coefficient of x⁰). */
const xPow0 = 0x8000_0000

/** a × b modulo the polynomial, both reflected. */
function multiplyModP(a: number, b: number): number {
  let product = 0
  for (let m = xPow0; m !== 0; m >>>= 1) {
    if (a & m) {
      product ^= b
      if ((a & (m - 1)) === 0) break
    }
    b = b & 1 ? (b >>> 1) ^ polynomial : b >>> 1
  }
  return product >>> 0
}

/** x^(2^k) modulo the polynomial, k = 0..63, by squaring: enough for any safe-integer length. */
const xPow2k = (() => {
  const t = new Uint32Array(64)
  t[0] = xPow0 >>> 1 // x¹
  for (let k = 1; k < 64; k++) t[k] = multiplyModP(t[k - 1]!, t[k - 1]!)
  return t
})()

/** x^(8n) modulo the polynomial: what appending n zero bytes multiplies a CRC's state by. */
function xPow8n(n: number): number {
  let p = xPow0
  // 8n = n × 2³: the bit of n worth 2^j stands for x^(2^(j + 3)).
  for (let k = 3; n > 0; n = Math.floor(n / 2), k++) if (n % 2 === 1) p = multiplyModP(xPow2k[k]!, p)
  return p
}

/**
 * The CRC-32C of a ‖ b from crcA = crc32c(a), crcB = crc32c(b) and b's length, without reading a
 * byte (zlib's crc32_combine, by the same algebra): some 32 × log₂(lengthB) shifts.
 */
export function crc32cCombine(crcA: number, crcB: number, lengthB: number): number {
  if (!Number.isSafeInteger(lengthB) || lengthB < 0) throw new RangeError(`crc32cCombine: length ${lengthB}`)
  return (multiplyModP(xPow8n(lengthB), crcA) ^ crcB) >>> 0
}
