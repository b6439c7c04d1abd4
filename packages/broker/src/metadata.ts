/**
 * The cluster's metadata, as KRaft keeps it: a Raft group of its own (the controller group) whose
 * committed entries are commands — register a broker, create or delete a topic, alter its configs,
 * add partitions, hand out producer ids, reassign a partition's replicas, decommission a node.
 * Every node applies the same commands in the same order,
 * so every node holds the same metadata. A command is validated on the controller before it is
 * proposed and again when it is applied (the state may have moved in between); a command that
 * fails at apply changes nothing and records why.
 */
import type { GroupId, NodeId } from '@cairn/raft'

export const CONTROLLER_GROUP: GroupId = 0
/** Kafka's legal topic names: at most 249 of [a-zA-Z0-9._-], not "." or "..". */
const TOPIC_NAME = /^[a-zA-Z0-9._-]{1,249}$/
export const PARTITIONS_MAX = 10_000
export const TOPICS_MAX = 10_000
export const CONFIG_VALUE_CHARS_MAX = 1000

/** Per-topic configs Cairn knows, with Kafka's defaults. */
export const TOPIC_CONFIG_DEFAULTS: Readonly<Record<string, string>> = Object.freeze({
  'retention.ms': '604800000',
  'retention.bytes': '-1',
  'max.message.bytes': '1048588',
  'min.insync.replicas': '1',
})

export interface BrokerRegistration {
  nodeId: NodeId
  host: string
  port: number
}

export interface PartitionAssignment {
  partition: number
  /** The Raft group that replicates this partition. */
  group: GroupId
  /** The first replica is the preferred leader. While a reassignment runs: the replicas it started from. */
  replicas: NodeId[]
  /**
   * Present only while a reassignment runs: the replicas it goes to, the first the preferred
   * leader. The partition's Raft leader moves the group's voters there one server at a time and
   * reports to the controller, which then makes them `replicas` (completeReassignment).
   */
  targetReplicas?: NodeId[]
}

/** Where a partition is going: its target while a reassignment runs, its replicas otherwise. */
export function targetOf(a: PartitionAssignment): NodeId[] {
  return a.targetReplicas ?? a.replicas
}

/** Every node that hosts a replica of the partition or is about to: the target's, then the leaving ones. */
export function hostsOf(a: PartitionAssignment): NodeId[] {
  const target = targetOf(a)
  return [...target, ...a.replicas.filter((id) => !target.includes(id))]
}

/** Whether `nodeId` hosts a replica of the partition or is about to (hostsOf without the array). */
export function isHostOf(a: PartitionAssignment, nodeId: NodeId): boolean {
  return a.replicas.includes(nodeId) || (a.targetReplicas?.includes(nodeId) ?? false)
}

/** The same nodes, in any order. */
export function sameMembers(a: readonly NodeId[], b: readonly NodeId[]): boolean {
  return a.length === b.length && a.every((id) => b.includes(id))
}

export interface TopicRecord {
  name: string
  partitions: PartitionAssignment[]
  configs: Record<string, string>
}

export type MetadataCommand =
  | { type: 'registerBroker'; broker: BrokerRegistration }
  | { type: 'createTopic'; name: string; partitions: number[][]; configs: Record<string, string> }
  | { type: 'deleteTopic'; name: string }
  | { type: 'alterConfigs'; name: string; configs: Record<string, string> }
  | { type: 'createPartitions'; name: string; partitions: number[][] }
  | { type: 'allocateProducerId' }
  /** Kafka's AlterPartitionReassignments for one partition: a target, or null to cancel. */
  | { type: 'alterReassignment'; name: string; partition: number; replicas: NodeId[] | null }
  /** The partition's Raft voters are its target: the reassignment is done. */
  | { type: 'completeReassignment'; name: string; partition: number; replicas: NodeId[] }
  /** No new replica goes to the node, and each of its replicas moves to the least-loaded other node. */
  | { type: 'decommissionBroker'; nodeId: NodeId }
  | { type: 'recommissionBroker'; nodeId: NodeId }

export class MetadataError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message)
  }
}

export type ApplyResult = { ok: true; producerId?: bigint } | { ok: false; code: string; message: string }

const encoder = new TextEncoder()
const decoder = new TextDecoder()

export function encodeCommand(command: MetadataCommand): Uint8Array {
  return encoder.encode(JSON.stringify(command))
}

export function decodeCommand(data: Uint8Array): MetadataCommand {
  return JSON.parse(decoder.decode(data)) as MetadataCommand
}

export function validateTopicName(name: unknown): string {
  if (typeof name !== 'string' || !TOPIC_NAME.test(name) || name === '.' || name === '..') {
    throw new MetadataError(
      'INVALID_TOPIC_EXCEPTION',
      `topic name ${JSON.stringify(name)} is not legal: use 1 to 249 of a-z A-Z 0-9 . _ -, and not "." or ".."`,
    )
  }
  return name
}

/** Checks names and values of topic configs; returns them with every default filled in. */
export function validateConfigs(
  configs: Record<string, string>,
  base = TOPIC_CONFIG_DEFAULTS,
): Record<string, string> {
  const out: Record<string, string> = { ...base }
  for (const [key, value] of Object.entries(configs)) {
    if (!(key in TOPIC_CONFIG_DEFAULTS)) {
      throw new MetadataError(
        'INVALID_CONFIG',
        `unknown topic config '${key}'; known: ${Object.keys(TOPIC_CONFIG_DEFAULTS).join(', ')}`,
      )
    }
    const n = Number(value)
    if (typeof value !== 'string' || value.length > CONFIG_VALUE_CHARS_MAX || !Number.isSafeInteger(n)) {
      throw new MetadataError('INVALID_CONFIG', `${key}=${value}: expected an integer`)
    }
    const min = key === 'retention.ms' || key === 'retention.bytes' ? -1 : 1
    if (n < min) throw new MetadataError('INVALID_CONFIG', `${key}=${value}: must be at least ${min}`)
    out[key] = String(n)
  }
  return out
}

/**
 * Replicas for `count` new partitions, spread as Kafka spreads them: round-robin over the brokers
 * from `start`, each partition's followers shifted so leaders and replicas both balance.
 */
export function assignReplicas(
  brokers: NodeId[],
  count: number,
  replicationFactor: number,
  start: number,
  firstPartition = 0,
): number[][] {
  if (replicationFactor < 1 || replicationFactor > brokers.length) {
    throw new MetadataError(
      'INVALID_REPLICATION_FACTOR',
      `replication factor ${replicationFactor} must be between 1 and the ${brokers.length} registered brokers`,
    )
  }
  const sorted = [...brokers].sort((a, b) => a - b)
  const n = sorted.length
  const out: number[][] = []
  for (let k = 0; k < count; k++) {
    const p = firstPartition + k
    const first = (start + p) % n
    const shift = 1 + ((Math.floor(p / n) + start) % Math.max(1, n - 1))
    const replicas = [sorted[first]!]
    for (let r = 1; r < replicationFactor; r++) replicas.push(sorted[(first + r * shift) % n]!)
    // With shift and n not coprime a replica may repeat: fall back to the next free broker.
    const unique = [...new Set(replicas)]
    for (let j = 0; unique.length < replicationFactor && j < n; j++) {
      const b = sorted[(first + j) % n]!
      if (!unique.includes(b)) unique.push(b)
    }
    out.push(unique)
  }
  return out
}

export interface Reassignment {
  topic: TopicRecord
  assignment: PartitionAssignment & { targetReplicas: NodeId[] }
}

export class ClusterMetadata {
  readonly brokers = new Map<NodeId, BrokerRegistration>()
  readonly topics = new Map<string, TopicRecord>()
  /** Nodes that get no new replicas (and whose replicas were moved away when they were decommissioned). */
  readonly decommissioned = new Set<NodeId>()
  /** Group ids are never reused: a deleted topic's groups stay retired. */
  nextGroupId: GroupId = CONTROLLER_GROUP + 1
  nextProducerId = 1000n
  appliedIndex = 0
  /** Results of recently applied commands, by Raft index, for the requests that wait on them. */
  private readonly results = new Map<number, ApplyResult>()
  private static readonly RESULTS_KEPT = 1024

  /** Validates a command against the current state; throws MetadataError. */
  validate(c: MetadataCommand): void {
    switch (c.type) {
      case 'registerBroker':
        return
      case 'createTopic': {
        validateTopicName(c.name)
        if (this.topics.has(c.name))
          throw new MetadataError('TOPIC_ALREADY_EXISTS', `topic '${c.name}' already exists`)
        if (this.topics.size >= TOPICS_MAX)
          throw new MetadataError('POLICY_VIOLATION', `at most ${TOPICS_MAX} topics`)
        this.checkPartitions(c.partitions, 0)
        validateConfigs(c.configs)
        return
      }
      case 'deleteTopic':
      case 'alterConfigs':
      case 'createPartitions': {
        const t = this.topics.get(c.name)
        if (!t) throw new MetadataError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${c.name}' does not exist`)
        if (c.type === 'alterConfigs') validateConfigs(c.configs, t.configs)
        if (c.type === 'createPartitions') this.checkPartitions(c.partitions, t.partitions.length)
        return
      }
      case 'allocateProducerId':
        return
      case 'alterReassignment': {
        const a = this.requireAssignment(c.name, c.partition)
        if (c.replicas !== null) this.checkReplicaAssignment(c.replicas)
        else if (!a.targetReplicas) {
          throw new MetadataError(
            'NO_REASSIGNMENT_IN_PROGRESS',
            `no reassignment of ${c.name}-${c.partition} is in progress`,
          )
        }
        return
      }
      case 'completeReassignment': {
        const a = this.requireAssignment(c.name, c.partition)
        if (!a.targetReplicas) {
          throw new MetadataError(
            'NO_REASSIGNMENT_IN_PROGRESS',
            `no reassignment of ${c.name}-${c.partition} is in progress`,
          )
        }
        if (!sameMembers(a.targetReplicas, c.replicas)) {
          throw new MetadataError(
            'INVALID_REPLICA_ASSIGNMENT',
            `voters [${c.replicas}] of ${c.name}-${c.partition} are not its target [${a.targetReplicas}]`,
          )
        }
        return
      }
      case 'decommissionBroker':
        this.requireBroker(c.nodeId)
        this.decommissionPlan(c.nodeId)
        return
      case 'recommissionBroker':
        this.requireBroker(c.nodeId)
        return
    }
  }

  private requireAssignment(name: string, partition: number): PartitionAssignment {
    const t = this.topics.get(name)
    if (!t) throw new MetadataError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${name}' does not exist`)
    const a = t.partitions[partition]
    if (!a)
      throw new MetadataError('UNKNOWN_TOPIC_OR_PARTITION', `topic '${name}' has no partition ${partition}`)
    return a
  }

  private requireBroker(nodeId: NodeId): void {
    if (!this.brokers.has(nodeId))
      throw new MetadataError('BROKER_ID_NOT_REGISTERED', `node ${nodeId} is not registered`)
  }

  /** A reassignment's target: at least one distinct, registered, not decommissioned node. */
  private checkReplicaAssignment(replicas: NodeId[]): void {
    const bad = (message: string) => new MetadataError('INVALID_REPLICA_ASSIGNMENT', message)
    if (replicas.length < 1) throw bad('the target replicas must name at least one node')
    if (new Set(replicas).size !== replicas.length) throw bad(`replicas [${replicas}] must be distinct`)
    if (replicas.length > this.brokers.size)
      throw bad(`${replicas.length} replicas, but the cluster has ${this.brokers.size} nodes`)
    for (const id of replicas) {
      if (!this.brokers.has(id)) throw bad(`node ${id} is not registered`)
      if (this.decommissioned.has(id)) throw bad(`node ${id} is decommissioned`)
    }
  }

  /**
   * The new target of every partition whose target holds `nodeId`: that node replaced by the
   * least-loaded node (fewest replicas in targets, then the lowest id) that is neither
   * decommissioned nor already a replica. Deterministic, so every node computes the same plan.
   */
  private decommissionPlan(nodeId: NodeId): { assignment: PartitionAssignment; target: NodeId[] }[] {
    const load = new Map<NodeId, number>([...this.brokers.keys()].map((id) => [id, 0]))
    for (const t of this.topics.values()) {
      for (const a of t.partitions) for (const id of targetOf(a)) load.set(id, (load.get(id) ?? 0) + 1)
    }
    const eligible = [...this.brokers.keys()].filter((id) => id !== nodeId && !this.decommissioned.has(id))
    const plan: { assignment: PartitionAssignment; target: NodeId[] }[] = []
    for (const t of this.topics.values()) {
      for (const a of t.partitions) {
        const target = targetOf(a)
        if (!target.includes(nodeId)) continue
        let to: NodeId | undefined
        for (const id of eligible) {
          if (target.includes(id)) continue
          if (to === undefined || load.get(id)! < load.get(to)! || (load.get(id) === load.get(to) && id < to))
            to = id
        }
        if (to === undefined) {
          throw new MetadataError(
            'INVALID_REPLICA_ASSIGNMENT',
            `cannot move node ${nodeId}'s replica of ${t.name}-${a.partition}: every other node that is not decommissioned already holds one`,
          )
        }
        load.set(to, load.get(to)! + 1)
        plan.push({ assignment: a, target: target.map((id) => (id === nodeId ? to : id)) })
      }
    }
    return plan
  }

  /** Starts (or redirects, or with the current replicas cancels) a reassignment to `target`. */
  private retarget(a: PartitionAssignment, target: NodeId[]): void {
    // Only the order (the preferred leader) changes: nothing moves, nothing to wait for.
    if (!a.targetReplicas && sameMembers(target, a.replicas)) a.replicas = [...target]
    else a.targetReplicas = [...target]
  }

  private checkPartitions(partitions: number[][], existing: number): void {
    if (partitions.length < 1 || existing + partitions.length > PARTITIONS_MAX) {
      throw new MetadataError(
        'INVALID_PARTITIONS',
        `a topic has 1 to ${PARTITIONS_MAX} partitions; partitions can be added, never removed`,
      )
    }
    for (const replicas of partitions) {
      if (replicas.length < 1 || new Set(replicas).size !== replicas.length) {
        throw new MetadataError(
          'INVALID_REPLICATION_FACTOR',
          `replicas [${replicas}] must be distinct and at least one`,
        )
      }
      for (const r of replicas) {
        if (!this.brokers.has(r))
          throw new MetadataError('INVALID_REPLICA_ASSIGNMENT', `broker ${r} is not registered`)
        if (this.decommissioned.has(r))
          throw new MetadataError('INVALID_REPLICA_ASSIGNMENT', `broker ${r} is decommissioned`)
      }
    }
  }

  /** Applies a committed command at `index`; idempotent for re-application after a restart. */
  apply(index: number, c: MetadataCommand): ApplyResult {
    if (index <= this.appliedIndex) return this.results.get(index) ?? { ok: true }
    let result: ApplyResult
    try {
      this.validate(c)
      result = this.mutate(c)
    } catch (err) {
      result =
        err instanceof MetadataError
          ? { ok: false, code: err.code, message: err.message }
          : { ok: false, code: 'UNKNOWN_SERVER_ERROR', message: String(err) }
    }
    this.appliedIndex = index
    this.results.set(index, result)
    if (this.results.size > ClusterMetadata.RESULTS_KEPT) {
      const oldest = this.results.keys().next().value
      if (oldest !== undefined) this.results.delete(oldest)
    }
    return result
  }

  resultAt(index: number): ApplyResult | undefined {
    return this.results.get(index)
  }

  private mutate(c: MetadataCommand): ApplyResult {
    this.byGroup = null
    this.ongoing = null
    switch (c.type) {
      case 'registerBroker':
        this.brokers.set(c.broker.nodeId, { ...c.broker })
        return { ok: true }
      case 'createTopic':
        this.topics.set(c.name, {
          name: c.name,
          partitions: c.partitions.map((replicas, partition) => ({
            partition,
            group: this.nextGroupId++,
            replicas,
          })),
          configs: validateConfigs(c.configs),
        })
        return { ok: true }
      case 'deleteTopic':
        this.topics.delete(c.name)
        return { ok: true }
      case 'alterConfigs': {
        const t = this.topics.get(c.name)!
        t.configs = validateConfigs(c.configs, t.configs)
        return { ok: true }
      }
      case 'createPartitions': {
        const t = this.topics.get(c.name)!
        for (const replicas of c.partitions) {
          t.partitions.push({ partition: t.partitions.length, group: this.nextGroupId++, replicas })
        }
        return { ok: true }
      }
      case 'allocateProducerId':
        return { ok: true, producerId: this.nextProducerId++ }
      case 'alterReassignment': {
        const a = this.requireAssignment(c.name, c.partition)
        this.retarget(a, c.replicas ?? a.replicas)
        return { ok: true }
      }
      case 'completeReassignment': {
        const a = this.requireAssignment(c.name, c.partition)
        a.replicas = a.targetReplicas!
        delete a.targetReplicas
        return { ok: true }
      }
      case 'decommissionBroker': {
        const plan = this.decommissionPlan(c.nodeId)
        this.decommissioned.add(c.nodeId)
        for (const { assignment, target } of plan) this.retarget(assignment, target)
        return { ok: true }
      }
      case 'recommissionBroker':
        this.decommissioned.delete(c.nodeId)
        return { ok: true }
    }
  }

  /** Registered nodes that may take new replicas. */
  placeableBrokers(): NodeId[] {
    return [...this.brokers.keys()].filter((id) => !this.decommissioned.has(id))
  }

  private ongoing: Reassignment[] | null = null

  /** The reassignments in progress. */
  reassignments(): Reassignment[] {
    if (!this.ongoing) {
      this.ongoing = []
      for (const topic of this.topics.values()) {
        for (const assignment of topic.partitions) {
          if (assignment.targetReplicas)
            this.ongoing.push({ topic, assignment: assignment as Reassignment['assignment'] })
        }
      }
    }
    return this.ongoing
  }

  private byGroup: Map<GroupId, { topic: TopicRecord; assignment: PartitionAssignment }> | null = null

  /** The partition replicated by `group`, if any. */
  partitionOfGroup(group: GroupId): { topic: TopicRecord; assignment: PartitionAssignment } | undefined {
    if (!this.byGroup) {
      this.byGroup = new Map()
      for (const topic of this.topics.values()) {
        for (const assignment of topic.partitions) this.byGroup.set(assignment.group, { topic, assignment })
      }
    }
    return this.byGroup.get(group)
  }
}
