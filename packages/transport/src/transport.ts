/** What a Raft driver needs from a network, whether real (WsTransport) or simulated (InMemoryTransport). */
import type { NodeId, RaftMessage } from '@cairn/raft'
import type { QueueDrops } from './peer-queue.js'

/** Messages that arrived in one frame, all from `from` and addressed to this node. */
export type MessageHandler = (from: NodeId, messages: RaftMessage[]) => void
export type PeerDownHandler = (peer: NodeId, reason: string) => void

export interface Transport {
  readonly nodeId: NodeId
  /**
   * Queue messages for their `to` nodes and return at once. Everything queued for one peer within
   * one turn of the event loop leaves as one frame (more only if it exceeds frameBytesMax).
   * Messages to unknown nodes, not `from` this node, or invalid are dropped and counted.
   */
  send(messages: readonly RaftMessage[]): void
  /** Frame now what is queued instead of at the end of the turn. */
  flush(): void
  /** Register a handler for validated incoming messages; returns a function that unregisters it. */
  onMessages(handler: MessageHandler): () => void
  /**
   * Register a handler called when a peer becomes unreachable (its connection closed, or it stopped
   * answering pings) — once per outage; returns a function that unregisters it.
   */
  onPeerDown(handler: PeerDownHandler): () => void
  stats(): TransportStats
  close(): Promise<void>
}

export type LinkState = 'connecting' | 'open' | 'waiting' | 'closed'

export interface PeerStats {
  peer: NodeId
  /** Our dialed (send) connection to the peer. */
  state: LinkState
  connects: number
  disconnects: number
  framesSent: number
  /** Frames packed into a send buffer used again (@cairn/protocol's SendBuffers): no new ArrayBuffer. */
  framesPooled: number
  messagesSent: number
  bytesSent: number
  framesReceived: number
  messagesReceived: number
  bytesReceived: number
  queueMessages: number
  queueBytes: number
  /** Bytes handed to the socket and not yet written out (ws `bufferedAmount`). */
  bufferedBytes: number
  /** Times sending paused because bufferedAmount reached sendBufferBytesHigh. */
  sendPauses: number
  dropped: QueueDrops
}

export interface TransportStats {
  nodeId: NodeId
  peers: PeerStats[]
  /** Upgrades refused with 401 (bad or missing proof, unknown node, reused challenge). */
  handshakesRefused: number
  /** Accepted connections closed for bad input (undecodable, invalid, oversize, text, wrong `from`). */
  connectionsClosedBadInput: number
  /** Outgoing messages dropped: failed validation, or not from this node. */
  droppedInvalid: number
  /** Outgoing messages dropped: addressed to a node that is not a peer. */
  droppedUnknownPeer: number
}

export function emptyPeerStats(peer: NodeId): PeerStats {
  return {
    peer,
    state: 'connecting',
    connects: 0,
    disconnects: 0,
    framesSent: 0,
    framesPooled: 0,
    messagesSent: 0,
    bytesSent: 0,
    framesReceived: 0,
    messagesReceived: 0,
    bytesReceived: 0,
    queueMessages: 0,
    queueBytes: 0,
    bufferedBytes: 0,
    sendPauses: 0,
    dropped: { heartbeats: 0, replication: 0, oversize: 0 },
  }
}
