export {
  DEFAULT_OPTIONS,
  type ProposeResult,
  type RaftOptions,
  type Ready,
  type Role,
  type SyncMarker,
} from './core.js'
export { type RaftEvent, raftMachine } from './machine.js'
export {
  decodeMembership,
  encodeMembership,
  isMembership,
  type MembershipChange,
  quorumSize,
} from './membership.js'
export { initialLogStart, MemoryStorage } from './memory-storage.js'
export { RaftNode, type ReplicaStatus } from './node.js'
export * from './types.js'
