export {
  type Committed,
  type CommittedHandler,
  DEFAULT_TICK_MS,
  HostError,
  NotLeaderError,
  RaftHost,
  type RaftHostOptions,
} from './raft-host.js'
