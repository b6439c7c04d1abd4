/**
 * The entry point: `new Cairn({ bootstrap: ['127.0.0.1:9091'] })`, then `.producer()`,
 * `.consumer()` and `.admin()`. One Cairn keeps one connection per node, shared by all of them.
 */
import { ErrorCode, type ErrorName } from '@cairn/protocol'
import { Admin } from './admin.js'
import { ClusterClient, type ClusterClientOptions } from './cluster-client.js'
import type { ProducerConfig } from './config.js'
import { REQUEST_TIMEOUT_MS } from './connection.js'
import { Consumer, type ConsumerOptions } from './consumer.js'
import { type GroupConsumerConfig, resolveGroupConsumerConfig } from './consumer-config.js'
import { GroupConsumer } from './group-consumer.js'
import { ClusterGroupIo } from './group-io.js'
import { createProducer, type ProduceBatchResult, type Producer, type ProducerIo } from './producer.js'

export type CairnOptions = ClusterClientOptions

function errorCodeOf(name: string | null): number {
  if (name === null) return 0
  return (
    (ErrorCode as Record<string, { code: number }>)[name as ErrorName]?.code ??
    ErrorCode.UNKNOWN_SERVER_ERROR.code
  )
}

export class Cairn {
  private readonly cluster: ClusterClient
  private readonly producers = new Set<Producer>()
  private readonly groupConsumers = new Set<GroupConsumer>()

  constructor(private readonly options: CairnOptions) {
    this.cluster = new ClusterClient(options)
  }

  admin(): Admin {
    return new Admin(this.cluster)
  }

  /**
   * With a `groupId` (or `'group.id'`): a member of that consumer group, configured by Kafka's
   * names (see GroupConsumerConfig). Without: a consumer of partitions it assigns itself.
   */
  consumer(options: GroupConsumerConfig & ({ groupId: string } | { 'group.id': string })): GroupConsumer
  consumer(options?: ConsumerOptions): Consumer
  consumer(options: ConsumerOptions | GroupConsumerConfig = {}): Consumer | GroupConsumer {
    if ('groupId' in options || 'group.id' in options) {
      const config = resolveGroupConsumerConfig(options as GroupConsumerConfig)
      const io = new ClusterGroupIo(
        this.cluster,
        this.admin(),
        config.groupId,
        config,
        this.options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
      )
      const consumer = new GroupConsumer(io, config)
      this.groupConsumers.add(consumer)
      return consumer
    }
    return new Consumer(this.cluster, this.admin(), options as ConsumerOptions)
  }

  producer(config: ProducerConfig = {}): Producer {
    const cluster = this.cluster
    const io: ProducerIo = {
      async sender(nodeId, batches, options): Promise<ProduceBatchResult[]> {
        const topics = new Map<string, { partition: number; records: Uint8Array }[]>()
        for (const b of batches) {
          const list = topics.get(b.topic) ?? []
          list.push({ partition: b.partition, records: b.bytes })
          topics.set(b.topic, list)
        }
        const body = {
          acks: options.acks,
          timeoutMs: options.timeoutMs,
          topics: [...topics].map(([name, partitions]) => ({ name, partitions })),
        }
        const address = cluster.addressOf(nodeId)
        if (!address) throw new Error(`node ${nodeId} has no known address`)
        const conn = await cluster.connection(address)
        if (options.acks === 0) {
          conn.send('produce', body)
          return batches.map(() => ({ errorCode: 0 }))
        }
        const r = await conn.request('produce', body)
        return batches.map((b) => {
          const p = r.topics
            .find((t) => t.name === b.topic)
            ?.partitions.find((x) => x.partition === b.partition)
          if (!p)
            return { errorCode: ErrorCode.UNKNOWN_SERVER_ERROR.code, errorMessage: 'no answer for the batch' }
          return {
            errorCode: errorCodeOf(p.error),
            baseOffset: p.baseOffset,
            logStartOffset: p.logStartOffset,
            ...(p.message !== undefined && { errorMessage: p.message }),
            ...(p.leaderId > 0 && { leaderId: p.leaderId }),
            ...(p.leaderId > 0 && p.leaderEpoch !== undefined && { leaderEpoch: p.leaderEpoch }),
          }
        })
      },
      partitionCount: (topic) => cluster.topic(topic)?.partitions.length,
      leaderFor: (topic, partition) => cluster.leaderOf(topic, partition) || undefined,
      noteLeader: (topic, partition, leaderId, leaderEpoch) =>
        cluster.noteLeader(topic, partition, leaderId, leaderEpoch),
      async refreshMetadata(topics) {
        await cluster.refreshMetadata([...topics])
      },
      async initProducerId() {
        const r = await cluster.admin('initProducerId', {}, (x) => x.error)
        return { producerId: BigInt(r.producerId), producerEpoch: r.producerEpoch }
      },
    }
    const producer = createProducer(config, io)
    this.producers.add(producer)
    return producer
  }

  /** Stops every group consumer (they commit and leave their groups) and producer, then disconnects. */
  async close(): Promise<void> {
    await Promise.all([...this.groupConsumers].map((c) => c.close().catch(() => undefined)))
    for (const p of this.producers) await p.close()
    await this.cluster.close()
  }
}
