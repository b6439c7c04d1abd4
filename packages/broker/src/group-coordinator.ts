/**
 * The group coordinator: Kafka's classic consumer-group protocol — JoinGroup, SyncGroup, Heartbeat,
 * LeaveGroup, OffsetCommit, OffsetFetch, DescribeGroups, ListGroups, DeleteGroups, OffsetDelete —
 * for the groups that hash to one `__consumer_offsets` partition, on the node that leads it.
 *
 * A pure core: no I/O, no clock and no randomness of its own (the default member id generator
 * aside). Time and timers come in through `now`/`setTimer`, durability through `persist`, which
 * appends records to the offsets partition and resolves once Raft has committed them. The broker
 * is the driver: it builds a coordinator when it becomes leader of the partition, `load`s the
 * committed log (or a snapshot plus the tail), serves requests, and `close`s it on losing leadership.
 *
 * Invariants:
 * - Nothing is acknowledged that is not in the log. An offset becomes visible to `fetchOffsets`, and
 *   a commit is answered NONE, only once its record is committed; a SyncGroup is answered with an
 *   assignment only once the group's record holding it is committed.
 * - `persist` resolves in log order (Raft commits in order). Each committed record is applied with
 *   the same function `load` uses, so the committed view (offsets, last group record) of a live
 *   coordinator equals that of one rebuilt from the log or from `snapshot()`.
 * - Every join and sync promise settles: with the rebalance's outcome, an error, or NOT_COORDINATOR
 *   on `close()`.
 */
import { randomUUID } from 'node:crypto'
import {
  type DeleteOffsetRecord,
  type ErrorName,
  type GroupMetadataRecord,
  type GroupRecord,
  groupRecordProblem,
  type GroupHeartbeatRequest as HeartbeatRequest,
  type LeaveGroupRequest,
  type OffsetRecord,
  ownedBytes,
  type SyncGroupRequest,
} from '@cairn/protocol'

// The records (what goes into the `__consumer_offsets` log) are @cairn/protocol's: a lag monitor
// decodes them too.
export type {
  DeleteGroupRecord,
  DeleteOffsetRecord,
  GroupMemberRecord,
  GroupMetadataRecord,
  GroupRecord,
  OffsetRecord,
} from '@cairn/protocol'

// ---- Errors ----------------------------------------------------------------------------------

/** The Kafka errors the coordinator answers with, by the names of @cairn/protocol's ErrorCode. */
export const GROUP_ERROR_NAMES = [
  'NONE',
  'UNKNOWN_SERVER_ERROR',
  'OFFSET_METADATA_TOO_LARGE',
  'REQUEST_TIMED_OUT',
  'COORDINATOR_NOT_AVAILABLE',
  'NOT_COORDINATOR',
  'INVALID_TOPIC_EXCEPTION',
  'ILLEGAL_GENERATION',
  'INCONSISTENT_GROUP_PROTOCOL',
  'INVALID_GROUP_ID',
  'UNKNOWN_MEMBER_ID',
  'INVALID_SESSION_TIMEOUT',
  'REBALANCE_IN_PROGRESS',
  'INVALID_COMMIT_OFFSET_SIZE',
  'INVALID_REQUEST',
  'NON_EMPTY_GROUP',
  'GROUP_ID_NOT_FOUND',
  'MEMBER_ID_REQUIRED',
  'GROUP_MAX_SIZE_REACHED',
] as const satisfies readonly ErrorName[]

export type GroupErrorName = (typeof GROUP_ERROR_NAMES)[number]

// ---- Requests and responses ----------------------------------------------------------------

export type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead'

export interface GroupProtocol {
  name: string
  metadata: Uint8Array
}

export interface JoinGroupRequest {
  groupId: string
  /** '' on a member's first join: the coordinator answers MEMBER_ID_REQUIRED with a fresh id. */
  memberId: string
  /** Static membership is not supported: only null (or absent). */
  groupInstanceId?: null
  clientId: string
  clientHost: string
  sessionTimeoutMs: number
  rebalanceTimeoutMs: number
  protocolType: string
  /** In the member's order of preference. */
  protocols: GroupProtocol[]
}

export interface JoinGroupResponse {
  errorCode: GroupErrorName
  /** -1 on an error. */
  generationId: number
  protocolName: string | null
  /** '' on an error. */
  leader: string
  memberId: string
  /** The leader gets every member with its metadata for the selected protocol; followers get []. */
  members: { memberId: string; metadata: Uint8Array }[]
}

/** The wire's (only the leader's assignments are used; a member it leaves out is assigned empty bytes). */
export type { SyncGroupRequest } from '@cairn/protocol'

export interface SyncGroupResponse {
  errorCode: GroupErrorName
  assignment: Uint8Array
}

export type { GroupHeartbeatRequest as HeartbeatRequest, LeaveGroupRequest } from '@cairn/protocol'

export interface LeaveGroupResponse {
  errorCode: GroupErrorName
  members: { memberId: string; errorCode: GroupErrorName }[]
}

export interface OffsetCommitRequest {
  groupId: string
  /** -1 with memberId '' for a standalone commit (a consumer that assigns partitions itself). */
  generationId: number
  memberId: string
  offsets: { topic: string; partition: number; offset: number; metadata?: string | null }[]
}

export interface TopicPartitionError {
  topic: string
  partition: number
  errorCode: GroupErrorName
}

export interface OffsetFetchRequest {
  groupId: string
  /** undefined (or null): every partition the group has committed. */
  partitions?: { topic: string; partition: number }[] | null
}

export interface OffsetFetchResponse {
  errorCode: GroupErrorName
  /** offset -1 and metadata '' for a partition never committed. */
  offsets: { topic: string; partition: number; offset: number; metadata: string }[]
}

export interface OffsetDeleteRequest {
  groupId: string
  partitions: { topic: string; partition: number }[]
}

export interface OffsetDeleteResponse {
  errorCode: GroupErrorName
  partitions: TopicPartitionError[]
}

export interface DescribeGroupResponse {
  errorCode: GroupErrorName
  groupId: string
  state: GroupState
  protocolType: string
  /** '' unless Stable. */
  protocol: string
  /** subscription and assignment are empty unless Stable, as in Kafka. */
  members: {
    memberId: string
    clientId: string
    clientHost: string
    assignment: Uint8Array
    subscription: Uint8Array
  }[]
}

export interface GroupListing {
  groupId: string
  protocolType: string
  state: GroupState
}

export interface CommittedOffset {
  group: string
  topic: string
  partition: number
  offset: number
  commitTimestamp: number
}

// ---- Options --------------------------------------------------------------------------------

export interface TimerHandle {
  cancel(): void
}

export interface CoordinatorOptions {
  /** Milliseconds; only commit timestamps read it, every timeout goes through `setTimer`. */
  now: () => number
  setTimer: (ms: number, fn: () => void) => TimerHandle
  /**
   * Appends records to the offsets partition; resolves once they are committed (acks=all), in log
   * order. A rejection fails the operation with its Kafka error, mapped as Kafka's coordinator does
   * (NOT_LEADER_OR_FOLLOWER → NOT_COORDINATOR, NOT_ENOUGH_REPLICAS → COORDINATOR_NOT_AVAILABLE, …),
   * read from the error's `code`.
   */
  persist: (records: GroupRecord[]) => Promise<void>
  /** Default `${clientId}-${randomUUID()}`, as Kafka; inject one for deterministic ids. */
  generateMemberId?: (clientId: string) => string
  /** group.initial.rebalance.delay.ms */
  groupInitialRebalanceDelayMs?: number
  /** group.min.session.timeout.ms */
  sessionTimeoutMsMin?: number
  /** group.max.session.timeout.ms */
  sessionTimeoutMsMax?: number
  /** How long a new member may wait for its first join to complete (Kafka's 5 minutes). */
  newMemberJoinTimeoutMs?: number
  /** Groups this coordinator holds; a new one beyond gets COORDINATOR_NOT_AVAILABLE. */
  groupsMax?: number
  /** group.max.size: members plus members that were handed an id and have not joined yet. */
  membersPerGroupMax?: number
  /** offset.metadata.max.bytes, in UTF-8 bytes. */
  offsetMetadataBytesMax?: number
  /** Protocols one member may offer. */
  protocolsPerMemberMax?: number
  /** A member's metadata for one protocol. */
  protocolMetadataBytesMax?: number
  /** One member's assignment. */
  assignmentBytesMax?: number
  /** Group ids, member ids, client ids and hosts. */
  idCharsMax?: number
  /** Partitions in one OffsetCommit, OffsetFetch or OffsetDelete, and member ids in one LeaveGroup. */
  entriesPerRequestMax?: number
}

type Limits = Required<Omit<CoordinatorOptions, 'now' | 'setTimer' | 'persist' | 'generateMemberId'>>

export const coordinatorDefaults: Readonly<Limits> = Object.freeze({
  groupInitialRebalanceDelayMs: 3_000,
  sessionTimeoutMsMin: 6_000,
  sessionTimeoutMsMax: 1_800_000,
  newMemberJoinTimeoutMs: 300_000,
  groupsMax: 100_000,
  membersPerGroupMax: 1_000,
  offsetMetadataBytesMax: 4_096,
  protocolsPerMemberMax: 32,
  protocolMetadataBytesMax: 1024 * 1024,
  assignmentBytesMax: 1024 * 1024,
  idCharsMax: 1_024,
  entriesPerRequestMax: 100_000,
})

// ---- State ----------------------------------------------------------------------------------

interface Member {
  readonly memberId: string
  clientId: string
  clientHost: string
  sessionTimeoutMs: number
  rebalanceTimeoutMs: number
  protocolType: string
  protocols: GroupProtocol[]
  assignment: Uint8Array
  awaitingJoin: ((response: JoinGroupResponse) => void) | null
  awaitingSync: ((response: SyncGroupResponse) => void) | null
  /** Joined, first join not yet completed: expires after newMemberJoinTimeoutMs even while waiting. */
  isNew: boolean
  sessionTimer: TimerHandle | null
}

interface StoredOffset {
  offset: number
  metadata: string
  commitTimestamp: number
}

class Group {
  state: GroupState = 'Empty'
  generationId = 0
  protocolType: string | null = null
  protocolName: string | null = null
  leaderId: string | null = null
  /** Insertion order is join order: the first member leads when the leader goes. */
  readonly members = new Map<string, Member>()
  /** Ids handed out with MEMBER_ID_REQUIRED whose owner has not joined yet, with their expiry. */
  readonly pendingMembers = new Map<string, TimerHandle>()
  /** Members of the current generation that have not sent SyncGroup yet. */
  readonly pendingSyncMembers = new Set<string>()
  joinTimer: TimerHandle | null = null
  syncTimer: TimerHandle | null = null
  /** Set during the initial rebalance delay of a group that was Empty. */
  initialDelay: { remainingMs: number; newMemberAdded: boolean } | null = null
  /** The generation whose assignment is being written: a leader's retried SyncGroup does not write it twice. */
  assignmentWriteGeneration = -1
  /** Set while a DeleteGroups record is being written (the group is Dead meanwhile). */
  deleting: Promise<GroupErrorName> | null = null
  writesInFlight = 0
  lastWrite: Promise<void> = Promise.resolve()

  // The committed view: changed only by records the log holds.
  readonly offsets = new Map<string, Map<number, StoredOffset>>()
  committedMetadata: GroupMetadataRecord | null = null

  constructor(readonly groupId: string) {}

  rebalanceTimeoutMs(): number {
    let ms = 0
    for (const m of this.members.values()) ms = Math.max(ms, m.rebalanceTimeoutMs)
    return ms
  }
}

const noTimer: TimerHandle = Object.freeze({ cancel() {} })
const noBytes = new Uint8Array(0)
const int32Max = 2 ** 31 - 1
const int32Min = -(2 ** 31)
const utf8 = new TextEncoder()

/** What a failed write was for: Kafka maps some errors differently for each. */
export type WriteKind = 'sync' | 'offsets' | 'delete'

/** Kafka's mapping of a failed append to the error a group client can act on. */
export function persistError(error: unknown, kind: WriteKind): GroupErrorName {
  const code = typeof error === 'object' && error !== null ? (error as { code?: unknown }).code : error
  switch (code) {
    case 'NOT_COORDINATOR':
    case 'NOT_LEADER_OR_FOLLOWER':
    case 'KAFKA_STORAGE_ERROR':
      return 'NOT_COORDINATOR'
    case 'COORDINATOR_NOT_AVAILABLE':
    case 'UNKNOWN_TOPIC_OR_PARTITION':
    case 'NOT_ENOUGH_REPLICAS':
    case 'NOT_ENOUGH_REPLICAS_AFTER_APPEND':
      return 'COORDINATOR_NOT_AVAILABLE'
    case 'REQUEST_TIMED_OUT':
      // The group may yet be stored; members rejoin rather than trust an assignment.
      return kind === 'sync' ? 'REBALANCE_IN_PROGRESS' : 'REQUEST_TIMED_OUT'
    case 'MESSAGE_TOO_LARGE':
    case 'RECORD_LIST_TOO_LARGE':
    case 'INVALID_FETCH_SIZE':
      return kind === 'offsets' ? 'INVALID_COMMIT_OFFSET_SIZE' : 'UNKNOWN_SERVER_ERROR'
    default:
      return 'UNKNOWN_SERVER_ERROR'
  }
}

function joinError(errorCode: GroupErrorName, memberId: string): JoinGroupResponse {
  return { errorCode, generationId: -1, protocolName: null, leader: '', memberId, members: [] }
}

function syncError(errorCode: GroupErrorName): SyncGroupResponse {
  return { errorCode, assignment: noBytes }
}

/** Stops a member's session timer and answers its waiting JoinGroup and SyncGroup with `error`. */
function releaseMember(member: Member, error: GroupErrorName): void {
  member.sessionTimer?.cancel()
  member.sessionTimer = null
  const join = member.awaitingJoin
  const sync = member.awaitingSync
  member.awaitingJoin = null
  member.awaitingSync = null
  join?.(joinError(error, member.memberId))
  sync?.(syncError(error))
}

function byTopicPartition(a: { topic: string; partition: number }, b: { topic: string; partition: number }) {
  return a.topic < b.topic ? -1 : a.topic > b.topic ? 1 : a.partition - b.partition
}

// ---- Validation of requests (they come from the network) ----------------------------------

function isObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x)
}

function isInt(x: unknown, min: number, max: number): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max
}

function isTopicName(x: unknown): x is string {
  return (
    typeof x === 'string' &&
    x.length >= 1 &&
    x.length <= 249 &&
    x !== '.' &&
    x !== '..' &&
    /^[a-zA-Z0-9._-]+$/.test(x)
  )
}

function echoTopicPartition(x: unknown): { topic: string; partition: number } {
  const topic = isObject(x) && typeof x.topic === 'string' ? x.topic : ''
  const partition = isObject(x) && typeof x.partition === 'number' ? x.partition : -1
  return { topic, partition }
}

// ---- The coordinator ------------------------------------------------------------------------

export class GroupCoordinator {
  private readonly groups = new Map<string, Group>()
  private readonly limits: Readonly<Limits>
  private readonly generateMemberId: (clientId: string) => string
  private closed = false

  constructor(private readonly o: CoordinatorOptions) {
    const limits: Limits = { ...coordinatorDefaults }
    for (const key of Object.keys(coordinatorDefaults) as (keyof Limits)[]) {
      const v = o[key]
      if (v === undefined) continue
      if (!Number.isSafeInteger(v) || v < 0)
        throw new RangeError(`${key}: expected a non-negative integer, got ${v}`)
      limits[key] = v
    }
    if (limits.sessionTimeoutMsMin > limits.sessionTimeoutMsMax)
      throw new RangeError('sessionTimeoutMsMin must not exceed sessionTimeoutMsMax')
    this.limits = Object.freeze(limits)
    this.generateMemberId = o.generateMemberId ?? ((clientId) => `${clientId}-${randomUUID()}`)
  }

  // ---- Replay ------------------------------------------------------------------------------

  /**
   * Applies one record of the committed log, in log order, to rebuild the state after becoming
   * leader. Meant for a fresh coordinator before it serves requests. A group record with members
   * brings the group back Stable with fresh session timers: its members keep heartbeating to the
   * new coordinator, and those that do not expire.
   */
  load(record: GroupRecord): void {
    if (this.closed) throw new Error('load after close')
    const problem = groupRecordProblem(record)
    if (problem !== null) throw new Error(`bad __consumer_offsets record: ${problem}`)
    this.applyCommitted(record)
    if (record.type === 'group') this.restoreLive(this.groups.get(record.group)!, record)
  }

  /**
   * The fewest records that rebuild the committed state: per group its last group record and its
   * latest offset per partition, sorted by group, topic, partition. The log prefix up to the last
   * record whose `persist` resolved may be replaced by these. Records are shared, not copied:
   * treat them as read-only.
   */
  snapshot(): GroupRecord[] {
    const out: GroupRecord[] = []
    for (const groupId of [...this.groups.keys()].sort()) {
      const group = this.groups.get(groupId)!
      if (group.committedMetadata) out.push(group.committedMetadata)
      out.push(...this.offsetRecords(group))
    }
    return out
  }

  // ---- JoinGroup ---------------------------------------------------------------------------

  joinGroup(req: JoinGroupRequest): Promise<JoinGroupResponse> {
    const echo = isObject(req) && typeof req.memberId === 'string' ? req.memberId : ''
    const problem = this.joinProblem(req)
    if (problem !== null) return Promise.resolve(joinError(problem, echo))
    const group = this.groups.get(req.groupId)
    if (req.memberId === '') return Promise.resolve(this.joinNewMember(group, req))
    if (!group) return Promise.resolve(joinError('UNKNOWN_MEMBER_ID', req.memberId))
    return this.joinKnownMember(group, req)
  }

  private joinProblem(req: JoinGroupRequest): GroupErrorName | null {
    const l = this.limits
    if (this.closed) return 'NOT_COORDINATOR'
    if (!isObject(req)) return 'INVALID_REQUEST'
    const groupIdProblem = this.groupIdProblem(req.groupId)
    if (groupIdProblem !== null) return groupIdProblem
    if (
      !this.isId(req.memberId) ||
      !(req.groupInstanceId === undefined || req.groupInstanceId === null) ||
      !this.isId(req.clientId) ||
      !this.isId(req.clientHost) ||
      !isInt(req.sessionTimeoutMs, 0, int32Max) ||
      !isInt(req.rebalanceTimeoutMs, 0, int32Max) ||
      typeof req.protocolType !== 'string' ||
      req.protocolType.length > l.idCharsMax ||
      !Array.isArray(req.protocols) ||
      req.protocols.length > l.protocolsPerMemberMax
    )
      return 'INVALID_REQUEST'
    const names = new Set<string>()
    for (const p of req.protocols as unknown[]) {
      if (!isObject(p) || !this.isId(p.name) || p.name === '' || names.has(p.name)) return 'INVALID_REQUEST'
      if (!(p.metadata instanceof Uint8Array) || p.metadata.length > l.protocolMetadataBytesMax)
        return 'INVALID_REQUEST'
      names.add(p.name)
    }
    if (req.sessionTimeoutMs < l.sessionTimeoutMsMin || req.sessionTimeoutMs > l.sessionTimeoutMsMax)
      return 'INVALID_SESSION_TIMEOUT'
    return null
  }

  /** A member without an id: hand it one to join with (KIP-394), remembered until its session times out. */
  private joinNewMember(group: Group | undefined, req: JoinGroupRequest): JoinGroupResponse {
    if (group?.state === 'Dead') return joinError('COORDINATOR_NOT_AVAILABLE', '')
    if (!this.supportsProtocols(group, null, req)) return joinError('INCONSISTENT_GROUP_PROTOCOL', '')
    if (group && group.members.size + group.pendingMembers.size >= this.limits.membersPerGroupMax)
      return joinError('GROUP_MAX_SIZE_REACHED', '')
    if (!group && this.groups.size >= this.limits.groupsMax) return joinError('COORDINATOR_NOT_AVAILABLE', '')
    const target = group ?? this.createGroup(req.groupId)
    const memberId = this.generateMemberId(req.clientId)
    if (memberId === '' || target.members.has(memberId) || target.pendingMembers.has(memberId))
      throw new Error(`generateMemberId gave an id already in use: ${JSON.stringify(memberId)}`)
    target.pendingMembers.set(
      memberId,
      this.schedule(req.sessionTimeoutMs, () => this.removePendingMember(target, memberId)),
    )
    return joinError('MEMBER_ID_REQUIRED', memberId)
  }

  private joinKnownMember(group: Group, req: JoinGroupRequest): Promise<JoinGroupResponse> {
    if (group.state === 'Dead') return Promise.resolve(joinError('COORDINATOR_NOT_AVAILABLE', req.memberId))
    const member = group.members.get(req.memberId)
    if (!this.supportsProtocols(group, member ?? null, req))
      return Promise.resolve(joinError('INCONSISTENT_GROUP_PROTOCOL', req.memberId))
    if (group.pendingMembers.has(req.memberId)) {
      group.pendingMembers.get(req.memberId)!.cancel()
      group.pendingMembers.delete(req.memberId)
      return new Promise((resolve) => this.addMemberAndRebalance(group, req, resolve))
    }
    if (!member) return Promise.resolve(joinError('UNKNOWN_MEMBER_ID', req.memberId))
    const unchanged = sameProtocols(member.protocols, req.protocols)
    switch (group.state) {
      case 'CompletingRebalance':
        // A retry of a join that already completed: the same answer again.
        if (unchanged) return Promise.resolve(this.currentJoinResponse(group, member))
        break
      case 'Stable':
        // The leader rejoins to make the group rebalance (e.g. its subscription's topics changed).
        if (unchanged && group.leaderId !== member.memberId)
          return Promise.resolve(this.currentJoinResponse(group, member))
        break
      case 'PreparingRebalance':
        break
      case 'Empty':
        throw new Error(`member ${member.memberId} in a group that is Empty`)
    }
    return new Promise((resolve) => this.updateMemberAndRebalance(group, member, req, resolve))
  }

  /** Whether the member can join: same protocol type, and a protocol every other member offers. */
  private supportsProtocols(group: Group | undefined, self: Member | null, req: JoinGroupRequest): boolean {
    if (req.protocolType === '' || req.protocols.length === 0) return false
    const others = group ? [...group.members.values()].filter((m) => m !== self) : []
    if (others.length === 0) return true
    if (group!.protocolType !== req.protocolType) return false
    return req.protocols.some((p) => others.every((m) => m.protocols.some((q) => q.name === p.name)))
  }

  private addMemberAndRebalance(
    group: Group,
    req: JoinGroupRequest,
    resolve: (response: JoinGroupResponse) => void,
  ): void {
    if (group.members.size === 0) group.protocolType = req.protocolType
    const member: Member = {
      memberId: req.memberId,
      clientId: req.clientId,
      clientHost: req.clientHost,
      sessionTimeoutMs: req.sessionTimeoutMs,
      rebalanceTimeoutMs: req.rebalanceTimeoutMs,
      protocolType: req.protocolType,
      protocols: req.protocols.map((p) => ({ name: p.name, metadata: ownedBytes(p.metadata) })),
      assignment: noBytes,
      awaitingJoin: resolve,
      awaitingSync: null,
      isNew: true,
      sessionTimer: null,
    }
    group.members.set(member.memberId, member)
    if (group.leaderId === null) group.leaderId = member.memberId
    if (group.initialDelay) group.initialDelay.newMemberAdded = true
    this.scheduleSession(group, member, this.limits.newMemberJoinTimeoutMs)
    this.maybePrepareRebalance(group)
    this.maybeCompleteJoin(group)
  }

  private updateMemberAndRebalance(
    group: Group,
    member: Member,
    req: JoinGroupRequest,
    resolve: (response: JoinGroupResponse) => void,
  ): void {
    member.protocols = req.protocols.map((p) => ({ name: p.name, metadata: ownedBytes(p.metadata) }))
    member.protocolType = req.protocolType
    member.sessionTimeoutMs = req.sessionTimeoutMs
    member.rebalanceTimeoutMs = req.rebalanceTimeoutMs
    if (group.members.size === 1) group.protocolType = req.protocolType
    // A client has one join in flight; an earlier one still waiting was abandoned by it.
    member.awaitingJoin?.(joinError('REBALANCE_IN_PROGRESS', member.memberId))
    member.awaitingJoin = resolve
    this.maybePrepareRebalance(group)
    this.maybeCompleteJoin(group)
  }

  private currentJoinResponse(group: Group, member: Member): JoinGroupResponse {
    const isLeader = group.leaderId === member.memberId
    return {
      errorCode: 'NONE',
      generationId: group.generationId,
      protocolName: group.protocolName,
      leader: group.leaderId ?? '',
      memberId: member.memberId,
      members: isLeader ? this.memberMetadata(group) : [],
    }
  }

  private memberMetadata(group: Group): { memberId: string; metadata: Uint8Array }[] {
    return [...group.members.values()].map((m) => ({
      memberId: m.memberId,
      metadata: metadataFor(m, group.protocolName),
    }))
  }

  // ---- Rebalance ---------------------------------------------------------------------------

  private maybePrepareRebalance(group: Group): void {
    if (group.state === 'Stable' || group.state === 'CompletingRebalance' || group.state === 'Empty')
      this.prepareRebalance(group)
  }

  private prepareRebalance(group: Group): void {
    if (group.state === 'CompletingRebalance')
      this.resetAndPropagateAssignmentError(group, 'REBALANCE_IN_PROGRESS')
    this.cancelSyncTimer(group)
    const wasEmpty = group.state === 'Empty'
    group.state = 'PreparingRebalance'
    group.joinTimer?.cancel()
    const delayMs = this.limits.groupInitialRebalanceDelayMs
    const rebalanceTimeoutMs = group.rebalanceTimeoutMs()
    if (wasEmpty && delayMs > 0) {
      // Let the members of a starting group arrive before the first generation, so it does not
      // rebalance once per member; each arrival buys another delay, within the rebalance timeout.
      group.initialDelay = { remainingMs: Math.max(rebalanceTimeoutMs - delayMs, 0), newMemberAdded: false }
      group.joinTimer = this.schedule(delayMs, () => this.onInitialDelayExpired(group))
    } else {
      group.initialDelay = null
      group.joinTimer = this.schedule(rebalanceTimeoutMs, () => this.completeJoin(group))
      this.maybeCompleteJoin(group)
    }
  }

  private onInitialDelayExpired(group: Group): void {
    const delay = group.initialDelay
    if (!delay || group.state !== 'PreparingRebalance') return
    if (delay.newMemberAdded && delay.remainingMs > 0) {
      const ms = Math.min(this.limits.groupInitialRebalanceDelayMs, delay.remainingMs)
      delay.remainingMs -= ms
      delay.newMemberAdded = false
      group.joinTimer = this.schedule(ms, () => this.onInitialDelayExpired(group))
    } else {
      this.completeJoin(group)
    }
  }

  /** The join phase ends early once every member has rejoined and no handed-out id is outstanding. */
  private maybeCompleteJoin(group: Group): void {
    if (group.state !== 'PreparingRebalance' || group.initialDelay !== null || group.pendingMembers.size > 0)
      return
    for (const m of group.members.values()) if (!m.awaitingJoin) return
    this.completeJoin(group)
  }

  private completeJoin(group: Group): void {
    if (group.state !== 'PreparingRebalance') return
    group.joinTimer?.cancel()
    group.joinTimer = null
    group.initialDelay = null
    for (const m of [...group.members.values()])
      if (!m.awaitingJoin) this.removeMember(group, m, 'UNKNOWN_MEMBER_ID')
    group.generationId++
    for (const m of group.members.values()) m.assignment = noBytes
    if (group.members.size === 0) {
      group.state = 'Empty'
      group.protocolName = null
      // Stored so that a new coordinator does not bring back the members of the last generation.
      this.write(group, [this.groupRecord(group)], 'sync', () => {})
      return
    }
    group.protocolName = selectProtocol(group)
    group.state = 'CompletingRebalance'
    const all = this.memberMetadata(group)
    for (const m of group.members.values()) {
      const isLeader = m.memberId === group.leaderId
      const resolve = m.awaitingJoin!
      m.awaitingJoin = null
      m.isNew = false
      resolve({
        errorCode: 'NONE',
        generationId: group.generationId,
        protocolName: group.protocolName,
        leader: group.leaderId!,
        memberId: m.memberId,
        members: isLeader ? all : [],
      })
      this.scheduleSession(group, m)
      group.pendingSyncMembers.add(m.memberId)
    }
    const generation = group.generationId
    group.syncTimer = this.schedule(group.rebalanceTimeoutMs(), () => this.onSyncExpired(group, generation))
  }

  /** Members that never sent SyncGroup within the rebalance timeout (a stuck leader, say) are removed. */
  private onSyncExpired(group: Group, generation: number): void {
    group.syncTimer = null
    if (group.generationId !== generation) return
    if (group.state !== 'CompletingRebalance' && group.state !== 'Stable') return
    if (group.pendingSyncMembers.size === 0) return
    for (const memberId of [...group.pendingSyncMembers]) {
      const member = group.members.get(memberId)
      if (member) this.removeMember(group, member, 'UNKNOWN_MEMBER_ID')
    }
    this.prepareRebalance(group)
  }

  private cancelSyncTimer(group: Group): void {
    group.syncTimer?.cancel()
    group.syncTimer = null
    group.pendingSyncMembers.clear()
  }

  private resetAndPropagateAssignmentError(group: Group, error: GroupErrorName): void {
    for (const m of group.members.values()) {
      m.assignment = noBytes
      const resolve = m.awaitingSync
      if (!resolve) continue
      m.awaitingSync = null
      resolve(syncError(error))
      this.scheduleSession(group, m)
    }
  }

  // ---- SyncGroup ---------------------------------------------------------------------------

  syncGroup(req: SyncGroupRequest): Promise<SyncGroupResponse> {
    const problem = this.syncProblem(req)
    if (problem !== null) return Promise.resolve(syncError(problem))
    const group = this.groups.get(req.groupId)
    if (!group) return Promise.resolve(syncError('UNKNOWN_MEMBER_ID'))
    if (group.state === 'Dead') return Promise.resolve(syncError('COORDINATOR_NOT_AVAILABLE'))
    const member = group.members.get(req.memberId)
    if (!member) return Promise.resolve(syncError('UNKNOWN_MEMBER_ID'))
    if (req.generationId !== group.generationId) return Promise.resolve(syncError('ILLEGAL_GENERATION'))
    switch (group.state) {
      case 'PreparingRebalance':
        return Promise.resolve(syncError('REBALANCE_IN_PROGRESS'))
      case 'Stable':
        this.syncReceived(group, member.memberId)
        this.scheduleSession(group, member)
        return Promise.resolve({ errorCode: 'NONE', assignment: member.assignment })
      case 'CompletingRebalance':
        return new Promise((resolve) => {
          member.awaitingSync?.(syncError('REBALANCE_IN_PROGRESS'))
          member.awaitingSync = resolve
          this.syncReceived(group, member.memberId)
          if (group.leaderId === member.memberId && group.assignmentWriteGeneration !== group.generationId) {
            group.assignmentWriteGeneration = group.generationId
            this.storeAssignment(group, req.assignments)
          }
        })
      case 'Empty':
        throw new Error(`member ${member.memberId} in a group that is Empty`)
    }
  }

  private syncProblem(req: SyncGroupRequest): GroupErrorName | null {
    if (this.closed) return 'NOT_COORDINATOR'
    if (!isObject(req)) return 'INVALID_REQUEST'
    const groupIdProblem = this.groupIdProblem(req.groupId)
    if (groupIdProblem !== null) return groupIdProblem
    if (!isInt(req.generationId, int32Min, int32Max) || !this.isId(req.memberId)) return 'INVALID_REQUEST'
    if (!Array.isArray(req.assignments) || req.assignments.length > this.limits.membersPerGroupMax)
      return 'INVALID_REQUEST'
    const seen = new Set<string>()
    for (const a of req.assignments as unknown[]) {
      if (!isObject(a) || !this.isId(a.memberId) || seen.has(a.memberId)) return 'INVALID_REQUEST'
      if (!(a.assignment instanceof Uint8Array) || a.assignment.length > this.limits.assignmentBytesMax)
        return 'INVALID_REQUEST'
      seen.add(a.memberId)
    }
    return null
  }

  private syncReceived(group: Group, memberId: string): void {
    group.pendingSyncMembers.delete(memberId)
    if (group.pendingSyncMembers.size === 0) {
      group.syncTimer?.cancel()
      group.syncTimer = null
    }
  }

  /** The leader's assignment: stored in the log first, then handed to every member waiting for it. */
  private storeAssignment(group: Group, assignments: SyncGroupRequest['assignments']): void {
    const byMember = new Map(assignments.map((a) => [a.memberId, ownedBytes(a.assignment)]))
    const generation = group.generationId
    const record = this.groupRecord(group, (m) => byMember.get(m.memberId) ?? noBytes)
    this.write(group, [record], 'sync', (error) => {
      // Another member may have joined or left while the record was written: then this generation
      // is over, its waiting members were already answered, and the record is history.
      if (group.state !== 'CompletingRebalance' || group.generationId !== generation) return
      if (error !== null) {
        this.resetAndPropagateAssignmentError(group, error)
        this.maybePrepareRebalance(group)
        return
      }
      for (const m of group.members.values()) m.assignment = byMember.get(m.memberId) ?? noBytes
      group.state = 'Stable'
      for (const m of group.members.values()) {
        const resolve = m.awaitingSync
        if (!resolve) continue
        m.awaitingSync = null
        resolve({ errorCode: 'NONE', assignment: m.assignment })
        this.scheduleSession(group, m)
      }
    })
  }

  // ---- Heartbeat ---------------------------------------------------------------------------

  heartbeat(req: HeartbeatRequest): { errorCode: GroupErrorName } {
    return { errorCode: this.heartbeatError(req) }
  }

  private heartbeatError(req: HeartbeatRequest): GroupErrorName {
    if (this.closed) return 'NOT_COORDINATOR'
    if (!isObject(req)) return 'INVALID_REQUEST'
    const groupIdProblem = this.groupIdProblem(req.groupId)
    if (groupIdProblem !== null) return groupIdProblem
    if (!isInt(req.generationId, int32Min, int32Max) || !this.isId(req.memberId)) return 'INVALID_REQUEST'
    const group = this.groups.get(req.groupId)
    if (!group) return 'UNKNOWN_MEMBER_ID'
    if (group.state === 'Dead') return 'COORDINATOR_NOT_AVAILABLE'
    const member = group.members.get(req.memberId)
    if (!member) return 'UNKNOWN_MEMBER_ID'
    if (req.generationId !== group.generationId) return 'ILLEGAL_GENERATION'
    this.scheduleSession(group, member)
    return group.state === 'PreparingRebalance' ? 'REBALANCE_IN_PROGRESS' : 'NONE'
  }

  /** (Re)starts a member's session timer. */
  private scheduleSession(group: Group, member: Member, timeoutMs = member.sessionTimeoutMs): void {
    member.sessionTimer?.cancel()
    member.sessionTimer = this.schedule(timeoutMs, () => {
      member.sessionTimer = null
      if (group.members.get(member.memberId) !== member) return
      // A member waiting on a rebalance needs no heartbeat (its timer restarts when the wait ends),
      // unless it is new: then it may have gone away before its first join completed.
      if (!member.isNew && (member.awaitingJoin || member.awaitingSync)) return
      this.removeMemberAndUpdateGroup(group, member)
    })
  }

  // ---- LeaveGroup and removal --------------------------------------------------------------

  async leaveGroup(req: LeaveGroupRequest): Promise<LeaveGroupResponse> {
    const problem = this.leaveProblem(req)
    if (problem !== null) return { errorCode: problem, members: [] }
    const group = this.groups.get(req.groupId)
    if (!group)
      return { errorCode: 'NONE', members: req.memberIds.map((memberId) => unknownMember(memberId)) }
    if (group.state === 'Dead') return { errorCode: 'COORDINATOR_NOT_AVAILABLE', members: [] }
    const writeBefore = group.lastWrite
    const members = req.memberIds.map((memberId): { memberId: string; errorCode: GroupErrorName } => {
      if (group.pendingMembers.has(memberId)) {
        this.removePendingMember(group, memberId)
        return { memberId, errorCode: 'NONE' }
      }
      const member = group.members.get(memberId)
      if (!member) return unknownMember(memberId)
      this.removeMemberAndUpdateGroup(group, member)
      return { memberId, errorCode: 'NONE' }
    })
    // The last member leaving empties the group: answer once that is stored.
    if (group.lastWrite !== writeBefore) await group.lastWrite
    return { errorCode: 'NONE', members }
  }

  private leaveProblem(req: LeaveGroupRequest): GroupErrorName | null {
    if (this.closed) return 'NOT_COORDINATOR'
    if (!isObject(req)) return 'INVALID_REQUEST'
    const groupIdProblem = this.groupIdProblem(req.groupId)
    if (groupIdProblem !== null) return groupIdProblem
    if (!Array.isArray(req.memberIds) || req.memberIds.length > this.limits.entriesPerRequestMax)
      return 'INVALID_REQUEST'
    for (const id of req.memberIds as unknown[]) if (!this.isId(id)) return 'INVALID_REQUEST'
    return null
  }

  /** A member leaves or expires: its waiting requests fail and the rest rebalance without it. */
  private removeMemberAndUpdateGroup(group: Group, member: Member): void {
    this.removeMember(group, member, 'UNKNOWN_MEMBER_ID')
    switch (group.state) {
      case 'Stable':
      case 'CompletingRebalance':
        this.prepareRebalance(group)
        break
      case 'PreparingRebalance':
        this.maybeCompleteJoin(group)
        break
      case 'Empty':
      case 'Dead':
        break
    }
  }

  private removeMember(group: Group, member: Member, error: GroupErrorName): void {
    releaseMember(member, error)
    group.members.delete(member.memberId)
    group.pendingSyncMembers.delete(member.memberId)
    if (group.leaderId === member.memberId) group.leaderId = group.members.keys().next().value ?? null
  }

  private removePendingMember(group: Group, memberId: string): void {
    const timer = group.pendingMembers.get(memberId)
    if (!timer) return
    timer.cancel()
    group.pendingMembers.delete(memberId)
    this.maybeCompleteJoin(group)
    this.maybeDropUnusedGroup(group)
  }

  // ---- Offsets -----------------------------------------------------------------------------

  commitOffsets(req: OffsetCommitRequest): Promise<TopicPartitionError[]> {
    if (!isObject(req) || !Array.isArray(req.offsets)) return Promise.resolve([])
    const entries = req.offsets as unknown[]
    const all = (errorCode: GroupErrorName) =>
      Promise.resolve(entries.map((e) => ({ ...echoTopicPartition(e), errorCode })))
    const problem = this.commitProblem(req)
    if (problem !== null) return all(problem)
    const group = this.groups.get(req.groupId)
    const groupError = this.commitGroupError(group, req)
    if (groupError !== null) return all(groupError)
    if (!group && this.groups.size >= this.limits.groupsMax) return all('COORDINATOR_NOT_AVAILABLE')

    const results: TopicPartitionError[] = []
    const records: OffsetRecord[] = []
    const written: TopicPartitionError[] = []
    const commitTimestamp = this.o.now()
    for (const e of entries) {
      const result: TopicPartitionError = { ...echoTopicPartition(e), errorCode: 'NONE' }
      results.push(result)
      const entryError = this.offsetEntryError(e)
      if (entryError !== null) {
        result.errorCode = entryError
        continue
      }
      const { topic, partition, offset, metadata } = e as OffsetCommitRequest['offsets'][number]
      records.push({
        type: 'offset',
        group: req.groupId,
        topic,
        partition,
        offset,
        metadata: metadata ?? '',
        commitTimestamp,
      })
      written.push(result)
    }
    if (records.length === 0) return Promise.resolve(results)
    const member = group?.members.get(req.memberId)
    if (group && member) this.scheduleSession(group, member)
    // A standalone commit to an unknown group creates it, Empty, as Kafka does.
    const target = group ?? this.createGroup(req.groupId)
    return new Promise((resolve) =>
      this.write(target, records, 'offsets', (error) => {
        const errorCode = error === null ? 'NONE' : error
        for (const r of written) r.errorCode = errorCode
        resolve(results)
      }),
    )
  }

  private commitProblem(req: OffsetCommitRequest): GroupErrorName | null {
    if (this.closed) return 'NOT_COORDINATOR'
    const groupIdProblem = this.groupIdProblem(req.groupId)
    if (groupIdProblem !== null) return groupIdProblem
    if (!isInt(req.generationId, int32Min, int32Max) || !this.isId(req.memberId)) return 'INVALID_REQUEST'
    if (req.offsets.length > this.limits.entriesPerRequestMax) return 'INVALID_REQUEST'
    return null
  }

  /** Kafka's validateOffsetCommit and its per-state rule. */
  private commitGroupError(group: Group | undefined, req: OffsetCommitRequest): GroupErrorName | null {
    const standalone = req.generationId < 0 && req.memberId === ''
    if (!group) return standalone ? null : req.generationId < 0 ? 'UNKNOWN_MEMBER_ID' : 'ILLEGAL_GENERATION'
    if (group.state === 'Dead') return 'COORDINATOR_NOT_AVAILABLE'
    // Once a group has members, only they commit for it.
    if (standalone) return group.state === 'Empty' ? null : 'ILLEGAL_GENERATION'
    if (!group.members.has(req.memberId)) return 'UNKNOWN_MEMBER_ID'
    if (req.generationId !== group.generationId) return 'ILLEGAL_GENERATION'
    // The member holds the new generation but not yet its assignment.
    if (group.state === 'CompletingRebalance') return 'REBALANCE_IN_PROGRESS'
    return null
  }

  private offsetEntryError(e: unknown): GroupErrorName | null {
    if (!isObject(e)) return 'INVALID_REQUEST'
    if (!isTopicName(e.topic))
      return typeof e.topic === 'string' ? 'INVALID_TOPIC_EXCEPTION' : 'INVALID_REQUEST'
    if (!isInt(e.partition, 0, int32Max) || !isInt(e.offset, 0, Number.MAX_SAFE_INTEGER))
      return 'INVALID_REQUEST'
    if (e.metadata === undefined || e.metadata === null) return null
    if (typeof e.metadata !== 'string') return 'INVALID_REQUEST'
    if (e.metadata.length > this.limits.offsetMetadataBytesMax) return 'OFFSET_METADATA_TOO_LARGE'
    if (utf8.encode(e.metadata).length > this.limits.offsetMetadataBytesMax)
      return 'OFFSET_METADATA_TOO_LARGE'
    return null
  }

  fetchOffsets(req: OffsetFetchRequest): OffsetFetchResponse {
    const problem = this.fetchProblem(req)
    if (problem !== null) return { errorCode: problem, offsets: [] }
    // The committed view, also while a delete is being written: the log still holds these offsets.
    const group = this.groups.get(req.groupId)
    if (req.partitions === undefined || req.partitions === null) {
      const records = group ? this.offsetRecords(group) : []
      return {
        errorCode: 'NONE',
        offsets: records.map((r) => ({
          topic: r.topic,
          partition: r.partition,
          offset: r.offset,
          metadata: r.metadata,
        })),
      }
    }
    return {
      errorCode: 'NONE',
      offsets: req.partitions.map(({ topic, partition }) => {
        const stored = group?.offsets.get(topic)?.get(partition)
        return { topic, partition, offset: stored?.offset ?? -1, metadata: stored?.metadata ?? '' }
      }),
    }
  }

  private fetchProblem(req: OffsetFetchRequest): GroupErrorName | null {
    if (this.closed) return 'NOT_COORDINATOR'
    if (!isObject(req)) return 'INVALID_REQUEST'
    const groupIdProblem = this.groupIdProblem(req.groupId)
    if (groupIdProblem !== null) return groupIdProblem
    return this.partitionsProblem(req.partitions, true)
  }

  private partitionsProblem(partitions: unknown, nullable: boolean): GroupErrorName | null {
    if (nullable && (partitions === undefined || partitions === null)) return null
    if (!Array.isArray(partitions) || partitions.length > this.limits.entriesPerRequestMax)
      return 'INVALID_REQUEST'
    for (const p of partitions as unknown[])
      if (!isObject(p) || typeof p.topic !== 'string' || !isInt(p.partition, 0, int32Max))
        return 'INVALID_REQUEST'
    return null
  }

  /** OffsetDelete, for a group without members (Kafka also allows it for unsubscribed topics). */
  async deleteOffsets(req: OffsetDeleteRequest): Promise<OffsetDeleteResponse> {
    const problem = this.closed
      ? 'NOT_COORDINATOR'
      : !isObject(req)
        ? 'INVALID_REQUEST'
        : this.deleteOffsetsProblem(req)
    if (problem !== null) return { errorCode: problem, partitions: [] }
    const group = this.groups.get(req.groupId)
    if (!group || group.state === 'Dead') return { errorCode: 'GROUP_ID_NOT_FOUND', partitions: [] }
    if (group.state !== 'Empty') return { errorCode: 'NON_EMPTY_GROUP', partitions: [] }
    const records: DeleteOffsetRecord[] = req.partitions
      .filter(({ topic, partition }) => group.offsets.get(topic)?.has(partition))
      .map(({ topic, partition }) => ({ type: 'delete-offset', group: req.groupId, topic, partition }))
    let errorCode: GroupErrorName = 'NONE'
    if (records.length > 0)
      errorCode = await new Promise<GroupErrorName>((resolve) =>
        this.write(group, records, 'offsets', (error) => resolve(error ?? 'NONE')),
      )
    const partitions = req.partitions.map(({ topic, partition }) => ({ topic, partition, errorCode }))
    return { errorCode: 'NONE', partitions }
  }

  private deleteOffsetsProblem(req: OffsetDeleteRequest): GroupErrorName | null {
    return this.groupIdProblem(req.groupId) ?? this.partitionsProblem(req.partitions, false)
  }

  /**
   * Topics were deleted: their committed offsets leave every group, as delete-offset records
   * (Kafka's cleanup on partition deletion), whatever the group's state. Resolves once written.
   */
  async forgetTopics(topics: readonly string[]): Promise<void> {
    if (this.closed || topics.length === 0) return
    const gone = new Set(topics)
    const writes: Promise<GroupErrorName | null>[] = []
    for (const group of this.groups.values()) {
      if (group.deleting) continue
      const records: DeleteOffsetRecord[] = []
      for (const [topic, byPartition] of group.offsets) {
        if (!gone.has(topic)) continue
        for (const partition of byPartition.keys())
          records.push({ type: 'delete-offset', group: group.groupId, topic, partition })
      }
      if (records.length > 0)
        writes.push(new Promise((resolve) => this.write(group, records, 'offsets', resolve)))
    }
    await Promise.all(writes)
  }

  /** Every committed offset, for lag and metrics. */
  committedOffsets(): CommittedOffset[] {
    if (this.closed) return []
    const out: CommittedOffset[] = []
    for (const groupId of [...this.groups.keys()].sort()) {
      for (const r of this.offsetRecords(this.groups.get(groupId)!))
        out.push({
          group: r.group,
          topic: r.topic,
          partition: r.partition,
          offset: r.offset,
          commitTimestamp: r.commitTimestamp,
        })
    }
    return out
  }

  private offsetRecords(group: Group): OffsetRecord[] {
    const out: OffsetRecord[] = []
    for (const [topic, byPartition] of group.offsets)
      for (const [partition, o] of byPartition)
        out.push({ type: 'offset', group: group.groupId, topic, partition, ...o })
    return out.sort(byTopicPartition)
  }

  // ---- Admin -------------------------------------------------------------------------------

  describeGroup(groupId: string): DescribeGroupResponse {
    const id = typeof groupId === 'string' ? groupId : ''
    const dead = (errorCode: GroupErrorName): DescribeGroupResponse => ({
      errorCode,
      groupId: id,
      state: 'Dead',
      protocolType: '',
      protocol: '',
      members: [],
    })
    if (this.closed) return dead('NOT_COORDINATOR')
    const problem = this.groupIdProblem(groupId)
    if (problem !== null) return dead(problem)
    const group = this.groups.get(groupId)
    // Kafka describes a group it does not know as Dead, without an error.
    if (!group) return dead('NONE')
    const stable = group.state === 'Stable'
    return {
      errorCode: 'NONE',
      groupId,
      state: group.state,
      protocolType: group.protocolType ?? '',
      protocol: stable ? group.protocolName! : '',
      members: [...group.members.values()].map((m) => ({
        memberId: m.memberId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        assignment: stable ? m.assignment : noBytes,
        subscription: stable ? metadataFor(m, group.protocolName) : noBytes,
      })),
    }
  }

  listGroups(): GroupListing[] {
    if (this.closed) return []
    return [...this.groups.values()]
      .filter((g) => g.state !== 'Dead')
      .map((g) => ({ groupId: g.groupId, protocolType: g.protocolType ?? '', state: g.state }))
      .sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0))
  }

  /** DeleteGroups for one group: only an Empty one; its offsets go with it. */
  deleteGroup(groupId: string): Promise<GroupErrorName> {
    if (this.closed) return Promise.resolve('NOT_COORDINATOR')
    const problem = this.groupIdProblem(groupId)
    if (problem !== null) return Promise.resolve(problem)
    const group = this.groups.get(groupId)
    if (!group) return Promise.resolve('GROUP_ID_NOT_FOUND')
    if (group.deleting) return group.deleting.then((e) => (e === 'NONE' ? 'GROUP_ID_NOT_FOUND' : e))
    if (group.state !== 'Empty') return Promise.resolve('NON_EMPTY_GROUP')
    // Dead until the record is committed: joins and commits meanwhile get COORDINATOR_NOT_AVAILABLE.
    group.state = 'Dead'
    group.deleting = new Promise<GroupErrorName>((resolve) =>
      this.write(group, [{ type: 'delete-group', group: groupId }], 'delete', (error) => {
        if (error === null) return resolve('NONE')
        group.deleting = null
        if (group.state === 'Dead') group.state = 'Empty'
        resolve(error)
      }),
    )
    return group.deleting
  }

  /** Leadership is lost: stop every timer and answer every waiting join and sync NOT_COORDINATOR. */
  close(): void {
    if (this.closed) return
    this.closed = true
    for (const group of this.groups.values()) this.stopGroup(group, 'NOT_COORDINATOR')
  }

  // ---- The log -----------------------------------------------------------------------------

  /**
   * Writes records through `persist`; once committed, applies them to the committed view, then
   * calls `done` (null, or the mapped error), in the same turn so that effects follow log order.
   */
  private write(
    group: Group,
    records: GroupRecord[],
    kind: WriteKind,
    done: (error: GroupErrorName | null) => void,
  ): void {
    group.writesInFlight++
    let appended: Promise<void>
    try {
      appended = this.o.persist(records)
    } catch (error) {
      appended = Promise.reject(error)
    }
    group.lastWrite = appended.then(
      () => {
        group.writesInFlight--
        for (const r of records) this.applyCommitted(r)
        done(null)
        this.maybeDropUnusedGroup(group)
      },
      (error: unknown) => {
        group.writesInFlight--
        done(persistError(error, kind))
        this.maybeDropUnusedGroup(group)
      },
    )
  }

  /** A committed record's effect on the committed view: the one function replay and the live path share. */
  private applyCommitted(record: GroupRecord): void {
    switch (record.type) {
      case 'offset': {
        const group = this.groups.get(record.group) ?? this.createGroup(record.group)
        let byPartition = group.offsets.get(record.topic)
        if (!byPartition) {
          byPartition = new Map()
          group.offsets.set(record.topic, byPartition)
        }
        const { offset, metadata, commitTimestamp } = record
        byPartition.set(record.partition, { offset, metadata, commitTimestamp })
        return
      }
      case 'delete-offset': {
        const group = this.groups.get(record.group)
        const byPartition = group?.offsets.get(record.topic)
        if (!group || !byPartition) return
        byPartition.delete(record.partition)
        if (byPartition.size === 0) group.offsets.delete(record.topic)
        this.maybeDropUnusedGroup(group)
        return
      }
      case 'group': {
        const group = this.groups.get(record.group) ?? this.createGroup(record.group)
        group.committedMetadata = Object.freeze(record)
        return
      }
      case 'delete-group': {
        const group = this.groups.get(record.group)
        if (!group) return
        this.stopGroup(group, 'COORDINATOR_NOT_AVAILABLE')
        this.groups.delete(record.group)
        return
      }
    }
  }

  /** After load: the group as its record left it, members back with fresh session timers. */
  private restoreLive(group: Group, record: GroupMetadataRecord): void {
    this.stopGroup(group, 'NOT_COORDINATOR')
    group.members.clear()
    group.generationId = record.generation
    group.protocolType = record.protocolType === '' ? null : record.protocolType
    group.protocolName = record.protocol
    group.leaderId = record.leader
    group.deleting = null
    for (const m of record.members) {
      group.members.set(m.memberId, {
        memberId: m.memberId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        sessionTimeoutMs: m.sessionTimeoutMs,
        rebalanceTimeoutMs: m.rebalanceTimeoutMs,
        protocolType: record.protocolType,
        protocols: [{ name: record.protocol!, metadata: m.subscription }],
        assignment: m.assignment,
        awaitingJoin: null,
        awaitingSync: null,
        isNew: false,
        sessionTimer: null,
      })
    }
    group.state = group.members.size > 0 ? 'Stable' : 'Empty'
    for (const m of group.members.values()) this.scheduleSession(group, m)
  }

  private groupRecord(
    group: Group,
    assignmentOf: (m: Member) => Uint8Array = () => noBytes,
  ): GroupMetadataRecord {
    return {
      type: 'group',
      group: group.groupId,
      generation: group.generationId,
      protocolType: group.protocolType ?? '',
      protocol: group.members.size > 0 ? group.protocolName : null,
      leader: group.members.size > 0 ? group.leaderId : null,
      members: [...group.members.values()].map((m) => ({
        memberId: m.memberId,
        clientId: m.clientId,
        clientHost: m.clientHost,
        sessionTimeoutMs: m.sessionTimeoutMs,
        rebalanceTimeoutMs: m.rebalanceTimeoutMs,
        subscription: metadataFor(m, group.protocolName),
        assignment: assignmentOf(m),
      })),
    }
  }

  // ---- Groups and timers -------------------------------------------------------------------

  private createGroup(groupId: string): Group {
    const group = new Group(groupId)
    this.groups.set(groupId, group)
    return group
  }

  /** A group that holds nothing — no members, no committed state, no write under way — is forgotten. */
  private maybeDropUnusedGroup(group: Group): void {
    if (this.groups.get(group.groupId) !== group) return
    if (group.state !== 'Empty' || group.members.size > 0 || group.pendingMembers.size > 0) return
    if (group.writesInFlight > 0 || group.committedMetadata !== null || group.offsets.size > 0) return
    this.stopGroup(group, 'COORDINATOR_NOT_AVAILABLE')
    this.groups.delete(group.groupId)
  }

  /** Cancels the group's timers and answers its waiting requests. */
  private stopGroup(group: Group, error: GroupErrorName): void {
    group.joinTimer?.cancel()
    group.joinTimer = null
    group.initialDelay = null
    this.cancelSyncTimer(group)
    for (const timer of group.pendingMembers.values()) timer.cancel()
    group.pendingMembers.clear()
    for (const m of group.members.values()) releaseMember(m, error)
  }

  private schedule(ms: number, fn: () => void): TimerHandle {
    if (this.closed) return noTimer
    return this.o.setTimer(ms, () => {
      if (!this.closed) fn()
    })
  }

  private groupIdProblem(groupId: unknown): GroupErrorName | null {
    if (typeof groupId !== 'string') return 'INVALID_REQUEST'
    if (groupId === '' || groupId.length > this.limits.idCharsMax) return 'INVALID_GROUP_ID'
    return null
  }

  private isId(x: unknown): x is string {
    return typeof x === 'string' && x.length <= this.limits.idCharsMax
  }
}

// ---- Helpers ----------------------------------------------------------------------------------

function unknownMember(memberId: string): { memberId: string; errorCode: GroupErrorName } {
  return { memberId, errorCode: 'UNKNOWN_MEMBER_ID' }
}

function metadataFor(member: Member, protocol: string | null): Uint8Array {
  if (protocol === null) return noBytes
  return member.protocols.find((p) => p.name === protocol)?.metadata ?? noBytes
}

function sameProtocols(a: readonly GroupProtocol[], b: readonly GroupProtocol[]): boolean {
  return (
    a.length === b.length && a.every((p, i) => p.name === b[i]!.name && sameBytes(p.metadata, b[i]!.metadata))
  )
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/**
 * The protocol for the new generation: among those every member offers, the one most members
 * prefer most; a tie goes to the leader's preference.
 */
function selectProtocol(group: Group): string {
  const members = [...group.members.values()]
  const leader = group.members.get(group.leaderId ?? '') ?? members[0]!
  const candidates = leader.protocols
    .map((p) => p.name)
    .filter((name) => members.every((m) => m.protocols.some((p) => p.name === name)))
  if (candidates.length === 0) throw new Error(`group ${group.groupId}: no protocol common to all members`)
  const votes = new Map<string, number>()
  for (const m of members) {
    const vote = m.protocols.find((p) => candidates.includes(p.name))!.name
    votes.set(vote, (votes.get(vote) ?? 0) + 1)
  }
  let best = candidates[0]!
  for (const name of candidates) if ((votes.get(name) ?? 0) > (votes.get(best) ?? 0)) best = name
  return best
}
