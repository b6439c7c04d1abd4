import { type Actor, createActor } from 'xstate'
import {
  computeIsr,
  createContext,
  lastIndex,
  type ProposeResult,
  type RaftContext,
  type RaftOptions,
  type Ready,
  type Role,
  type SyncMarker,
} from './core.js'
import { collectReady, raftMachine } from './machine.js'
import type { MembershipChange } from './membership.js'
import { type Membership, NONE, type NodeId, type RaftMessage } from './types.js'

export interface ReplicaStatus {
  id: NodeId
  role: Role
  term: number
  vote: NodeId
  leaderId: NodeId
  commit: number
  applied: number
  lastIndex: number
  durableIndex: number
  membership: Membership
  isr: NodeId[]
  /** On a leader: each member's match index. */
  match: Map<NodeId, number>
  /** On a leader: when it last heard from each member (its clock). */
  lastHeardMs: Map<NodeId, number>
  quiesced: boolean
}

/**
 * One replica of one Raft group: an xstate actor and the calls a driver makes on it. It does no
 * I/O. The driver ticks it, steps it with messages, proposes; then takes a {@link Ready}: sends
 * its messages, makes the storage's writes durable (all groups of a node in one sync), applies
 * the committed entries and calls {@link advance} with the Ready's sync marker.
 */
export class RaftNode {
  private readonly actor: Actor<typeof raftMachine>

  constructor(options: RaftOptions) {
    this.actor = createActor(raftMachine, { input: createContext(options) })
    this.actor.start()
  }

  /** The actor's context (xstate copies the input; actions then update it in place). */
  private get context(): RaftContext {
    return this.actor.getSnapshot().context
  }

  get id(): NodeId {
    return this.context.id
  }

  get role(): Role {
    return this.context.role
  }

  get commitIndex(): number {
    return this.context.commit
  }

  get term(): number {
    return this.context.term
  }

  get leaderId(): NodeId {
    return this.context.leaderId
  }

  /** On a leader: the in-sync replicas (see {@link ReplicaStatus.isr}), without the rest of a status. */
  isr(): NodeId[] {
    return computeIsr(this.context)
  }

  /**
   * On a leader: whether an entry of its own term has committed (its first, the no-op, at least).
   * Before that it has heard from no follower in this term, so its ISR is itself alone.
   */
  get committedInTerm(): boolean {
    const c = this.context
    return c.role === 'leader' && c.storage.term(c.commit) === c.term
  }

  /** On a leader handing off (TransferLeadership): the node leadership is moving to; NONE otherwise. */
  get leadTransferee(): NodeId {
    return this.context.role === 'leader' ? this.context.leadTransferee : NONE
  }

  /** Idle: ticks do nothing, and the driver may skip them (see RaftOptions.quiesce). */
  get quiesced(): boolean {
    return this.context.quiesced
  }

  /** Node `peer` is unreachable, or restarted: wakes the group; a follower of it campaigns soon. */
  peerDown(peer: NodeId): void {
    this.actor.send({ type: 'peerDown', peer })
  }

  tick(): void {
    this.actor.send({ type: 'tick' })
  }

  /**
   * A follower campaigns now, as if its election timer had run out (etcd's `Campaign`): through
   * pre-vote when it is on, so a live leader keeps its term. Nothing on a candidate, a leader, or
   * a replica that is not a voter.
   */
  campaign(): void {
    this.actor.send({ type: 'campaignNow' })
  }

  step(message: RaftMessage): void {
    this.actor.send({ type: 'message', message })
  }

  /** Appends entries (leader only); the result says where, or who leads. */
  propose(data: Uint8Array[]): ProposeResult {
    this.actor.send({ type: 'propose', data })
    return this.context.lastProposal
  }

  changeMembership(change: MembershipChange): ProposeResult {
    this.actor.send({ type: 'changeMembership', change })
    return this.context.lastProposal
  }

  transferLeadership(to: NodeId): ProposeResult {
    this.actor.send({ type: 'transferLeadership', to })
    return this.context.lastProposal
  }

  /** Deletes the log's prefix up to `index` (applied) for retention; `payload` is the application's state there. */
  compact(index: number, payload: Uint8Array): ProposeResult {
    this.actor.send({ type: 'compact', index, payload })
    return this.context.lastProposal
  }

  /** Everything the driver must do now, or null when there is nothing. */
  ready(): Ready | null {
    const { ready: rd, stepDown } = collectReady(this.context)
    if (stepDown) this.actor.send({ type: 'stepDown' })
    const empty =
      rd.messages.length === 0 && rd.committed.length === 0 && !rd.sync && !rd.installed && !rd.isrChanged
    return empty ? null : rd
  }

  /** The storage has made everything up to `marker` durable. */
  advance(marker: SyncMarker): void {
    this.actor.send({ type: 'persisted', marker })
  }

  status(): ReplicaStatus {
    const c = this.context
    const match = new Map<NodeId, number>()
    for (const [id, p] of c.progress) match.set(id, p.match)
    return {
      id: c.id,
      role: c.role,
      term: c.term,
      vote: c.vote,
      leaderId: c.leaderId,
      commit: c.commit,
      applied: c.applied,
      lastIndex: lastIndex(c),
      durableIndex: c.durableIndex,
      membership: c.membership,
      isr: computeIsr(c),
      lastHeardMs: new Map([...c.progress].map(([id, p]) => [id, p.lastHeardMs])),
      match,
      quiesced: c.quiesced,
    }
  }

  stop(): void {
    this.actor.stop()
  }
}
