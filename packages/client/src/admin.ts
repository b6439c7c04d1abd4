/**
 * Topic administration, partition reassignment, node decommissioning and cluster description, as
 * Kafka's Admin client offers them.
 */
import {
  type ApiRequest,
  type ApiResponse,
  EARLIEST_TIMESTAMP,
  type GroupState,
  LATEST_TIMESTAMP,
  type NodeStateResponse,
  type PartitionResult,
  type TopicResult,
} from '@cairn/protocol'
import { compareTopicPartitions, decodeAssignment, decodeSubscription } from './assignors.js'
import type { ClusterClient, PartitionInfo } from './cluster-client.js'
import { REQUEST_TIMEOUT_MS } from './connection.js'
import { CairnError } from './errors.js'
import { findCoordinator } from './group-io.js'
import { type TopicPartition, topicPartitionKey } from './topic-partition.js'

export interface NewTopic {
  topic: string
  numPartitions?: number
  replicationFactor?: number
  configs?: Record<string, string>
}

function firstError(results: TopicResult[]): string | null {
  return results.find((r) => r.error)?.error ?? null
}

function throwIfFailed(what: string, results: TopicResult[]): void {
  const bad = results.find((r) => r.error)
  if (bad)
    throw new CairnError(
      bad.error!,
      `${what} '${bad.name}': ${bad.error}${bad.message ? `: ${bad.message}` : ''}`,
    )
}

/** Where a partition's replicas should be; the first is the preferred leader. null cancels a move in progress. */
export interface PartitionReassignment {
  topic: string
  partition: number
  replicas: number[] | null
}

/** A reassignment in progress, as Kafka's listPartitionReassignments shows it. */
export interface OngoingReassignment {
  topic: string
  partition: number
  /** Every replica while it runs: the target's, then the leaving ones. */
  replicas: number[]
  addingReplicas: number[]
  removingReplicas: number[]
}

/** A group as listGroups reports it, with the node that coordinates it. */
export interface GroupListing {
  groupId: string
  protocolType: string
  state: GroupState
  coordinatorId: number
}

/** A group member as describeGroup reports it; subscription and assignment decoded (consumer groups). */
export interface GroupMemberDescription {
  memberId: string
  clientId: string
  clientHost: string
  /** The topics subscribed to; null when not a consumer group's or not Stable (Kafka shows none then). */
  topics: string[] | null
  assignment: TopicPartition[]
}

/** One partition of a group: who owns it, what is committed, how far behind the log end it is. */
export interface GroupPartitionDescription {
  topic: string
  partition: number
  /** The member it is assigned to, or null. */
  memberId: string | null
  clientId: string | null
  /** null: nothing committed. */
  committed: number | null
  /** -1 when it could not be found. */
  logEndOffset: number
  /** logEndOffset − committed; null when nothing is committed or the log end is unknown. */
  lag: number | null
}

export interface GroupDescription {
  groupId: string
  /** Dead: the group does not exist. */
  state: GroupState
  protocolType: string
  /** The assignor the group uses ('' unless Stable). */
  protocol: string
  coordinatorId: number
  members: GroupMemberDescription[]
  partitions: GroupPartitionDescription[]
}

/** Where reset-offsets moves a group: Kafka's --to-earliest, --to-latest, --to-offset, --by-duration. */
export type OffsetResetSpec = 'earliest' | 'latest' | { offset: number } | { byDurationMs: number }

export interface OffsetResetPlan {
  topic: string
  partition: number
  /** What was committed before; null for nothing. */
  currentOffset: number | null
  newOffset: number
}

/** The coordinator's answers that mean: ask again, perhaps another node, after a while. */
const coordinatorRetriable: ReadonlySet<string> = new Set([
  'NOT_COORDINATOR',
  'COORDINATOR_NOT_AVAILABLE',
  'COORDINATOR_LOAD_IN_PROGRESS',
  'NETWORK_EXCEPTION',
  'REQUEST_TIMED_OUT',
])
const coordinatorAttemptsMax = 20

function firstPartitionError(topics: { partitions: PartitionResult[] }[]): string | null {
  for (const t of topics) for (const p of t.partitions) if (p.error) return p.error
  return null
}

function throwIfNodeStateFailed(what: string, nodeId: number, r: NodeStateResponse): void {
  if (r.error)
    throw new CairnError(r.error, `${what} node ${nodeId}: ${r.error}${r.message ? `: ${r.message}` : ''}`)
}

export class Admin {
  constructor(private readonly cluster: ClusterClient) {}

  async createTopics(topics: NewTopic[], validateOnly = false): Promise<void> {
    const r = await this.cluster.admin(
      'createTopics',
      {
        topics: topics.map((t) => ({
          name: t.topic,
          partitions: t.numPartitions ?? 1,
          replicationFactor: t.replicationFactor ?? 1,
          configs: t.configs ?? {},
        })),
        validateOnly,
      },
      (x) => firstError(x.topics),
    )
    throwIfFailed('create topic', r.topics)
    await this.cluster.refreshMetadata().catch(() => undefined)
  }

  async deleteTopics(topics: string[]): Promise<void> {
    const r = await this.cluster.admin('deleteTopics', { topics }, (x) => firstError(x.topics))
    throwIfFailed('delete topic', r.topics)
  }

  /** Adds partitions up to `count`; Kafka never removes partitions, and neither does Cairn. */
  async createPartitions(topic: string, count: number): Promise<void> {
    const r = await this.cluster.admin('createPartitions', { topics: [{ name: topic, count }] }, (x) =>
      firstError(x.topics),
    )
    throwIfFailed('add partitions to', r.topics)
  }

  async alterConfigs(topic: string, configs: Record<string, string>): Promise<void> {
    const r = await this.cluster.admin('alterConfigs', { topics: [{ name: topic, configs }] }, (x) =>
      firstError(x.topics),
    )
    throwIfFailed('alter configs of', r.topics)
  }

  async describeConfigs(topic: string): Promise<Record<string, string>> {
    const r = await this.cluster.admin('describeConfigs', { topics: [topic] }, () => null)
    const t = r.topics[0]
    if (!t || t.error)
      throw new CairnError(t?.error ?? 'UNKNOWN', `describe configs of '${topic}': ${t?.error}`)
    return t.configs
  }

  async listTopics(): Promise<string[]> {
    const m = await this.cluster.refreshMetadata(null)
    return m.topics
      .map((t) => t.name)
      .filter((n) => !n.startsWith('__'))
      .sort()
  }

  async describeTopic(topic: string): Promise<PartitionInfo[]> {
    await this.cluster.refreshMetadata([topic])
    return this.cluster.partitions(topic)
  }

  /**
   * Kafka's alterPartitionReassignments: moves each partition to its replicas (or, with null,
   * cancels its move). Returns once the controller has recorded the targets; the partitions' Raft
   * leaders then move them one replica at a time, and writes go on meanwhile. Throws the first
   * partition's error (INVALID_REPLICA_ASSIGNMENT, UNKNOWN_TOPIC_OR_PARTITION, ...).
   */
  async alterPartitionReassignments(reassignments: PartitionReassignment[]): Promise<void> {
    const topics = new Map<string, { partition: number; replicas: number[] | null }[]>()
    for (const { topic, partition, replicas } of reassignments) {
      const list = topics.get(topic) ?? []
      list.push({ partition, replicas })
      topics.set(topic, list)
    }
    const r = await this.cluster.admin(
      'alterPartitionReassignments',
      { topics: [...topics].map(([name, partitions]) => ({ name, partitions })) },
      (x) => firstPartitionError(x.topics),
    )
    for (const t of r.topics) {
      const bad = t.partitions.find((p) => p.error)
      if (bad)
        throw new CairnError(
          bad.error!,
          `reassign ${t.name}-${bad.partition}: ${bad.error}${bad.message ? `: ${bad.message}` : ''}`,
        )
    }
  }

  /** The reassignments in progress, of every topic or of `topics` only. */
  async listPartitionReassignments(
    topics?: { topic: string; partitions: number[] }[],
  ): Promise<OngoingReassignment[]> {
    const r = await this.cluster.admin(
      'listPartitionReassignments',
      { topics: topics ? topics.map((t) => ({ name: t.topic, partitions: t.partitions })) : null },
      () => null,
    )
    return r.topics.flatMap((t) => t.partitions.map((p) => ({ topic: t.name, ...p })))
  }

  /**
   * Moves every replica off node `nodeId`, each to the least-loaded node that does not hold one,
   * and places no new replica there. Returns once the moves are recorded; they run on.
   */
  async decommissionNode(nodeId: number): Promise<void> {
    const r = await this.cluster.admin('decommissionNode', { nodeId }, (x) => x.error)
    throwIfNodeStateFailed('decommission', nodeId, r)
  }

  /** Lets new replicas be placed on node `nodeId` again; nothing moves back by itself. */
  async recommissionNode(nodeId: number): Promise<void> {
    const r = await this.cluster.admin('recommissionNode', { nodeId }, (x) => x.error)
    throwIfNodeStateFailed('recommission', nodeId, r)
  }

  /** The partitions, of every topic (internal ones too), that have or are getting a replica on node `nodeId`. */
  async partitionsOnNode(nodeId: number): Promise<{ topic: string; partition: number }[]> {
    const m = await this.cluster.refreshMetadata(null)
    return m.topics.flatMap((t) =>
      t.partitions
        .filter((p) => p.replicas.includes(nodeId))
        .map((p) => ({ topic: t.name, partition: p.partition })),
    )
  }

  async describeCluster(): Promise<{
    controllerId: number
    brokers: { nodeId: number; host: string; port: number }[]
  }> {
    const m = await this.cluster.refreshMetadata([])
    return { controllerId: m.controllerId, brokers: m.brokers }
  }

  /** earliest | latest | a timestamp (ms): the offset per partition, asked of each leader. */
  async listOffsets(
    topic: string,
    at: 'earliest' | 'latest' | number,
  ): Promise<{ partition: number; offset: number }[]> {
    const timestamp = at === 'earliest' ? EARLIEST_TIMESTAMP : at === 'latest' ? LATEST_TIMESTAMP : at
    const partitions = await this.cluster.partitions(topic)
    return Promise.all(
      partitions.map((p) =>
        this.cluster.withRetries(`list offsets of ${topic}-${p.partition}`, async () => {
          const leader = this.cluster.leaderOf(topic, p.partition)
          const r = await this.cluster.toNode(leader, 'listOffsets', {
            topics: [{ name: topic, partitions: [{ partition: p.partition, timestamp }] }],
          })
          const x = r.topics[0]?.partitions[0]
          if (!x || x.error)
            throw new CairnError(
              x?.error ?? 'UNKNOWN',
              `list offsets of ${topic}-${p.partition}: ${x?.error}`,
            )
          return { partition: p.partition, offset: x.offset }
        }),
      ),
    )
  }

  // ---- Consumer groups ---------------------------------------------------------------------

  /**
   * Every group, from every node (each lists those it coordinates), merged. `errors` names the
   * nodes that did not answer: their groups may be missing.
   */
  async listGroups(): Promise<{ groups: GroupListing[]; errors: { nodeId: number; error: string }[] }> {
    await this.cluster.refreshMetadata([])
    const nodes = this.cluster.nodes().sort((a, b) => a.nodeId - b.nodeId)
    const errors: { nodeId: number; error: string }[] = []
    let unanswered = 0
    const answers = await Promise.all(
      nodes.map(async ({ nodeId, address }) => {
        try {
          const r = await (await this.cluster.connection(address)).request('listGroups', {})
          // Loading: the groups of the partitions it has loaded come anyway; the others are missing.
          if (r.error === 'COORDINATOR_LOAD_IN_PROGRESS')
            errors.push({ nodeId, error: `${r.error}: some of its groups are not listed yet` })
          else if (r.error) throw new CairnError(r.error, r.error)
          return r.groups.map((g) => ({ ...g, coordinatorId: nodeId }))
        } catch (err) {
          errors.push({ nodeId, error: (err as Error).message })
          unanswered++
          return []
        }
      }),
    )
    if (unanswered === nodes.length && nodes.length > 0)
      throw new CairnError('NETWORK_EXCEPTION', `list groups: no node answered: ${errors[0]!.error}`)
    // While a coordinator moves, two nodes may both list a group: the first (lowest id) wins.
    const groups = new Map<string, GroupListing>()
    for (const g of answers.flat()) if (!groups.has(g.groupId)) groups.set(g.groupId, g)
    return {
      groups: [...groups.values()].sort((a, b) =>
        a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0,
      ),
      errors,
    }
  }

  /**
   * A group's state, members (subscriptions and assignments decoded) and, per partition it has
   * committed or been assigned, the committed offset, the log-end offset and the lag. Log ends
   * the coordinator does not know are asked of the partitions' leaders.
   */
  async describeGroup(groupId: string): Promise<GroupDescription> {
    const { nodeId, response } = await this.toCoordinator(
      groupId,
      'describeGroups',
      { groups: [groupId] },
      (r) => r.groups[0]?.error ?? null,
    )
    const g = response.groups[0]
    if (!g) throw new CairnError('UNKNOWN_SERVER_ERROR', `describe group '${groupId}': no answer for it`)
    if (g.error) throw new CairnError(g.error, `describe group '${groupId}': ${g.error}`)
    const consumer = g.protocolType === 'consumer' || g.protocolType === ''
    const members: GroupMemberDescription[] = g.members.map((m) => {
      let topics: string[] | null = null
      let assignment: TopicPartition[] = []
      if (consumer && m.subscription.length > 0) {
        try {
          topics = decodeSubscription(m.subscription).topics
        } catch {
          topics = null
        }
      }
      if (consumer && m.assignment.length > 0) {
        try {
          assignment = decodeAssignment(m.assignment).partitions.sort(compareTopicPartitions)
        } catch {
          assignment = []
        }
      }
      return { memberId: m.memberId, clientId: m.clientId, clientHost: m.clientHost, topics, assignment }
    })
    const rows = new Map<string, GroupPartitionDescription>()
    const row = (tp: TopicPartition) => {
      const k = topicPartitionKey(tp)
      let r = rows.get(k)
      if (!r) {
        r = {
          topic: tp.topic,
          partition: tp.partition,
          memberId: null,
          clientId: null,
          committed: null,
          logEndOffset: -1,
          lag: null,
        }
        rows.set(k, r)
      }
      return r
    }
    for (const o of g.offsets) {
      const r = row(o)
      r.committed = o.committed >= 0 ? o.committed : null
      r.logEndOffset = o.logEndOffset
    }
    for (const m of members)
      for (const tp of m.assignment) {
        const r = row(tp)
        r.memberId = m.memberId
        r.clientId = m.clientId
      }
    const unknownEnds = [...new Set([...rows.values()].filter((r) => r.logEndOffset < 0).map((r) => r.topic))]
    for (const topic of unknownEnds) {
      const ends = await this.listOffsets(topic, 'latest').catch(() => [])
      for (const e of ends) {
        const r = rows.get(topicPartitionKey({ topic, partition: e.partition }))
        if (r && r.logEndOffset < 0) r.logEndOffset = e.offset
      }
    }
    for (const r of rows.values())
      r.lag = r.committed !== null && r.logEndOffset >= 0 ? Math.max(0, r.logEndOffset - r.committed) : null
    return {
      groupId,
      state: g.state,
      protocolType: g.protocolType,
      protocol: g.protocol,
      coordinatorId: nodeId,
      members,
      partitions: [...rows.values()].sort(compareTopicPartitions),
    }
  }

  /** Deletes groups (each must be Empty: NON_EMPTY_GROUP otherwise; GROUP_ID_NOT_FOUND if unknown). */
  async deleteGroups(
    groupIds: string[],
  ): Promise<{ groupId: string; error: string | null; message?: string }[]> {
    return Promise.all(
      groupIds.map(async (groupId) => {
        try {
          const { response } = await this.toCoordinator(
            groupId,
            'deleteGroups',
            { groups: [groupId] },
            (r) => r.results[0]?.error ?? null,
          )
          const x = response.results.find((r) => r.groupId === groupId) ?? response.results[0]
          return { groupId, error: x?.error ?? null, ...(x?.message !== undefined && { message: x.message }) }
        } catch (err) {
          return {
            groupId,
            error: (err as { code?: string }).code ?? 'UNKNOWN',
            message: (err as Error).message,
          }
        }
      }),
    )
  }

  /** Every offset the group has committed (Kafka's listConsumerGroupOffsets). */
  async fetchOffsets(
    groupId: string,
  ): Promise<{ topic: string; partition: number; offset: number; metadata: string }[]> {
    const { response } = await this.toCoordinator(
      groupId,
      'offsetFetch',
      { groupId, topics: null },
      (r) => r.error,
    )
    if (response.error)
      throw new CairnError(response.error, `fetch offsets of group '${groupId}': ${response.error}`)
    const out: { topic: string; partition: number; offset: number; metadata: string }[] = []
    for (const t of response.topics)
      for (const p of t.partitions)
        if (!p.error && p.offset >= 0)
          out.push({ topic: t.name, partition: p.partition, offset: p.offset, metadata: p.metadata })
    return out.sort(compareTopicPartitions)
  }

  /**
   * Plans (and with `execute`, applies) new committed offsets for every partition of `topic`, as
   * kafka-consumer-groups --reset-offsets does: only while the group has no members (Empty, or
   * unknown); an offset beyond the log is clamped to its start or end; by duration, the first
   * offset whose record is at most that old (the log end if none is). Applied as a standalone
   * commit (generation -1).
   */
  async resetOffsets(
    groupId: string,
    topic: string,
    spec: OffsetResetSpec,
    execute: boolean,
  ): Promise<OffsetResetPlan[]> {
    const group = await this.describeGroup(groupId)
    if (group.state !== 'Empty' && group.state !== 'Dead')
      throw new CairnError(
        'NON_EMPTY_GROUP',
        `Assignments can only be reset if the group '${groupId}' is inactive, but the current state is ${group.state}`,
      )
    const partitions = await this.describeTopic(topic)
    const [earliest, latest] = await Promise.all([
      this.listOffsets(topic, 'earliest'),
      this.listOffsets(topic, 'latest'),
    ])
    const at = (list: { partition: number; offset: number }[], p: number) =>
      list.find((x) => x.partition === p)?.offset ?? 0
    let target: { partition: number; offset: number }[] | null = null
    if (typeof spec === 'object' && 'byDurationMs' in spec) {
      if (!Number.isSafeInteger(spec.byDurationMs) || spec.byDurationMs < 0)
        throw new CairnError(
          'ILLEGAL_ARGUMENT',
          `reset by duration: ${spec.byDurationMs} ms is not a duration`,
        )
      target = await this.listOffsets(topic, Date.now() - spec.byDurationMs)
    } else if (typeof spec === 'object') {
      if (!Number.isSafeInteger(spec.offset) || spec.offset < 0)
        throw new CairnError('ILLEGAL_ARGUMENT', `reset to offset ${spec.offset}: not an offset`)
    }
    const committed = new Map(group.partitions.map((r) => [topicPartitionKey(r), r.committed]))
    const plan: OffsetResetPlan[] = partitions
      .map((p) => {
        const low = at(earliest, p.partition)
        const high = at(latest, p.partition)
        let offset: number
        if (spec === 'earliest') offset = low
        else if (spec === 'latest') offset = high
        else if ('offset' in spec) offset = spec.offset
        else {
          const found = target!.find((x) => x.partition === p.partition)?.offset ?? -1
          offset = found < 0 ? high : found
        }
        return {
          topic,
          partition: p.partition,
          currentOffset: committed.get(topicPartitionKey({ topic, partition: p.partition })) ?? null,
          newOffset: Math.min(Math.max(offset, low), high),
        }
      })
      .sort(compareTopicPartitions)
    if (!execute) return plan
    const { response } = await this.toCoordinator(
      groupId,
      'offsetCommit',
      {
        groupId,
        generationId: -1,
        memberId: '',
        topics: [
          { name: topic, partitions: plan.map((x) => ({ partition: x.partition, offset: x.newOffset })) },
        ],
      },
      (r) => r.error,
    )
    const error = response.error ?? response.topics.flatMap((t) => t.partitions).find((p) => p.error)?.error
    if (error)
      throw new CairnError(
        error,
        error === 'ILLEGAL_GENERATION' || error === 'UNKNOWN_MEMBER_ID'
          ? `reset offsets of group '${groupId}': ${error}: the group has members again; stop them first`
          : `reset offsets of group '${groupId}': ${error}`,
      )
    return plan
  }

  /**
   * Sends a request to the group's coordinator, finding it first; retries (another node, after
   * backoff) while the coordinator moves, loads or does not answer; bounded.
   */
  private async toCoordinator<A extends 'describeGroups' | 'deleteGroups' | 'offsetFetch' | 'offsetCommit'>(
    groupId: string,
    api: A,
    body: ApiRequest<A>,
    errorOf: (r: ApiResponse<A>) => string | null,
  ): Promise<{ nodeId: number; response: ApiResponse<A> }> {
    let last = ''
    for (let attempt = 0; attempt < coordinatorAttemptsMax; attempt++) {
      if (attempt > 0) await new Promise((r) => setTimeout(r, Math.min(1000, 50 * 2 ** Math.min(attempt, 5))))
      let code: string
      try {
        const { nodeId, address } = await findCoordinator(this.cluster, groupId, REQUEST_TIMEOUT_MS, attempt)
        const response = await (await this.cluster.connection(address)).request(api, body)
        const error = errorOf(response)
        if (error === null || !coordinatorRetriable.has(error)) return { nodeId, response }
        code = error
        last = `${error}`
      } catch (err) {
        code = (err as { code?: string }).code ?? 'UNKNOWN'
        if (!coordinatorRetriable.has(code)) throw err
        last = (err as Error).message
      }
      if (code === 'NOT_COORDINATOR' || code === 'NETWORK_EXCEPTION')
        await this.cluster.refreshMetadata([]).catch(() => undefined)
    }
    throw new CairnError(
      'COORDINATOR_NOT_AVAILABLE',
      `${api} for group '${groupId}' failed after ${coordinatorAttemptsMax} attempts: ${last}`,
    )
  }
}
