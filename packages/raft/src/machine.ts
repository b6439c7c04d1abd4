/**
 * One Raft replica as an xstate v5 machine. The states are the roles; every transition between
 * roles is a transition of this machine, raised by the step functions of core.ts:
 *
 *   follower ──campaign──▶ preCandidate ──preVoteWon──▶ candidate ──elected──▶ leader
 *       ▲                        │ campaign (TimeoutNow, or pre-vote off) ──▶ candidate
 *       └──────────── stepDown (a newer term, a lost vote, a lost quorum) ◀─────┘
 *
 * Every message passes the term gate once, before any role sees it (etcd's Step). A message of
 * a newer term first steps the replica down (re-entering follower), then is raised again so the
 * follower handles it. The context is a mutable object that the actions update in place: one
 * replica handles thousands of events a second and copying it per event would buy nothing.
 */
import { enqueueActions, setup } from 'xstate'
import {
  broadcastAppend,
  compact,
  computeIsr,
  enterCandidate,
  enterFollower,
  enterLeader,
  enterPreCandidate,
  flushAppends,
  handleAppend,
  handleAppendResponse,
  handleHeartbeat,
  handleHeartbeatResponse,
  handleQuiesce,
  handleSnapshot,
  handleVoteRequest,
  isPromotable,
  leaderTick,
  onPersisted,
  type ProposeResult,
  peerDown,
  propose,
  proposeMembership,
  type RaftContext,
  type Ready,
  reaskPreVotes,
  recordVote,
  type SyncMarker,
  syncMarker,
  takeCommitted,
  takeMessages,
  termGate,
  transferLeadership,
  wake,
  writeHardState,
} from './core.js'
import type { MembershipChange } from './membership.js'
import { NONE, type NodeId, type RaftMessage } from './types.js'

export type RaftEvent =
  | { type: 'tick' }
  | { type: 'message'; message: RaftMessage }
  | { type: 'propose'; data: Uint8Array[] }
  | { type: 'changeMembership'; change: MembershipChange }
  | { type: 'transferLeadership'; to: NodeId }
  | { type: 'compact'; index: number; payload: Uint8Array }
  | { type: 'persisted'; marker: SyncMarker }
  | { type: 'peerDown'; peer: NodeId }
  | { type: 'campaignNow' }
  // raised by the machine itself
  | { type: 'campaign' }
  | { type: 'preVoteWon' }
  | { type: 'elected' }
  | { type: 'stepDown' }

type Raise = (event: RaftEvent) => void

const notLeader = (c: RaftContext): ProposeResult => ({
  ok: false,
  error: 'NOT_LEADER',
  leaderId: c.leaderId,
})

/** Ticks of every role but the leader: campaign when the election timer runs out. */
function tickElection(c: RaftContext, raise: Raise): void {
  if (c.quiesced) return
  c.electionElapsed++
  if (c.electionElapsed >= c.randomizedElectionTimeout && isPromotable(c)) {
    c.electionElapsed = 0
    raise({ type: 'campaign' })
  }
}

/** A pre-candidate's tick: its timer, then it asks again the voters that have not answered. */
function tickPreCandidate(c: RaftContext, raise: Raise): void {
  tickElection(c, raise)
  // A timer that ran out (elapsed back to 0) starts a new round, which asks everyone anyway.
  if (c.electionElapsed > 0) reaskPreVotes(c)
}

/** A follower's election timer runs out now (etcd's MsgHup): a voter campaigns, anyone else does nothing. */
function campaignNow(c: RaftContext, raise: Raise): void {
  if (!isPromotable(c)) return
  wake(c)
  c.electionElapsed = 0
  raise({ type: 'campaign' })
}

/** The term gate, then `roleStep`; vote requests are answered the same way in every role. */
function stepMessage(
  c: RaftContext,
  m: RaftMessage,
  raise: Raise,
  roleStep: (c: RaftContext, m: RaftMessage, raise: Raise) => void,
): void {
  if (m.to !== c.id || m.group !== c.group) return
  if (m.type !== 'quiesce') wake(c)
  const gate = termGate(c, m)
  if (gate === 'drop') return
  if (gate === 'stepDown') {
    raise({ type: 'stepDown' })
    raise({ type: 'message', message: m })
    return
  }
  if (m.type === 'preVote' || m.type === 'vote') {
    handleVoteRequest(c, m)
    return
  }
  roleStep(c, m, raise)
}

function stepFollower(c: RaftContext, m: RaftMessage, raise: Raise): void {
  switch (m.type) {
    case 'append':
      return handleAppend(c, m)
    case 'heartbeat':
      return handleHeartbeat(c, m)
    case 'quiesce':
      return handleQuiesce(c, m)
    case 'snapshot':
      return handleSnapshot(c, m)
    case 'timeoutNow':
      if (isPromotable(c)) {
        c.campaignTransfer = true
        raise({ type: 'campaign' })
      }
      return
    default:
      return
  }
}

function stepCandidate(c: RaftContext, m: RaftMessage, raise: Raise): void {
  switch (m.type) {
    case 'append':
    case 'heartbeat':
    case 'quiesce':
    case 'snapshot':
      // A leader of our term exists: follow it.
      c.leaderId = m.from
      raise({ type: 'stepDown' })
      raise({ type: 'message', message: m })
      return
    case 'preVoteResponse':
    case 'voteResponse': {
      const expected = c.role === 'preCandidate' ? 'preVoteResponse' : 'voteResponse'
      if (m.type !== expected) return
      const outcome = recordVote(c, m.from, m.granted)
      if (outcome === 'won') raise({ type: c.role === 'preCandidate' ? 'preVoteWon' : 'elected' })
      else if (outcome === 'lost') raise({ type: 'stepDown' })
      return
    }
    default:
      return
  }
}

function stepLeader(c: RaftContext, m: RaftMessage, _raise: Raise): void {
  switch (m.type) {
    case 'appendResponse':
      return handleAppendResponse(c, m)
    case 'heartbeatResponse':
      return handleHeartbeatResponse(c, m.from)
    default:
      return
  }
}

/**
 * Gathers what the driver must do. It reads and drains the context without a transition, so the
 * hot path costs no event; the one role change it can cause — a leader that applied its own
 * removal steps down — is reported for the caller to send.
 */
export function collectReady(c: RaftContext): { ready: Ready; stepDown: boolean } {
  if (c.role === 'leader') flushAppends(c)
  const committed = takeCommitted(c)
  // The leader applied its own removal: it stops leading (the entry is committed).
  const stepDown = c.role === 'leader' && !c.membership.voters.includes(c.id)
  writeHardState(c)
  const isr = computeIsr(c)
  const key = isr.join(',')
  const isrChanged = key !== c.isrKey
  c.isrKey = key
  const installed = c.installed
  c.installed = null
  const ready: Ready = {
    messages: takeMessages(c),
    committed,
    commitIndex: c.commit,
    sync: syncMarker(c),
    installed,
    role: c.role,
    term: c.term,
    leaderId: c.leaderId,
    isr,
    isrChanged,
  }
  return { ready, stepDown }
}

export const raftMachine = setup({
  types: {
    context: {} as RaftContext,
    events: {} as RaftEvent,
    input: {} as RaftContext,
  },
  actions: {
    enterFollower: ({ context }) => enterFollower(context),
    enterPreCandidate: enqueueActions(({ context, enqueue }) => {
      if (enterPreCandidate(context)) enqueue.raise({ type: 'preVoteWon' })
    }),
    enterCandidate: enqueueActions(({ context, enqueue }) => {
      if (enterCandidate(context)) enqueue.raise({ type: 'elected' })
    }),
    enterLeader: ({ context }) => enterLeader(context),
    tickElection: enqueueActions(({ context, enqueue }) => tickElection(context, enqueue.raise)),
    tickPreCandidate: enqueueActions(({ context, enqueue }) => tickPreCandidate(context, enqueue.raise)),
    campaignNow: enqueueActions(({ context, enqueue }) => campaignNow(context, enqueue.raise)),
    tickLeader: enqueueActions(({ context, enqueue }) => {
      if (!leaderTick(context)) {
        context.leaderId = NONE
        enqueue.raise({ type: 'stepDown' })
      }
    }),
    stepFollower: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'message') stepMessage(context, event.message, enqueue.raise, stepFollower)
    }),
    stepCandidate: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'message') stepMessage(context, event.message, enqueue.raise, stepCandidate)
    }),
    stepLeader: enqueueActions(({ context, event, enqueue }) => {
      if (event.type === 'message') stepMessage(context, event.message, enqueue.raise, stepLeader)
    }),
    propose: ({ context, event }) => {
      if (event.type !== 'propose') return
      wake(context)
      context.lastProposal = propose(context, event.data)
    },
    changeMembership: ({ context, event }) => {
      if (event.type !== 'changeMembership') return
      wake(context)
      context.lastProposal = proposeMembership(context, event.change)
    },
    peerDown: ({ context, event }) => {
      if (event.type === 'peerDown') peerDown(context, event.peer)
    },
    refuseProposal: ({ context }) => {
      context.lastProposal = notLeader(context)
    },
    transferLeadership: ({ context, event }) => {
      if (event.type !== 'transferLeadership') return
      wake(context)
      const r = transferLeadership(context, event.to)
      context.lastProposal = r.ok
        ? { ok: true, firstIndex: 0, lastIndex: 0, term: context.term }
        : { ok: false, error: 'INVALID', message: r.message }
    },
    compact: ({ context, event }) => {
      if (event.type !== 'compact') return
      wake(context)
      const r = compact(context, event.index, event.payload)
      context.lastProposal = r.ok
        ? { ok: true, firstIndex: event.index, lastIndex: event.index, term: context.term }
        : { ok: false, error: 'INVALID', message: r.message }
    },
    persisted: ({ context, event }) => {
      if (event.type === 'persisted') onPersisted(context, event.marker)
    },
    replicate: ({ context }) => broadcastAppend(context),
  },
}).createMachine({
  id: 'raft',
  context: ({ input }) => input,
  initial: 'follower',
  on: {
    propose: { actions: 'refuseProposal' },
    changeMembership: { actions: 'refuseProposal' },
    transferLeadership: { actions: 'refuseProposal' },
    compact: { actions: 'compact' },
    persisted: { actions: 'persisted' },
    peerDown: { actions: 'peerDown' },
    stepDown: { target: '.follower', reenter: true },
  },
  states: {
    follower: {
      entry: 'enterFollower',
      on: {
        tick: { actions: 'tickElection' },
        message: { actions: 'stepFollower' },
        campaignNow: { actions: 'campaignNow' },
        campaign: [
          { guard: ({ context }) => context.campaignTransfer || !context.opts.preVote, target: 'candidate' },
          { target: 'preCandidate' },
        ],
      },
    },
    preCandidate: {
      entry: 'enterPreCandidate',
      on: {
        tick: { actions: 'tickPreCandidate' },
        message: { actions: 'stepCandidate' },
        campaign: { target: 'preCandidate', reenter: true },
        preVoteWon: { target: 'candidate' },
      },
    },
    candidate: {
      entry: 'enterCandidate',
      on: {
        tick: { actions: 'tickElection' },
        message: { actions: 'stepCandidate' },
        campaign: [
          {
            guard: ({ context }) => context.campaignTransfer || !context.opts.preVote,
            target: 'candidate',
            reenter: true,
          },
          { target: 'preCandidate' },
        ],
        elected: { target: 'leader' },
      },
    },
    leader: {
      entry: 'enterLeader',
      on: {
        tick: { actions: 'tickLeader' },
        message: { actions: 'stepLeader' },
        propose: { actions: 'propose' },
        changeMembership: { actions: 'changeMembership' },
        transferLeadership: { actions: 'transferLeadership' },
      },
    },
  },
})
