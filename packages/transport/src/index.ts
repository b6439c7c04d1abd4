export { authHeaders, challengePath, raftPath } from './auth.js'
export { reconnectDelayMs, seededRandom } from './backoff.js'
export {
  type FrameFate,
  type FrameInFlight,
  InMemoryNetwork,
  type InMemoryNetworkOptions,
  InMemoryTransport,
  type NetworkStats,
  stepsPerRunMax,
} from './in-memory.js'
export {
  defaultTransportLimits,
  outboundReceiveBytesMax,
  secretBytesMin,
  type TransportLimits,
} from './limits.js'
export { consoleLogger, type Logger, silentLogger } from './logger.js'
export type { PeerAddress } from './outbound.js'
export type { QueueDrops } from './peer-queue.js'
export type {
  LinkState,
  MessageHandler,
  PeerDownHandler,
  PeerStats,
  Transport,
  TransportStats,
} from './transport.js'
export { WsTransport, type WsTransportOptions } from './ws-transport.js'
