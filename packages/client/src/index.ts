export {
  type AccumulatorConfig,
  type AppendResult,
  type DrainContext,
  type DrainedRequest,
  PartitionQueue,
  RecordAccumulator,
} from './accumulator.js'
export {
  Admin,
  type GroupDescription,
  type GroupListing,
  type GroupMemberDescription,
  type GroupPartitionDescription,
  type NewTopic,
  type OffsetResetPlan,
  type OffsetResetSpec,
  type OngoingReassignment,
  type PartitionReassignment,
} from './admin.js'
export {
  type Assignor,
  AssignorInputError,
  assignorByName,
  assignors,
  ConsumerProtocolError,
  compareTopicPartitions,
  cooperativeStickyAssignor,
  decodeAssignment,
  decodeSubscription,
  encodeAssignment,
  encodeSubscription,
  type MemberSubscription,
  rangeAssignor,
  revokedPartitions,
  roundRobinAssignor,
} from './assignors.js'
export {
  BATCH_BUFFERS_FREE_MAX,
  BatchBuffers,
  type PendingRecord,
  ProducerBatch,
  type RecordMetadata,
  type RecordOwner,
  recordBytes,
  recordBytesMax,
  recordFixedBytes,
  singleRecordBatchBytes,
} from './batch.js'
export { Cairn, type CairnOptions } from './cairn.js'
export { type Clock, seededRandom, settle, systemClock, type TimerHandle, VirtualClock } from './clock.js'
export {
  ClusterClient,
  type ClusterClientOptions,
  LEADER_HINT_TTL_MS,
  mergeMetadata,
  type PartitionInfo,
} from './cluster-client.js'
export {
  type Acks,
  type ProducerConfig,
  producerConfigDefaults,
  type ResolvedProducerConfig,
  resolveProducerConfig,
} from './config.js'
export { Connection, RequestError } from './connection.js'
export { type ConsumedRecord, Consumer, type ConsumerOptions } from './consumer.js'
export {
  type AssignmentStrategy,
  type AutoOffsetReset,
  type GroupConsumerConfig,
  groupConsumerConfigDefaults,
  type ResolvedGroupConsumerConfig,
  resolveGroupConsumerConfig,
} from './consumer-config.js'
export {
  BufferExhaustedError,
  CairnError,
  CommitFailedError,
  ConfigError,
  DeliveryTimeoutError,
  NetworkError,
  NoOffsetForPartitionError,
  ProduceError,
  ProducerClosedError,
  RecordTooLargeError,
  TimeoutError,
} from './errors.js'
export {
  type Batch,
  type EachBatchPayload,
  type EachMessagePayload,
  GroupConsumer,
  type GroupConsumerEvents,
  type RebalanceListener,
  type RunOptions,
  type Subscription,
} from './group-consumer.js'
export {
  ClusterGroupIo,
  findCoordinator,
  type GroupApi,
  type GroupFetcher,
  type GroupIo,
} from './group-io.js'
export { type OffsetToCommit, type OwnedPartition, OwnedPartitions } from './owned-partitions.js'
export {
  DefaultPartitioner,
  type Partitioner,
  type PartitionerInput,
  RoundRobinPartitioner,
} from './partitioner.js'
export {
  type Bytes,
  createProducer,
  LEADER_HINT_RETRIES_MAX,
  type Message,
  type ProduceBatch,
  type ProduceBatchResult,
  type ProduceOptions,
  Producer,
  type ProducerIo,
  type ProducerMetrics,
  type ProducerOptions,
  type Sender,
  type SendRequest,
} from './producer.js'
export {
  classifyProduceError,
  type ErrorDisposition,
  kafkaError,
  networkExceptionError,
  ProducerErrorCode,
  retryBackoffJitter,
  retryBackoffMs,
} from './retry.js'
export { incrementSequence, noProducerId, type ProducerIdAndEpoch, sequenceMax } from './sequence.js'
export { type TopicPartition, topicPartitionKey, topicPartitionName } from './topic-partition.js'
