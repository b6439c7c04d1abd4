/**
 * The vocabulary of @cairn/raft: entries, hard state, log start, membership, messages, and the
 * storage interface a replica reads its durable log through.
 *
 * Numbers are plain JS numbers: indexes and terms stay far below 2^53.
 */

/** A node's id in the cluster: a positive integer. 0 means "none" (no vote, no leader). */
export type NodeId = number
/** A Raft group's id on a node: a non-negative integer below 2^32 (storage keys hold 4 bytes). */
export type GroupId = number

export const NONE = 0

/** What an entry carries. Only `normal` entries are the application's (record batches). */
export const EntryKind = {
  /** Application data, opaque to Raft. */
  normal: 0,
  /** The empty entry a new leader appends so it can commit entries of earlier terms. */
  noop: 1,
  /** A membership change: `data` is the encoded new {@link Membership}. */
  config: 2,
} as const
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind]

export interface Entry {
  index: number
  term: number
  kind: EntryKind
  data: Uint8Array
}

/** What must be durable before a vote is granted or a commit is exposed. */
export interface HardState {
  term: number
  /** The node voted for in `term`, or {@link NONE}. */
  vote: NodeId
  /** Highest index known committed; persisted so it never goes backwards across a restart. */
  commit: number
}

/** Voters decide elections and commits; learners receive the log and do not count. */
export interface Membership {
  voters: NodeId[]
  learners: NodeId[]
}

/**
 * Where the log starts after a prefix was deleted (retention). `index`/`term` are those of the
 * last deleted entry (0/0 for a log that was never truncated); the first entry is `index + 1`.
 * `payload` is the application's, opaque here (the broker keeps the next offset in it);
 * `membership` is the configuration in force at `index`.
 */
export interface LogStart {
  index: number
  term: number
  payload: Uint8Array
  membership: Membership
}

/** One batch of writes for one group; storage applies the parts in this order. */
export interface LogWrite {
  hardState?: HardState
  /** Replace the log start; entries at or below `logStart.index` are deleted. */
  logStart?: LogStart
  /** Append; any stored entries with index >= entries[0].index are deleted first (suffix truncation). */
  entries?: Entry[]
}

/** Returned by {@link RaftStorage.entries} when the entries are not in memory and a load has started. */
export const LOADING = 'loading' as const

/**
 * What a replica needs from its durable log. Reads are synchronous: an implementation keeps terms
 * and a tail of entries in memory, and answers {@link LOADING} (then calls its load listener) for
 * older entries it must fetch from disk. Writes are buffered and become durable only when the
 * implementation's sync completes; the driver tells Raft with `advance`.
 */
export interface RaftStorage {
  /** The durable state to start from after a (re)start. */
  initialState(): { hardState: HardState; logStart: LogStart; lastIndex: number }
  /** Term of entry `index`, for logStart.index <= index <= lastIndex; undefined outside. */
  term(index: number): number | undefined
  /**
   * Entries [lo, hi) — at least one if lo < hi, then up to `bytesMax` of data in total.
   * Requires logStart.index < lo and hi <= lastIndex + 1.
   */
  entries(lo: number, hi: number, bytesMax: number): Entry[] | typeof LOADING
  lastIndex(): number
  logStart(): LogStart
  /** Buffer a write; durable once the implementation syncs. */
  write(write: LogWrite): void
}

// ---- Messages -----------------------------------------------------------------------------

interface Envelope {
  group: GroupId
  from: NodeId
  to: NodeId
  term: number
}

/** Pre-vote and vote requests. A pre-vote carries the term the sender would campaign in. */
export interface VoteRequest extends Envelope {
  type: 'preVote' | 'vote'
  lastIndex: number
  lastTerm: number
  /** Set for a campaign started by TimeoutNow: overrides the receivers' leader lease. */
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
  /** Accepted: the last index now matching the leader. Rejected: the prevIndex that failed. */
  index: number
  reject: boolean
  /** On reject: where the follower's log may match, for fast backtracking (etcd's hint). */
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

export type RaftMessage =
  | VoteRequest
  | VoteResponse
  | AppendRequest
  | AppendResponse
  | Heartbeat
  | HeartbeatResponse
  | InstallSnapshot
  | TimeoutNow

export type RaftMessageType = RaftMessage['type']

export const RAFT_MESSAGE_TYPES: readonly RaftMessageType[] = [
  'preVote',
  'vote',
  'preVoteResponse',
  'voteResponse',
  'append',
  'appendResponse',
  'heartbeat',
  'heartbeatResponse',
  'snapshot',
  'timeoutNow',
]
