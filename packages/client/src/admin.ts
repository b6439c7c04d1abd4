/** Topic administration and cluster description, as Kafka's Admin client offers them. */
import { EARLIEST_TIMESTAMP, LATEST_TIMESTAMP, type TopicResult } from '@cairn/protocol'
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
