/**
 * Bounds on everything a peer can make us decode. Each is checked before the work it bounds, so a
 * hostile frame costs at most a pass over its own bytes.
 */

/** Largest frame (one WebSocket message) accepted or produced. Raft's per-message size must fit below. */
export const frameBytesMax = 4 * 1024 * 1024
/** Upper bound on what a frame spends besides its messages (map header, keys, from/to, array headers). */
export const frameOverheadBytesMax = 128
/** Non-heartbeat Raft messages in one frame. */
export const messagesPerFrameMax = 16_384
/** Heartbeats (and, separately, heartbeat responses) in one frame: one per group two nodes share. */
export const heartbeatsPerFrameMax = 100_000
/** Entries in one append. */
export const entriesPerMessageMax = 16_384
/** Voters plus learners in a membership. */
export const membersMax = 1_024
/** The opaque application payload of a log start (the broker keeps the next offset there). */
export const logStartPayloadBytesMax = 64 * 1024
/** Nesting of msgpack containers; the deepest valid path (frame → messages → append → entries → entry) is 5. */
export const nestingDepthMax = 8
/** Length of any msgpack string (map keys and message types are all short). */
export const stringBytesMax = 64

/** Group ids are stored in 4 bytes by the store. */
export const groupIdMax = 0xffff_ffff

export interface FrameLimits {
  frameBytesMax: number
  messagesPerFrameMax: number
  heartbeatsPerFrameMax: number
  entriesPerMessageMax: number
  membersMax: number
  logStartPayloadBytesMax: number
}

export const defaultFrameLimits: Readonly<FrameLimits> = Object.freeze({
  frameBytesMax,
  messagesPerFrameMax,
  heartbeatsPerFrameMax,
  entriesPerMessageMax,
  membersMax,
  logStartPayloadBytesMax,
})
