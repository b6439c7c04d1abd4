/**
 * What a node answers to each client API request. Per-partition failures are reported per
 * partition, with Kafka's error names; a failure of the whole request throws (the server turns it
 * into the envelope's error).
 */
import {
  type ApiName,
  type ApiRequest,
  type ApiResponse,
  EARLIEST_TIMESTAMP,
  type FetchPartitionResponse,
  LATEST_TIMESTAMP,
  type NodeStateRequest,
  type NodeStateResponse,
  OFFSETS_TOPIC,
  type OngoingPartitionReassignment,
  type PartitionResult,
  type ProducePartitionResponse,
  type TopicMetadata,
  type TopicResult,
} from '@cairn/protocol'
import { GROUP_HANDLERS, type RequestContext } from './group-handlers.js'
import { assignReplicas, hostsOf, MetadataError, type PartitionAssignment } from './metadata.js'
import type { CairnNode } from './node.js'
import type { Partition } from './partition.js'
import { HostError, NotLeaderError } from './raft-host.js'

/** A fetch waits at most this long, whatever max.wait.ms asks. */
export const FETCH_WAIT_MS_MAX = 30_000

type Handler<A extends ApiName> = (
  node: CairnNode,
  body: ApiRequest<A>,
  context: RequestContext,
) => Promise<ApiResponse<A>>

/** A request from the node itself (to the controller), not from a client connection. */
const internal: RequestContext = { clientHost: '' }

/**
 * `__consumer_offsets` is written by its coordinators alone: a client's produce is refused as
 * Kafka refuses appends to an internal topic, and so are deleting it, creating it, or changing
 * its partition count (which would move every group to another partition).
 */
function refuseInternal(topic: string, what: string): void {
  if (topic === OFFSETS_TOPIC)
    throw new MetadataError('INVALID_TOPIC_EXCEPTION', `cannot ${what} internal topic ${OFFSETS_TOPIC}`)
}

function errorOf(err: unknown): { error: string; message: string; leaderId: number; leaderEpoch?: number } {
  if (err instanceof NotLeaderError)
    return {
      error: err.code,
      message: err.message,
      leaderId: err.leaderId,
      ...(err.leaderId !== 0 && err.leaderEpoch > 0 && { leaderEpoch: err.leaderEpoch }),
    }
  if (err instanceof HostError || err instanceof MetadataError)
    return { error: err.code, message: err.message, leaderId: 0 }
  return {
    error: 'UNKNOWN_SERVER_ERROR',
    message: err instanceof Error ? err.message : String(err),
    leaderId: 0,
  }
}

function requirePartition(node: CairnNode, topic: string, partition: number): Partition {
  if (!node.metadata.topics.has(topic))
    throw new HostError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${topic}' does not exist`)
  const p = node.partition(topic, partition)
  if (p) return p
  const assignment = node.metadata.topics.get(topic)?.partitions[partition]
  if (!assignment)
    throw new HostError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${topic}' has no partition ${partition}`)
  // Assigned elsewhere (or still opening here): another node leads it, the one named if known.
  throw NotLeaderError.hinted(assignment.group, node.host.leaderHint(assignment.group))
}

function requireLeader(node: CairnNode, p: Partition): void {
  if (node.host.leaderTermOf(p.group) < 0) throw NotLeaderError.hinted(p.group, node.host.leaderHint(p.group))
}

const metadata: Handler<'metadata'> = async (node, body) => {
  const names = body.topics ?? [...node.metadata.topics.keys()]
  const topics: TopicMetadata[] = names.map((name) => {
    const t = node.metadata.topics.get(name)
    if (!t) return { name, error: 'UNKNOWN_TOPIC_OR_PARTITION', partitions: [] }
    return {
      name,
      error: null,
      partitions: t.partitions.map((a) => {
        const p = node.partitions.get(a.group)
        const s = node.host.status(a.group)
        return {
          partition: a.partition,
          error: p ? null : 'LEADER_NOT_AVAILABLE',
          leaderId: s ? (s.role === 'leader' ? node.nodeId : s.leaderId) : 0,
          leaderEpoch: s?.term ?? 0,
          isr: s?.role === 'leader' ? s.isr : [],
          highWatermark: p?.highWatermark ?? 0,
          logStartOffset: p?.logStartOffset ?? 0,
          ...(a.targetReplicas ? reassignmentOf(a) : { replicas: a.replicas }),
        }
      }),
    }
  })
  return {
    clusterId: node.options.clusterId ?? 'cairn',
    controllerId: node.controllerId(),
    brokers: [...node.metadata.brokers.values()].map((b) => ({
      nodeId: b.nodeId,
      host: b.host,
      port: b.port,
    })),
    topics,
  }
}

const produce: Handler<'produce'> = async (node, body) => {
  const acks = body.acks
  if (acks !== 0 && acks !== 1 && acks !== -1)
    throw new HostError('INVALID_REQUIRED_ACKS', `acks ${acks} is not 0, 1 or -1`)
  const topics = await Promise.all(
    body.topics.map(async (t) => ({
      name: t.name,
      partitions: await Promise.all(
        t.partitions.map(async ({ partition, records }): Promise<ProducePartitionResponse> => {
          try {
            refuseInternal(t.name, 'append to')
            const p = requirePartition(node, t.name, partition)
            const r = await p.produce(records, acks)
            return {
              partition,
              error: null,
              baseOffset: r.baseOffset,
              logStartOffset: r.logStartOffset,
              leaderId: node.nodeId,
            }
          } catch (err) {
            const e = errorOf(err)
            return {
              partition,
              error: e.error,
              message: e.message,
              baseOffset: -1,
              logStartOffset: -1,
              leaderId: e.leaderId,
              ...(e.leaderEpoch !== undefined && { leaderEpoch: e.leaderEpoch }),
            }
          }
        }),
      ),
    })),
  )
  return { topics }
}

const fetch: Handler<'fetch'> = async (node, body) => {
  const wait = Math.min(Math.max(0, body.maxWaitMs), FETCH_WAIT_MS_MAX)
  const read = async (): Promise<{
    topics: { name: string; partitions: FetchPartitionResponse[] }[]
    bytes: number
  }> => {
    let bytes = 0
    let budget = body.maxBytes
    const topics = []
    for (const t of body.topics) {
      const partitions: FetchPartitionResponse[] = []
      for (const { partition, fetchOffset, partitionMaxBytes } of t.partitions) {
        try {
          const p = requirePartition(node, t.name, partition)
          requireLeader(node, p)
          const r = await p.fetch(fetchOffset, Math.max(1, Math.min(partitionMaxBytes, budget)))
          const records = Buffer.concat(r.batches)
          bytes += records.byteLength
          budget = Math.max(0, budget - records.byteLength)
          partitions.push({
            partition,
            error: null,
            highWatermark: r.highWatermark,
            logStartOffset: r.logStartOffset,
            records,
          })
        } catch (err) {
          partitions.push({
            partition,
            error: errorOf(err).error,
            highWatermark: -1,
            logStartOffset: -1,
            records: new Uint8Array(0),
          })
        }
      }
      topics.push({ name: t.name, partitions })
    }
    return { topics, bytes }
  }
  const first = await read()
  if (first.bytes >= body.minBytes || wait === 0) return { topics: first.topics }
  // Long poll: wait until any requested partition has data past its fetch offset, or the time is up.
  const waits: Promise<void>[] = []
  for (const t of body.topics) {
    for (const { partition, fetchOffset } of t.partitions) {
      const p = node.partition(t.name, partition)
      if (p) waits.push(p.waitForData(fetchOffset, wait))
    }
  }
  if (waits.length === 0) return { topics: first.topics }
  await Promise.race(waits)
  return { topics: (await read()).topics }
}

const listOffsets: Handler<'listOffsets'> = async (node, body) => ({
  topics: await Promise.all(
    body.topics.map(async (t) => ({
      name: t.name,
      partitions: await Promise.all(
        t.partitions.map(async ({ partition, timestamp }) => {
          try {
            const p = requirePartition(node, t.name, partition)
            requireLeader(node, p)
            p.requireCaughtUp()
            const offset =
              timestamp === EARLIEST_TIMESTAMP
                ? p.logStartOffset
                : timestamp === LATEST_TIMESTAMP
                  ? p.highWatermark
                  : await p.offsetForTimestamp(timestamp)
            return { partition, error: null, timestamp, offset }
          } catch (err) {
            return { partition, error: errorOf(err).error, timestamp, offset: -1 }
          }
        }),
      ),
    })),
  ),
})

async function eachTopic<T extends { name: string }>(
  items: T[],
  run: (item: T) => Promise<void>,
): Promise<TopicResult[]> {
  const out: TopicResult[] = []
  for (const item of items) {
    try {
      await run(item)
      out.push({ name: item.name, error: null })
    } catch (err) {
      const e = errorOf(err)
      out.push({ name: item.name, error: e.error, message: e.message })
    }
  }
  return out
}

/** Where new replicas may go: registered nodes that are not decommissioned. */
function registeredBrokers(node: CairnNode): number[] {
  return node.metadata.placeableBrokers()
}

const createTopics: Handler<'createTopics'> = async (node, body) => ({
  topics: await eachTopic(body.topics, async (t) => {
    refuseInternal(t.name, 'create')
    if (!Number.isSafeInteger(t.partitions) || t.partitions < 1) {
      throw new MetadataError('INVALID_PARTITIONS', `partitions must be at least 1, got ${t.partitions}`)
    }
    const start = Math.floor(Math.random() * 1_000_000)
    const partitions = assignReplicas(registeredBrokers(node), t.partitions, t.replicationFactor, start)
    const command = { type: 'createTopic' as const, name: t.name, partitions, configs: t.configs }
    if (body.validateOnly) node.metadata.validate(command)
    else await node.command(command)
  }),
})

const deleteTopics: Handler<'deleteTopics'> = async (node, body) => ({
  topics: await eachTopic(
    body.topics.map((name) => ({ name })),
    async ({ name }) => {
      refuseInternal(name, 'delete')
      await node.command({ type: 'deleteTopic', name })
    },
  ),
})

const createPartitions: Handler<'createPartitions'> = async (node, body) => ({
  topics: await eachTopic(body.topics, async ({ name, count }) => {
    refuseInternal(name, 'add partitions to')
    const t = node.metadata.topics.get(name)
    if (!t) throw new MetadataError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${name}' does not exist`)
    const existing = t.partitions.length
    if (count <= existing) {
      throw new MetadataError(
        'INVALID_PARTITIONS',
        `topic '${name}' has ${existing} partitions; the count can only grow (asked for ${count})`,
      )
    }
    const rf = t.partitions[0]?.replicas.length ?? 1
    const partitions = assignReplicas(registeredBrokers(node), count - existing, rf, existing, existing)
    await node.command({ type: 'createPartitions', name, partitions })
  }),
})

const describeConfigs: Handler<'describeConfigs'> = async (node, body) => ({
  topics: body.topics.map((name) => {
    const t = node.metadata.topics.get(name)
    return t
      ? { name, error: null, configs: { ...t.configs } }
      : { name, error: 'UNKNOWN_TOPIC_OR_PARTITION', configs: {} }
  }),
})

const alterConfigs: Handler<'alterConfigs'> = async (node, body) => ({
  topics: await eachTopic(body.topics, async ({ name, configs }) => {
    await node.command({ type: 'alterConfigs', name, configs })
  }),
})

const initProducerId: Handler<'initProducerId'> = async (node) => {
  const r = await node.command({ type: 'allocateProducerId' })
  return { error: null, producerId: String(r.producerId ?? -1n), producerEpoch: 0 }
}

/** Kafka's view of a reassignment in progress: every replica, the joining and the leaving ones. */
function reassignmentOf(a: PartitionAssignment): Omit<OngoingPartitionReassignment, 'partition'> {
  const target = a.targetReplicas ?? a.replicas
  return {
    replicas: hostsOf(a),
    addingReplicas: target.filter((id) => !a.replicas.includes(id)),
    removingReplicas: a.replicas.filter((id) => !target.includes(id)),
  }
}

/** Per partition of each topic, in order: a failure answers that partition alone. */
async function eachPartition<P extends { partition: number }>(
  topics: { name: string; partitions: P[] }[],
  run: (topic: string, p: P) => Promise<void>,
): Promise<{ name: string; partitions: PartitionResult[] }[]> {
  const out = []
  for (const t of topics) {
    const partitions: PartitionResult[] = []
    for (const p of t.partitions) {
      try {
        await run(t.name, p)
        partitions.push({ partition: p.partition, error: null })
      } catch (err) {
        const e = errorOf(err)
        partitions.push({ partition: p.partition, error: e.error, message: e.message })
      }
    }
    out.push({ name: t.name, partitions })
  }
  return out
}

const alterPartitionReassignments: Handler<'alterPartitionReassignments'> = async (node, body) => ({
  topics: await eachPartition(body.topics, async (name, { partition, replicas }) => {
    await node.command({ type: 'alterReassignment', name, partition, replicas })
  }),
})

const listPartitionReassignments: Handler<'listPartitionReassignments'> = async (node, body) => {
  const wanted = body.topics && new Map(body.topics.map((t) => [t.name, new Set(t.partitions)]))
  const topics = new Map<string, OngoingPartitionReassignment[]>()
  for (const { topic, assignment } of node.metadata.reassignments()) {
    const partitions = wanted ? wanted.get(topic.name) : undefined
    if (wanted && !partitions?.has(assignment.partition)) continue
    const list = topics.get(topic.name) ?? []
    list.push({ partition: assignment.partition, ...reassignmentOf(assignment) })
    topics.set(topic.name, list)
  }
  return { topics: [...topics].map(([name, partitions]) => ({ name, partitions })) }
}

/**
 * On the controller, from a partition's Raft leader: its group's voters. When they are the target
 * of the reassignment in progress the reassignment is done; the command checks that before it is
 * proposed and again when it is applied, in case the target moved meanwhile.
 */
const alterPartition: Handler<'alterPartition'> = async (node, body) => ({
  topics: await eachPartition(body.topics, async (name, { partition, replicas }) => {
    await node.command({ type: 'completeReassignment', name, partition, replicas })
  }),
})

const nodeStateHandler =
  (type: 'decommissionBroker' | 'recommissionBroker') =>
  async (node: CairnNode, { nodeId }: NodeStateRequest): Promise<NodeStateResponse> => {
    try {
      await node.command({ type, nodeId })
      return { error: null }
    } catch (err) {
      const e = errorOf(err)
      return { error: e.error, message: e.message }
    }
  }

const HANDLERS: { [A in ApiName]: Handler<A> } = {
  metadata,
  produce,
  fetch,
  listOffsets,
  createTopics,
  deleteTopics,
  createPartitions,
  describeConfigs,
  alterConfigs,
  initProducerId,
  alterPartitionReassignments,
  listPartitionReassignments,
  alterPartition,
  decommissionNode: nodeStateHandler('decommissionBroker'),
  recommissionNode: nodeStateHandler('recommissionBroker'),
  ...GROUP_HANDLERS,
}

export function handle<A extends ApiName>(
  node: CairnNode,
  api: A,
  body: ApiRequest<A>,
  context: RequestContext = internal,
): Promise<ApiResponse<A>> {
  return (HANDLERS[api] as Handler<A>)(node, body, context)
}
