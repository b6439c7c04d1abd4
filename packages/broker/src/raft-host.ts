/**
 * The driver of every Raft group on a node: the one place where Raft meets the disk and the
 * network. Work is done per turn of the event loop, not per message: whatever arrived (messages,
 * ticks, proposals, loads) marks groups dirty; one turn then takes each dirty group's Ready,
 * hands all outgoing messages to the transport (one frame per peer), and makes every group's
 * writes durable with ONE flush of the store (one LevelDB batch, one fsync). When the flush lands,
 * each group advances and a turn runs right there, so what waited for that flush (a follower's
 * acknowledgement) leaves in the callback that learned it is durable. Committed entries are
 * applied, and proposals waiting for their commit answered (acks=all), in order after the applies
 * before them — without waiting for this turn's flush, since a quorum already holds them durable;
 * only a membership change waits for it, so that a restarted node never knows an older commit
 * index than the last membership it applied. A produce that arrives while leadership moves here
 * (a hand-off, an election, a new leader's first commit) waits for it to end before it takes
 * offsets (leadershipSettled).
 */
import { channel } from 'node:diagnostics_channel'
import {
  type Entry,
  EntryKind,
  type GroupId,
  type Membership,
  type MembershipChange,
  NONE,
  type NodeId,
  type RaftMessage,
  RaftNode,
  type RaftOptions,
  type Ready,
  type Role,
  type SyncMarker,
} from '@cairn/raft'
import type { GroupLog, GroupOptions, LevelLogStore } from '@cairn/storage'
import type { Logger, Transport } from '@cairn/transport'

export interface RaftHostOptions {
  nodeId: NodeId
  store: LevelLogStore
  transport: Transport
  /** One timer for all groups; Raft's timeouts are counted in these ticks. */
  tickMs?: number
  /** Options for every replica (election and heartbeat ticks, limits). */
  raft?: Partial<Omit<RaftOptions, 'id' | 'group' | 'storage'>>
  now?: () => number
  random?: () => number
  /** Proposals that may wait for their commit at once, per group. */
  waitersPerGroupMax?: number
  /** DELIBERATE DEFECT for harness tests (see test-bugs.ts): answer acks=all like acks=1. */
  unsafeAckBeforeCommit?: boolean
  /** Where elections are told (one line per campaign, win and new leader per group); none: silent. */
  logger?: Logger
  /** A group's name in those lines (`orders-3`); `group N` without it. */
  groupName?: (group: GroupId) => string
}

export const DEFAULT_TICK_MS = 100
/**
 * A write's way through Raft on this node, for following one write through every process it
 * touches (`scripts/trace-hops.mjs`): `{ event, group, index, from? }` where event is `proposed`
 * (the leader appended it), `appended` (a follower received entries up to index), `acked` (the
 * leader heard `from` has up to index), `durable` (this node's flush covering index landed),
 * `committed` or `answered` (its proposal resolved). Nothing is built unless the channel has a
 * subscriber.
 */
const raftChannel = channel('cairn:raft')

function traceReceived(m: RaftMessage): void {
  if (m.type === 'append' && m.entries.length > 0)
    raftChannel.publish({ event: 'appended', group: m.group, index: m.entries.at(-1)!.index })
  else if (m.type === 'appendResponse' && !m.reject)
    raftChannel.publish({ event: 'acked', group: m.group, index: m.index, from: m.from })
}

const WAITERS_PER_GROUP_MAX = 100_000
/**
 * How long a produce waits for a leadership change under way here (a hand-off, an election) to
 * end before it is answered: about Raft's own bound, an election timeout (10 ticks of 100 ms),
 * after which a leader gives a hand-off up and a candidate campaigns again.
 */
export const LEADERSHIP_WAIT_MS_MAX = 1000
/**
 * Ticks after a new group opens before its preferred replica (the first voter) campaigns, as
 * Kafka's controller makes a new partition's first replica its leader. Its peers open the group
 * from the same metadata record within milliseconds; the others' election timers run 10–20 ticks.
 */
export const PREFERRED_CAMPAIGN_TICKS = 2
/**
 * Ticks the other replicas of a new group hold their election timers, so that if the preferred
 * replica's first campaign finds a peer not open yet, its next (after its own election timeout)
 * still comes first: one election timeout at the least (Raft's default of 10 ticks).
 */
export const OTHERS_ELECTION_HOLD_TICKS = 10

/**
 * Kafka's NOT_LEADER_OR_FOLLOWER: this node does not lead the group (any more); `leaderId` may,
 * in term `leaderEpoch` (0: unknown).
 */
export class NotLeaderError extends Error {
  readonly code = 'NOT_LEADER_OR_FOLLOWER'
  constructor(
    readonly group: GroupId,
    readonly leaderId: NodeId,
    readonly leaderEpoch = 0,
  ) {
    super(`node does not lead group ${group}${leaderId ? `; node ${leaderId} does` : ''}`)
  }

  /** Who this node believes leads `group`, and in which term, as its answer to a request. */
  static hinted(group: GroupId, hint: LeaderHint): NotLeaderError {
    return new NotLeaderError(group, hint.leaderId, hint.leaderEpoch)
  }
}

/** The leader a node names for a group it does not lead, with its term; leaderId 0: none known. */
export interface LeaderHint {
  leaderId: NodeId
  leaderEpoch: number
}

export class HostError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

export interface Committed {
  firstIndex: number
  lastIndex: number
  term: number
}

interface Waiter extends Committed {
  resolve: (c: Committed) => void
  reject: (e: Error) => void
}

/** When a proposal is answered: once committed by a quorum (acks=all), or once durable on this node (acks=1). */
export type ProposeAck = 'quorum' | 'local'

interface Hosted {
  id: GroupId
  raft: RaftNode
  log: GroupLog
  /** In index order: a leader's proposals are appended in order. */
  waiters: Waiter[]
  /** acks=1: answered once the leader's own flush has them. */
  localWaiters: Waiter[]
  /** The last entry handed to the committed handlers. */
  appliedIndex: number
  /** The last hand-off started here: where leadership went, from which term. */
  handOff: { to: NodeId; term: number } | null
  /** Produces waiting for the leadership change under way here to end (one shared wait per group). */
  leadershipWait: { settled: Promise<void>; resolve: () => void; timer: NodeJS.Timeout } | null
  /** Ticks until this node, the preferred replica of a group new here, campaigns; 0: it does not. */
  campaignInTicks: number
  /** Ticks this node, another replica of a group new here, does not count towards an election. */
  electionHoldTicks: number
  /**
   * The role, term and leader last told in the log (elections), the last leader known (NONE:
   * none yet), and when this node began campaigning.
   */
  told: { role: Role; term: number; leaderId: NodeId; lastLeaderId: NodeId; campaignSinceMs: number }
}

export type CommittedHandler = (group: GroupId, entries: Entry[]) => void

/**
 * A hand-off from this node, or an election by it, is under way — or it has just won one and not
 * yet committed an entry of its term: until a follower answers, its ISR is itself alone, and an
 * acks=all produce would be refused NOT_ENOUGH_REPLICAS for want of news rather than of replicas.
 */
function changing(raft: RaftNode): boolean {
  return (
    raft.leadTransferee !== NONE ||
    raft.role === 'candidate' ||
    (raft.role === 'leader' && !raft.committedInTerm)
  )
}

export class RaftHost {
  private readonly groups = new Map<GroupId, Hosted>()
  private readonly dirty = new Set<GroupId>()
  private scheduled = false
  private closed = false
  private ticker: NodeJS.Timeout | null = null
  /** Applies run in turn order; one holding a membership change after the flush of its commit index. */
  private applyChain: Promise<void> = Promise.resolve()
  /** Advances run after the flush that made their writes durable, in turn order. */
  private syncChain: Promise<void> = Promise.resolve()
  /** The last flush started: it makes durable everything written before it. */
  private lastFlush: Promise<void> = Promise.resolve()
  private failed: Error | null = null
  private readonly handlers: CommittedHandler[] = []
  private readonly counters = { turns: 0, flushes: 0, messagesOut: 0 }
  private readonly unsubscribe: (() => void)[]

  constructor(private readonly options: RaftHostOptions) {
    this.unsubscribe = [
      options.transport.onMessages((_from, messages) => this.deliver(messages)),
      options.transport.onPeerDown((peer) => this.peerDown(peer)),
    ]
    const tickMs = options.tickMs ?? DEFAULT_TICK_MS
    this.ticker = setInterval(() => this.tick(), tickMs)
  }

  /**
   * Hosts a replica of `group`; a group new to this node starts from `membership`, and if this node
   * is its first voter (the preferred replica) it campaigns {@link PREFERRED_CAMPAIGN_TICKS} ticks
   * later instead of waiting out an election timeout; the other replicas hold their election timers
   * for {@link OTHERS_ELECTION_HOLD_TICKS} ticks. Campaigning is safe at any time: this only decides
   * who most likely wins the first election.
   */
  async openGroup(
    group: GroupId,
    membership: Membership,
    options: Pick<GroupOptions, 'offsetsOf' | 'dataCrcOf'> = {},
  ): Promise<void> {
    if (this.groups.has(group)) return
    const log = await this.options.store.group(group, { ...options, onLoaded: () => this.schedule(group) })
    const o = this.options
    const fresh = log.logStart().membership.voters.length === 0
    if (fresh) {
      log.write({ logStart: { index: 0, term: 0, payload: new Uint8Array(0), membership } })
      await this.options.store.flush()
    }
    const raft = new RaftNode({
      ...o.raft,
      id: o.nodeId,
      group,
      storage: log,
      now: o.now ?? (() => performance.now()),
      random: o.random ?? Math.random,
    })
    this.groups.set(group, {
      id: group,
      raft,
      log,
      waiters: [],
      localWaiters: [],
      appliedIndex: 0,
      handOff: null,
      leadershipWait: null,
      campaignInTicks: fresh && membership.voters[0] === o.nodeId ? PREFERRED_CAMPAIGN_TICKS : 0,
      electionHoldTicks: fresh && membership.voters[0] !== o.nodeId ? OTHERS_ELECTION_HOLD_TICKS : 0,
      told: { role: raft.role, term: raft.term, leaderId: NONE, lastLeaderId: NONE, campaignSinceMs: 0 },
    })
    this.schedule(group)
  }

  onCommitted(handler: CommittedHandler): void {
    this.handlers.push(handler)
  }

  /**
   * Appends `data` as entries of `group`. Resolves once a quorum has them durable (`quorum`,
   * acks=all) or once this leader has (`local`, acks=1: lost if it dies before the commit).
   */
  propose(group: GroupId, data: Uint8Array[], ack: ProposeAck = 'quorum'): Promise<Committed> {
    const g = this.groups.get(group)
    if (!g)
      return Promise.reject(new HostError('UNKNOWN_TOPIC_OR_PARTITION', `group ${group} is not hosted here`))
    if (this.failed) return Promise.reject(this.failed)
    if (g.waiters.length >= (this.options.waitersPerGroupMax ?? WAITERS_PER_GROUP_MAX)) {
      return Promise.reject(
        new HostError('REQUEST_TIMED_OUT', `group ${group} has too many proposals in flight`),
      )
    }
    const r = g.raft.propose(data)
    if (!r.ok) {
      if (r.error === 'NOT_LEADER') return Promise.reject(new NotLeaderError(group, r.leaderId))
      // Leadership is moving (a hand-off, a reassignment): Kafka's answer, which clients retry.
      // Refused at once, never held: the partition assigns offsets in propose order and counts
      // on a proposal being appended or refused synchronously.
      if (r.error === 'TRANSFER_IN_PROGRESS') return Promise.reject(new NotLeaderError(group, 0))
      return Promise.reject(new HostError(r.error, r.message))
    }
    this.schedule(group)
    if (raftChannel.hasSubscribers) raftChannel.publish({ event: 'proposed', group, index: r.lastIndex })
    return new Promise((resolve, reject) => {
      const w = { firstIndex: r.firstIndex, lastIndex: r.lastIndex, term: r.term, resolve, reject }
      if (ack === 'local' || this.options.unsafeAckBeforeCommit) g.localWaiters.push(w)
      else g.waiters.push(w)
    })
  }

  /**
   * One membership change of `group` (leader only): add a learner, promote it, or remove a
   * member. Refused while the previous change is not applied, or before this leader's first entry
   * is; the result says why.
   */
  changeMembership(group: GroupId, change: MembershipChange): { ok: boolean; message: string } {
    const g = this.groups.get(group)
    if (!g) return { ok: false, message: `group ${group} is not hosted here` }
    const r = g.raft.changeMembership(change)
    if (r.ok) this.schedule(group)
    if (r.ok) return { ok: true, message: `${change.type} ${change.node} at index ${r.lastIndex}` }
    return { ok: false, message: r.error === 'NOT_LEADER' ? 'not the leader' : `${r.error}: ${r.message}` }
  }

  /** Stops hosting `group` (its topic was deleted, or its replica moved away); its log stays on disk. */
  closeGroup(group: GroupId): void {
    const g = this.groups.get(group)
    if (!g) return
    for (const w of [...g.waiters, ...g.localWaiters])
      w.reject(new HostError('UNKNOWN_TOPIC_OR_PARTITION', `group ${group} was closed`))
    g.raft.stop()
    this.groups.delete(group)
    this.dirty.delete(group)
  }

  /** Deletes `group`'s log up to `index` (retention); `payload` is where the log continues. */
  compact(group: GroupId, index: number, payload: Uint8Array): boolean {
    const g = this.groups.get(group)
    if (!g) return false
    const ok = g.raft.compact(index, payload).ok
    this.schedule(group)
    return ok
  }

  transferLeadership(group: GroupId, to: NodeId): boolean {
    const g = this.groups.get(group)
    if (!g) return false
    const ok = g.raft.transferLeadership(to).ok
    if (ok) g.handOff = { to, term: g.raft.term }
    this.schedule(group)
    return ok
  }

  /**
   * True while the leadership of `group` is changing here: this node leads it and hands it to
   * another node, campaigns for it (a candidate: past pre-vote, or called by a hand-off), or has
   * just won it and not yet committed an entry of its term.
   */
  leadershipChanging(group: GroupId): boolean {
    const g = this.groups.get(group)
    return g !== undefined && changing(g.raft)
  }

  /**
   * Resolves once the leadership of `group` is not changing here any more — the hand-off completed
   * or was given up, the election lost or won and the new term's first entry committed — or after
   * {@link LEADERSHIP_WAIT_MS_MAX}. A produce waits here before it takes offsets, so that its
   * answer is an append, or names the new leader (KIP-951), instead of sending the client round its
   * retry backoff and a metadata refresh.
   */
  leadershipSettled(group: GroupId): Promise<void> {
    const g = this.groups.get(group)
    if (!g || !changing(g.raft) || this.closed) return Promise.resolve()
    if (g.leadershipWait) return g.leadershipWait.settled
    let resolve!: () => void
    const settled = new Promise<void>((r) => {
      resolve = r
    })
    const timer = setTimeout(() => this.endLeadershipWait(g), LEADERSHIP_WAIT_MS_MAX)
    g.leadershipWait = { settled, resolve, timer }
    return settled
  }

  /**
   * The node a client should try for `group`, other than this one: the leader this node knows of,
   * else — right after it handed leadership off and before the new leader's first message — the
   * node it handed it to. 0 when it knows neither (or leads the group itself).
   */
  leaderHint(group: GroupId): LeaderHint {
    const g = this.groups.get(group)
    return g ? this.hintFor(g) : { leaderId: NONE, leaderEpoch: 0 }
  }

  private hintFor(g: Hosted): LeaderHint {
    const r = g.raft
    if (r.leaderId !== NONE && r.leaderId !== this.options.nodeId)
      return { leaderId: r.leaderId, leaderEpoch: r.term }
    // Stepped down for the hand-off's election (term + 1), which its target called.
    if (r.role !== 'leader' && g.handOff !== null && r.term === g.handOff.term + 1)
      return { leaderId: g.handOff.to, leaderEpoch: r.term }
    return { leaderId: NONE, leaderEpoch: 0 }
  }

  private endLeadershipWait(g: Hosted): void {
    const w = g.leadershipWait
    if (!w) return
    g.leadershipWait = null
    clearTimeout(w.timer)
    w.resolve()
  }

  status(group: GroupId) {
    return this.groups.get(group)?.raft.status()
  }

  /**
   * The term in which this node leads `group`, or -1 if it does not: what the produce and fetch
   * paths ask per request, without building a whole {@link status}.
   */
  leaderTermOf(group: GroupId): number {
    const r = this.groups.get(group)?.raft
    return r !== undefined && r.role === 'leader' ? r.term : -1
  }

  /** The in-sync replicas of a group this node leads (empty if it does not lead it). */
  isrOf(group: GroupId): NodeId[] {
    const r = this.groups.get(group)?.raft
    return r !== undefined && r.role === 'leader' ? r.isr() : []
  }

  log(group: GroupId): GroupLog | undefined {
    return this.groups.get(group)?.log
  }

  groupIds(): GroupId[] {
    return [...this.groups.keys()]
  }

  stats() {
    return { ...this.counters, groups: this.groups.size, store: this.options.store.stats() }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.ticker) clearInterval(this.ticker)
    for (const unsubscribe of this.unsubscribe) unsubscribe()
    await Promise.all([this.applyChain.catch(() => undefined), this.syncChain.catch(() => undefined)])
    for (const g of this.groups.values()) {
      this.endLeadershipWait(g)
      for (const w of [...g.waiters, ...g.localWaiters]) w.reject(new NotLeaderError(g.id, 0))
      g.waiters = []
      g.localWaiters = []
      g.raft.stop()
    }
  }

  // ---- the turn --------------------------------------------------------------------------------

  private deliver(messages: RaftMessage[]): void {
    for (const m of messages) {
      const g = this.groups.get(m.group)
      if (!g) continue
      if (raftChannel.hasSubscribers) traceReceived(m)
      g.raft.step(m)
      this.dirty.add(m.group)
    }
    this.schedule()
  }

  /** Quiesced groups (idle, fully replicated) are skipped: a tick would do nothing for them. */
  private tick(): void {
    for (const g of this.groups.values()) {
      // A new group's first election goes to its preferred replica, unless one was won meanwhile.
      if (g.campaignInTicks > 0 && --g.campaignInTicks === 0 && g.raft.term === 0) g.raft.campaign()
      if (g.electionHoldTicks > 0) {
        g.electionHoldTicks--
        if (g.raft.term === 0 && g.raft.role === 'follower') continue
      }
      if (g.raft.quiesced) continue
      g.raft.tick()
      this.dirty.add(g.id)
    }
    this.schedule()
  }

  /**
   * Node-level liveness from the transport: every group hears that `peer` is unreachable. Leaders
   * with it as a member wake, and followers of it campaign within a few ticks instead of waiting
   * out an election timeout.
   */
  private peerDown(peer: NodeId): void {
    for (const g of this.groups.values()) {
      g.raft.peerDown(peer)
      this.dirty.add(g.id)
    }
    this.schedule()
  }

  private schedule(group?: GroupId): void {
    if (group !== undefined) this.dirty.add(group)
    if (this.scheduled || this.closed) return
    this.scheduled = true
    setImmediate(this.scheduledTurn)
  }

  private readonly scheduledTurn = (): void => {
    this.scheduled = false
    this.turn()
  }

  /** Runs the groups marked dirty now; called on setImmediate, or right after a flush lands. */
  private turn(): void {
    if (this.closed || this.failed) return
    const out: RaftMessage[] = []
    const syncs: { g: Hosted; sync: SyncMarker }[] = []
    const applies: { g: Hosted; committed: Entry[] }[] = []
    let appliesWait = false
    for (const id of this.dirty) {
      const g = this.groups.get(id)
      const rd = g?.raft.ready()
      if (g?.leadershipWait && !changing(g.raft)) this.endLeadershipWait(g)
      if (g && this.options.logger) this.tellElections(g, this.options.logger)
      if (!g || !rd) continue
      for (const m of rd.messages) out.push(m)
      this.answerWaiters(g, rd, g.appliedIndex)
      if (rd.sync) syncs.push({ g, sync: rd.sync })
      if (rd.committed.length > 0) {
        applies.push({ g, committed: rd.committed })
        if (raftChannel.hasSubscribers)
          raftChannel.publish({ event: 'committed', group: id, index: rd.committed.at(-1)!.index })
      }
      if (rd.installed !== null || rd.committed.some((e) => e.kind === EntryKind.config)) appliesWait = true
    }
    this.dirty.clear()
    this.counters.turns++
    if (out.length > 0) {
      this.counters.messagesOut += out.length
      // Sent now, not at the end of the transport's own turn: this turn is the batch already.
      this.options.transport.send(out)
      this.options.transport.flush()
    }
    // One flush for every group of the node (group commit); advances wait for the writes they follow.
    // A commit index alone asks for no flush (see writeHardState), but one that applies a
    // membership change must be durable before the apply: then this turn flushes too.
    const flushed = syncs.length > 0 || appliesWait ? this.flush() : this.lastFlush
    if (syncs.length > 0) {
      this.syncChain = this.syncChain
        .then(() => flushed)
        .then(() => this.advanceAll(syncs))
        .catch((err: unknown) => this.fail(err))
    }
    // Applies run in order after the applies before them. Committed entries are durable on a
    // quorum, so they need not wait for this node's flush — except a membership change (or a
    // restored log start): its commit index must be durable here first, or a restart could
    // campaign under an older membership than the one this node applied.
    if (applies.length > 0) {
      this.applyChain = this.applyChain
        .then(() => (appliesWait ? flushed : undefined))
        .then(() => this.applyAll(applies))
        .catch((err: unknown) => this.fail(err))
    }
  }

  /**
   * One line when this node begins campaigning for a group (pre-vote), or again after a candidacy
   * at a new term (a pre-vote round that fails keeps the term and is not told again, so a node cut
   * off does not log every election timeout), when it stands as a candidate, when it wins, and when
   * it learns of another leader: Kafka logs each leader election too. Compared per dirty group per
   * turn: three fields.
   */
  private tellElections(g: Hosted, logger: Logger): void {
    const r = g.raft
    const told = g.told
    if (r.role === told.role && r.term === told.term && r.leaderId === told.leaderId) return
    const name = this.options.groupName?.(g.id) ?? `group ${g.id}`
    const now = performance.now()
    const wasCampaigning = told.role === 'preCandidate' || told.role === 'candidate'
    const fields = { group: g.id, term: r.term }
    if (r.role === 'preCandidate' && (told.role !== 'preCandidate' || r.term !== told.term)) {
      if (!wasCampaigning) told.campaignSinceMs = now
      const lost = wasCampaigning || told.lastLeaderId === NONE ? '' : ` (node ${told.lastLeaderId} led)`
      // A pre-candidate keeps its term; it asks for votes for the next one.
      const round = wasCampaigning ? 'campaigning again' : 'campaigning'
      logger.info(`${name}: ${round} for term ${r.term + 1}${lost}`, fields)
    } else if (r.role === 'candidate' && (told.role !== 'candidate' || r.term !== told.term)) {
      if (!wasCampaigning) told.campaignSinceMs = now
      logger.info(`${name}: candidate at term ${r.term}`, fields)
    } else if (r.role === 'leader' && told.role !== 'leader') {
      const campaignMs = wasCampaigning ? Math.round(now - told.campaignSinceMs) : 0
      logger.info(`${name}: elected leader at term ${r.term} after ${campaignMs} ms of campaign`, {
        ...fields,
        campaignMs,
      })
    } else if (r.role === 'follower' && r.leaderId !== NONE && r.leaderId !== told.leaderId) {
      logger.info(`${name}: node ${r.leaderId} leads at term ${r.term}`, { ...fields, leader: r.leaderId })
    }
    told.role = r.role
    told.term = r.term
    told.leaderId = r.leaderId
    if (r.leaderId !== NONE) told.lastLeaderId = r.leaderId
  }

  private flush(): Promise<void> {
    this.counters.flushes++
    this.lastFlush = this.options.store.flush()
    return this.lastFlush
  }

  private advanceAll(syncs: { g: Hosted; sync: SyncMarker }[]): void {
    if (this.closed) return
    for (const { g, sync } of syncs) {
      if (this.groups.get(g.id) !== g) continue
      if (raftChannel.hasSubscribers)
        raftChannel.publish({ event: 'durable', group: g.id, index: sync.index })
      g.raft.advance(sync)
      this.answerLocalWaiters(g, sync)
      this.dirty.add(g.id)
    }
    // What waited for this flush (a follower's acknowledgement, the leader's own vote in the
    // quorum) goes out from the callback that learned it is durable, not a turn later.
    this.turn()
  }

  private applyAll(applies: { g: Hosted; committed: Entry[] }[]): void {
    if (this.closed) return
    for (const { g, committed } of applies) {
      if (this.groups.get(g.id) !== g) continue
      for (const h of this.handlers) h(g.id, committed)
      g.appliedIndex = committed[committed.length - 1]!.index
      const r = g.raft
      this.answerWaiters(g, { role: r.role, term: r.term, leaderId: r.leaderId }, g.appliedIndex)
      this.dirty.add(g.id)
    }
    this.schedule()
  }

  /**
   * Proposals of this leadership are answered once their entries are committed AND applied here
   * (the high watermark has moved past them, so a read right after the answer sees them, as in
   * Kafka); proposals of a leadership that ended are refused at once.
   */
  private answerWaiters(
    g: Hosted,
    rd: Pick<Ready, 'role' | 'term' | 'leaderId'>,
    appliedIndex: number,
  ): void {
    if (g.waiters.length === 0) return
    let k = 0
    for (; k < g.waiters.length; k++) {
      const w = g.waiters[k]!
      if (rd.role === 'leader' && rd.term === w.term) {
        if (w.lastIndex > appliedIndex) break
        if (g.log.term(w.lastIndex) === w.term) {
          if (raftChannel.hasSubscribers)
            raftChannel.publish({ event: 'answered', group: g.id, index: w.lastIndex })
          w.resolve(w)
        } else w.reject(new NotLeaderError(g.id, rd.leaderId))
      } else {
        // Leadership moved: the entries may still commit under the next leader, or not. The
        // answer is Kafka's, and an idempotent producer's retry resolves the doubt.
        w.reject(NotLeaderError.hinted(g.id, this.hintFor(g)))
      }
    }
    if (k > 0) g.waiters.splice(0, k)
  }

  private answerLocalWaiters(g: Hosted, sync: SyncMarker): void {
    let k = 0
    for (; k < g.localWaiters.length; k++) {
      const w = g.localWaiters[k]!
      if (w.lastIndex > sync.index) break
      if (g.log.term(w.lastIndex) === w.term) w.resolve(w)
      else w.reject(new NotLeaderError(g.id, g.raft.leaderId))
    }
    if (k > 0) g.localWaiters.splice(0, k)
  }

  private fail(err: unknown): void {
    this.failed = err instanceof Error ? err : new Error(String(err))
    for (const g of this.groups.values()) {
      for (const w of [...g.waiters, ...g.localWaiters]) w.reject(this.failed)
      g.waiters = []
      g.localWaiters = []
    }
  }
}
