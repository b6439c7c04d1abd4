/**
 * The vocabulary of @cairn/raft: entries, hard state, log start, membership, messages, and the
 * storage interface a replica reads its durable log through.
 *
 * Numbers are plain JS numbers: indexes and terms stay far below 2^53.
 */

import type { Entry, LogStart, NodeId } from '@cairn/protocol'

// The wire vocabulary (entries, membership, log start, the messages) is @cairn/protocol's, so
// that the transport validates exactly what Raft steps.
export type {
  AppendRequest,
  AppendResponse,
  Entry,
  GroupId,
  Heartbeat,
  HeartbeatResponse,
  InstallSnapshot,
  LogStart,
  Membership,
  NodeId,
  Quiesce,
  RaftMessage,
  RaftMessageType,
  TimeoutNow,
  VoteRequest,
  VoteResponse,
} from '@cairn/protocol'

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

/** What must be durable before a vote is granted or a commit is exposed. */
export interface HardState {
  term: number
  /** The node voted for in `term`, or {@link NONE}. */
  vote: NodeId
  /** Highest index known committed; persisted so it never goes backwards across a restart. */
  commit: number
}

/** One batch of writes for one group; storage applies the parts in this order. */
export interface LogWrite {
  hardState?: HardState
  /**
   * Replace the log start. Entries at or below `logStart.index` are deleted; when the log does not
   * hold `logStart.term` at `logStart.index` (a leader's log start that replaces ours), all are.
   */
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
