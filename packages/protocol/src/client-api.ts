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
  /** While a reassignment runs (then `replicas` holds the target's and the leaving ones): the joining replicas. */
  addingReplicas?: number[]
  /** While a reassignment runs: the replicas that leave once it is done. */
  removingReplicas?: number[]
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
  /** With a leaderId on NOT_LEADER_OR_FOLLOWER: that leader's epoch (KIP-951's CurrentLeader). */
  leaderEpoch?: number
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

// ---- Partition reassignment (Kafka's AlterPartitionReassignments, ListPartitionReassignments) --

export interface PartitionResult {
  partition: number
  error: ApiErrorName
  message?: string
}

export interface AlterPartitionReassignmentsRequest {
  /**
   * Per partition its target replicas, the first the preferred leader; null cancels the
   * reassignment in progress (the partition goes back to the replicas it had before).
   */
  topics: { name: string; partitions: { partition: number; replicas: number[] | null }[] }[]
}

export interface AlterPartitionReassignmentsResponse {
  topics: { name: string; partitions: PartitionResult[] }[]
}

export interface ListPartitionReassignmentsRequest {
  /** null: every topic. */
  topics: { name: string; partitions: number[] }[] | null
}

/** A reassignment in progress, as Kafka lists it. */
export interface OngoingPartitionReassignment {
  partition: number
  /** Every replica while it runs: the target's, then those being removed. */
  replicas: number[]
  addingReplicas: number[]
  removingReplicas: number[]
}

export interface ListPartitionReassignmentsResponse {
  topics: { name: string; partitions: OngoingPartitionReassignment[] }[]
}

/**
 * Node to controller (Kafka's AlterPartition): a partition's Raft leader reports the voters of
 * its group; when they are the target of the reassignment in progress, the controller records it
 * finished. Not for clients.
 */
export interface AlterPartitionRequest {
  /** The reporting leader. */
  brokerId: number
  topics: {
    name: string
    partitions: { partition: number; leaderEpoch: number; replicas: number[] }[]
  }[]
}

export interface AlterPartitionResponse {
  topics: { name: string; partitions: PartitionResult[] }[]
}

// ---- Node decommissioning (as Redpanda's brokers decommission / recommission) ---------------

export interface NodeStateRequest {
  nodeId: number
}

export interface NodeStateResponse {
  error: ApiErrorName
  message?: string
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

// ---- Consumer groups (Kafka's classic group protocol) -----------------------------------------

/** Kafka's internal topic of committed offsets and group metadata. */
export const OFFSETS_TOPIC = '__consumer_offsets'

/** Which node coordinates `key` (a group id): the leader of its `__consumer_offsets` partition. */
export interface FindCoordinatorRequest {
  key: string
}

export interface FindCoordinatorResponse {
  /** COORDINATOR_NOT_AVAILABLE when this node does not know the partition's leader: ask another. */
  error: ApiErrorName
  message?: string
  /** 0, with host '' and port 0, on an error. */
  nodeId: number
  host: string
  port: number
  /** The `__consumer_offsets` partition that holds the group; -1 while the topic does not exist. */
  partition: number
}

export interface GroupProtocolMetadata {
  /** An assignor's name: range, roundrobin, cooperative-sticky. */
  name: string
  /** The member's subscription, in the consumer protocol's encoding. */
  metadata: Uint8Array
}

export interface JoinGroupRequest {
  groupId: string
  /** '' on a member's first join: the answer is MEMBER_ID_REQUIRED with the id to use. */
  memberId: string
  clientId: string
  sessionTimeoutMs: number
  rebalanceTimeoutMs: number
  /** 'consumer' for consumers. */
  protocolType: string
  /** In the member's order of preference. */
  protocols: GroupProtocolMetadata[]
}

export interface JoinGroupResponse {
  error: ApiErrorName
  message?: string
  /** -1 on an error. */
  generationId: number
  protocolName: string | null
  leader: string
  memberId: string
  /** The leader gets every member with its metadata for the chosen protocol; followers get []. */
  members: { memberId: string; metadata: Uint8Array }[]
}

export interface SyncGroupRequest {
  groupId: string
  generationId: number
  memberId: string
  /** The leader's assignment per member; followers send []. */
  assignments: { memberId: string; assignment: Uint8Array }[]
}

export interface SyncGroupResponse {
  error: ApiErrorName
  message?: string
  assignment: Uint8Array
}

/** Kafka's HeartbeatRequest (named apart from Raft's Heartbeat messages, which the package also exports). */
export interface GroupHeartbeatRequest {
  groupId: string
  generationId: number
  memberId: string
}

export interface GroupHeartbeatResponse {
  error: ApiErrorName
  message?: string
}

export interface LeaveGroupRequest {
  groupId: string
  memberIds: string[]
}

export interface LeaveGroupResponse {
  error: ApiErrorName
  message?: string
  members: { memberId: string; error: ApiErrorName }[]
}

export interface OffsetCommitRequest {
  groupId: string
  /** -1 with memberId '' for a standalone commit (allowed while the group is empty). */
  generationId: number
  memberId: string
  topics: { name: string; partitions: { partition: number; offset: number; metadata?: string }[] }[]
}

export interface OffsetCommitResponse {
  error: ApiErrorName
  message?: string
  topics: { name: string; partitions: PartitionResult[] }[]
}

export interface OffsetFetchRequest {
  groupId: string
  /** null: every partition the group has committed. */
  topics: { name: string; partitions: number[] }[] | null
}

export interface OffsetFetchResponse {
  error: ApiErrorName
  message?: string
  /** offset -1: nothing committed. */
  topics: {
    name: string
    partitions: { partition: number; offset: number; metadata: string; error: ApiErrorName }[]
  }[]
}

export type GroupState = 'Empty' | 'PreparingRebalance' | 'CompletingRebalance' | 'Stable' | 'Dead'

export interface DescribedGroup {
  groupId: string
  error: ApiErrorName
  state: GroupState
  protocolType: string
  protocol: string
  members: {
    memberId: string
    clientId: string
    clientHost: string
    /** The consumer protocol's encodings, as the members sent them. */
    subscription: Uint8Array
    assignment: Uint8Array
  }[]
  /** Committed offsets with the log-end offsets this node knows (-1: unknown) and their lag. */
  offsets: { topic: string; partition: number; committed: number; logEndOffset: number; lag: number }[]
}

export interface DescribeGroupsRequest {
  groups: string[]
}

export interface DescribeGroupsResponse {
  groups: DescribedGroup[]
}

/** The groups this node coordinates (a client asks every node). */
export type ListGroupsRequest = Record<string, never>

export interface ListGroupsResponse {
  error: ApiErrorName
  groups: { groupId: string; protocolType: string; state: GroupState }[]
}

export interface DeleteGroupsRequest {
  groups: string[]
}

export interface DeleteGroupsResponse {
  results: { groupId: string; error: ApiErrorName; message?: string }[]
}

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
  alterPartitionReassignments: [AlterPartitionReassignmentsRequest, AlterPartitionReassignmentsResponse]
  listPartitionReassignments: [ListPartitionReassignmentsRequest, ListPartitionReassignmentsResponse]
  alterPartition: [AlterPartitionRequest, AlterPartitionResponse]
  /** Moves every replica off the node, and places no new one there. */
  decommissionNode: [NodeStateRequest, NodeStateResponse]
  /** Lets new replicas be placed on the node again; nothing moves back by itself. */
  recommissionNode: [NodeStateRequest, NodeStateResponse]
  findCoordinator: [FindCoordinatorRequest, FindCoordinatorResponse]
  joinGroup: [JoinGroupRequest, JoinGroupResponse]
  syncGroup: [SyncGroupRequest, SyncGroupResponse]
  heartbeat: [GroupHeartbeatRequest, GroupHeartbeatResponse]
  leaveGroup: [LeaveGroupRequest, LeaveGroupResponse]
  offsetCommit: [OffsetCommitRequest, OffsetCommitResponse]
  offsetFetch: [OffsetFetchRequest, OffsetFetchResponse]
  describeGroups: [DescribeGroupsRequest, DescribeGroupsResponse]
  listGroups: [ListGroupsRequest, ListGroupsResponse]
  deleteGroups: [DeleteGroupsRequest, DeleteGroupsResponse]
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
  'alterPartitionReassignments',
  'listPartitionReassignments',
  'alterPartition',
  'decommissionNode',
  'recommissionNode',
  'findCoordinator',
  'joinGroup',
  'syncGroup',
  'heartbeat',
  'leaveGroup',
  'offsetCommit',
  'offsetFetch',
  'describeGroups',
  'listGroups',
  'deleteGroups',
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
