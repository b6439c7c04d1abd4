/**
 * Raft messages on the wire: positional tuples, a type code first. From and to are not repeated
 * per message: they are the frame's (so a message cannot claim another sender than its frame),
 * and an entry's index is implied by its position after prevIndex (so entries are contiguous by
 * construction). Decoding checks each tuple's length for its type, rebuilds the message object,
 * then checks every field's type and range on it (validateRaftMessage, less the key-set check that
 * the tuple length already made).
 *
 *   code  type               fields after [code, group, term]
 *   0     preVote            lastIndex, lastTerm, transfer
 *   1     vote               lastIndex, lastTerm, transfer
 *   2     preVoteResponse    granted
 *   3     voteResponse       granted
 *   4     append             prevIndex, prevTerm, commit, entries: [term, kind, data][]
 *   5     appendResponse     index, reject, hintIndex, hintTerm
 *   6     heartbeat          commit            (normally in the frame's columns instead)
 *   7     heartbeatResponse  —                 (likewise)
 *   8     snapshot           index, term, payload, voters[], learners[]   (the log start)
 *   9     timeoutNow         —
 *   10    quiesce            commit
 */
import type { FrameLimits } from './limits.js'
import type { Entry, NodeId, RaftMessage, RaftMessageType } from './raft-messages.js'
import { fail, ok, type Result } from './result.js'
import { describe, validateMessageFields } from './validate.js'

export type WireMessage = unknown[]

const typeCodes: Readonly<Record<RaftMessageType, number>> = {
  preVote: 0,
  vote: 1,
  preVoteResponse: 2,
  voteResponse: 3,
  append: 4,
  appendResponse: 5,
  heartbeat: 6,
  heartbeatResponse: 7,
  snapshot: 8,
  timeoutNow: 9,
  quiesce: 10,
}

const typesByCode: readonly RaftMessageType[] = Object.keys(typeCodes) as RaftMessageType[]

/** Tuple length of each type code. */
const tupleLengths: readonly number[] = [6, 6, 4, 4, 7, 7, 4, 3, 8, 3, 4]

export function toWire(m: RaftMessage): WireMessage {
  const head = typeCodes[m.type]
  switch (m.type) {
    case 'preVote':
    case 'vote':
      return [head, m.group, m.term, m.lastIndex, m.lastTerm, m.transfer]
    case 'preVoteResponse':
    case 'voteResponse':
      return [head, m.group, m.term, m.granted]
    case 'append':
      return [
        head,
        m.group,
        m.term,
        m.prevIndex,
        m.prevTerm,
        m.commit,
        m.entries.map((e) => [e.term, e.kind, e.data]),
      ]
    case 'appendResponse':
      return [head, m.group, m.term, m.index, m.reject, m.hintIndex, m.hintTerm]
    case 'heartbeat':
    case 'quiesce':
      return [head, m.group, m.term, m.commit]
    case 'snapshot': {
      const { index, term, payload, membership } = m.logStart
      return [head, m.group, m.term, index, term, payload, membership.voters, membership.learners]
    }
    case 'heartbeatResponse':
    case 'timeoutNow':
      return [head, m.group, m.term]
  }
}

/** Entries from [term, kind, data] tuples, indexes following prevIndex; shapes checked later. */
function entriesFrom(wire: unknown, prevIndex: unknown, limits: FrameLimits, path: string): Result<Entry[]> {
  if (!Array.isArray(wire)) return fail(`${path}.entries: expected an array, got ${describe(wire)}`)
  if (wire.length > limits.entriesPerMessageMax) {
    return fail(
      `${path}.entries: ${wire.length} entries exceed entriesPerMessageMax ${limits.entriesPerMessageMax}`,
    )
  }
  const first = typeof prevIndex === 'number' ? prevIndex + 1 : Number.NaN
  const entries: Entry[] = new Array(wire.length)
  for (let i = 0; i < wire.length; i++) {
    const e = wire[i]
    if (!Array.isArray(e) || e.length !== 3)
      return fail(`${path}.entries[${i}]: expected [term, kind, data], got ${describe(e)}`)
    entries[i] = { index: first + i, term: e[0], kind: e[1], data: e[2] }
  }
  return ok(entries)
}

/**
 * Rebuild the message object from its tuple (field types are checked after, on the object).
 * Literal objects, not spreads: spreading builds slow dictionary-mode objects, and every later
 * read of the message (ours and Raft's) would pay for it.
 */
function objectFrom(
  w: unknown[],
  from: NodeId,
  to: NodeId,
  limits: FrameLimits,
  path: string,
): Result<unknown> {
  const type = typesByCode[w[0] as number]!
  const group = w[1]
  const term = w[2]
  switch (type) {
    case 'preVote':
    case 'vote':
      return ok({ type, group, from, to, term, lastIndex: w[3], lastTerm: w[4], transfer: w[5] })
    case 'preVoteResponse':
    case 'voteResponse':
      return ok({ type, group, from, to, term, granted: w[3] })
    case 'append': {
      const entries = entriesFrom(w[6], w[3], limits, path)
      if (!entries.ok) return entries
      return ok({
        type,
        group,
        from,
        to,
        term,
        prevIndex: w[3],
        prevTerm: w[4],
        entries: entries.value,
        commit: w[5],
      })
    }
    case 'appendResponse':
      return ok({ type, group, from, to, term, index: w[3], reject: w[4], hintIndex: w[5], hintTerm: w[6] })
    case 'heartbeat':
    case 'quiesce':
      return ok({ type, group, from, to, term, commit: w[3] })
    case 'snapshot': {
      const membership = { voters: w[6], learners: w[7] }
      return ok({
        type,
        group,
        from,
        to,
        term,
        logStart: { index: w[3], term: w[4], payload: w[5], membership },
      })
    }
    case 'heartbeatResponse':
    case 'timeoutNow':
      return ok({ type, group, from, to, term })
  }
}

/** Decode and validate one message tuple of a frame from `from` to `to`. */
export function fromWire(
  wire: unknown,
  from: NodeId,
  to: NodeId,
  limits: FrameLimits,
  path: string,
): Result<RaftMessage> {
  if (!Array.isArray(wire)) return fail(`${path}: expected a message tuple, got ${describe(wire)}`)
  const code = wire[0]
  if (typeof code !== 'number' || !Number.isInteger(code) || code < 0 || code >= typesByCode.length) {
    return fail(`${path}[0]: unknown message type code ${describe(code)}`)
  }
  const expected = tupleLengths[code]!
  if (wire.length !== expected) {
    return fail(`${path}: ${typesByCode[code]} has ${expected} fields, got ${wire.length}`)
  }
  const object = objectFrom(wire, from, to, limits, path)
  return object.ok ? validateMessageFields(object.value, limits, path) : object
}
