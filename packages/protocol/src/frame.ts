/**
 * Frame v1: one WebSocket binary message between two nodes, a MessagePack array.
 *
 *   [
 *     1,                          format version
 *     from: NodeId,               sender; must be the node authenticated on the connection
 *     to: NodeId,                 receiver
 *     messages: WireMessage[],    every message but heartbeats, as tuples (see wire-messages.ts)
 *     heartbeats: HeartbeatColumns | nil,           columnar (see heartbeats.ts)
 *     responses: HeartbeatResponseColumns | nil
 *   ]
 *
 * Positional, not keyed: a 100-byte message costs ~25 bytes and encodes and decodes about twice as
 * fast as the same map. Entry data and snapshot payloads are msgpack `bin` and come back as views
 * into `bytes`, not copies (bytes.ts): the storage's tail cache, which keeps entries, charges the
 * whole buffer a view pins, or copies a small entry; a log start's payload is copied where it is
 * kept.
 *
 * Decoding is in four gates, cheapest first: length (before a byte is read), structure
 * (scanMsgpack), msgpackr, then schema: tuple shapes here, then validateRaftMessage on every
 * rebuilt message. Decoded messages come out as heartbeats (sorted by group), heartbeat responses
 * (sorted by group), then the other messages in order.
 */
import { Packr, Unpackr } from 'msgpackr'
import {
  type HeartbeatColumns,
  type HeartbeatResponseColumns,
  packHeartbeatResponses,
  packHeartbeats,
  unpackHeartbeatResponses,
  unpackHeartbeats,
} from './heartbeats.js'
import {
  defaultFrameLimits,
  type FrameLimits,
  frameOverheadBytesMax,
  nestingDepthMax,
  stringBytesMax,
} from './limits.js'
import { scanMsgpack } from './msgpack-scan.js'
import { packInto } from './pack-into.js'
import type { Heartbeat, HeartbeatResponse, NodeId, RaftMessage } from './raft-messages.js'
import { fail, ok, type Result } from './result.js'
import { describe } from './validate.js'
import { fromWire, toWire, type WireMessage } from './wire-messages.js'

export const frameVersion = 1

export interface Frame {
  from: NodeId
  to: NodeId
  messages: RaftMessage[]
}

type WireFrame = [
  version: number,
  from: NodeId,
  to: NodeId,
  messages: WireMessage[],
  heartbeats: HeartbeatColumns | null,
  responses: HeartbeatResponseColumns | null,
]

// Records (msgpackr's shared-structure extension) are off: frames must decode with no state
// carried over from earlier frames, and a plain map is what any MessagePack reader understands.
const packr = new Packr({ useRecords: false, variableMapSize: true })
const unpackr = new Unpackr({
  useRecords: false,
  mapsAsObjects: true,
  copyBuffers: false,
  int64AsType: 'number',
})

/**
 * Encode a frame. Throws only on a programming error: a message whose from/to differ from the
 * frame's. The caller keeps frames within frameBytesMax using {@link estimateMessageBytes}. With
 * `target` (from a SendBuffers, send-buffers.ts) the frame is packed into it if it fits.
 */
export function encodeFrame(frame: Frame, target?: Uint8Array): Uint8Array {
  const { from, to, messages } = frame
  const others: WireMessage[] = []
  const heartbeats: Heartbeat[] = []
  const responses: HeartbeatResponse[] = []
  for (const message of messages) {
    if (message.from !== from || message.to !== to) {
      throw new Error(`encodeFrame: message ${message.from}->${message.to} in frame ${from}->${to}`)
    }
    if (message.type === 'heartbeat') heartbeats.push(message)
    else if (message.type === 'heartbeatResponse') responses.push(message)
    else others.push(toWire(message))
  }
  const wire: WireFrame = [
    frameVersion,
    from,
    to,
    others,
    heartbeats.length > 0 ? packHeartbeats(heartbeats) : null,
    responses.length > 0 ? packHeartbeatResponses(responses) : null,
  ]
  return packInto(packr, wire, target)
}

function isNodeId(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x > 0
}

function headerError(x: unknown[], limits: FrameLimits): string | undefined {
  if (x.length !== 6) return `frame: expected 6 fields, got ${x.length}`
  if (x[0] !== frameVersion) return `frame[0]: unsupported version ${describe(x[0])}`
  if (!isNodeId(x[1])) return `frame[1] (from): expected a positive node id, got ${describe(x[1])}`
  if (!isNodeId(x[2])) return `frame[2] (to): expected a positive node id, got ${describe(x[2])}`
  const messages = x[3]
  if (!Array.isArray(messages)) return `frame[3] (messages): expected an array, got ${describe(messages)}`
  if (messages.length > limits.messagesPerFrameMax) {
    return `frame[3] (messages): ${messages.length} messages exceed messagesPerFrameMax ${limits.messagesPerFrameMax}`
  }
  return undefined
}

function messagesOf(x: WireFrame, limits: FrameLimits): Result<RaftMessage[]> {
  const [, from, to, wire, h, r] = x
  const messages: RaftMessage[] = []
  if (h !== null) {
    const heartbeats = unpackHeartbeats(h, from, to, limits.heartbeatsPerFrameMax, 'frame[4] (heartbeats)')
    if (!heartbeats.ok) return heartbeats
    for (const m of heartbeats.value) messages.push(m)
  }
  if (r !== null) {
    const responses = unpackHeartbeatResponses(
      r,
      from,
      to,
      limits.heartbeatsPerFrameMax,
      'frame[5] (responses)',
    )
    if (!responses.ok) return responses
    for (const m of responses.value) messages.push(m)
  }
  for (let i = 0; i < wire.length; i++) {
    const message = fromWire(wire[i], from, to, limits, `frame[3][${i}]`)
    if (!message.ok) return message
    messages.push(message.value)
  }
  return ok(messages)
}

function unpack(bytes: Uint8Array): Result<unknown> {
  try {
    return ok(unpackr.unpack(bytes))
  } catch (error) {
    // Unreachable for input that passed scanMsgpack; kept so no decoder bug can throw out of here.
    return fail(`msgpack decoder threw: ${error instanceof Error ? error.message.slice(0, 80) : 'unknown'}`)
  }
}

/**
 * Decode and validate one frame from an untrusted peer. Never throws; rejects a frame longer than
 * `limits.frameBytesMax` before reading any of it. Entry data and payloads are views into `bytes`.
 */
export function decodeFrame(bytes: Uint8Array, limits: FrameLimits = defaultFrameLimits): Result<Frame> {
  if (!(bytes instanceof Uint8Array)) return fail('frame: expected bytes')
  if (bytes.length > limits.frameBytesMax) {
    return fail(`frame: ${bytes.length} bytes exceed frameBytesMax ${limits.frameBytesMax}`)
  }
  const structure = scanMsgpack(bytes, { nestingDepthMax, stringBytesMax })
  if (structure !== undefined) return fail(structure)
  const value = unpack(bytes)
  if (!value.ok) return value
  if (!Array.isArray(value.value)) return fail(`frame: expected an array, got ${describe(value.value)}`)
  const error = headerError(value.value, limits)
  if (error) return fail(error)
  const wire = value.value as WireFrame
  const messages = messagesOf(wire, limits)
  return messages.ok ? ok({ from: wire[1], to: wire[2], messages: messages.value }) : messages
}

// ---- Size estimates -------------------------------------------------------------------------
// Upper bounds on what a message adds to an encoded frame, so a sender can fill frames up to
// frameBytesMax without encoding twice. test/frame.test.ts checks them against the encoder.

/** Any message's tuple: header, type code, group (uint32), and up to six 9-byte fields. */
export const messageOverheadBytesMax = 80
/** One entry's tuple besides its data: header, term (float64 at worst), kind, bin32 header. */
export const entryOverheadBytesMax = 16
/** A heartbeat in the columns: group delta (uint32), term and commit (float64 at worst). */
export const heartbeatBytesMax = 24
export const heartbeatResponseBytesMax = 16

export function estimateMessageBytes(message: RaftMessage): number {
  switch (message.type) {
    case 'heartbeat':
      return heartbeatBytesMax
    case 'heartbeatResponse':
      return heartbeatResponseBytesMax
    case 'append': {
      let bytes = messageOverheadBytesMax
      for (const entry of message.entries) bytes += entryOverheadBytesMax + entry.data.length
      return bytes
    }
    case 'snapshot': {
      const { payload, membership } = message.logStart
      const members = membership.voters.length + membership.learners.length
      return messageOverheadBytesMax + 16 + payload.length + 9 * members
    }
    default:
      return messageOverheadBytesMax
  }
}

/** Bytes of a frame's own fields (array headers, version, from, to): frame = this + Σ estimates, at most. */
export { frameOverheadBytesMax }
