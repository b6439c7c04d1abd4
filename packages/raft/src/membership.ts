import type { Membership, NodeId } from './types.js'

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function encodeMembership(m: Membership): Uint8Array {
  return encoder.encode(JSON.stringify({ voters: m.voters, learners: m.learners }))
}

export function decodeMembership(data: Uint8Array): Membership {
  const parsed: unknown = JSON.parse(decoder.decode(data))
  if (!isMembership(parsed)) throw new Error('config entry does not hold a membership')
  return { voters: [...parsed.voters], learners: [...parsed.learners] }
}

function isNodeIdList(x: unknown): x is NodeId[] {
  return Array.isArray(x) && x.every((id) => Number.isSafeInteger(id) && id > 0)
}

export function isMembership(x: unknown): x is Membership {
  if (typeof x !== 'object' || x === null) return false
  const m = x as Record<string, unknown>
  return isNodeIdList(m.voters) && isNodeIdList(m.learners)
}

export function isMember(m: Membership, id: NodeId): boolean {
  return m.voters.includes(id) || m.learners.includes(id)
}

export function quorumSize(m: Membership): number {
  return Math.floor(m.voters.length / 2) + 1
}

/** A change of one server at a time (Raft thesis §4.1). */
export type MembershipChange =
  | { type: 'addLearner'; node: NodeId }
  | { type: 'promote'; node: NodeId }
  | { type: 'remove'; node: NodeId }

export function applyChange(m: Membership, change: MembershipChange): Membership | string {
  const { node } = change
  switch (change.type) {
    case 'addLearner':
      if (isMember(m, node)) return `node ${node} is already a member`
      return { voters: [...m.voters], learners: [...m.learners, node] }
    case 'promote':
      if (!m.learners.includes(node)) return `node ${node} is not a learner`
      return { voters: [...m.voters, node], learners: m.learners.filter((id) => id !== node) }
    case 'remove':
      if (!isMember(m, node)) return `node ${node} is not a member`
      if (m.voters.length === 1 && m.voters[0] === node) return 'cannot remove the last voter'
      return {
        voters: m.voters.filter((id) => id !== node),
        learners: m.learners.filter((id) => id !== node),
      }
  }
}
