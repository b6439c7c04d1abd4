/**
 * Topic administration, partition reassignment, node decommissioning and cluster description, as
 * Kafka's Admin client offers them.
 */
import {
  EARLIEST_TIMESTAMP,
  LATEST_TIMESTAMP,
  type NodeStateResponse,
  type PartitionResult,
  type TopicResult,
} from '@cairn/protocol'
import type { ClusterClient, PartitionInfo } from './cluster-client.js'
import { CairnError } from './errors.js'

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
}
