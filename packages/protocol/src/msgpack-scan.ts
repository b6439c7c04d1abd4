/**
 * A structural pass over MessagePack bytes that runs before the real decoder and allocates
 * nothing. It proves the bytes are one complete value with no trailing bytes, that every declared
 * length fits in the bytes that remain (so no decoder ever sizes an array or string from a hostile
 * header), that nesting stays shallow (no stack exhaustion), that map keys are short strings, and
 * that no extension type appears (msgpackr's extensions construct Dates, Errors, RegExps, records
 * and references: none belongs in a Raft frame).
 */

export interface ScanLimits {
  nestingDepthMax: number
  stringBytesMax: number
}

// What each first byte is, from two 256-entry tables: its kind, and either the bytes that follow
// it (scalars) or the width of its length field (str, bin, array, map; 0 = length in the byte).
const SCALAR = 0
const STRING = 1
const BIN = 2
const ARRAY = 3
const MAP = 4
const EXT = 5
const INVALID = 6

const kinds = new Uint8Array(256)
const sizes = new Uint8Array(256)

function define(first: number, last: number, kind: number, size: number): void {
  for (let b = first; b <= last; b++) {
    kinds[b] = kind
    sizes[b] = size
  }
}

define(0x00, 0x7f, SCALAR, 0) // positive fixint
define(0x80, 0x8f, MAP, 0) // fixmap
define(0x90, 0x9f, ARRAY, 0) // fixarray
define(0xa0, 0xbf, STRING, 0) // fixstr
define(0xc0, 0xc0, SCALAR, 0) // nil
define(0xc1, 0xc1, INVALID, 0) // never used
define(0xc2, 0xc3, SCALAR, 0) // false, true
define(0xc4, 0xc4, BIN, 1)
define(0xc5, 0xc5, BIN, 2)
define(0xc6, 0xc6, BIN, 4)
define(0xc7, 0xc9, EXT, 0) // ext 8/16/32
define(0xca, 0xca, SCALAR, 4) // float32
define(0xcb, 0xcb, SCALAR, 8) // float64
define(0xcc, 0xcc, SCALAR, 1) // uint8
define(0xcd, 0xcd, SCALAR, 2)
define(0xce, 0xce, SCALAR, 4)
define(0xcf, 0xcf, SCALAR, 8) // uint64
define(0xd0, 0xd0, SCALAR, 1) // int8
define(0xd1, 0xd1, SCALAR, 2)
define(0xd2, 0xd2, SCALAR, 4)
define(0xd3, 0xd3, SCALAR, 8) // int64
define(0xd4, 0xd8, EXT, 0) // fixext
define(0xd9, 0xd9, STRING, 1)
define(0xda, 0xda, STRING, 2)
define(0xdb, 0xdb, STRING, 4)
define(0xdc, 0xdc, ARRAY, 2)
define(0xdd, 0xdd, ARRAY, 4)
define(0xde, 0xde, MAP, 2)
define(0xdf, 0xdf, MAP, 4)
define(0xe0, 0xff, SCALAR, 0) // negative fixint

const kindNames = ['scalar', 'string', 'bin', 'array', 'map']

function readLength(bytes: Uint8Array, at: number, width: number): number {
  if (width === 1) return bytes[at]!
  if (width === 2) return (bytes[at]! << 8) | bytes[at + 1]!
  return bytes[at]! * 0x1000000 + ((bytes[at + 1]! << 16) | (bytes[at + 2]! << 8) | bytes[at + 3]!)
}

// The stack of open containers: items still to read in each (maps count keys and values), and
// whether it is a map. Scans are synchronous, so one stack serves every call.
let remaining = new Float64Array(16)
let isMap = new Uint8Array(16)

/**
 * Scan `bytes` as exactly one MessagePack value. Returns undefined if it is well formed within
 * `limits`, or the reason (with the byte offset) why not.
 */
export function scanMsgpack(bytes: Uint8Array, limits: ScanLimits): string | undefined {
  if (remaining.length <= limits.nestingDepthMax) {
    remaining = new Float64Array(limits.nestingDepthMax + 1)
    isMap = new Uint8Array(limits.nestingDepthMax + 1)
  }
  const end = bytes.length
  let depth = 0
  remaining[0] = 1
  isMap[0] = 0
  let pos = 0
  for (;;) {
    while (depth > 0 && remaining[depth] === 0) depth--
    if (remaining[depth] === 0) break
    if (pos >= end) return `msgpack: truncated at byte ${pos}`
    const left = remaining[depth]!
    remaining[depth] = left - 1
    const at = pos
    const token = bytes[pos++]!
    const kind = kinds[token]!
    const size = sizes[token]!
    // In a map of n pairs, 2n items: an even count left means a key comes next.
    if (isMap[depth] === 1 && left % 2 === 0 && kind !== STRING)
      return `msgpack: map key at byte ${at} is not a string`
    if (kind === SCALAR) {
      if (size > end - pos) return `msgpack: truncated number at byte ${at}`
      pos += size
      continue
    }
    if (kind === EXT) return `msgpack: extension type 0x${token.toString(16)} not allowed at byte ${at}`
    if (kind === INVALID) return `msgpack: invalid byte 0x${token.toString(16)} at byte ${at}`
    if (size > end - pos) return `msgpack: truncated length at byte ${at}`
    const length = size === 0 ? token & (kind === STRING ? 0x1f : 0x0f) : readLength(bytes, pos, size)
    pos += size
    if (kind === STRING || kind === BIN) {
      if (kind === STRING && length > limits.stringBytesMax) {
        return `msgpack: string of ${length} bytes at byte ${at} exceeds stringBytesMax ${limits.stringBytesMax}`
      }
      if (length > end - pos)
        return `msgpack: ${kindNames[kind]} of ${length} bytes at byte ${at} overruns the frame`
      pos += length
      continue
    }
    // A container: every item takes at least one byte, so a count beyond the bytes left is a lie.
    const items = kind === MAP ? length * 2 : length
    if (items > end - pos)
      return `msgpack: ${kindNames[kind]} of ${length} items at byte ${at} overruns the frame`
    if (items === 0) continue
    if (depth === limits.nestingDepthMax)
      return `msgpack: nesting deeper than ${limits.nestingDepthMax} at byte ${at}`
    depth++
    remaining[depth] = items
    isMap[depth] = kind === MAP ? 1 : 0
  }
  return pos === end ? undefined : `msgpack: ${end - pos} trailing bytes after the value`
}
