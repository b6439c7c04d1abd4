/**
 * A whole cluster in one process, in virtual time: nodes hosting several Raft groups, a network
 * that drops, delays, duplicates and partitions, disks whose unsynced writes a crash loses. The
 * invariants are checked after every event; a violation stops the run.
 */
import type { Ready, SyncMarker } from '../core.js'
import { hasDefect } from '../defects.js'
import { MemoryStorage } from '../memory-storage.js'
import { RaftNode } from '../node.js'
import { type Entry, EntryKind, type LogWrite, type NodeId, type RaftMessage } from '../types.js'
import { Random } from './random.js'
import type { Fault, Schedule } from './schedule.js'

export const TICK_MS = 10
export const ELECTION_TICKS = 10
export const REPLICA_LAG_TIME_MS = 300
/** Each node pings every other node once a tick; silent this long, a peer is reported down. */
export const PEER_DOWN_MS = 50
/** A quiesced replica must have woken once a peer it depends on is silent this long. */
const WAKE_BOUND_MS = PEER_DOWN_MS + 3 * TICK_MS
/** After the faults: this long to elect leaders and commit a probe in every group. */
export const LIVENESS_MS = 4000
export const FAULT_WINDOW_MS = 3000
const EVENTS_MAX = 3_000_000
const READY_ROUNDS_MAX = 8

export interface Violation {
  time: number
  invariant: string
  detail: string
}

export interface SimResult {
  violations: Violation[]
  virtualMs: number
  proposals: number
  acked: number
  events: number
  transcript: string[]
}

const decoder = new TextDecoder()
const encoder = new TextEncoder()

function entryKey(e: Entry): string {
  return `${e.kind}:${decoder.decode(e.data)}`
}

function describe(m: RaftMessage): string {
  const head = `${m.type} g${m.group} ${m.from}->${m.to} t${m.term}`
  switch (m.type) {
    case 'append':
      return `${head} prev=${m.prevIndex}/${m.prevTerm} n=${m.entries.length} commit=${m.commit}`
    case 'appendResponse':
      return `${head} index=${m.index}${m.reject ? ` reject hint=${m.hintIndex}/${m.hintTerm}` : ''}`
    case 'preVote':
    case 'vote':
      return `${head} last=${m.lastIndex}/${m.lastTerm}${m.transfer ? ' transfer' : ''}`
    case 'preVoteResponse':
    case 'voteResponse':
      return `${head} ${m.granted ? 'granted' : 'rejected'}`
    case 'heartbeat':
    case 'quiesce':
      return `${head} commit=${m.commit}`
    case 'snapshot':
      return `${head} start=${m.logStart.index}/${m.logStart.term}`
    default:
      return head
  }
}

/** Storage that reports every appended entry to the log-matching check. */
class CheckedStorage extends MemoryStorage {
  constructor(
    voters: NodeId[],
    private readonly onAppend: (entries: Entry[], prevTerm: (index: number) => number | undefined) => void,
  ) {
    super({ voters, learners: [] })
  }

  override write(write: LogWrite): void {
    super.write(write)
    if (write.entries && write.entries.length > 0) this.onAppend(write.entries, (i) => this.term(i))
  }
}

interface ApplyItem {
  epoch: number
  entries: Entry[]
  installedIndex: number
}

interface SimNode {
  id: NodeId
  up: boolean
  incarnation: number
  rafts: Map<number, RaftNode>
  storages: Map<number, CheckedStorage>
  /** Local monotonic clock = virtual time × rate + jumps. */
  rate: number
  jumpMs: number
  epoch: number
  syncedEpoch: number
  syncing: { epoch: number; counts: Map<number, number>; markers: Map<number, SyncMarker> } | null
  markers: Map<number, SyncMarker>
  applyQueue: Map<number, ApplyItem[]>
  applied: Map<number, number>
  lastCommit: Map<number, number>
  /** The last membership change (or log start) each group applied: its commit must survive a crash. */
  appliedConfig: Map<number, number>
  /** Node-level liveness, as a broker's transport keeps it: when each peer was last heard (virtual time). */
  lastHeard: Map<NodeId, number>
  /** The incarnation each peer last pinged with: a new one means it restarted. */
  peerIncarnation: Map<NodeId, number>
  /** Peers reported down to every group, until heard from again. */
  reportedDown: Set<NodeId>
}

interface Proposal {
  group: number
  index: number
  term: number
  node: NodeId
  key: string
}

interface GroupCheck {
  leaders: Map<number, NodeId>
  /** Term of each index known committed (from any leader's report). */
  committedTerm: Map<number, number>
  knownCommit: number
  /** The value applied at each index, by whichever node applied it first. */
  appliedKey: Map<number, string>
  ackedKey: Map<number, string>
  pending: Proposal[]
  firstEntry: Map<string, string>
  /** Per leader node: its last index over time, in its own clock, for the ISR check. */
  timelines: Map<
    NodeId,
    { term: number; times: number[]; indexes: number[]; heard: Map<NodeId, number>; quiesced: boolean }
  >
  probe: Proposal | null
  probeAcked: boolean
}

type Event = { time: number; seq: number; run: () => void }

class EventQueue {
  private heap: Event[] = []
  private seq = 0

  push(time: number, run: () => void): void {
    const e = { time, seq: this.seq++, run }
    const h = this.heap
    h.push(e)
    let i = h.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.less(h[i]!, h[parent]!)) break
      ;[h[i], h[parent]] = [h[parent]!, h[i]!]
      i = parent
    }
  }

  pop(): Event | undefined {
    const h = this.heap
    const top = h[0]
    const last = h.pop()
    if (h.length > 0 && last) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r
        if (m === i) break
        ;[h[i], h[m]] = [h[m]!, h[i]!]
        i = m
      }
    }
    return top
  }

  private less(a: Event, b: Event): boolean {
    return a.time < b.time || (a.time === b.time && a.seq < b.seq)
  }
}

export class Simulation {
  private now = 0
  private readonly queue = new EventQueue()
  private readonly nodes = new Map<NodeId, SimNode>()
  private readonly groups = new Map<number, GroupCheck>()
  private readonly rng: Random
  private readonly blocked = new Map<string, number>()
  private dropRate = { rate: 0, until: 0 }
  private duplicateRate = { rate: 0, until: 0 }
  private extraDelay = { ms: 0, until: 0 }
  /** Links deliver in order (as TCP does) except while a reorder fault is on. */
  private reorderUntil = 0
  private readonly lastArrival = new Map<string, number>()
  /** Nodes that crash right after granting their next vote, until the time given. */
  private readonly crashAfterVote = new Map<NodeId, number>()
  /** Figure 8: while set, appends of this group from any node but `except` are cut. */
  private cutAppends: { group: number; except: NodeId } | null = null
  private proposals = 0
  private idleUntil = 0
  private acked = 0
  private events = 0
  private healed = false
  readonly violations: Violation[] = []
  readonly transcript: string[] = []

  constructor(
    private readonly schedule: Schedule,
    seed: number,
    private readonly record: boolean,
  ) {
    this.rng = new Random(seed)
    const voters = Array.from({ length: schedule.nodes }, (_, k) => k + 1)
    for (let g = 0; g < schedule.groups; g++) {
      this.groups.set(g, {
        leaders: new Map(),
        committedTerm: new Map(),
        knownCommit: 0,
        appliedKey: new Map(),
        ackedKey: new Map(),
        pending: [],
        firstEntry: new Map(),
        timelines: new Map(),
        probe: null,
        probeAcked: false,
      })
    }
    for (const id of voters) this.nodes.set(id, this.createNode(id, voters))
  }

  run(): SimResult {
    for (const node of this.nodes.values()) {
      this.startNode(node)
    }
    for (const fault of [...this.schedule.faults].sort((a, b) => a.at - b.at)) {
      this.queue.push(fault.at, () => this.applyFault(fault))
    }
    this.queue.push(this.rng.int(1, this.schedule.proposeEveryMs), () => this.proposeLoop())
    this.queue.push(FAULT_WINDOW_MS, () => this.heal())
    const end = FAULT_WINDOW_MS + LIVENESS_MS
    this.queue.push(FAULT_WINDOW_MS + 200, () => this.probeLoop(end))
    for (;;) {
      const e = this.queue.pop()
      if (!e || e.time > end || this.violations.length > 0) break
      if (this.healed && this.converged()) break
      this.now = e.time
      e.run()
      if (++this.events > EVENTS_MAX) this.violate('runaway', `more than ${EVENTS_MAX} events`)
    }
    if (this.violations.length === 0) this.finalChecks()
    return {
      violations: this.violations,
      virtualMs: this.now,
      proposals: this.proposals,
      acked: this.acked,
      events: this.events,
      transcript: this.transcript,
    }
  }

  // ---- nodes ------------------------------------------------------------------------------------

  private createNode(id: NodeId, voters: NodeId[]): SimNode {
    const node: SimNode = {
      id,
      up: false,
      incarnation: 0,
      rafts: new Map(),
      storages: new Map(),
      rate: 0.95 + this.rng.next() * 0.1,
      jumpMs: 0,
      epoch: 1,
      syncedEpoch: 0,
      syncing: null,
      markers: new Map(),
      applyQueue: new Map(),
      applied: new Map(),
      lastCommit: new Map(),
      appliedConfig: new Map(),
      lastHeard: new Map(),
      peerIncarnation: new Map(),
      reportedDown: new Set(),
    }
    for (const g of this.groups.keys()) {
      node.storages.set(
        g,
        new CheckedStorage(voters, (entries, prevTerm) => this.checkAppend(g, entries, prevTerm)),
      )
    }
    return node
  }

  private localNow(node: SimNode): number {
    return this.now * node.rate + node.jumpMs
  }

  private startNode(node: SimNode): void {
    node.up = true
    node.incarnation++
    node.syncing = null
    node.markers.clear()
    node.reportedDown.clear()
    for (const peer of this.nodes.keys()) if (peer !== node.id) node.lastHeard.set(peer, this.now)
    const seedBase = this.rng.int(1, 2 ** 31)
    for (const [g, storage] of node.storages) {
      const random = new Random(seedBase + g)
      const raft = new RaftNode({
        id: node.id,
        group: g,
        storage,
        now: () => this.localNow(node),
        random: () => random.next(),
        electionTicks: ELECTION_TICKS,
        heartbeatTicks: 1,
        appendEntriesMax: this.schedule.appendEntriesMax,
        replicaLagTimeMs: REPLICA_LAG_TIME_MS,
        quiesce: true,
      })
      node.rafts.set(g, raft)
      // Normal entries may be applied before this node's commit index is durable (they are
      // durable on a quorum), so a restart may know an older commit than it applied — but never
      // older than a membership change or log start it applied.
      const before = node.appliedConfig.get(g) ?? 0
      const restored = raft.status()
      if (restored.commit < before) {
        this.violate(
          'commit-monotonic',
          `n${node.id} g${g} restarted with commit ${restored.commit} < the membership it applied at ${before}`,
        )
      }
      node.applied.set(g, storage.logStart().index)
      node.lastCommit.set(g, restored.commit)
      node.applyQueue.set(g, [])
    }
    this.log(`n${node.id} start`)
    this.scheduleTick(node, node.incarnation)
    this.drive(node)
  }

  private crash(node: SimNode): void {
    if (!node.up) return
    node.up = false
    node.incarnation++
    for (const [g, raft] of node.rafts) {
      raft.stop()
      node.storages.get(g)!.crash()
    }
    node.rafts.clear()
    node.syncing = null
    this.log(`n${node.id} crash`)
  }

  private scheduleTick(node: SimNode, incarnation: number): void {
    this.queue.push(this.now + TICK_MS / node.rate, () => {
      if (node.incarnation !== incarnation) return
      this.pingPeers(node)
      this.checkPeers(node)
      this.tickNode(node, 1)
      this.checkQuiesced(node)
      this.scheduleTick(node, incarnation)
    })
  }

  // ---- node-level liveness: what lets a quiesced group notice a failure -------------------------

  private pingPeers(node: SimNode): void {
    for (const to of this.nodes.values()) {
      if (to === node || this.isBlocked(node.id, to.id)) continue
      if (this.now < this.dropRate.until && this.rng.chance(this.dropRate.rate)) continue
      const extra = this.now < this.extraDelay.until ? this.rng.int(0, this.extraDelay.ms) : 0
      const incarnation = node.incarnation
      const toIncarnation = to.incarnation
      this.queue.push(this.now + this.rng.next() * this.schedule.netMsMax + extra, () => {
        if (!to.up || to.incarnation !== toIncarnation) return
        const known = to.peerIncarnation.get(node.id)
        to.peerIncarnation.set(node.id, incarnation)
        // A restart between two pings is a failure too: the peer's replicas forgot their roles.
        if (known !== undefined && known !== incarnation) this.reportDown(to, node.id, 'restarted')
        this.heard(to, node.id)
      })
    }
  }

  /** Anything delivered from `peer` proves it alive, as any frame does on a real connection. */
  private heard(node: SimNode, peer: NodeId): void {
    node.lastHeard.set(peer, this.now)
    node.reportedDown.delete(peer)
  }

  private checkPeers(node: SimNode): void {
    for (const [peer, at] of node.lastHeard) {
      if (this.now - at >= PEER_DOWN_MS && !node.reportedDown.has(peer)) this.reportDown(node, peer, 'silent')
    }
  }

  private reportDown(node: SimNode, peer: NodeId, why: string): void {
    node.reportedDown.add(peer)
    this.log(`n${node.id} peer n${peer} down (${why})`)
    for (const raft of node.rafts.values()) raft.peerDown(peer)
    this.drive(node)
  }

  /**
   * Quiescence must not outlive a failure: a quiesced follower whose leader, or a quiesced leader
   * one of whose members, has been silent past the liveness bound should have been woken.
   */
  private checkQuiesced(node: SimNode): void {
    for (const [g, raft] of node.rafts) {
      if (!raft.quiesced) continue
      const status = raft.status()
      const peers =
        status.role === 'leader'
          ? [...status.membership.voters, ...status.membership.learners].filter((id) => id !== node.id)
          : status.leaderId !== 0
            ? [status.leaderId]
            : []
      for (const peer of peers) {
        const silentMs = this.now - (node.lastHeard.get(peer) ?? this.now)
        if (silentMs > WAKE_BOUND_MS) {
          this.violate(
            'quiesce-outlives-failure',
            `g${g} n${node.id} (${status.role}) still quiesced after n${peer} was silent ${silentMs.toFixed(0)} ms`,
          )
          return
        }
      }
    }
  }

  private tickNode(node: SimNode, ticks: number): void {
    for (let k = 0; k < ticks; k++) for (const raft of node.rafts.values()) raft.tick()
    this.drive(node)
  }

  // ---- the driver: what a broker does with each Ready ---------------------------------------

  /** Runs the node's Ready loop for one group, or all groups when `only` is undefined. */
  private drive(node: SimNode, only?: number): void {
    if (!node.up) return
    for (const [g, raft] of node.rafts) {
      if (only !== undefined && g !== only) continue
      for (let round = 0; round < READY_ROUNDS_MAX; round++) {
        const rd = raft.ready()
        if (!rd) break
        this.handleReady(node, g, raft, rd)
        if (this.violations.length > 0) return
      }
      this.afterReady(node, g, raft)
    }
    this.maybeStartSync(node)
    this.releaseApplies(node)
  }

  private handleReady(node: SimNode, g: number, raft: RaftNode, rd: Ready): void {
    if (rd.role === 'leader') this.onLeader(node, g, raft, rd)
    for (const m of rd.messages) this.send(m)
    if (rd.sync) node.markers.set(g, rd.sync)
    if (rd.committed.length > 0 || rd.installed) {
      // As the broker's driver: committed entries are applied after the group's earlier applies,
      // without waiting for this node's sync (a quorum holds them durable) — except a membership
      // change or a restored log start, which waits for every write so far.
      const queue = node.applyQueue.get(g)!
      const waits =
        !hasDefect('apply-config-early') &&
        (rd.installed !== null || rd.committed.some((e) => e.kind === EntryKind.config))
      const anyPending = [...node.storages.values()].some((s) => s.hasPending())
      const durable = anyPending ? node.epoch : (node.syncing?.epoch ?? 0)
      const epoch = waits ? durable : (queue[queue.length - 1]?.epoch ?? 0)
      queue.push({ epoch, entries: rd.committed, installedIndex: rd.installed?.index ?? -1 })
    }
  }

  private afterReady(node: SimNode, g: number, raft: RaftNode): void {
    const commit = raft.commitIndex
    const last = node.lastCommit.get(g) ?? 0
    if (commit < last) {
      this.violate('commit-monotonic', `n${node.id} g${g} commit went from ${last} to ${commit}`)
    }
    node.lastCommit.set(g, commit)
    if (raft.role === 'leader') this.checkIsr(node, g, raft)
  }

  private maybeStartSync(node: SimNode): void {
    if (node.syncing) return
    const counts = new Map<number, number>()
    let any = false
    for (const [g, s] of node.storages) {
      const n = s.pendingCount()
      counts.set(g, n)
      if (n > 0) any = true
    }
    // As the broker's driver: a sync starts only when a Ready asked for one or an apply waits for
    // one; other writes (a commit index alone) stay pending until then, and a crash loses them.
    const applyWaits = [...node.applyQueue.values()].some((items) =>
      items.some((i) => i.epoch === node.epoch),
    )
    if (!any || (node.markers.size === 0 && !applyWaits)) return
    // One fsync for every group of the node: group commit.
    const syncing = { epoch: node.epoch, counts, markers: new Map(node.markers) }
    node.markers.clear()
    node.epoch++
    node.syncing = syncing
    const incarnation = node.incarnation
    this.queue.push(this.now + this.rng.int(1, this.schedule.diskMsMax), () => {
      if (node.incarnation !== incarnation || node.syncing !== syncing) return
      for (const [g, n] of syncing.counts) node.storages.get(g)!.sync(n)
      node.syncing = null
      node.syncedEpoch = syncing.epoch
      for (const [g, marker] of syncing.markers) node.rafts.get(g)?.advance(marker)
      this.drive(node)
    })
  }

  private releaseApplies(node: SimNode): void {
    for (const [g, items] of node.applyQueue) {
      while (items.length > 0 && items[0]!.epoch <= node.syncedEpoch) {
        this.apply(node, g, items.shift()!)
        if (this.violations.length > 0) return
      }
    }
  }

  private apply(node: SimNode, g: number, item: ApplyItem): void {
    const check = this.groups.get(g)!
    if (item.installedIndex >= 0) {
      node.applied.set(g, item.installedIndex)
      node.appliedConfig.set(g, item.installedIndex)
    }
    for (const e of item.entries) {
      const applied = node.applied.get(g)!
      if (e.index !== applied + 1) {
        this.violate('apply-order', `n${node.id} g${g} applied ${e.index} after ${applied}`)
        return
      }
      const key = entryKey(e)
      const first = check.appliedKey.get(e.index)
      if (first === undefined) check.appliedKey.set(e.index, key)
      else if (first !== key) {
        this.violate(
          'state-machine-safety',
          `g${g} index ${e.index}: n${node.id} applied ${key}, another node ${first}`,
        )
        return
      }
      const acked = check.ackedKey.get(e.index)
      if (acked !== undefined && acked !== key) {
        this.violate('acked-lost', `g${g} index ${e.index} was acked as ${acked}, n${node.id} applied ${key}`)
        return
      }
      node.applied.set(g, e.index)
      if (e.kind === EntryKind.config) node.appliedConfig.set(g, e.index)
    }
  }

  // ---- invariants ---------------------------------------------------------------------------------

  private onLeader(node: SimNode, g: number, raft: RaftNode, rd: Ready): void {
    const check = this.groups.get(g)!
    const known = check.leaders.get(rd.term)
    if (known === undefined) {
      check.leaders.set(rd.term, node.id)
      this.log(`n${node.id} g${g} leader t${rd.term}`)
      this.checkLeaderCompleteness(node, g)
    } else if (known !== node.id) {
      this.violate('election-safety', `g${g} term ${rd.term} has leaders n${known} and n${node.id}`)
      return
    }
    const storage = node.storages.get(g)!
    for (let i = check.knownCommit + 1; i <= rd.commitIndex; i++) {
      const t = storage.term(i)
      if (t !== undefined) check.committedTerm.set(i, t)
    }
    check.knownCommit = Math.max(check.knownCommit, rd.commitIndex)
    this.ackProposals(node, g, raft, rd, check)
  }

  private ackProposals(node: SimNode, g: number, _raft: RaftNode, rd: Ready, check: GroupCheck): void {
    const storage = node.storages.get(g)!
    const keep: Proposal[] = []
    for (const p of check.pending) {
      if (p.node === node.id && p.term < rd.term) continue // that leadership is over: never acked
      if (p.node !== node.id || p.term !== rd.term || p.index > rd.commitIndex) {
        keep.push(p)
        continue
      }
      const got = storage.entries(p.index, p.index + 1, 1)
      const key = got === 'loading' ? undefined : got[0] && entryKey(got[0])
      if (key !== `${EntryKind.normal}:${p.key}`) {
        this.violate('leader-append-only', `g${g} n${node.id} lost its own proposal ${p.key} at ${p.index}`)
        return
      }
      check.ackedKey.set(p.index, key)
      this.acked++
      if (check.probe === p) check.probeAcked = true
    }
    check.pending = keep
  }

  private checkLeaderCompleteness(node: SimNode, g: number): void {
    const check = this.groups.get(g)!
    const storage = node.storages.get(g)!
    const start = storage.logStart().index
    for (const [index, term] of check.committedTerm) {
      if (index <= start) continue
      if (storage.term(index) !== term) {
        const acked = check.ackedKey.get(index)
        this.violate(
          acked ? 'acked-lost' : 'leader-completeness',
          `g${g} new leader n${node.id} lacks committed entry ${index}/${term}${acked ? ` (acked ${acked})` : ''}`,
        )
        return
      }
    }
  }

  /** Log matching: one (index, term) names one entry, and one predecessor term. */
  private checkAppend(g: number, entries: Entry[], prevTerm: (index: number) => number | undefined): void {
    const check = this.groups.get(g)!
    for (const e of entries) {
      const id = `${e.index}/${e.term}`
      const value = `${entryKey(e)}|${prevTerm(e.index - 1)}`
      const first = check.firstEntry.get(id)
      if (first === undefined) check.firstEntry.set(id, value)
      else if (first !== value)
        this.violate('log-matching', `g${g} entry ${id} is ${value} here, ${first} elsewhere`)
    }
  }

  private checkIsr(node: SimNode, g: number, raft: RaftNode): void {
    const check = this.groups.get(g)!
    const status = raft.status()
    const now = this.localNow(node)
    let tl = check.timelines.get(node.id)
    if (!tl || tl.term !== status.term) {
      tl = { term: status.term, times: [now], indexes: [status.lastIndex], heard: new Map(), quiesced: false }
      check.timelines.set(node.id, tl)
    } else if (tl.indexes[tl.indexes.length - 1] !== status.lastIndex) {
      if (tl.times[tl.times.length - 1] === now) tl.indexes[tl.indexes.length - 1] = status.lastIndex
      else {
        tl.times.push(now)
        tl.indexes.push(status.lastIndex)
      }
    }
    // Quiesced, the leader keeps the ISR it had; woken, it counts every member as heard then.
    if (status.quiesced) {
      tl.quiesced = true
      return
    }
    if (tl.quiesced) {
      tl.quiesced = false
      for (const id of status.membership.voters) tl.heard.set(id, now)
    }
    const at = now - REPLICA_LAG_TIME_MS
    let reached = tl.indexes[0]!
    for (let k = 0; k < tl.times.length && tl.times[k]! <= at; k++) reached = tl.indexes[k]!
    const expected = [node.id]
    for (const id of status.membership.voters) {
      const heard = tl.heard.get(id) ?? Number.NEGATIVE_INFINITY
      if (id !== node.id && (status.match.get(id) ?? 0) >= reached && heard >= at) expected.push(id)
    }
    expected.sort((a, b) => a - b)
    if (expected.join(',') !== status.isr.join(',')) {
      this.violate(
        'isr-truthful',
        `g${g} leader n${node.id} reports ISR [${status.isr}], match indexes imply [${expected}]`,
      )
    }
  }

  /** After the heal: every group committed its probe and every voter applied it. */
  private converged(): boolean {
    for (const [g, check] of this.groups) {
      if (!check.probeAcked || !check.probe) return false
      const voters = this.leaderOf(g)?.rafts.get(g)?.status().membership.voters ?? []
      for (const id of voters) {
        if ((this.nodes.get(id)?.applied.get(g) ?? 0) < check.probe.index) return false
      }
    }
    return true
  }

  /** The leader heard from `from`: the ISR check's own record, kept apart from the leader's. */
  private noteHeard(leader: SimNode, g: number, from: NodeId, term: number): void {
    const check = this.groups.get(g)!
    let tl = check.timelines.get(leader.id)
    const raft = leader.rafts.get(g)!
    if (!tl || tl.term !== term) {
      const now = this.localNow(leader)
      tl = { term, times: [now], indexes: [raft.status().lastIndex], heard: new Map(), quiesced: false }
      check.timelines.set(leader.id, tl)
    }
    tl.heard.set(from, this.localNow(leader))
  }

  private finalChecks(): void {
    for (const [g, check] of this.groups) {
      if (!check.probeAcked) {
        this.violate(
          'liveness',
          `g${g}: no proposal committed within ${LIVENESS_MS} ms after the faults healed`,
        )
        continue
      }
      const voters = this.leaderOf(g)?.rafts.get(g)?.status().membership.voters ?? []
      for (const node of this.nodes.values()) {
        if (!voters.includes(node.id)) continue
        const applied = node.applied.get(g) ?? 0
        if (check.probe && applied < check.probe.index) {
          this.violate(
            'liveness',
            `g${g}: n${node.id} applied ${applied}, behind the committed ${check.probe.index}`,
          )
        }
      }
    }
  }

  private violate(invariant: string, detail: string): void {
    this.violations.push({ time: this.now, invariant, detail })
    this.log(`VIOLATION ${invariant}: ${detail}`)
  }

  private log(line: string): void {
    if (this.record) this.transcript.push(`${this.now.toFixed(1).padStart(8)} ${line}`)
  }

  // ---- network -----------------------------------------------------------------------------------

  private send(m: RaftMessage): void {
    const from = this.nodes.get(m.from)
    const to = this.nodes.get(m.to)
    if (!from?.up || !to) return
    if (m.type === 'voteResponse' && m.granted && (this.crashAfterVote.get(m.from) ?? 0) > this.now) {
      this.crashAfterVote.delete(m.from)
      this.queue.push(this.now + 0.1, () => {
        this.crash(from)
        this.queue.push(this.now + 1, () => {
          if (!from.up) this.startNode(from)
        })
      })
    }
    if (this.isBlocked(m.from, m.to)) return this.log(`cut  ${describe(m)}`)
    const cut = this.cutAppends
    if (
      cut &&
      m.group === cut.group &&
      m.from !== cut.except &&
      (m.type === 'append' || m.type === 'snapshot')
    ) {
      return this.log(`cut  ${describe(m)}`)
    }
    if (this.now < this.dropRate.until && this.rng.chance(this.dropRate.rate))
      return this.log(`drop ${describe(m)}`)
    this.transmit(m, to)
    if (this.now < this.duplicateRate.until && this.rng.chance(this.duplicateRate.rate)) this.transmit(m, to)
  }

  private transmit(m: RaftMessage, to: SimNode): void {
    const extra = this.now < this.extraDelay.until ? this.rng.int(0, this.extraDelay.ms) : 0
    let arrival = this.now + this.rng.next() * this.schedule.netMsMax + extra
    const link = `${m.from}>${m.to}`
    if (this.now >= this.reorderUntil) arrival = Math.max(arrival, this.lastArrival.get(link) ?? 0)
    this.lastArrival.set(link, arrival)
    const incarnation = to.incarnation
    this.queue.push(arrival, () => {
      if (!to.up || to.incarnation !== incarnation) return
      this.heard(to, m.from)
      const raft = to.rafts.get(m.group)
      if (!raft) return
      this.log(`recv ${describe(m)}`)
      if (
        (m.type === 'appendResponse' || m.type === 'heartbeatResponse') &&
        raft.role === 'leader' &&
        m.term === raft.term
      ) {
        this.noteHeard(to, m.group, m.from, raft.term)
      }
      raft.step(m)
      this.drive(to, m.group)
    })
  }

  private isBlocked(from: NodeId, to: NodeId): boolean {
    const until = this.blocked.get(`${from}>${to}`)
    return until !== undefined && until > this.now
  }

  private block(from: NodeId, to: NodeId, until: number): void {
    if (from === to) return
    const key = `${from}>${to}`
    this.blocked.set(key, Math.max(this.blocked.get(key) ?? 0, until))
  }

  // ---- faults and load -----------------------------------------------------------------------------

  private leaderOf(g: number): SimNode | undefined {
    let best: SimNode | undefined
    let bestTerm = -1
    for (const node of this.nodes.values()) {
      const raft = node.up ? node.rafts.get(g) : undefined
      if (raft?.role === 'leader' && raft.term > bestTerm) {
        best = node
        bestTerm = raft.term
      }
    }
    return best
  }

  private applyFault(f: Fault): void {
    if (this.healed) return
    this.log(`fault ${JSON.stringify(f)}`)
    const ids = [...this.nodes.keys()]
    switch (f.type) {
      case 'crash':
      case 'crashLeader': {
        const node = f.type === 'crash' ? this.nodes.get(f.node) : this.leaderOf(f.group)
        if (!node?.up) return
        this.crash(node)
        this.queue.push(Math.min(this.now + f.downMs, FAULT_WINDOW_MS), () => {
          if (!node.up) this.startNode(node)
        })
        return
      }
      case 'leaderChurn':
        for (let k = 0; k < f.count; k++) {
          const at = this.now + k * f.gapMs
          if (at < FAULT_WINDOW_MS) {
            this.queue.push(at, () =>
              this.applyFault({ at, type: 'crashLeader', group: f.group, downMs: f.downMs }),
            )
          }
        }
        return
      case 'crashAfterVote':
        this.crashAfterVote.set(f.node, this.now + f.durationMs)
        return
      case 'figure8':
        return this.figure8(f.group, ids)
      case 'partition':
        return this.partition(f, ids)
      case 'drop':
        this.dropRate = { rate: f.rate, until: this.now + f.durationMs }
        return
      case 'duplicate':
        this.duplicateRate = { rate: f.rate, until: this.now + f.durationMs }
        return
      case 'delay':
        this.extraDelay = { ms: f.extraMs, until: this.now + f.durationMs }
        return
      case 'reorder':
        this.reorderUntil = this.now + f.durationMs
        return
      case 'clockJump': {
        const node = this.nodes.get(f.node)
        if (!node?.up) return
        // The node was frozen or its clock leapt: it sees the whole interval's ticks at once.
        node.jumpMs += f.ms
        this.tickNode(node, Math.floor(f.ms / TICK_MS))
        return
      }
      case 'transfer': {
        const leader = this.leaderOf(f.group)
        if (!leader) return
        leader.rafts.get(f.group)!.transferLeadership(f.to)
        return this.drive(leader)
      }
      case 'remove':
      case 'add': {
        const leader = this.leaderOf(f.group)
        if (!leader) return
        const change = f.type === 'remove' ? ('remove' as const) : ('addLearner' as const)
        leader.rafts.get(f.group)!.changeMembership({ type: change, node: f.node })
        return this.drive(leader)
      }
      case 'idle':
        this.idleUntil = Math.max(this.idleUntil, this.now + f.durationMs)
        return
      case 'compact': {
        const node = this.nodes.get(f.node)
        if (!node?.up) return
        const applied = node.applied.get(f.group) ?? 0
        const index = applied - this.rng.int(0, 5)
        if (index <= 0) return
        node.rafts.get(f.group)!.compact(index, encoder.encode(String(index)))
        return this.drive(node)
      }
    }
  }

  private partition(f: Extract<Fault, { type: 'partition' }>, ids: NodeId[]): void {
    const until = this.now + f.durationMs
    const isolate = (x: NodeId) => {
      for (const y of ids) {
        this.block(x, y, until)
        this.block(y, x, until)
      }
    }
    switch (f.shape) {
      case 'isolate':
        return isolate(f.a)
      case 'isolateLeader': {
        const leader = this.leaderOf(f.group)
        if (leader) isolate(leader.id)
        return
      }
      case 'oneWay':
        return this.block(f.a, f.b, until)
      case 'halves': {
        const minority = new Set<NodeId>([f.a])
        while (minority.size < Math.floor((ids.length - 1) / 2)) minority.add(this.rng.pick(ids))
        for (const x of ids)
          for (const y of ids) if (minority.has(x) !== minority.has(y)) this.block(x, y, until)
        return
      }
      case 'ring': {
        const n = ids.length
        for (let i = 0; i < n; i++) {
          for (let j = 0; j < n; j++) {
            const d = Math.min((i - j + n) % n, (j - i + n) % n)
            if (d > 1) this.block(ids[i]!, ids[j]!, until)
          }
        }
        return
      }
    }
  }

  /** Runs `action` once `condition` holds, checking every millisecond until `deadline`. */
  private when(condition: () => boolean, action: () => void, deadline: number): void {
    if (this.healed || this.now > deadline) return
    if (condition()) return action()
    this.queue.push(this.now + 1, () => this.when(condition, action, deadline))
  }

  /**
   * Raft's Figure 8 on a live cluster. The leader L1 is cut off while it appends; L2 wins
   * without it and writes an entry of its own at the same index, then crashes before the third
   * node Y has it. L1 returns, wins Y's vote and replicates its old entry to Y. The moment L1
   * reports that index committed, it crashes and L2 returns: with Y's vote L2 can win and
   * overwrite the index — which only a leader that committed an earlier term's entry by
   * counting replicas lets happen.
   */
  private figure8(g: number, ids: NodeId[]): void {
    const l1 = this.leaderOf(g)
    if (!l1) return
    const cutUntil = this.now + 800
    for (const y of ids) {
      this.block(l1.id, y, cutUntil)
      this.block(y, l1.id, cutUntil)
    }
    const deadline = this.now + 1000
    // Whoever wins next must not get its entries to anyone.
    const cut = { group: g, except: l1.id }
    this.cutAppends = cut
    this.queue.push(deadline, () => {
      if (this.cutAppends === cut) this.cutAppends = null
    })
    const newLeader = () => {
      const l = this.leaderOf(g)
      return l && l !== l1 ? l : undefined
    }
    this.when(
      () => newLeader() !== undefined,
      () => {
        const l2 = newLeader()!
        const raft2 = l2.rafts.get(g)!
        const conflictIndex = raft2.status().lastIndex
        this.log(`figure8 g${g}: n${l2.id} leads without n${l1.id}; it will write ${conflictIndex}`)
        this.when(
          () => raft2.status().durableIndex >= conflictIndex,
          () => {
            this.log(`figure8 g${g}: n${l2.id} crashes, n${l1.id} returns`)
            this.crash(l2)
            this.cutAppends = null
            for (const y of ids) {
              this.blocked.delete(`${l1.id}>${y}`)
              this.blocked.delete(`${y}>${l1.id}`)
            }
            this.when(
              () =>
                l1.up && l1.rafts.get(g)?.role === 'leader' && l1.rafts.get(g)!.commitIndex >= conflictIndex,
              () => {
                this.log(`figure8 g${g}: n${l1.id} committed ${conflictIndex}: it crashes, n${l2.id} returns`)
                this.crash(l1)
                this.startNode(l2)
                this.queue.push(this.now + 300, () => {
                  if (!l1.up) this.startNode(l1)
                })
              },
              deadline + 1000,
            )
          },
          deadline,
        )
      },
      deadline,
    )
  }

  private heal(): void {
    this.healed = true
    this.cutAppends = null
    this.blocked.clear()
    this.dropRate = { rate: 0, until: 0 }
    this.duplicateRate = { rate: 0, until: 0 }
    this.extraDelay = { ms: 0, until: 0 }
    this.reorderUntil = 0
    this.log('heal')
    for (const node of this.nodes.values()) if (!node.up) this.startNode(node)
  }

  private proposeLoop(): void {
    if (this.healed) return
    if (this.now < this.idleUntil) {
      this.queue.push(this.idleUntil, () => this.proposeLoop())
      return
    }
    const g = this.rng.int(0, this.schedule.groups - 1)
    // Mostly to the leader; sometimes to anyone, to exercise NOT_LEADER.
    const target = this.rng.chance(0.9) ? this.leaderOf(g) : this.rng.pick([...this.nodes.values()])
    // Half the proposals wait for their commit (acks=all); the others are fire-and-forget.
    if (target?.up) this.proposeTo(target, g, this.rng.int(1, 4), this.rng.chance(0.5))
    this.queue.push(this.now + this.rng.int(1, 2 * this.schedule.proposeEveryMs), () => this.proposeLoop())
  }

  private proposeTo(node: SimNode, g: number, count: number, waitsForCommit = true): Proposal | undefined {
    const check = this.groups.get(g)!
    const keys = Array.from({ length: count }, () => `g${g}-p${++this.proposals}`)
    const result = node.rafts.get(g)!.propose(keys.map((k) => encoder.encode(k)))
    if (!result.ok) return undefined
    let last: Proposal | undefined
    keys.forEach((key, k) => {
      last = { group: g, index: result.firstIndex + k, term: result.term, node: node.id, key }
      if (waitsForCommit) check.pending.push(last)
    })
    this.log(`n${node.id} g${g} propose ${keys.join(',')} at ${result.firstIndex}/${result.term}`)
    this.drive(node)
    return last
  }

  /** After the heal, every group must commit a new proposal within the liveness bound. */
  private probeLoop(end: number): void {
    for (const [g, check] of this.groups) {
      if (check.probeAcked) continue
      const stillPending = check.probe && check.pending.includes(check.probe)
      const leader = this.leaderOf(g)
      if (leader && (!stillPending || check.probe?.node !== leader.id)) {
        check.probe = this.proposeTo(leader, g, 1) ?? check.probe
      }
    }
    if (this.now + 50 < end) this.queue.push(this.now + 50, () => this.probeLoop(end))
  }
}
