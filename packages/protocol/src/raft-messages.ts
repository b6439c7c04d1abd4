/**
 * The Raft messages the wire carries. @cairn/raft takes its message vocabulary from here, so the
 * transport validates exactly the shapes Raft steps.
 */

export type NodeId = number
export type GroupId = number
export type EntryKind = 0 | 1 | 2

export interface Entry {
  index: number
  term: number
  kind: EntryKind
  data: Uint8Array
}

export interface Membership {
  voters: NodeId[]
  learners: NodeId[]
}

export interface LogStart {
  index: number
  term: number
  payload: Uint8Array
  membership: Membership
}

interface Envelope {
  group: GroupId
  from: NodeId
  to: NodeId
  term: number
}

export interface VoteRequest extends Envelope {
  type: 'preVote' | 'vote'
  lastIndex: number
  lastTerm: number
  transfer: boolean
}

export interface VoteResponse extends Envelope {
  type: 'preVoteResponse' | 'voteResponse'
  granted: boolean
}

export interface AppendRequest extends Envelope {
  type: 'append'
  prevIndex: number
  prevTerm: number
  entries: Entry[]
  commit: number
}

export interface AppendResponse extends Envelope {
  type: 'appendResponse'
  index: number
  reject: boolean
  hintIndex: number
  hintTerm: number
}

export interface Heartbeat extends Envelope {
  type: 'heartbeat'
  commit: number
}

export interface HeartbeatResponse extends Envelope {
  type: 'heartbeatResponse'
}

export interface InstallSnapshot extends Envelope {
  type: 'snapshot'
  logStart: LogStart
}

export interface TimeoutNow extends Envelope {
  type: 'timeoutNow'
}

/**
 * A leader whose group is idle and fully replicated stops sending heartbeats: it tells each
 * follower so, with its commit index (= its last index, an entry of `term`). A follower holding
 * that entry stops its election timer until a message, a proposal or a peer's failure wakes it.
 */
export interface Quiesce extends Envelope {
  type: 'quiesce'
  commit: number
}

export type RaftMessage =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | Heartbeat
  | HeartbeatResponse
  | InstallSnapshot
  | TimeoutNow
  | Quiesce

export type RaftMessageType = RaftMessage['type']
