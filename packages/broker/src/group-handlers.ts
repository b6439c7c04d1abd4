/**
 * The consumer-group APIs (Kafka's classic group protocol): FindCoordinator answered by any node
 * that knows who leads the group's `__consumer_offsets` partition; the others by the group's
 * coordinator, through GroupHosting.route — NOT_COORDINATOR on another node,
 * COORDINATOR_LOAD_IN_PROGRESS while it replays. The coordinator's 'NONE' is the wire's null.
 * Offsets of topics that do not exist (any more) are neither committed nor reported.
 */
import {
  type ApiErrorName,
  type ApiRequest,
  type ApiResponse,
  coordinatorPartition,
  type DescribedGroup,
  OFFSETS_TOPIC,
  type PartitionResult,
} from '@cairn/protocol'
import type { GroupErrorName } from './group-coordinator.js'
import type { RouteError } from './group-hosting.js'
import type { CairnNode } from './node.js'

/** What a handler knows of the connection a request came on. */
export interface RequestContext {
  /** The client's address, as Kafka records a member's client host. */
  clientHost: string
}

type GroupHandler<A extends keyof GroupApis> = (
  node: CairnNode,
  body: ApiRequest<A>,
  context: RequestContext,
) => Promise<ApiResponse<A>>

interface GroupApis {
  findCoordinator: true
  joinGroup: true
  syncGroup: true
  heartbeat: true
  leaveGroup: true
  offsetCommit: true
  offsetFetch: true
  describeGroups: true
  listGroups: true
  deleteGroups: true
}

const wire = (e: GroupErrorName | RouteError): ApiErrorName => (e === 'NONE' ? null : e)

const routeMessage = (e: RouteError, partition: number): string => {
  const where = `${OFFSETS_TOPIC}-${partition}`
  switch (e) {
    case 'NOT_COORDINATOR':
      return `this node does not lead ${where}: find the coordinator again`
    case 'COORDINATOR_LOAD_IN_PROGRESS':
      return `this node is loading the groups of ${where}`
    case 'COORDINATOR_NOT_AVAILABLE':
      return `${OFFSETS_TOPIC} does not exist yet`
  }
}

/** Whether the topic and partition exist now. */
function exists(node: CairnNode, topic: string, partition: number): boolean {
  const t = node.metadata.topics.get(topic)
  return t !== undefined && partition < t.partitions.length
}

const findCoordinator: GroupHandler<'findCoordinator'> = async (node, { key }) => {
  const none = (error: ApiErrorName, message: string, partition = -1) => ({
    error,
    message,
    nodeId: 0,
    host: '',
    port: 0,
    partition,
  })
  const topic = node.offsetsTopic()
  if (!topic || topic.partitions.length === 0)
    return none('COORDINATOR_NOT_AVAILABLE', `${OFFSETS_TOPIC} does not exist yet`)
  const partition = coordinatorPartition(key, topic.partitions.length)
  const s = node.host.status(topic.partitions[partition]!.group)
  const leaderId = s ? (s.role === 'leader' ? node.nodeId : s.leaderId) : 0
  const broker = node.metadata.brokers.get(leaderId)
  if (!broker) {
    const why = s ? 'has no leader now' : 'is not hosted here: ask another node'
    return none('COORDINATOR_NOT_AVAILABLE', `${OFFSETS_TOPIC}-${partition} ${why}`, partition)
  }
  return { error: null, nodeId: broker.nodeId, host: broker.host, port: broker.port, partition }
}

const joinGroup: GroupHandler<'joinGroup'> = async (node, body, { clientHost }) => {
  const route = node.groups.route(body.groupId)
  if (!route.ok)
    return {
      error: route.error,
      message: routeMessage(route.error, route.partition),
      generationId: -1,
      protocolName: null,
      leader: '',
      memberId: body.memberId,
      members: [],
    }
  const r = await route.coordinator.joinGroup({ ...body, clientHost })
  return {
    error: wire(r.errorCode),
    generationId: r.generationId,
    protocolName: r.protocolName,
    leader: r.leader,
    memberId: r.memberId,
    members: r.members,
  }
}

const syncGroup: GroupHandler<'syncGroup'> = async (node, body) => {
  const route = node.groups.route(body.groupId)
  if (!route.ok)
    return {
      error: route.error,
      message: routeMessage(route.error, route.partition),
      assignment: new Uint8Array(0),
    }
  const r = await route.coordinator.syncGroup(body)
  return { error: wire(r.errorCode), assignment: r.assignment }
}

const heartbeat: GroupHandler<'heartbeat'> = async (node, body) => {
  const route = node.groups.route(body.groupId)
  if (!route.ok) return { error: route.error, message: routeMessage(route.error, route.partition) }
  return { error: wire(route.coordinator.heartbeat(body).errorCode) }
}

const leaveGroup: GroupHandler<'leaveGroup'> = async (node, body) => {
  const route = node.groups.route(body.groupId)
  if (!route.ok)
    return { error: route.error, message: routeMessage(route.error, route.partition), members: [] }
  const r = await route.coordinator.leaveGroup(body)
  return {
    error: wire(r.errorCode),
    members: r.members.map((m) => ({ memberId: m.memberId, error: wire(m.errorCode) })),
  }
}

const offsetCommit: GroupHandler<'offsetCommit'> = async (node, body) => {
  const route = node.groups.route(body.groupId)
  const byTopic = (error: (topic: string, partition: number) => ApiErrorName) =>
    body.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map(
        ({ partition }): PartitionResult => ({ partition, error: error(t.name, partition) }),
      ),
    }))
  if (!route.ok)
    return {
      error: route.error,
      message: routeMessage(route.error, route.partition),
      topics: byTopic(() => route.error),
    }
  // Kafka answers a partition that does not exist UNKNOWN_TOPIC_OR_PARTITION and commits the rest.
  const offsets = body.topics.flatMap((t) =>
    t.partitions
      .filter(({ partition }) => exists(node, t.name, partition))
      .map(({ partition, offset, metadata }) => ({
        topic: t.name,
        partition,
        offset,
        ...(metadata !== undefined && { metadata }),
      })),
  )
  const results = new Map<string, ApiErrorName>()
  const key = (topic: string, partition: number) => `${partition}:${topic}`
  if (offsets.length > 0) {
    const r = await route.coordinator.commitOffsets({
      groupId: body.groupId,
      generationId: body.generationId,
      memberId: body.memberId,
      offsets,
    })
    for (const e of r) results.set(key(e.topic, e.partition), wire(e.errorCode))
  }
  return {
    error: null,
    topics: byTopic((topic, partition) => {
      const k = key(topic, partition)
      return results.has(k) ? results.get(k)! : 'UNKNOWN_TOPIC_OR_PARTITION'
    }),
  }
}

const offsetFetch: GroupHandler<'offsetFetch'> = async (node, body) => {
  const route = node.groups.route(body.groupId)
  if (!route.ok)
    return { error: route.error, message: routeMessage(route.error, route.partition), topics: [] }
  const partitions = body.topics?.flatMap((t) =>
    t.partitions.map((partition) => ({ topic: t.name, partition })),
  )
  const r = route.coordinator.fetchOffsets({ groupId: body.groupId, partitions: partitions ?? null })
  if (r.errorCode !== 'NONE') return { error: r.errorCode, topics: [] }
  const topics = new Map<string, ApiResponse<'offsetFetch'>['topics'][number]['partitions']>()
  for (const o of r.offsets) {
    // A partition that does not exist (any more) has nothing committed, as far as anyone can tell.
    const gone = !exists(node, o.topic, o.partition)
    if (gone && body.topics === null) continue
    const list = topics.get(o.topic) ?? []
    list.push({
      partition: o.partition,
      offset: gone ? -1 : o.offset,
      metadata: gone ? '' : o.metadata,
      error: null,
    })
    topics.set(o.topic, list)
  }
  return { error: null, topics: [...topics].map(([name, partitions]) => ({ name, partitions })) }
}

/** The log-end offset of a partition this node hosts a replica of, else -1. */
function logEndOffset(node: CairnNode, topic: string, partition: number): number {
  return node.partition(topic, partition)?.highWatermark ?? -1
}

function describeOne(node: CairnNode, groupId: string): DescribedGroup {
  const route = node.groups.route(groupId)
  const dead = (error: ApiErrorName): DescribedGroup => ({
    groupId,
    error,
    state: 'Dead',
    protocolType: '',
    protocol: '',
    members: [],
    offsets: [],
  })
  if (!route.ok) return dead(route.error)
  const d = route.coordinator.describeGroup(groupId)
  if (d.errorCode !== 'NONE') return dead(d.errorCode)
  const committed = route.coordinator.fetchOffsets({ groupId })
  const offsets = committed.offsets
    .filter((o) => exists(node, o.topic, o.partition))
    .map((o) => {
      const end = logEndOffset(node, o.topic, o.partition)
      return {
        topic: o.topic,
        partition: o.partition,
        committed: o.offset,
        logEndOffset: end,
        lag: end < 0 ? -1 : Math.max(0, end - o.offset),
      }
    })
  return {
    groupId,
    error: null,
    state: d.state,
    protocolType: d.protocolType,
    protocol: d.protocol,
    members: d.members.map((m) => ({
      memberId: m.memberId,
      clientId: m.clientId,
      clientHost: m.clientHost,
      subscription: m.subscription,
      assignment: m.assignment,
    })),
    offsets,
  }
}

const describeGroups: GroupHandler<'describeGroups'> = async (node, body) => ({
  groups: body.groups.map((groupId) => describeOne(node, groupId)),
})

/** The groups of the partitions this node coordinates; COORDINATOR_LOAD_IN_PROGRESS (with those) while one loads. */
const listGroups: GroupHandler<'listGroups'> = async (node) => {
  const { coordinators, loading } = node.groups.serving()
  const groups = coordinators.flatMap((c) => c.listGroups())
  groups.sort((a, b) => (a.groupId < b.groupId ? -1 : a.groupId > b.groupId ? 1 : 0))
  return { error: loading ? 'COORDINATOR_LOAD_IN_PROGRESS' : null, groups }
}

const deleteGroups: GroupHandler<'deleteGroups'> = async (node, body) => ({
  results: await Promise.all(
    body.groups.map(async (groupId) => {
      const route = node.groups.route(groupId)
      if (!route.ok)
        return { groupId, error: route.error, message: routeMessage(route.error, route.partition) }
      return { groupId, error: wire(await route.coordinator.deleteGroup(groupId)) }
    }),
  ),
})

export const GROUP_HANDLERS: { [A in keyof GroupApis]: GroupHandler<A> } = {
  findCoordinator,
  joinGroup,
  syncGroup,
  heartbeat,
  leaveGroup,
  offsetCommit,
  offsetFetch,
  describeGroups,
  listGroups,
  deleteGroups,
}
