/**
 * @cairn/storage — Cairn's durable Raft log store: one LevelDB database per node, every Raft
 * group's log in it, group commit (one fsync per turn of the event loop for all groups).
 */

export type { AppliedState, OffsetRow } from './codec.js'
export type { GroupLimits } from './context.js'
export { CorruptLogError, InvalidWriteError, StoreClosedError, StoreFormatError } from './errors.js'
export { GroupLog, type GroupOptions } from './group-log.js'
export { GROUP_ID_MAX, GROUP_ROWS, groupKey, KEY_BYTES, KeyKind, key, keyNumber, keyParts } from './keys.js'
export { type LevelDbBuild, levelDbBuild } from './native.js'
export {
  DEFAULT_LIMITS,
  type DurableListener,
  LevelLogStore,
  type LogStoreOptions,
  type StoreStats,
} from './store.js'
export type { BatchOffsets } from './tail-cache.js'
