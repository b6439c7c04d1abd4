/**
 * The transport's bounds, each named with its unit. With these, what one peer can cost a node is
 * at most queueBytesMax (our queue to it) + sendBufferBytesHigh + frameBytesMax (bytes handed to the
 * socket) + frameBytesMax (one frame being received from it).
 */
import { frameBytesMax } from '@cairn/protocol'

export interface TransportLimits {
  /** Largest frame sent or accepted; also the WebSocket `maxPayload` of node-to-node connections. */
  frameBytesMax: number
  /** Per peer: bytes of messages waiting to be framed (estimated by @cairn/protocol's upper bounds). */
  queueBytesMax: number
  /** Per peer: messages waiting to be framed. */
  queueMessagesMax: number
  /** Stop handing frames to a peer's socket while its `bufferedAmount` is at or above this. */
  sendBufferBytesHigh: number
  /** Resume once `bufferedAmount` is back at or below this. */
  sendBufferBytesLow: number
  /** The dialer pings its connection this often. */
  pingIntervalMs: number
  /**
   * A peer whose dialed connection closes, or that leaves a ping unanswered this long, is
   * reported down (Transport.onPeerDown) while the connection is still given until pingTimeoutMs.
   * Raft groups that went quiet rely on this to notice a dead leader.
   */
  peerDownAfterMs: number
  /**
   * A peer whose dialed connection closed while the connection it dialed to us is still open is
   * reported down once that one closes too — a peer that died sent its last frames on it, and they
   * are delivered first — or after this long, if it stays open; then that connection is cut, and
   * what it still held is dropped rather than delivered after the report.
   */
  peerDownInboundWaitMs: number
  /** A dialed connection with a ping unanswered this long is dead; an accepted one silent this long too. */
  pingTimeoutMs: number
  /** Challenge request plus WebSocket upgrade, and a challenge's lifetime on the server. */
  handshakeTimeoutMs: number
  /** First reconnect delay; doubles per failed attempt up to reconnectDelayMsMax, then jittered to 50..100%. */
  reconnectDelayMsMin: number
  reconnectDelayMsMax: number
  /**
   * Heartbeat responses wait up to this long for another frame to the same peer to ride on. Set
   * it near the Raft heartbeat interval: the responses then leave with the next tick's heartbeats,
   * and two nodes exchange one frame each way per tick instead of two.
   */
  heartbeatResponseLingerMs: number
  /** Unused challenges kept by the server; the oldest is forgotten first (its dialer retries). */
  challengesMax: number
  /** TCP connections the server holds at once (handshakes in progress included). */
  connectionsMax: number
  /** After closing a connection for bad input, wait this long for the close handshake, then cut it. */
  closeGraceMs: number
}

export const defaultTransportLimits: Readonly<TransportLimits> = Object.freeze({
  frameBytesMax,
  queueBytesMax: 16 * 1024 * 1024,
  queueMessagesMax: 65_536,
  sendBufferBytesHigh: 4 * 1024 * 1024,
  sendBufferBytesLow: 1024 * 1024,
  pingIntervalMs: 100,
  peerDownAfterMs: 500,
  peerDownInboundWaitMs: 100,
  pingTimeoutMs: 3_000,
  handshakeTimeoutMs: 5_000,
  reconnectDelayMsMin: 50,
  reconnectDelayMsMax: 5_000,
  heartbeatResponseLingerMs: 100,
  challengesMax: 1_024,
  connectionsMax: 256,
  closeGraceMs: 1_000,
})

/** The dialer never receives data frames, so it accepts nothing bigger than a control frame's worth. */
export const outboundReceiveBytesMax = 1024
/** A cluster secret shorter than this is refused: HMAC keys should carry at least 128 bits. */
export const secretBytesMin = 16

export function checkLimits(limits: TransportLimits): void {
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isSafeInteger(value) || value <= 0)
      throw new RangeError(`${name} must be a positive integer, got ${value}`)
  }
  if (limits.sendBufferBytesLow > limits.sendBufferBytesHigh) {
    throw new RangeError('sendBufferBytesLow must not exceed sendBufferBytesHigh')
  }
  if (limits.frameBytesMax > frameBytesMax) {
    throw new RangeError(`frameBytesMax may not exceed @cairn/protocol's ${frameBytesMax}`)
  }
  if (limits.peerDownAfterMs < limits.pingIntervalMs) {
    throw new RangeError('peerDownAfterMs must be at least pingIntervalMs')
  }
  if (limits.reconnectDelayMsMin > limits.reconnectDelayMsMax) {
    throw new RangeError('reconnectDelayMsMin must not exceed reconnectDelayMsMax')
  }
}
