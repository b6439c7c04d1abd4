/**
 * What a group consumer needs of the world, as one interface: its coordinator (found, and found
 * again when it moves), topic metadata, list offsets, a fetcher and a clock. `ClusterGroupIo`
 * implements it over a Cairn cluster; tests plug in a fake coordinator instead.
 */
import { type ApiRequest, type ApiResponse, coordinatorPartition, OFFSETS_TOPIC } from '@cairn/protocol'
import type { Admin } from './admin.js'
import { type Clock, systemClock } from './clock.js'
import type { ClusterClient } from './cluster-client.js'
import { RequestError } from './connection.js'
import { type ConsumedRecord, Consumer } from './consumer.js'
import type { ResolvedGroupConsumerConfig } from './consumer-config.js'
import { CairnError, NetworkError } from './errors.js'
import type { TopicPartition } from './topic-partition.js'

/** The group APIs a member sends to its coordinator. */
export type GroupApi = 'joinGroup' | 'syncGroup' | 'heartbeat' | 'leaveGroup' | 'offsetCommit' | 'offsetFetch'

/** The partitions a member reads, at positions it sets. */
export interface GroupFetcher {
  add(partitions: { tp: TopicPartition; offset: number }[]): void
  remove(partitions: TopicPartition[]): void
  pause(partitions: TopicPartition[]): void
  resume(partitions: TopicPartition[]): void
  seek(tp: TopicPartition, offset: number): void
  /** The next offset to fetch, or null while unknown. */
  position(tp: TopicPartition): number | null
  /** The high watermark the last fetch of `tp` reported. */
  highWatermark(tp: TopicPartition): number
  /** One long poll over the partitions not paused: at most max.poll.records records, in offset order per partition. */
  poll(): Promise<ConsumedRecord[]>
}

export interface GroupIo {
  readonly clock: Clock
  readonly fetcher: GroupFetcher
  /**
   * Sends a group API to the group's coordinator, finding it first if need be. Rejects with a
   * CairnError whose code is a Kafka error name: NETWORK_EXCEPTION or REQUEST_TIMED_OUT when no
   * answer came (the coordinator is then forgotten), COORDINATOR_NOT_AVAILABLE when none was found.
   */
  toCoordinator<A extends GroupApi>(api: A, body: ApiRequest<A>, timeoutMs: number): Promise<ApiResponse<A>>
  /** The coordinator moved or went away: the next request finds it again. */
  coordinatorLost(): void
  /** Partition counts of `topics` from fresh metadata; a topic that does not exist is absent. */
  partitionCounts(topics: string[]): Promise<Map<string, number>>
  /** Every topic's name, internal ones excluded (a pattern subscription matches against these). */
  topicNames(): Promise<string[]>
  /** The earliest or the latest offset of each partition of `topic`. */
  listOffsets(topic: string, at: 'earliest' | 'latest'): Promise<{ partition: number; offset: number }[]>
}

/**
 * Asks the nodes in turn, from the `first`-th known one, which node coordinates `groupId`; the
 * first answer wins. If none says, the coordinator is the leader of partition
 * `abs(javaHashCode(groupId)) % partitions` of `__consumer_offsets` in the metadata. Throws
 * COORDINATOR_NOT_AVAILABLE when that has no leader either: the caller retries after backoff.
 */
export async function findCoordinator(
  cluster: ClusterClient,
  groupId: string,
  timeoutMs: number,
  first = 0,
): Promise<{ nodeId: number; address: string }> {
  if (cluster.nodes().length === 0) await cluster.refreshMetadata([]).catch(() => undefined)
  const addresses = cluster.knownAddresses()
  const errors: string[] = []
  for (let k = 0; k < addresses.length; k++) {
    const address = addresses[(first + k) % addresses.length]!
    try {
      const r = await (await cluster.connection(address)).request(
        'findCoordinator',
        { key: groupId },
        timeoutMs,
      )
      if (!r.error) return { nodeId: r.nodeId, address: `${r.host}:${r.port}` }
      errors.push(`${address}: ${r.error}`)
    } catch (err) {
      if (err instanceof RequestError) throw err
      errors.push(`${address}: ${(err as Error).message}`)
    }
  }
  // No node said: the leader of the group's partition of __consumer_offsets, as the metadata has it.
  const offsets = await cluster.refreshMetadata([OFFSETS_TOPIC]).catch(() => null)
  const topic = offsets?.topics.find((t) => t.name === OFFSETS_TOPIC && !t.error && t.partitions.length > 0)
  if (topic) {
    const partition = coordinatorPartition(groupId, topic.partitions.length)
    const leaderId = topic.partitions.find((p) => p.partition === partition)?.leaderId ?? 0
    const address = leaderId > 0 ? cluster.addressOf(leaderId) : undefined
    if (address) return { nodeId: leaderId, address }
  }
  throw new CairnError(
    'COORDINATOR_NOT_AVAILABLE',
    `no coordinator for group '${groupId}' found (${errors.join('; ') || 'no node known'})`,
  )
}

/** A group consumer's IO over a Cairn cluster. */
export class ClusterGroupIo implements GroupIo {
  readonly clock: Clock = systemClock
  readonly fetcher: GroupFetcher
  private coordinator: string | null = null
  /** Where the next FindCoordinator goes first: rotates, so one dead node holds nothing up. */
  private nextNode = 0

  constructor(
    private readonly cluster: ClusterClient,
    private readonly admin: Admin,
    private readonly groupId: string,
    config: ResolvedGroupConsumerConfig,
    private readonly requestTimeoutMs: number,
  ) {
    const consumer = new Consumer(cluster, admin, {
      autoOffsetReset: config.autoOffsetReset,
      maxWaitMs: config.fetchMaxWaitMs,
      minBytes: config.fetchMinBytes,
      maxBytes: config.fetchMaxBytes,
      maxPartitionBytes: config.maxPartitionFetchBytes,
      maxPollRecords: config.maxPollRecords,
    })
    this.fetcher = {
      add: (partitions) => consumer.addPartitions(partitions),
      remove: (partitions) => consumer.removePartitions(partitions),
      pause: (partitions) => consumer.pause(partitions),
      resume: (partitions) => consumer.resume(partitions),
      seek: (tp, offset) => consumer.seek(tp, offset),
      position: (tp) => consumer.position(tp),
      highWatermark: (tp) => consumer.highWatermark(tp),
      poll: () => consumer.poll(),
    }
  }

  async toCoordinator<A extends GroupApi>(
    api: A,
    body: ApiRequest<A>,
    timeoutMs: number,
  ): Promise<ApiResponse<A>> {
    const address = this.coordinator ?? (await this.findCoordinator())
    try {
      return await (await this.cluster.connection(address)).request(api, body, timeoutMs)
    } catch (err) {
      // An envelope-level error is the node's answer (a malformed request, an unknown api).
      if (err instanceof RequestError) throw err
      if (this.coordinator === address) this.coordinator = null
      const code = (err as { code?: string }).code
      if (code === 'REQUEST_TIMED_OUT') throw err
      throw new NetworkError(
        `${api} to the coordinator of group '${this.groupId}' at ${address}: ${(err as Error).message}`,
      )
    }
  }

  coordinatorLost(): void {
    this.coordinator = null
  }

  private async findCoordinator(): Promise<string> {
    const found = await findCoordinator(this.cluster, this.groupId, this.requestTimeoutMs, this.nextNode++)
    this.coordinator = found.address
    return found.address
  }

  async partitionCounts(topics: string[]): Promise<Map<string, number>> {
    const counts = new Map<string, number>()
    if (topics.length === 0) return counts
    const m = await this.cluster.refreshMetadata(topics)
    for (const t of m.topics) if (!t.error && t.partitions.length > 0) counts.set(t.name, t.partitions.length)
    return counts
  }

  async topicNames(): Promise<string[]> {
    return this.admin.listTopics()
  }

  listOffsets(topic: string, at: 'earliest' | 'latest'): Promise<{ partition: number; offset: number }[]> {
    return this.admin.listOffsets(topic, at)
  }
}
