/**
 * Bytes received and bytes kept.
 *
 * Decoders on the broker's hot paths (Raft frames, client requests) hand out every msgpack `bin`
 * as a view into the received message, not a copy (at 1 KiB records the copies cost 12 % of the
 * nodes' scavenges, BENCHMARKS.md). A view keeps its whole message alive, so whoever keeps a
 * decoded bin beyond handling the message either copies it ({@link ownedBytes}) or charges the
 * whole buffer it pins (the storage's tail cache, by {@link isWhole} and `.buffer`).
 */

/** The bytes of one WebSocket message as `ws` delivers it: one buffer as it is, fragments joined. */
export function messageBytes(data: Uint8Array | ArrayBuffer | readonly Uint8Array[]): Uint8Array {
  if (data instanceof Uint8Array) return data
  if (data instanceof ArrayBuffer) return new Uint8Array(data)
  return Buffer.concat(data)
}

/** Whether `bytes` spans its whole buffer (so keeping it pins nothing else). */
export function isWhole(bytes: Uint8Array): boolean {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength
}

/** `bytes` if it spans its whole buffer, otherwise a copy that does: what to keep of a view. */
export function ownedBytes(bytes: Uint8Array): Uint8Array {
  return isWhole(bytes) ? bytes : new Uint8Array(bytes)
}
