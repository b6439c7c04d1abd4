export {
  type CoordinatorOptions,
  GROUP_ERROR_NAMES,
  GroupCoordinator,
  type GroupErrorName,
} from './group-coordinator.js'
export type { RequestContext } from './group-handlers.js'
export {
  type CoordinatorSettings,
  GroupHosting,
  OFFSETS_SNAPSHOT_RECORDS,
  OFFSETS_TOPIC_PARTITIONS,
  OFFSETS_TOPIC_REPLICATION_FACTOR,
} from './group-hosting.js'
export {
  assignReplicas,
  ClusterMetadata,
  CONTROLLER_GROUP,
  MetadataError,
  TOPIC_CONFIG_DEFAULTS,
  validateTopicName,
} from './metadata.js'
export { CairnNode, controllerVoters, handOffTarget, type NodeOptions, type PeerAddress } from './node.js'
export {
  type Acks,
  DEFAULT_PARTITION_CONFIG,
  encodeLogStartOffset,
  type FetchResult,
  Partition,
  type PartitionConfig,
  type ProduceResult,
} from './partition.js'
export {
  type Committed,
  type CommittedHandler,
  DEFAULT_TICK_MS,
  HostError,
  LEADERSHIP_WAIT_MS_MAX,
  type LeaderHint,
  NotLeaderError,
  type ProposeAck,
  RaftHost,
  type RaftHostOptions,
} from './raft-host.js'
export { isUnsafeTestBug, UNSAFE_TEST_BUGS, type UnsafeTestBug } from './test-bugs.js'
