export { crc32c, crc32cUpdate } from './crc32c.js'
export { ErrorCode, type ErrorName, errorByCode, isRetriable, type KafkaError } from './error-codes.js'
export {
  decodeFrame,
  encodeFrame,
  entryOverheadBytesMax,
  estimateMessageBytes,
  type Frame,
  frameVersion,
  heartbeatBytesMax,
  heartbeatResponseBytesMax,
  messageOverheadBytesMax,
} from './frame.js'
export {
  type HeartbeatColumns,
  type HeartbeatResponseColumns,
  packHeartbeatResponses,
  packHeartbeats,
  unpackHeartbeatResponses,
  unpackHeartbeats,
} from './heartbeats.js'
export * from './limits.js'
export { type ScanLimits, scanMsgpack } from './msgpack-scan.js'
export { murmur2, partitionForKey, toPositive } from './murmur2.js'
export type * from './raft-messages.js'
export { fail, ok, type Result } from './result.js'
export {
  raftMessageTypes,
  validateLogStart,
  validateMembership,
  validateMessageFields,
  validateRaftMessage,
} from './validate.js'
