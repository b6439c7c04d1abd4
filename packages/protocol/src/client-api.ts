/**
 * The client API: what a client (producer, consumer, admin, the CLI) and a node say to each other
 * over a WebSocket, one msgpackr-encoded envelope per binary frame. Names follow Kafka's APIs and
 * fields; record batches travel as opaque bytes in Kafka's RecordBatch v2 layout.
 *
 *   request  = { id: u32, api: ApiName, body: <the api's request> }
 *   response = { id: u32, error: ApiErrorName, message?: string, body: <the api's response> | null }
 *
 * A response answers the request with the same id; requests on one connection may be answered out
 * of order (a long-polling fetch does not hold up a produce). `error` is set when the whole request
 * failed (an unknown api, a malformed body); per-partition errors live in the body, as in Kafka.
 */

/** A Kafka error name (see ErrorCode), or null for none. */
export type ApiErrorName = string | null

export interface BrokerAddress {
  nodeId: number
  host: string
  port: number
}

// ---- Metadata ------------------------------------------------------------------------------

export interface MetadataRequest {
  /** null: every topic. */
  topics: string[] | null
}

export interface PartitionMetadata {
  partition: number
  error: ApiErrorName
  leaderId: number
  leaderEpoch: number
  replicas: number[]
  /** In-sync replicas, derived by the leader from Raft's match indexes. */
  isr: number[]
  highWatermark: number
  logStartOffset: number
}

export interface TopicMetadata {
  name: string
  error: ApiErrorName
  partitions: PartitionMetadata[]
}

export interface MetadataResponse {
  clusterId: string
  controllerId: number
  brokers: BrokerAddress[]
  topics: TopicMetadata[]
}

// ---- Produce -------------------------------------------------------------------------------

export interface ProduceRequest {
  /** 0, 1 or -1 (all). With 0 the node sends no response. */
  acks: number
  timeoutMs: number
  topics: { name: string; partitions: { partition: number; records: Uint8Array }[] }[]
}

export interface ProducePartitionResponse {
  partition: number
  error: ApiErrorName
  message?: string
  baseOffset: number
  logStartOffset: number
  /** When the error is NOT_LEADER_OR_FOLLOWER: who leads, if known (0 otherwise). */
  leaderId: number
}

export interface ProduceResponse {
  topics: { name: string; partitions: ProducePartitionResponse[] }[]
}

// ---- Fetch ---------------------------------------------------------------------------------

export interface FetchRequest {
  /** Kafka's max.wait.ms: how long to wait for minBytes. */
  maxWaitMs: number
  minBytes: number
  maxBytes: number
  topics: {
    name: string
    partitions: { partition: number; fetchOffset: number; partitionMaxBytes: number }[]
  }[]
}

export interface FetchPartitionResponse {
  partition: number
  error: ApiErrorName
  highWatermark: number
  logStartOffset: number
  /** Whole record batches, concatenated; the first holds fetchOffset (it may start before it). */
  records: Uint8Array
}

export interface FetchResponse {
  topics: { name: string; partitions: FetchPartitionResponse[] }[]
}

// ---- ListOffsets ---------------------------------------------------------------------------

/** Kafka's special timestamps: -2 earliest, -1 latest; otherwise a time in ms. */
export const EARLIEST_TIMESTAMP = -2
export const LATEST_TIMESTAMP = -1

export interface ListOffsetsRequest {
  topics: { name: string; partitions: { partition: number; timestamp: number }[] }[]
}

export interface ListOffsetsResponse {
  topics: {
    name: string
    partitions: { partition: number; error: ApiErrorName; timestamp: number; offset: number }[]
  }[]
}

// ---- Topic admin ---------------------------------------------------------------------------

export interface CreateTopicsRequest {
  topics: { name: string; partitions: number; replicationFactor: number; configs: Record<string, string> }[]
  validateOnly: boolean
}

export interface TopicResult {
  name: string
  error: ApiErrorName
  message?: string
}

export interface CreateTopicsResponse {
  topics: TopicResult[]
}

export interface DeleteTopicsRequest {
  topics: string[]
}

export interface DeleteTopicsResponse {
  topics: TopicResult[]
}

export interface CreatePartitionsRequest {
  /** The new total count per topic; partitions are only ever added. */
  topics: { name: string; count: number }[]
}

export interface CreatePartitionsResponse {
  topics: TopicResult[]
}

export interface DescribeConfigsRequest {
  topics: string[]
}

export interface DescribeConfigsResponse {
  topics: { name: string; error: ApiErrorName; configs: Record<string, string> }[]
}

export interface AlterConfigsRequest {
  topics: { name: string; configs: Record<string, string> }[]
}

export interface AlterConfigsResponse {
  topics: TopicResult[]
}

// ---- Idempotent producers ------------------------------------------------------------------

export type InitProducerIdRequest = Record<string, never>

export interface InitProducerIdResponse {
  error: ApiErrorName
  /** bigint on the wire as a decimal string: msgpackr and JSON both carry it exactly. */
  producerId: string
  producerEpoch: number
}

// ---- The API table -------------------------------------------------------------------------

export interface ApiTypes {
  metadata: [MetadataRequest, MetadataResponse]
  produce: [ProduceRequest, ProduceResponse]
  fetch: [FetchRequest, FetchResponse]
  listOffsets: [ListOffsetsRequest, ListOffsetsResponse]
  createTopics: [CreateTopicsRequest, CreateTopicsResponse]
  deleteTopics: [DeleteTopicsRequest, DeleteTopicsResponse]
  createPartitions: [CreatePartitionsRequest, CreatePartitionsResponse]
  describeConfigs: [DescribeConfigsRequest, DescribeConfigsResponse]
  alterConfigs: [AlterConfigsRequest, AlterConfigsResponse]
  initProducerId: [InitProducerIdRequest, InitProducerIdResponse]
}

export type ApiName = keyof ApiTypes
export type ApiRequest<A extends ApiName> = ApiTypes[A][0]
export type ApiResponse<A extends ApiName> = ApiTypes[A][1]

export const API_NAMES: readonly ApiName[] = [
  'metadata',
  'produce',
  'fetch',
  'listOffsets',
  'createTopics',
  'deleteTopics',
  'createPartitions',
  'describeConfigs',
  'alterConfigs',
  'initProducerId',
]

export interface RequestEnvelope<A extends ApiName = ApiName> {
  id: number
  api: A
  body: ApiRequest<A>
}

export interface ResponseEnvelope<A extends ApiName = ApiName> {
  id: number
  error: ApiErrorName
  message?: string
  body: ApiResponse<A> | null
}
