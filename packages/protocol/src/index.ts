export { isWhole, messageBytes, ownedBytes } from './bytes.js'
export * from './client-api.js'
export * from './client-codec.js'
export { crc32c, crc32cCombine, crc32cImplementation, crc32cUpdate } from './crc32c.js'
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
  coordinatorPartition,
  type DecodedGroupRecord,
  type DeleteGroupRecord,
  type DeleteOffsetRecord,
  decodeGroupRecord,
  decodeGroupRecords,
  encodeGroupRecord,
  encodeGroupRecordBatch,
  type GroupMemberRecord,
  type GroupMetadataRecord,
  type GroupRecord,
  type GroupRecordBatchOptions,
  groupRecordIdCharsMax,
  groupRecordMembersMax,
  groupRecordMetadataCharsMax,
  groupRecordProblem,
  javaStringHashCode,
  type OffsetRecord,
  SNAPSHOT_RECORDS_HEADER,
  SNAPSHOT_START_HEADER,
  type SnapshotMarker,
} from './group-records.js'
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
export { seededRandom } from './random.js'
export {
  BatchAttributes,
  type BatchHeader,
  type BatchPosition,
  type BatchRecord,
  type DecodedBatch,
  decodeRecords,
  defaultRecordBatchLimits,
  encodeRecordBatch,
  type PartialBatch,
  type ProducerRecord,
  type RecordBatchInput,
  type RecordBatchLimits,
  type RecordHeader,
  readBatchHeader,
  recordBatchBytesMax,
  recordBatchCrc32c,
  recordBatchCrcStart,
  recordBatchHeaderBytes,
  recordBatchLogOverheadBytes,
  recordBatchMagic,
  recordBodyBytesMin,
  type SplitBatches,
  setBaseOffset,
  setPartitionLeaderEpoch,
  splitBatches,
  type TimestampType,
  validateProducedBatch,
  verifyBatchCrc,
} from './record-batch.js'
export { fail, ok, type Result } from './result.js'
export {
  defaultSendBufferLimits,
  type PackedFrame,
  type SendBufferLimits,
  type SendBufferStats,
  SendBuffers,
} from './send-buffers.js'
export {
  raftMessageTypes,
  validateLogStart,
  validateMembership,
  validateMessageFields,
  validateRaftMessage,
} from './validate.js'
export {
  type ByteCursor,
  readVarint,
  readVarlong,
  varintBytesMax,
  varintSize,
  varlongBytesMax,
  varlongSize,
  writeVarint,
  writeVarlong,
  zigZagDecode32,
  zigZagEncode32,
} from './varint.js'
