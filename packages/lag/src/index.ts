export {
  AdminSource,
  AutoSource,
  assignmentPartitions,
  type CairnSourceOptions,
  createCairnSource,
  fallbackAfterFailures,
  OffsetsTopicSource,
  readLogEndOffsets,
} from './cairn-source.js'
export {
  type ClusterConfig,
  ConfigError,
  configLimits,
  type LagConfig,
  loadConfig,
  type NotifierConfig,
  parseConfig,
  parseListen,
  resolveConfig,
  type SourceKind,
} from './config.js'
export {
  type CommitSample,
  type ConsumerOffset,
  caughtUpRecently,
  type EvaluatorOptions,
  evaluateGroup,
  evaluatePartition,
  type GroupStatus,
  lagNeverDecreases,
  notFoundStatus,
  offsetsRewound,
  offsetsStalled,
  offsetsStopped,
  type PartitionEvaluation,
  type PartitionInput,
  type PartitionStatus,
  type PartitionWindow,
} from './evaluator.js'
export { type LagServer, type PageSnapshot, pageSnapshot, type ServerOptions, startServer } from './http.js'
export { LagMetrics } from './metrics.js'
export {
  type ClusterHealth,
  ClusterWatcher,
  LagMonitor,
  type MonitorRuntime,
  type SourceFactory,
} from './monitor.js'
export {
  type Deliver,
  httpDeliver,
  type Incident,
  IncidentTracker,
  type Notification,
  Notifier,
  type NotifierOptions,
  type NotifierStats,
  type TrackerConfig,
} from './notifier.js'
export { pageHtml } from './page.js'
export {
  type ClusterSource,
  FakeClusterSource,
  type GroupDescription,
  type GroupEvent,
  type GroupMember,
} from './source.js'
export { type RunningMonitor, type StartOptions, startMonitor } from './start.js'
export {
  type GroupStatusName,
  groupStatusOf,
  isStatusName,
  type PartitionStatusName,
  type StatusName,
  statusCode,
  statusCodes,
  statusNames,
} from './status.js'
export {
  ClusterStore,
  type Commit,
  type PartitionOwner,
  Ring,
  type StoredCommit,
  type StoreOptions,
  storeDefaults,
  type TopicLogEnd,
} from './store.js'
export { LogEndHistory, type LogEndSample, timeLagSeconds } from './time-lag.js'
