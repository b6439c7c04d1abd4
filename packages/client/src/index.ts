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
  type NewTopic,
  type OngoingReassignment,
  type PartitionReassignment,
} from './admin.js'
export {
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
export { type ConsumedRecord, Consumer, type ConsumerOptions, type TopicPartition } from './consumer.js'
export {
  BufferExhaustedError,
  CairnError,
  ConfigError,
  DeliveryTimeoutError,
  NetworkError,
  ProduceError,
  ProducerClosedError,
  RecordTooLargeError,
  TimeoutError,
} from './errors.js'
export {
  DefaultPartitioner,
  type Partitioner,
  type PartitionerInput,
  RoundRobinPartitioner,
} from './partitioner.js'
export {
  type Bytes,
  createProducer,
  type Message,
  type ProduceBatch,
  type ProduceBatchResult,
  type ProduceOptions,
  Producer,
  type ProducerIo,
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
