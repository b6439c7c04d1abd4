/**
 * The state a replica's xstate actor carries, and the plain functions its actions call. The
 * machine (machine.ts) owns the role — its state — and decides transitions; these functions own
 * the log, the followers' progress and the outbox. Nothing here does I/O: storage writes are
 * buffered by the storage and made durable by the driver, messages wait in the outbox until
 * what they depend on is durable.
 */
import { hasDefect } from './defects.js'
import {
  applyChange,
  decodeMembership,
  encodeMembership,
  type MembershipChange,
  quorumSize,
} from './membership.js'
import { LastIndexHistory, Progress } from './progress.js'
import {
  type AppendRequest,
  type AppendResponse,
  type Entry,
  EntryKind,
  type GroupId,
  type Heartbeat,
  type InstallSnapshot,
  LOADING,
  type LogStart,
  type Membership,
  NONE,
  type NodeId,
  type Quiesce,
  type RaftMessage,
  type RaftStorage,
  type VoteRequest,
} from './types.js'

export type Role = 'follower' | 'preCandidate' | 'candidate' | 'leader'

export interface RaftOptions {
  id: NodeId
  group: GroupId
  storage: RaftStorage
  /** Monotonic milliseconds; used for the ISR's lag time. */
  now: () => number
  /** Uniform in [0, 1); seeded in tests. Draws the randomized election timeout. */
  random: () => number
  /** Ticks without a leader before campaigning; randomized in [electionTicks, 2 × electionTicks). */
  electionTicks?: number
  heartbeatTicks?: number
  preVote?: boolean
  checkQuorum?: boolean
  /** Entry data bytes in one AppendEntries (at least one entry is always sent). */
  appendBytesMax?: number
  appendEntriesMax?: number
  /** The pipelining window per follower. */
  appendsInflightMax?: number
  bytesInflightMax?: number
  /** Proposals are refused while this many bytes are appended but not committed. */
  uncommittedBytesMax?: number
  /** Committed entry data handed out in one Ready. */
  applyBytesMax?: number
  /** Kafka's replica.lag.time.max.ms: a follower stays in the ISR while it has reached what the leader had this long ago. */
  replicaLagTimeMs?: number
  /**
   * An idle, fully replicated group stops ticking: the leader sends one `quiesce` instead of
   * heartbeats, followers stop their election timers. Anything but a tick wakes it — a message, a
   * proposal, or {@link peerDown} — so the driver MUST report peers it can no longer reach
   * (node-level liveness) when this is on, or a quiesced follower never notices its leader died.
   */
  quiesce?: boolean
}

export type ResolvedOptions = Required<Omit<RaftOptions, 'storage' | 'now' | 'random'>> &
  Pick<RaftOptions, 'storage' | 'now' | 'random'>

export const DEFAULT_OPTIONS = {
  electionTicks: 10,
  heartbeatTicks: 1,
  preVote: true,
  checkQuorum: true,
  appendBytesMax: 1 << 20,
  appendEntriesMax: 4096,
  appendsInflightMax: 64,
  bytesInflightMax: 16 << 20,
  uncommittedBytesMax: 64 << 20,
  applyBytesMax: 16 << 20,
  replicaLagTimeMs: 30_000,
  quiesce: false,
} as const

/** A message waiting in the outbox for the durable state it depends on. */
interface Outgoing {
  message: RaftMessage
  /** The log must be durable up to here (a follower's acknowledgement). */
  needIndex: number
  /** The hard state must be durable up to this write (term and vote). */
  needHardState: number
}

export type ProposeResult =
  | { ok: true; firstIndex: number; lastIndex: number; term: number }
  | { ok: false; error: 'NOT_LEADER'; leaderId: NodeId }
  | {
      ok: false
      error: 'TRANSFER_IN_PROGRESS' | 'PROPOSALS_FULL' | 'CONFIG_CHANGE_PENDING' | 'INVALID'
      message: string
    }

/** What has been written and may now be made durable; handed back to `advance` after the sync. */
export interface SyncMarker {
  index: number
  term: number
  hardState: number
}

export interface Ready {
  /** Send these now: everything they depend on is durable. */
  messages: RaftMessage[]
  /** Committed entries to apply, in order, once `sync` (if any) is durable. */
  committed: Entry[]
  /** The leader's commit index: a proposal of this leader's term at or below it is committed (acks=all). */
  commitIndex: number
  /** The storage has writes to make durable; call `advance(sync)` when they are. */
  sync: SyncMarker | null
  /** A log start received from the leader: the application restores from its payload before applying `committed`. */
  installed: LogStart | null
  role: Role
  term: number
  leaderId: NodeId
  /** The in-sync replicas, when this node leads; empty otherwise. Changes are reported here. */
  isr: NodeId[]
  isrChanged: boolean
}

export interface RaftContext {
  readonly opts: ResolvedOptions
  readonly id: NodeId
  readonly group: GroupId
  readonly storage: RaftStorage
  role: Role
  term: number
  vote: NodeId
  leaderId: NodeId
  electionElapsed: number
  heartbeatElapsed: number
  randomizedElectionTimeout: number
  votes: Map<NodeId, boolean>
  /** The next campaign was started by TimeoutNow: skip pre-vote and override leases. */
  campaignTransfer: boolean
  membership: Membership
  /** Applied configurations above the log start, for compaction's log start. */
  membershipHistory: { index: number; membership: Membership }[]
  /** No config change may be proposed until this index is applied. */
  pendingConfIndex: number
  commit: number
  applied: number
  /** Until the entries committed before a restart are re-applied, the membership may be stale: do not campaign. */
  restoreUntil: number
  durableIndex: number
  hardStateWrites: number
  hardStateDurable: number
  /** The hard-state write that holds the current term and vote. */
  termVoteWrite: number
  hardStateDirty: boolean
  writtenSinceReady: boolean
  progress: Map<NodeId, Progress>
  leadTransferee: NodeId
  transferElapsed: number
  outbox: Outgoing[]
  uncommitted: { index: number; bytes: number }[]
  uncommittedBytes: number
  history: LastIndexHistory
  /** The ISR last reported, as a key, to tell a change. */
  isrKey: string
  lastProposal: ProposeResult
  installed: LogStart | null
  /** Idle: ticks do nothing until something wakes the group (see RaftOptions.quiesce). */
  quiesced: boolean
  /** A quiesced leader's ISR, as of when it quiesced: time alone does not shrink it. */
  quiescedIsr: NodeId[]
}

export function createContext(options: RaftOptions): RaftContext {
  const opts: ResolvedOptions = { ...DEFAULT_OPTIONS, ...options }
  const { hardState, logStart } = opts.storage.initialState()
  const c: RaftContext = {
    opts,
    id: opts.id,
    group: opts.group,
    storage: opts.storage,
    role: 'follower',
    term: hardState.term,
    vote: hardState.vote,
    leaderId: NONE,
    electionElapsed: 0,
    heartbeatElapsed: 0,
    randomizedElectionTimeout: opts.electionTicks,
    votes: new Map(),
    campaignTransfer: false,
    membership: logStart.membership,
    membershipHistory: [],
    pendingConfIndex: 0,
    commit: Math.max(hardState.commit, logStart.index),
    applied: logStart.index,
    restoreUntil: hardState.commit,
    durableIndex: opts.storage.lastIndex(),
    hardStateWrites: 0,
    hardStateDurable: 0,
    termVoteWrite: 0,
    hardStateDirty: false,
    writtenSinceReady: false,
    progress: new Map(),
    leadTransferee: NONE,
    transferElapsed: 0,
    outbox: [],
    uncommitted: [],
    uncommittedBytes: 0,
    history: new LastIndexHistory(),
    isrKey: '',
    lastProposal: { ok: false, error: 'NOT_LEADER', leaderId: NONE },
    installed: null,
    quiesced: false,
    quiescedIsr: [],
  }
  resetRandomizedTimeout(c)
  return c
}

// ---- log helpers ----------------------------------------------------------------------------

export function lastIndex(c: RaftContext): number {
  return c.storage.lastIndex()
}

export function lastTerm(c: RaftContext): number {
  return c.storage.term(c.storage.lastIndex()) ?? 0
}

function termAt(c: RaftContext, index: number): number | undefined {
  return c.storage.term(index)
}

function isUpToDate(c: RaftContext, index: number, term: number): boolean {
  const lt = lastTerm(c)
  return term > lt || (term === lt && index >= lastIndex(c))
}

/** A log ending at (index, term) is strictly more up to date than ours. */
function isAhead(c: RaftContext, index: number, term: number): boolean {
  const lt = lastTerm(c)
  return term > lt || (term === lt && index > lastIndex(c))
}

/** The largest index <= `index` whose term is <= `term` (etcd's findConflictByTerm). */
function findConflictByTerm(c: RaftContext, index: number, term: number): { index: number; term: number } {
  const start = c.storage.logStart().index
  let i = Math.min(index, lastIndex(c))
  for (; i > start; i--) {
    const t = termAt(c, i) ?? 0
    if (t <= term) return { index: i, term: t }
  }
  return { index: start, term: termAt(c, start) ?? 0 }
}

function appendToLog(c: RaftContext, entries: Entry[]): void {
  if (entries.length === 0) return
  const first = entries[0]!.index
  if (first <= c.durableIndex) {
    c.durableIndex = first - 1
    // Held acknowledgements may name entries that are now replaced: they must never go out.
    c.outbox = c.outbox.filter((o) => o.needIndex < first)
  }
  c.storage.write({ entries })
  c.writtenSinceReady = true
}

// ---- hard state and the outbox -----------------------------------------------------------------

function markHardState(c: RaftContext, termOrVote: boolean): void {
  if (!c.hardStateDirty) c.hardStateDirty = true
  if (termOrVote) c.termVoteWrite = c.hardStateWrites + 1
}

export function writeHardState(c: RaftContext): void {
  if (!c.hardStateDirty) return
  c.storage.write({ hardState: { term: c.term, vote: c.vote, commit: c.commit } })
  c.hardStateWrites++
  c.hardStateDirty = false
  // A new term or vote must be durable before anything depends on it; a commit index alone rides
  // to disk with the next synced write, as etcd's MustSync has it: a restart that finds an older
  // commit learns the newer one from the leader. (An fsync per commit doubled the leader's.)
  if (c.termVoteWrite === c.hardStateWrites) c.writtenSinceReady = true
}

export function setTerm(c: RaftContext, term: number, vote: NodeId): void {
  if (term !== c.term) {
    // Messages of an older term that still wait for durability are obsolete.
    c.outbox = c.outbox.filter((o) => o.message.term >= term)
  }
  c.term = term
  c.vote = vote
  markHardState(c, true)
}

type Draft<M extends RaftMessage> = M extends RaftMessage
  ? Omit<M, 'group' | 'from' | 'term'> & { term?: number }
  : never

function send(
  c: RaftContext,
  draft: Draft<RaftMessage>,
  needIndex = 0,
  needHardState = c.termVoteWrite,
): void {
  const message = { group: c.group, from: c.id, term: c.term, ...draft } as RaftMessage
  c.outbox.push({ message, needIndex, needHardState })
}

// ---- timers ---------------------------------------------------------------------------------------

export function resetRandomizedTimeout(c: RaftContext): void {
  const et = c.opts.electionTicks
  c.randomizedElectionTimeout = et + Math.floor(c.opts.random() * et)
}

export function isPromotable(c: RaftContext): boolean {
  return c.membership.voters.includes(c.id) && c.applied >= c.restoreUntil
}

function inLease(c: RaftContext): boolean {
  return c.opts.checkQuorum && c.leaderId !== NONE && c.electionElapsed < c.opts.electionTicks
}

// ---- role entry ---------------------------------------------------------------------------------

/** Shared by every role change: timers restart, votes and transfers are forgotten. */
function resetRole(c: RaftContext): void {
  c.quiesced = false
  c.electionElapsed = 0
  c.heartbeatElapsed = 0
  resetRandomizedTimeout(c)
  c.votes.clear()
  c.leadTransferee = NONE
  c.transferElapsed = 0
}

export function enterFollower(c: RaftContext): void {
  c.role = 'follower'
  resetRole(c)
  c.progress.clear()
  c.uncommitted = []
  c.uncommittedBytes = 0
}

/** Returns true when the pre-vote is already won (a single voter). */
export function enterPreCandidate(c: RaftContext): boolean {
  c.role = 'preCandidate'
  resetRole(c)
  c.leaderId = NONE
  return requestVotes(c, 'preVote')
}

/** Returns true when the election is already won (a single voter). */
export function enterCandidate(c: RaftContext): boolean {
  c.role = 'candidate'
  const transfer = c.campaignTransfer
  resetRole(c)
  c.campaignTransfer = transfer
  setTerm(c, c.term + 1, c.id)
  c.leaderId = NONE
  const won = requestVotes(c, 'vote')
  c.campaignTransfer = false
  return won
}

function requestVotes(c: RaftContext, type: 'preVote' | 'vote'): boolean {
  c.votes.set(c.id, true)
  for (const peer of c.membership.voters) if (peer !== c.id) requestVote(c, type, peer)
  return tally(c) === 'won'
}

/** Ticks at the start of a pre-vote round in which a pre-candidate asks again who has not answered. */
export const PRE_VOTE_REASK_TICKS = 3

/**
 * A pre-candidate asks again, on each of the first {@link PRE_VOTE_REASK_TICKS} ticks of its
 * round, the voters that have not answered. A voter that still followed the dead leader when the
 * first request came, because it had not yet heard of the death, dropped it without an answer
 * ("in lease"); asked again once it knows, it grants, and the campaign does not wait out an
 * election timeout for that voter's own campaign. A pre-vote changes nothing at the voter, so
 * asking twice is harmless; the bound keeps a pre-candidate cut off from a live leader from asking
 * every tick.
 */
export function reaskPreVotes(c: RaftContext): void {
  if (c.role !== 'preCandidate' || c.electionElapsed > PRE_VOTE_REASK_TICKS) return
  for (const peer of c.membership.voters)
    if (peer !== c.id && !c.votes.has(peer)) requestVote(c, 'preVote', peer)
}

function requestVote(c: RaftContext, type: 'preVote' | 'vote', peer: NodeId): void {
  send(c, {
    type,
    to: peer,
    term: type === 'preVote' ? c.term + 1 : c.term,
    lastIndex: lastIndex(c),
    lastTerm: lastTerm(c),
    transfer: c.campaignTransfer,
  })
}

function tally(c: RaftContext): 'won' | 'lost' | 'pending' {
  let granted = 0
  let rejected = 0
  for (const voter of c.membership.voters) {
    const v = c.votes.get(voter)
    if (v === true) granted++
    else if (v === false) rejected++
  }
  const q = quorumSize(c.membership)
  if (granted >= q) return 'won'
  if (rejected > c.membership.voters.length - q) return 'lost'
  return 'pending'
}

export function enterLeader(c: RaftContext): void {
  c.role = 'leader'
  resetRole(c)
  c.leaderId = c.id
  const last = lastIndex(c)
  c.progress.clear()
  for (const id of members(c.membership)) addProgress(c, id, last + 1)
  c.history.reset(c.opts.now(), last)
  // A leader may not propose a config change before its first entry commits (Ongaro's fix
  // for single-server changes), and it commits earlier terms' entries only through its own.
  c.pendingConfIndex = last + 1
  appendEntries(c, [{ kind: EntryKind.noop, data: new Uint8Array(0) }])
  broadcastAppend(c)
}

function members(m: Membership): NodeId[] {
  return [...m.voters, ...m.learners]
}

function addProgress(c: RaftContext, id: NodeId, next: number): void {
  const p = new Progress(id, next, c.opts.appendsInflightMax, c.opts.bytesInflightMax)
  if (id === c.id) {
    p.match = c.durableIndex
    p.becomeReplicate()
  }
  c.progress.set(id, p)
}

// ---- the term gate every message passes first (etcd's Step) --------------------------------

export type GateResult = 'drop' | 'stepDown' | 'continue'

export function termGate(c: RaftContext, m: RaftMessage): GateResult {
  if (m.term > c.term) {
    if (m.type === 'preVote' || m.type === 'vote') {
      // A node that hears from a live leader ignores campaigns: a node that was cut off cannot
      // disrupt a healthy cluster when it comes back (unless the leader itself asked, by transfer).
      if (!m.transfer && inLease(c)) return 'drop'
      if (m.type === 'preVote') return 'continue'
    }
    if (m.type === 'preVoteResponse' && m.granted) return 'continue'
    const fromLeader = m.type === 'append' || m.type === 'heartbeat' || m.type === 'snapshot'
    setTerm(c, m.term, NONE)
    c.leaderId = fromLeader ? m.from : NONE
    return 'stepDown'
  }
  if (m.term < c.term) {
    if ((c.opts.checkQuorum || c.opts.preVote) && (m.type === 'append' || m.type === 'heartbeat')) {
      // Tell a stale leader about the newer term so it steps down.
      send(c, { type: 'appendResponse', to: m.from, index: 0, reject: true, hintIndex: 0, hintTerm: 0 })
    } else if (m.type === 'preVote') {
      send(c, { type: 'preVoteResponse', to: m.from, granted: false })
    }
    return 'drop'
  }
  return 'continue'
}

/** Vote and pre-vote requests are answered alike in every role. */
export function handleVoteRequest(c: RaftContext, m: VoteRequest): void {
  const canVote =
    c.vote === m.from || (c.vote === NONE && c.leaderId === NONE) || (m.type === 'preVote' && m.term > c.term)
  // Two survivors that lost their leader at the same moment campaign at once; between pre-
  // candidates with logs alike, the lower id wins the pre-vote, so they do not split the real
  // vote and wait out another election timeout. (A pre-vote grants nothing: refusing is safe.)
  const rival =
    m.type === 'preVote' && c.role === 'preCandidate' && m.from > c.id && !isAhead(c, m.lastIndex, m.lastTerm)
  const behind = !isUpToDate(c, m.lastIndex, m.lastTerm)
  const granted = canVote && !rival && !behind
  // A pre-candidate we refuse — our rival, or one whose log is behind ours, so that we are the one
  // to lead — campaigns, so it no longer follows the old leader: it may have dropped our own
  // pre-vote while it still did ("in lease"), so we ask it again rather than wait out a timeout.
  if (m.type === 'preVote' && c.role === 'preCandidate' && (rival || behind))
    requestVote(c, 'preVote', m.from)
  const type = m.type === 'preVote' ? 'preVoteResponse' : 'voteResponse'
  if (granted && m.type === 'vote') {
    c.electionElapsed = 0
    c.vote = m.from
    markHardState(c, true)
  }
  // A granted pre-vote answers in the campaign's term, a refusal in ours.
  const term = granted && m.type === 'preVote' ? m.term : c.term
  const needHardState = hasDefect('vote-before-persist') ? 0 : c.termVoteWrite
  send(c, { type, to: m.from, term, granted }, 0, needHardState)
}

// ---- follower ---------------------------------------------------------------------------------

export function handleAppend(c: RaftContext, m: AppendRequest): void {
  c.electionElapsed = 0
  c.leaderId = m.from
  if (m.prevIndex < c.commit) {
    send(
      c,
      { type: 'appendResponse', to: m.from, index: c.commit, reject: false, hintIndex: 0, hintTerm: 0 },
      c.commit,
    )
    return
  }
  if (termAt(c, m.prevIndex) !== m.prevTerm) {
    const hint = findConflictByTerm(c, Math.min(m.prevIndex, lastIndex(c)), m.prevTerm)
    send(c, {
      type: 'appendResponse',
      to: m.from,
      index: m.prevIndex,
      reject: true,
      hintIndex: hint.index,
      hintTerm: hint.term,
    })
    return
  }
  const lastNew = m.prevIndex + m.entries.length
  const conflict = m.entries.findIndex((e) => termAt(c, e.index) !== e.term)
  if (conflict >= 0) {
    const from = m.entries[conflict]!
    if (from.index <= c.commit) {
      throw new Error(`entry ${from.index} conflicts with the committed log (commit ${c.commit})`)
    }
    appendToLog(c, m.entries.slice(conflict))
  }
  commitTo(c, Math.min(m.commit, lastNew))
  send(
    c,
    { type: 'appendResponse', to: m.from, index: lastNew, reject: false, hintIndex: 0, hintTerm: 0 },
    lastNew,
  )
}

export function handleHeartbeat(c: RaftContext, m: Heartbeat): void {
  c.electionElapsed = 0
  c.leaderId = m.from
  commitTo(c, Math.min(m.commit, lastIndex(c)))
  send(c, { type: 'heartbeatResponse', to: m.from })
}

/**
 * The leader went quiet with its last entry at `m.commit`, of its term. A follower whose log ends
 * there holds the leader's whole log (log matching), so it commits it and stops its timer. Any
 * other follower answers like a heartbeat, which wakes the leader to repair it.
 */
export function handleQuiesce(c: RaftContext, m: Quiesce): void {
  c.electionElapsed = 0
  c.leaderId = m.from
  const matches = lastIndex(c) === m.commit && termAt(c, m.commit) === m.term
  if (matches) {
    commitTo(c, m.commit)
    c.quiesced = true
    return
  }
  send(c, { type: 'heartbeatResponse', to: m.from })
}

export function handleSnapshot(c: RaftContext, m: InstallSnapshot): void {
  c.electionElapsed = 0
  c.leaderId = m.from
  const start = m.logStart
  if (start.index <= c.commit) {
    send(
      c,
      { type: 'appendResponse', to: m.from, index: c.commit, reject: false, hintIndex: 0, hintTerm: 0 },
      c.commit,
    )
    return
  }
  if (termAt(c, start.index) === start.term) {
    // Our log already holds the entry: only the commit moves.
    commitTo(c, start.index)
  } else {
    c.storage.write({ logStart: start })
    c.writtenSinceReady = true
    c.outbox = c.outbox.filter((o) => o.needIndex <= 0)
    c.durableIndex = Math.min(c.durableIndex, start.index - 1)
    c.commit = start.index
    c.applied = start.index
    c.membership = start.membership
    c.membershipHistory = []
    c.installed = start
    markHardState(c, false)
  }
  send(
    c,
    { type: 'appendResponse', to: m.from, index: start.index, reject: false, hintIndex: 0, hintTerm: 0 },
    start.index,
  )
}

function commitTo(c: RaftContext, index: number): void {
  if (index > c.commit) {
    c.commit = index
    markHardState(c, false)
  }
}

// ---- candidate ------------------------------------------------------------------------------------

export function recordVote(c: RaftContext, from: NodeId, granted: boolean): 'won' | 'lost' | 'pending' {
  if (!c.votes.has(from)) c.votes.set(from, granted)
  return tally(c)
}

// ---- leader ------------------------------------------------------------------------------------

function appendEntries(
  c: RaftContext,
  drafts: { kind: Entry['kind']; data: Uint8Array }[],
): { first: number; last: number } {
  const first = lastIndex(c) + 1
  const entries: Entry[] = drafts.map((d, k) => ({
    index: first + k,
    term: c.term,
    kind: d.kind,
    data: d.data,
  }))
  appendToLog(c, entries)
  const last = first + entries.length - 1
  let bytes = 0
  for (const e of entries) bytes += e.data.byteLength
  c.uncommitted.push({ index: last, bytes })
  c.uncommittedBytes += bytes
  c.history.record(c.opts.now(), last)
  const self = c.progress.get(c.id)
  // With the defect, the leader counts an append it has not synced.
  if (self && hasDefect('ack-before-fsync')) self.maybeUpdate(last)
  maybeCommit(c)
  return { first, last }
}

export function propose(c: RaftContext, data: Uint8Array[]): ProposeResult {
  if (c.leadTransferee !== NONE) {
    return {
      ok: false,
      error: 'TRANSFER_IN_PROGRESS',
      message: `leadership is moving to node ${c.leadTransferee}`,
    }
  }
  if (data.length === 0) return { ok: false, error: 'INVALID', message: 'nothing to propose' }
  if (c.uncommittedBytes >= c.opts.uncommittedBytesMax) {
    return { ok: false, error: 'PROPOSALS_FULL', message: `${c.uncommittedBytes} bytes wait for commit` }
  }
  const { first, last } = appendEntries(
    c,
    data.map((d) => ({ kind: EntryKind.normal, data: d })),
  )
  return { ok: true, firstIndex: first, lastIndex: last, term: c.term }
}

export function proposeMembership(c: RaftContext, change: MembershipChange): ProposeResult {
  if (c.leadTransferee !== NONE) {
    return {
      ok: false,
      error: 'TRANSFER_IN_PROGRESS',
      message: `leadership is moving to node ${c.leadTransferee}`,
    }
  }
  if (c.pendingConfIndex > c.applied) {
    return {
      ok: false,
      error: 'CONFIG_CHANGE_PENDING',
      message: `config change at ${c.pendingConfIndex} not applied`,
    }
  }
  const next = applyChange(c.membership, change)
  if (typeof next === 'string') return { ok: false, error: 'INVALID', message: next }
  const { first, last } = appendEntries(c, [{ kind: EntryKind.config, data: encodeMembership(next) }])
  c.pendingConfIndex = last
  return { ok: true, firstIndex: first, lastIndex: last, term: c.term }
}

function maybeCommit(c: RaftContext): void {
  const matches = c.membership.voters.map((id) => c.progress.get(id)?.match ?? 0).sort((a, b) => b - a)
  const quorumIndex = matches[quorumSize(c.membership) - 1] ?? 0
  if (quorumIndex <= c.commit) return
  // Raft §5.4.2: only entries of the leader's own term commit by counting replicas.
  if (termAt(c, quorumIndex) !== c.term && !hasDefect('commit-old-term')) return
  commitTo(c, quorumIndex)
  while (c.uncommitted.length > 0 && c.uncommitted[0]!.index <= c.commit) {
    c.uncommittedBytes -= c.uncommitted.shift()!.bytes
  }
}

/** Sends to one follower what it lacks; false when nothing could be sent. */
function sendAppend(c: RaftContext, p: Progress, allowEmpty: boolean): boolean {
  if (p.paused()) return false
  const start = c.storage.logStart()
  const prevIndex = p.next - 1
  const prevTerm = termAt(c, prevIndex)
  if (prevTerm === undefined || prevIndex < start.index) return sendSnapshot(c, p)
  const last = lastIndex(c)
  let entries: Entry[] = []
  if (p.next <= last) {
    const hi = Math.min(last + 1, p.next + c.opts.appendEntriesMax)
    const got = c.storage.entries(p.next, hi, c.opts.appendBytesMax)
    if (got === LOADING) return false
    entries = got
  }
  if (entries.length === 0 && !allowEmpty) return false
  let bytes = 0
  for (const e of entries) bytes += e.data.byteLength
  send(c, { type: 'append', to: p.id, prevIndex, prevTerm, entries, commit: c.commit })
  p.sentCommit = c.commit
  if (entries.length > 0) {
    const lastSent = entries[entries.length - 1]!.index
    if (p.state === 'replicate') {
      p.next = lastSent + 1
      p.inflights.add(lastSent, bytes)
    } else {
      p.probeSent = true
    }
  } else if (p.state === 'probe') {
    p.probeSent = true
  }
  return true
}

function sendSnapshot(c: RaftContext, p: Progress): boolean {
  if (!p.recentActive) return false
  const start = c.storage.logStart()
  send(c, { type: 'snapshot', to: p.id, logStart: start })
  p.becomeSnapshot(start.index)
  return true
}

export function broadcastAppend(c: RaftContext): void {
  for (const p of c.progress.values()) if (p.id !== c.id) sendAppend(c, p, true)
}

/**
 * Once per Ready: one AppendEntries per follower carries every entry appended since the last.
 * A commit index alone rides on the next append or heartbeat instead of an append of its own
 * (which every follower would fsync and answer, once per write): only a committed membership
 * change goes at once, so that followers apply it without waiting for a tick.
 */
export function flushAppends(c: RaftContext): void {
  const last = lastIndex(c)
  for (const p of c.progress.values()) {
    if (p.id === c.id) continue
    const commitKnown = Math.min(c.commit, p.match)
    const configCommitted = c.pendingConfIndex > p.sentCommit && c.pendingConfIndex <= commitKnown
    if (p.next <= last || (p.sentCommit < commitKnown && configCommitted)) sendAppend(c, p, true)
  }
}

function sendHeartbeats(c: RaftContext): void {
  for (const p of c.progress.values()) {
    if (p.id === c.id) continue
    send(c, { type: 'heartbeat', to: p.id, commit: Math.min(p.match, c.commit) })
  }
}

export function handleAppendResponse(c: RaftContext, m: AppendResponse): void {
  const p = c.progress.get(m.from)
  if (!p) return
  p.recentActive = true
  p.lastHeardMs = c.opts.now()
  if (m.reject) {
    const hint = m.hintTerm > 0 ? findConflictByTerm(c, m.hintIndex, m.hintTerm).index : m.hintIndex
    if (p.maybeDecrTo(m.index, hint)) {
      if (p.state === 'replicate') p.becomeProbe()
      sendAppend(c, p, true)
    }
    return
  }
  const wasPaused = p.paused()
  if (!p.maybeUpdate(m.index)) {
    if (p.state === 'snapshot' && m.index >= p.pendingSnapshot) p.becomeReplicate()
    return
  }
  if (p.state === 'probe') p.becomeReplicate()
  else if (p.state === 'snapshot' && p.match >= p.pendingSnapshot) p.becomeReplicate()
  else p.inflights.freeTo(m.index)
  maybeCommit(c)
  if (wasPaused || p.next <= lastIndex(c)) sendAppend(c, p, false)
  if (m.from === c.leadTransferee && p.match === lastIndex(c)) send(c, { type: 'timeoutNow', to: m.from })
  maybePromoteLearner(c, p)
}

export function handleHeartbeatResponse(c: RaftContext, from: NodeId): void {
  const p = c.progress.get(from)
  if (!p) return
  p.recentActive = true
  p.lastHeardMs = c.opts.now()
  p.probeSent = false
  // The snapshot may have been lost: probe again, which resends it if it is still needed.
  if (p.state === 'snapshot') p.becomeProbe()
  // A lost append would otherwise hold its window slot forever.
  if (p.state === 'replicate' && p.inflights.full()) p.inflights.freeFirst()
  if (p.match < lastIndex(c)) sendAppend(c, p, true)
}

/** A learner that has caught up becomes a voter: it joined only to copy the log first. */
function maybePromoteLearner(c: RaftContext, p: Progress): void {
  if (!c.membership.learners.includes(p.id)) return
  if (p.match < c.commit || c.pendingConfIndex > c.applied) return
  proposeMembership(c, { type: 'promote', node: p.id })
}

/** Ticks the leader; false when it has lost its quorum and must step down. */
export function leaderTick(c: RaftContext): boolean {
  if (c.quiesced) return true
  c.heartbeatElapsed++
  c.electionElapsed++
  if (c.leadTransferee !== NONE && ++c.transferElapsed >= c.opts.electionTicks) {
    c.leadTransferee = NONE
    c.transferElapsed = 0
  }
  if (c.electionElapsed >= c.opts.electionTicks) {
    c.electionElapsed = 0
    if (c.opts.checkQuorum && !quorumActive(c)) return false
  }
  if (c.heartbeatElapsed >= c.opts.heartbeatTicks) {
    c.heartbeatElapsed = 0
    if (c.opts.quiesce && canQuiesce(c)) quiesce(c)
    else sendHeartbeats(c)
  }
  return true
}

/**
 * Nothing to do but heartbeats: every entry is durable here, committed, applied, and matched by
 * every member heard from this round; no transfer or membership change is under way.
 */
function canQuiesce(c: RaftContext): boolean {
  const last = lastIndex(c)
  if (c.commit !== last || c.applied !== last || c.durableIndex !== last) return false
  if (c.leadTransferee !== NONE || c.pendingConfIndex > c.applied || c.outbox.length > 0) return false
  for (const p of c.progress.values()) {
    if (p.id === c.id) continue
    if (p.match !== last || !p.recentActive || p.state !== 'replicate') return false
  }
  return true
}

function quiesce(c: RaftContext): void {
  c.quiescedIsr = computeIsr(c)
  for (const p of c.progress.values()) {
    if (p.id === c.id) continue
    send(c, { type: 'quiesce', to: p.id, commit: c.commit })
    p.sentCommit = c.commit
  }
  c.quiesced = true
}

/**
 * Anything but a tick ends quiescence. Timers restart from zero; a leader counts every member
 * as heard now: node-level liveness vouched for them while it slept (a peer that died woke it
 * through {@link peerDown}).
 */
export function wake(c: RaftContext): void {
  if (!c.quiesced) return
  c.quiesced = false
  c.electionElapsed = 0
  c.heartbeatElapsed = 0
  if (c.role !== 'leader') return
  const now = c.opts.now()
  for (const p of c.progress.values()) {
    p.recentActive = true
    p.lastHeardMs = now
  }
}

/**
 * A follower told its leader is down campaigns within 1 to this many ticks. Two survivors that
 * campaign in the same tick do not split the vote (the lower id wins the pre-vote), so the spread
 * only staggers the groups' elections; with 1 to 5 ticks (half an election timeout, until
 * 2026-11-26) it was most of a failover's time: `cairn bench failover` elected the last of a dead
 * node's 32 groups 430–640 ms after the survivors heard.
 */
export const PEER_DOWN_CAMPAIGN_TICKS_MAX = 2

/**
 * The driver can no longer reach node `peer` (its connection closed, it stopped answering pings,
 * or it restarted). A leader wakes if `peer` is a member; a replica that follows `peer` (or knows
 * no leader) wakes, forgets it, so it neither waits out a full election timeout nor refuses other
 * campaigns as "in lease", and campaigns within 1 to {@link PEER_DOWN_CAMPAIGN_TICKS_MAX} ticks.
 * Other groups sleep on: nothing they wait for is gone.
 */
export function peerDown(c: RaftContext, peer: NodeId): void {
  if (peer === c.id || hasDefect('ignore-peer-down')) return
  if (c.role === 'leader') {
    if (!c.progress.has(peer)) return
    wake(c)
    c.progress.get(peer)!.recentActive = false
    return
  }
  if (c.leaderId !== peer && c.leaderId !== NONE) return
  wake(c)
  if (c.leaderId !== peer) return
  c.leaderId = NONE
  if (c.role !== 'follower') return
  const soon = 1 + Math.floor(c.opts.random() * Math.min(PEER_DOWN_CAMPAIGN_TICKS_MAX, c.opts.electionTicks))
  c.electionElapsed = Math.max(c.electionElapsed, c.randomizedElectionTimeout - soon)
}

function quorumActive(c: RaftContext): boolean {
  let active = 0
  for (const id of c.membership.voters) {
    const p = c.progress.get(id)
    if (id === c.id || p?.recentActive) active++
    if (p && id !== c.id) p.recentActive = false
  }
  return active >= quorumSize(c.membership)
}

export function transferLeadership(c: RaftContext, to: NodeId): { ok: boolean; message: string } {
  if (to === c.id) return { ok: true, message: 'already the leader' }
  if (!c.membership.voters.includes(to)) return { ok: false, message: `node ${to} is not a voter` }
  const p = c.progress.get(to)
  if (!p) return { ok: false, message: `node ${to} has no progress` }
  c.leadTransferee = to
  c.transferElapsed = 0
  c.electionElapsed = 0
  if (p.match === lastIndex(c)) send(c, { type: 'timeoutNow', to })
  else sendAppend(c, p, true)
  return { ok: true, message: `transferring to node ${to}` }
}

// ---- applying and compaction -------------------------------------------------------------------

/** Hands out committed entries; applies config entries to the membership as they pass. */
export function takeCommitted(c: RaftContext): Entry[] {
  if (c.applied >= c.commit) return []
  const got = c.storage.entries(c.applied + 1, c.commit + 1, c.opts.applyBytesMax)
  if (got === LOADING) return []
  for (const e of got) {
    if (e.kind === EntryKind.config) {
      c.membership = decodeMembership(e.data)
      c.membershipHistory.push({ index: e.index, membership: c.membership })
      onMembershipApplied(c)
    }
  }
  c.applied = got[got.length - 1]?.index ?? c.applied
  return got
}

function onMembershipApplied(c: RaftContext): void {
  if (c.role !== 'leader') return
  const last = lastIndex(c)
  for (const id of members(c.membership)) if (!c.progress.has(id)) addProgress(c, id, last + 1)
  for (const id of [...c.progress.keys()]) {
    if (!members(c.membership).includes(id) && id !== c.id) c.progress.delete(id)
  }
}

/** Deletes the log up to `index` (retention); the payload is the application's state there. */
export function compact(
  c: RaftContext,
  index: number,
  payload: Uint8Array,
): { ok: boolean; message: string } {
  const start = c.storage.logStart()
  if (index <= start.index) return { ok: true, message: 'already compacted' }
  if (index > c.applied) return { ok: false, message: `index ${index} is not applied (applied ${c.applied})` }
  const term = termAt(c, index)
  if (term === undefined) return { ok: false, message: `no entry at ${index}` }
  let membership = start.membership
  for (const h of c.membershipHistory) if (h.index <= index) membership = h.membership
  c.membershipHistory = c.membershipHistory.filter((h) => h.index > index)
  c.storage.write({ logStart: { index, term, payload, membership } })
  c.writtenSinceReady = true
  return { ok: true, message: `log starts after ${index}` }
}

// ---- Ready ---------------------------------------------------------------------------------------

/**
 * The leader, and each voter it heard from within replicaLagTimeMs whose match index reached what
 * the leader's log held replicaLagTimeMs ago (Kafka's replica.lag.time.max.ms, both ways: a
 * follower that lags or that stops answering drops out).
 */
export function computeIsr(c: RaftContext): NodeId[] {
  if (c.role !== 'leader') return []
  if (c.quiesced) return c.quiescedIsr
  const now = c.opts.now()
  const since = now - c.opts.replicaLagTimeMs
  const reached = c.history.at(since)
  const isr = [c.id]
  for (const id of c.membership.voters) {
    if (id === c.id) continue
    const p = c.progress.get(id)
    if (p && p.match >= reached && p.lastHeardMs >= since) isr.push(id)
  }
  return isr.sort((a, b) => a - b)
}

export function takeMessages(c: RaftContext): RaftMessage[] {
  const out: RaftMessage[] = []
  let kept = 0
  for (const o of c.outbox) {
    if (o.needIndex <= c.durableIndex && o.needHardState <= c.hardStateDurable) out.push(o.message)
    else c.outbox[kept++] = o
  }
  c.outbox.length = kept
  return out
}

export function onPersisted(c: RaftContext, marker: SyncMarker): void {
  if (marker.hardState > c.hardStateDurable) c.hardStateDurable = marker.hardState
  if (marker.index > c.durableIndex && termAt(c, marker.index) === marker.term) {
    c.durableIndex = marker.index
    const self = c.progress.get(c.id)
    if (self && c.role === 'leader') {
      self.maybeUpdate(marker.index)
      maybeCommit(c)
    }
  }
}

export function syncMarker(c: RaftContext): SyncMarker | null {
  if (!c.writtenSinceReady) return null
  c.writtenSinceReady = false
  const index = lastIndex(c)
  return { index, term: termAt(c, index) ?? 0, hardState: c.hardStateWrites }
}
