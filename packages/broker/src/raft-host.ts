/**
 * The driver of every Raft group on a node: the one place where Raft meets the disk and the
 * network. Work is done per turn of the event loop, not per message: whatever arrived (messages,
 * ticks, proposals, loads) marks groups dirty; one turn then takes each dirty group's Ready,
 * hands all outgoing messages to the transport (one frame per peer), and makes every group's
 * writes durable with ONE flush of the store (one LevelDB batch, one fsync). When the flush lands,
 * each group advances and a turn runs right there, so what waited for that flush (a follower's
 * acknowledgement) leaves in the callback that learned it is durable. Committed entries are applied, and proposals waiting for their commit
 * answered (acks=all), in order after the applies before them — without waiting for this turn's
 * flush, since a quorum already holds them durable; only a membership change waits for it, so
 * that a restarted node never knows an older commit index than the last membership it applied.
 */
import {
  type Entry,
  EntryKind,
  type GroupId,
  type Membership,
  type MembershipChange,
  type NodeId,
  type RaftMessage,
  RaftNode,
  type RaftOptions,
  type Ready,
  type SyncMarker,
} from '@cairn/raft'
import type { GroupLog, GroupOptions, LevelLogStore } from '@cairn/storage'
import type { Transport } from '@cairn/transport'

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
}

export const DEFAULT_TICK_MS = 100
const WAITERS_PER_GROUP_MAX = 100_000

/** Kafka's NOT_LEADER_OR_FOLLOWER: this node does not lead the group (any more); `leaderId` may. */
export class NotLeaderError extends Error {
  readonly code = 'NOT_LEADER_OR_FOLLOWER'
  constructor(
    readonly group: GroupId,
    readonly leaderId: NodeId,
  ) {
    super(`node does not lead group ${group}${leaderId ? `; node ${leaderId} does` : ''}`)
  }
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
}

export type CommittedHandler = (group: GroupId, entries: Entry[]) => void

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

  /** Hosts a replica of `group`; a group new to this node starts from `membership`. */
  async openGroup(
    group: GroupId,
    membership: Membership,
    options: Pick<GroupOptions, 'offsetsOf'> = {},
  ): Promise<void> {
    if (this.groups.has(group)) return
    const log = await this.options.store.group(group, { ...options, onLoaded: () => this.schedule(group) })
    if (log.logStart().membership.voters.length === 0) {
      log.write({ logStart: { index: 0, term: 0, payload: new Uint8Array(0), membership } })
      await this.options.store.flush()
    }
    const o = this.options
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
    this.schedule(group)
    return ok
  }

  status(group: GroupId) {
    return this.groups.get(group)?.raft.status()
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
      g.raft.step(m)
      this.dirty.add(m.group)
    }
    this.schedule()
  }

  /** Quiesced groups (idle, fully replicated) are skipped: a tick would do nothing for them. */
  private tick(): void {
    for (const g of this.groups.values()) {
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
      if (!g || !rd) continue
      for (const m of rd.messages) out.push(m)
      this.answerWaiters(g, rd, g.appliedIndex)
      if (rd.sync) syncs.push({ g, sync: rd.sync })
      if (rd.committed.length > 0) applies.push({ g, committed: rd.committed })
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
    const flushed = syncs.length > 0 ? this.flush() : this.lastFlush
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

  private flush(): Promise<void> {
    this.counters.flushes++
    this.lastFlush = this.options.store.flush()
    return this.lastFlush
  }

  private advanceAll(syncs: { g: Hosted; sync: SyncMarker }[]): void {
    if (this.closed) return
    for (const { g, sync } of syncs) {
      if (this.groups.get(g.id) !== g) continue
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
        if (g.log.term(w.lastIndex) === w.term) w.resolve(w)
        else w.reject(new NotLeaderError(g.id, rd.leaderId))
      } else {
        // Leadership moved: the entries may still commit under the next leader, or not. The
        // answer is Kafka's, and an idempotent producer's retry resolves the doubt.
        w.reject(new NotLeaderError(g.id, rd.leaderId))
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
