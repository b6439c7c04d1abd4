/**
 * A stand-in for Raft's idle behaviour, for the coalescing test and benchmark: node i leads the
 * groups g with g % n === i, sends a heartbeat to every follower of them on each tick, and a
 * follower answers each heartbeat with a heartbeat response, as Raft does.
 */
import type { NodeId, RaftMessage } from '@cairn/raft'
import type { Transport } from '../src/index.js'

export interface HeartbeatDriver {
  /** One node's tick: heartbeats for every group it leads, to every other node. */
  tick(node: Transport): void
  /** Frames between each pair of nodes so far, both directions together. */
  framesPerPair(): Map<string, number>
  /** Heartbeat responses received by leaders so far. */
  responses(): number
}

export function driveHeartbeats(nodes: Transport[], groups: number): HeartbeatDriver {
  const ids = nodes.map((n) => n.nodeId)
  let responses = 0
  for (const node of nodes) {
    node.onMessages((from, messages) => {
      const replies: RaftMessage[] = []
      for (const m of messages) {
        if (m.type === 'heartbeat') {
          replies.push({
            type: 'heartbeatResponse',
            group: m.group,
            from: node.nodeId,
            to: from,
            term: m.term,
          })
        } else if (m.type === 'heartbeatResponse') responses++
      }
      if (replies.length > 0) node.send(replies)
    })
  }
  const led = (node: NodeId) => {
    const index = ids.indexOf(node)
    const out: number[] = []
    for (let g = index; g < groups; g += ids.length) out.push(g)
    return out
  }
  const leadership = new Map(ids.map((id) => [id, led(id)]))
  return {
    tick(node) {
      const messages: RaftMessage[] = []
      for (const group of leadership.get(node.nodeId)!) {
        for (const to of ids) {
          if (to !== node.nodeId)
            messages.push({ type: 'heartbeat', group, from: node.nodeId, to, term: 1, commit: 10 })
        }
      }
      node.send(messages)
    },
    framesPerPair() {
      const counts = new Map<string, number>()
      for (const node of nodes) {
        for (const peer of node.stats().peers) {
          const key = [node.nodeId, peer.peer].sort((a, b) => a - b).join('-')
          counts.set(key, (counts.get(key) ?? 0) + peer.framesSent)
        }
      }
      return counts
    },
    responses: () => responses,
  }
}
