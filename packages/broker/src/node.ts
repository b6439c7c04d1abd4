/**
 * A Cairn node: one LevelDB store, one node-to-node transport, one RaftHost running the
 * controller group (the metadata log, replicated on the first three or five nodes, learned by the
 * others) and a replica of every partition assigned to this node; and the client API.
 *
 * Reassignment: a node opens a replica of every partition whose replicas or target hold it (a new
 * one starts empty; Raft fills it from the leader). The partition's Raft leader moves the group's
 * voters to the target one server at a time (stepReassignment) and, once they are the target,
 * reports them to the controller (AlterPartition), which records the reassignment done; the nodes
 * that left then close their replicas.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { type ApiName, type ApiRequest, type ApiResponse, OFFSETS_TOPIC } from '@cairn/protocol'
import {
  type Entry,
  EntryKind,
  type GroupId,
  type MembershipChange,
  type NodeId,
  type ReplicaStatus,
} from '@cairn/raft'
import { LevelLogStore, levelDbBuild } from '@cairn/storage'
import { type Logger, silentLogger, WsTransport } from '@cairn/transport'
import { handle } from './api-handlers.js'
import { ClientApiServer } from './api-server.js'
import { ControllerChannel } from './controller-channel.js'
import {
  type CoordinatorSettings,
  GroupHosting,
  OFFSETS_TOPIC_PARTITIONS,
  OFFSETS_TOPIC_REPLICATION_FACTOR,
} from './group-hosting.js'
import {
  assignReplicas,
  ClusterMetadata,
  CONTROLLER_GROUP,
  decodeCommand,
  encodeCommand,
  isHostOf,
  type MetadataCommand,
  MetadataError,
  type PartitionAssignment,
  type Reassignment,
  type TopicRecord,
  targetOf,
} from './metadata.js'
import { NodeMetrics } from './metrics.js'
import { DEFAULT_PARTITION_CONFIG, Partition, type PartitionConfig } from './partition.js'
import { DEFAULT_TICK_MS, HostError, NotLeaderError, RaftHost } from './raft-host.js'
import type { UnsafeTestBug } from './test-bugs.js'

export interface PeerAddress {
  host: string
  /** The client API port. */
  port: number
  /** The node-to-node (Raft) port. */
  raftPort: number
  /** Where this node dials the peer's Raft transport, when not `host` (e.g. through a proxy). */
  raftHost?: string
}

export interface NodeOptions {
  nodeId: NodeId
  dataDir: string
  /** Every node of the cluster, this one included. */
  peers: Map<NodeId, PeerAddress>
  secret: string
  /** The address the client API and the Raft transport listen on (default: this node's peer address). */
  listenHost?: string
  tickMs?: number
  electionTicks?: number
  replicaLagTimeMs?: number
  /**
   * Idle partitions stop ticking until traffic or a peer's failure wakes them (default true); the
   * transport's liveness (peerDownAfterMs) then stands in for election timeouts.
   */
  quiesce?: boolean
  logger?: Logger
  clusterId?: string
  /** Kafka's log.retention.check.interval.ms: how often retention runs on every replica. */
  retentionCheckIntervalMs?: number
  /** Kafka's log.segment.bytes, node-wide: the log store's segment size (@cairn/storage's default if unset). */
  logSegmentBytes?: number
  /** Entry data a group-commit batch keeps in LevelDB rows before the rest goes to the segment's data file. */
  inlineDataBytesMax?: number
  /** Kafka's leader.imbalance.check.interval.seconds, in ms: how often preferred leaders are restored. */
  leaderBalanceIntervalMs?: number
  /** How often a partition leader checks its reassignments in progress (besides after each membership change). */
  reassignmentCheckIntervalMs?: number
  /** Kafka's offsets.topic.num.partitions: `__consumer_offsets`'s partitions, when the controller creates it. */
  offsetsTopicPartitions?: number
  /** Kafka's offsets.topic.replication.factor, capped at the cluster's node count. */
  offsetsTopicReplicationFactor?: number
  /** group.initial.rebalance.delay.ms, group.min/max.session.timeout.ms and the coordinator's limits. */
  groupCoordinator?: CoordinatorSettings
  /** Records an offsets partition may grow by since its coordinator's last snapshot (bounded replay). */
  offsetsSnapshotRecords?: number
  /** Deliberate defects, for proving the fault-injection harness fails (test-bugs.ts). */
  unsafeTestBugs?: UnsafeTestBug[]
}

export const RETENTION_CHECK_INTERVAL_MS = 300_000
export const LEADER_BALANCE_INTERVAL_MS = 300_000
export const REASSIGNMENT_CHECK_INTERVAL_MS = 200
/** A leader reports a finished reassignment's voters to the controller at most this often. */
const REASSIGNMENT_REPORT_INTERVAL_MS = 500
/** A clean stop waits at most this long for leadership to move away. */
export const LEADERSHIP_HANDOFF_MS_MAX = 3000

/** A metadata command waits this long for its commit and application. */
const COMMAND_WAIT_MS_MAX = 30_000
/** Controller voters: three, or five in clusters of five or more; the rest learn the log. */
export function controllerVoters(nodes: NodeId[]): NodeId[] {
  const sorted = [...nodes].sort((a, b) => a - b)
  return sorted.slice(0, sorted.length >= 5 ? 5 : 3)
}

export function partitionConfigOf(topic: TopicRecord): PartitionConfig {
  return {
    maxMessageBytes: Number(topic.configs['max.message.bytes'] ?? DEFAULT_PARTITION_CONFIG.maxMessageBytes),
    minInsyncReplicas: Number(
      topic.configs['min.insync.replicas'] ?? DEFAULT_PARTITION_CONFIG.minInsyncReplicas,
    ),
  }
}

export class CairnNode {
  readonly metadata = new ClusterMetadata()
  readonly metrics: NodeMetrics
  /** The group coordinators of the `__consumer_offsets` partitions led here. */
  readonly groups: GroupHosting
  /** Partition replicas hosted here, by Raft group. */
  readonly partitions = new Map<GroupId, Partition>()
  private readonly opening = new Map<GroupId, Promise<void>>()
  private applyWaiters: { index: number; resolve: () => void }[] = []
  private registrar: NodeJS.Timeout | null = null
  private retention: NodeJS.Timeout | null = null
  private balancer: NodeJS.Timeout | null = null
  private reassigner: NodeJS.Timeout | null = null
  private driveScheduled = false
  /** Per partition group led here and being reassigned: when its leader last reported or handed off. */
  private readonly reassignSteps = new Map<
    GroupId,
    { reportedMs: number; reporting: boolean; handedOffMs: number }
  >()
  private readonly controllerChannel = new ControllerChannel()
  private retaining = false
  private registering = false
  private api: ClientApiServer | null = null
  private closed = false

  private constructor(
    readonly options: NodeOptions,
    readonly store: LevelLogStore,
    readonly transport: WsTransport,
    readonly host: RaftHost,
    readonly logger: Logger,
  ) {
    this.groups = new GroupHosting(this, {
      checkIntervalMs: options.tickMs ?? DEFAULT_TICK_MS,
      ...(options.groupCoordinator && { coordinator: options.groupCoordinator }),
      ...(options.offsetsSnapshotRecords !== undefined && {
        snapshotRecords: options.offsetsSnapshotRecords,
      }),
    })
    this.metrics = new NodeMetrics(this)
  }

  get nodeId(): NodeId {
    return this.options.nodeId
  }

  static async start(options: NodeOptions): Promise<CairnNode> {
    const self = options.peers.get(options.nodeId)
    if (!self) throw new Error(`node ${options.nodeId} is not among the peers`)
    for (const key of [
      'offsetsTopicPartitions',
      'offsetsTopicReplicationFactor',
      'offsetsSnapshotRecords',
    ] as const) {
      const v = options[key]
      if (v !== undefined && (!Number.isSafeInteger(v) || v < 1))
        throw new RangeError(`${key}: expected a positive integer, got ${v}`)
    }
    const logger = options.logger ?? silentLogger
    mkdirSync(options.dataDir, { recursive: true })
    const store = await LevelLogStore.open(join(options.dataDir, 'log'), {
      ...(options.logSegmentBytes !== undefined && { segmentBytes: options.logSegmentBytes }),
      ...(options.inlineDataBytesMax !== undefined && { inlineDataBytesMax: options.inlineDataBytesMax }),
    })
    const raftPeers = new Map(
      [...options.peers]
        .filter(([id]) => id !== options.nodeId)
        .map(([id, p]) => [id, { host: p.raftHost ?? p.host, port: p.raftPort }] as const),
    )
    const tickMs = options.tickMs ?? DEFAULT_TICK_MS
    const transport = await WsTransport.start({
      nodeId: options.nodeId,
      listen: { host: options.listenHost ?? self.host, port: self.raftPort },
      peers: raftPeers,
      secret: options.secret,
      logger,
      heartbeatResponseLingerMs: tickMs,
    })
    let metadata: ClusterMetadata | undefined
    const host = new RaftHost({
      nodeId: options.nodeId,
      store,
      transport,
      tickMs,
      logger,
      groupName: (group) => {
        if (group === CONTROLLER_GROUP) return 'the controller'
        const p = metadata?.partitionOfGroup(group)
        return p ? `${p.topic.name}-${p.assignment.partition}` : `group ${group}`
      },
      unsafeAckBeforeCommit: options.unsafeTestBugs?.includes('ack-before-commit') ?? false,
      raft: {
        electionTicks: options.electionTicks ?? 10,
        quiesce: options.quiesce ?? true,
        ...(options.replicaLagTimeMs !== undefined && { replicaLagTimeMs: options.replicaLagTimeMs }),
      },
    })
    const node = new CairnNode(options, store, transport, host, logger)
    metadata = node.metadata
    host.onCommitted((group, entries) => node.onCommitted(group, entries))
    const ids = [...options.peers.keys()]
    const voters = controllerVoters(ids)
    await host.openGroup(CONTROLLER_GROUP, { voters, learners: ids.filter((id) => !voters.includes(id)) })
    node.api = await ClientApiServer.start(node, { host: options.listenHost ?? self.host, port: self.port })
    node.registrar = setInterval(() => node.registerPeers(), 200)
    node.balancer = setInterval(
      () => node.balanceLeaders(),
      options.leaderBalanceIntervalMs ?? LEADER_BALANCE_INTERVAL_MS,
    )
    node.retention = setInterval(
      () => node.runRetention(),
      options.retentionCheckIntervalMs ?? RETENTION_CHECK_INTERVAL_MS,
    )
    node.reassigner = setInterval(
      () => node.driveReassignments(),
      options.reassignmentCheckIntervalMs ?? REASSIGNMENT_CHECK_INTERVAL_MS,
    )
    logger.info(
      `node ${options.nodeId} up: clients on ${self.host}:${self.port}, raft on ${self.host}:${self.raftPort}; storage: ${levelDbBuild().description}`,
    )
    return node
  }

  /**
   * Stops cleanly: leadership of every group led here moves to an in-sync replica first, so the
   * unavailability is one election's worth of TimeoutNow, not an election timeout.
   */
  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    if (this.registrar) clearInterval(this.registrar)
    if (this.retention) clearInterval(this.retention)
    if (this.balancer) clearInterval(this.balancer)
    if (this.reassigner) clearInterval(this.reassigner)
    this.controllerChannel.close()
    await this.handOffLeadership().catch((err: unknown) =>
      this.logger.warn(`leadership hand-off: ${String(err)}`),
    )
    this.groups.close()
    await this.api?.close()
    await this.host.close()
    await this.transport.close()
    await this.store.close()
  }

  /** The node that leads the controller group, as this node knows it (0: none known). */
  controllerId(): NodeId {
    const s = this.host.status(CONTROLLER_GROUP)
    if (!s) return 0
    return s.role === 'leader' ? this.nodeId : s.leaderId
  }

  isController(): boolean {
    return this.host.leaderTermOf(CONTROLLER_GROUP) >= 0
  }

  /** Proposes a metadata command (on the controller) and waits until it is applied here. */
  async command(c: MetadataCommand): Promise<{ producerId?: bigint }> {
    if (!this.isController())
      throw new HostError('NOT_CONTROLLER', `node ${this.nodeId} is not the controller`)
    this.metadata.validate(c)
    const { lastIndex } = await this.host.propose(CONTROLLER_GROUP, [encodeCommand(c)])
    await this.appliedThrough(lastIndex)
    const result = this.metadata.resultAt(lastIndex)
    if (!result) throw new HostError('UNKNOWN_SERVER_ERROR', `no result for metadata entry ${lastIndex}`)
    if (!result.ok) throw new MetadataError(result.code, result.message)
    return result.producerId === undefined ? {} : { producerId: result.producerId }
  }

  private appliedThrough(index: number): Promise<void> {
    if (this.metadata.appliedIndex >= index) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new HostError('REQUEST_TIMED_OUT', `metadata entry ${index} not applied in time`)),
        COMMAND_WAIT_MS_MAX,
      )
      this.applyWaiters.push({
        index,
        resolve: () => {
          clearTimeout(timer)
          resolve()
        },
      })
    })
  }

  /** `__consumer_offsets`, once the controller has created it. */
  offsetsTopic(): TopicRecord | undefined {
    return this.metadata.topics.get(OFFSETS_TOPIC)
  }

  /** The partition replica of `topic`/`partition` hosted here, if any. */
  partition(topic: string, partition: number): Partition | undefined {
    const assignment = this.metadata.topics.get(topic)?.partitions[partition]
    return assignment && this.partitions.get(assignment.group)
  }

  private onCommitted(group: GroupId, entries: Entry[]): void {
    if (group !== CONTROLLER_GROUP) {
      this.partitions.get(group)?.applyCommitted(entries)
      if (this.metadata.partitionOfGroup(group)?.topic.name === OFFSETS_TOPIC)
        this.groups.onCommitted(group, entries)
      // A membership change, or a new leader's no-op: a reassignment may take its next step.
      if (entries.some((e) => e.kind !== EntryKind.normal)) this.scheduleDrive()
      return
    }
    const deleted: string[] = []
    for (const e of entries) {
      if (e.kind !== 0) continue
      let command: MetadataCommand
      try {
        command = decodeCommand(e.data)
      } catch (err) {
        this.logger.error(`metadata entry ${e.index} is unreadable: ${String(err)}`)
        continue
      }
      const applied = e.index > this.metadata.appliedIndex
      const result = this.metadata.apply(e.index, command)
      if (applied && result.ok && command.type === 'deleteTopic') deleted.push(command.name)
    }
    if (deleted.length > 0) this.groups.onTopicsDeleted(deleted)
    const last = entries[entries.length - 1]
    if (last && last.index > this.metadata.appliedIndex) this.metadata.appliedIndex = last.index
    const ready = this.applyWaiters.filter((w) => w.index <= this.metadata.appliedIndex)
    this.applyWaiters = this.applyWaiters.filter((w) => w.index > this.metadata.appliedIndex)
    for (const w of ready) w.resolve()
    this.reconcile()
  }

  /**
   * Opens a replica of every partition whose replicas or reassignment target hold this node,
   * closes the others (deleted topics, replicas moved away), applies configs.
   */
  private reconcile(): void {
    const wanted = new Map<GroupId, { topic: TopicRecord; assignment: PartitionAssignment }>()
    for (const topic of this.metadata.topics.values()) {
      for (const a of topic.partitions) {
        if (isHostOf(a, this.nodeId)) wanted.set(a.group, { topic, assignment: a })
      }
    }
    for (const [group, { topic, assignment }] of wanted) {
      const open = this.partitions.get(group)
      if (open) {
        open.configure(partitionConfigOf(topic))
        continue
      }
      if (this.opening.has(group)) continue
      // A replica new to this node starts from the current replicas; one joining a reassignment
      // is not among them, so it never campaigns before the leader has made it a voter.
      const opening = Partition.open(
        this.host,
        group,
        { voters: assignment.replicas, learners: [] },
        partitionConfigOf(topic),
      )
        .then((partition) => {
          partition.unsafeServeUncommitted =
            this.options.unsafeTestBugs?.includes('serve-uncommitted') ?? false
          this.partitions.set(group, partition)
          if (!this.hostsReplica(group)) this.retire(group)
        })
        .catch((err: unknown) => this.logger.error(`could not open group ${group}: ${String(err)}`))
        .finally(() => this.opening.delete(group))
      this.opening.set(group, opening)
    }
    for (const group of [...this.partitions.keys()]) {
      if (!wanted.has(group)) this.retire(group)
    }
    this.scheduleDrive()
  }

  private hostsReplica(group: GroupId): boolean {
    const a = this.metadata.partitionOfGroup(group)?.assignment
    return a !== undefined && isHostOf(a, this.nodeId)
  }

  /**
   * Closes a replica this node no longer hosts. Its rows stay in the store, which cannot drop a
   * group yet; nor may Raft's compaction trim them, for the log is the partition's data: a replica
   * that comes back must hold the whole log, so the leader sends it what it missed and no more.
   */
  private retire(group: GroupId): void {
    this.host.closeGroup(group)
    this.partitions.delete(group)
    this.reassignSteps.delete(group)
    this.logger.info(`node ${this.nodeId} closed its replica of group ${group}`)
  }

  private scheduleDrive(): void {
    if (this.driveScheduled || this.closed) return
    this.driveScheduled = true
    setImmediate(() => {
      this.driveScheduled = false
      this.driveReassignments()
    })
  }

  /** Every reassignment whose partition this node leads goes one step further. */
  driveReassignments(): void {
    if (this.closed) return
    for (const r of this.metadata.reassignments()) {
      const s = this.host.status(r.assignment.group)
      if (s?.role === 'leader') this.stepReassignment(r, s)
    }
    for (const group of this.reassignSteps.keys()) {
      if (!this.metadata.partitionOfGroup(group)?.assignment.targetReplicas) this.reassignSteps.delete(group)
    }
  }

  /**
   * One step of a reassignment, derived from nothing but the group's applied membership and the
   * target, so that a new leader — or this one after a restart — carries on where the last one
   * stopped: drop a learner the target no longer has; wait for a learner to catch up and become a
   * voter; add the next missing target replica as a learner; remove a voter the target does not
   * have, this node last and only after handing leadership to a target replica; once the voters
   * are the target, report them to the controller. Raft takes one change at a time and refuses
   * the next until the last is applied (and, on a new leader, until its first entry is).
   */
  private stepReassignment({ topic, assignment: a }: Reassignment, s: ReplicaStatus): void {
    const target = a.targetReplicas
    const { voters, learners } = s.membership
    const change = (c: MembershipChange) => {
      const r = this.host.changeMembership(a.group, c)
      if (r.ok) this.logger.info(`${topic.name}-${a.partition} toward [${target}]: ${r.message}`)
    }
    const unwanted = learners.find((id) => !target.includes(id))
    if (unwanted !== undefined) return change({ type: 'remove', node: unwanted })
    const learner = learners[0]
    if (learner !== undefined) {
      // Raft promotes a learner that caught up when it answers an append; one that caught up
      // while the partition was idle gets no more appends to answer, so the step promotes it.
      if ((s.match.get(learner) ?? 0) >= s.commit) change({ type: 'promote', node: learner })
      return
    }
    const missing = target.find((id) => !voters.includes(id))
    if (missing !== undefined) return change({ type: 'addLearner', node: missing })
    const leaving = voters.filter((id) => !target.includes(id))
    const other = leaving.find((id) => id !== this.nodeId)
    if (other !== undefined) return change({ type: 'remove', node: other })
    if (leaving.length > 0) return this.handOffToTarget(a, s)
    this.reportVoters(topic.name, a, s)
  }

  private stepState(group: GroupId) {
    let step = this.reassignSteps.get(group)
    if (!step) {
      step = { reportedMs: 0, reporting: false, handedOffMs: 0 }
      this.reassignSteps.set(group, step)
    }
    return step
  }

  /** The leader is the last voter to leave: leadership goes to an in-sync target replica first. */
  private handOffToTarget(a: Reassignment['assignment'], s: ReplicaStatus): void {
    const step = this.stepState(a.group)
    // A transfer that did not happen expires after an election timeout; then try again.
    const retryMs = (this.options.electionTicks ?? 10) * (this.options.tickMs ?? DEFAULT_TICK_MS)
    if (Date.now() - step.handedOffMs < retryMs) return
    const to = a.targetReplicas.find((id) => s.isr.includes(id) && s.membership.voters.includes(id))
    if (to === undefined) return
    step.handedOffMs = Date.now()
    this.host.transferLeadership(a.group, to)
    this.logger.info(`group ${a.group}: leadership to node ${to}, which stays in [${a.targetReplicas}]`)
  }

  /** The voters are the target: the controller records the reassignment done (Kafka's AlterPartition). */
  private reportVoters(topic: string, a: Reassignment['assignment'], s: ReplicaStatus): void {
    // Only once this leader's first entry is applied is the membership it sees final: every
    // config entry of an earlier term is applied by then.
    if (this.host.log(a.group)?.term(s.applied) !== s.term) return
    const step = this.stepState(a.group)
    if (step.reporting || Date.now() - step.reportedMs < REASSIGNMENT_REPORT_INTERVAL_MS) return
    step.reporting = true
    step.reportedMs = Date.now()
    const voters = [...s.membership.voters]
    this.toController('alterPartition', {
      brokerId: this.nodeId,
      topics: [
        { name: topic, partitions: [{ partition: a.partition, leaderEpoch: s.term, replicas: voters }] },
      ],
    })
      .then((r) => {
        const p = r.topics[0]?.partitions[0]
        if (p?.error)
          this.logger.warn(
            `${topic}-${a.partition}: voters [${voters}] refused: ${p.error} ${p.message ?? ''}`,
          )
        else this.logger.info(`${topic}-${a.partition}: reassignment to [${voters}] done`)
      })
      .catch((err: unknown) => this.logger.warn(`${topic}-${a.partition}: reporting voters: ${String(err)}`))
      .finally(() => {
        step.reporting = false
      })
  }

  /** A request to the controller: answered here if this node is it, else over its client API. */
  private toController<A extends ApiName>(api: A, body: ApiRequest<A>): Promise<ApiResponse<A>> {
    if (this.isController()) return handle(this, api, body)
    const b = this.metadata.brokers.get(this.controllerId())
    if (!b) return Promise.reject(new HostError('NOT_CONTROLLER', 'no controller is known'))
    return this.controllerChannel.request(`${b.host}:${b.port}`, api, body)
  }

  private ledGroups(): GroupId[] {
    return this.host.groupIds().filter((g) => this.host.leaderTermOf(g) >= 0)
  }

  /**
   * Every group led here moves to an in-sync replica: the preferred leader if it answered within
   * an election timeout and is as caught up as any, else the most caught-up follower (of those, the
   * one heard from last); see {@link handOffTarget}. A transfer that did not happen within an
   * election timeout (its target had just stopped: a follower stays in the ISR for
   * replica.lag.time.max.ms) is retried with another replica.
   */
  private async handOffLeadership(): Promise<void> {
    const led = this.ledGroups()
    const tried = new Map<GroupId, Set<NodeId>>()
    const retryMs = (this.options.electionTicks ?? 10) * (this.options.tickMs ?? DEFAULT_TICK_MS)
    const deadline = Date.now() + LEADERSHIP_HANDOFF_MS_MAX
    let nextRound = 0
    while (Date.now() < deadline) {
      const still = this.ledGroups().filter((g) => led.includes(g))
      if (still.length === 0) return
      if (Date.now() >= nextRound) {
        for (const group of still) this.handOff(group, tried, retryMs)
        nextRound = Date.now() + retryMs
      }
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  private handOff(group: GroupId, tried: Map<GroupId, Set<NodeId>>, recentMs: number): void {
    const s = this.host.status(group)
    if (!s) return
    const a = this.metadata.partitionOfGroup(group)?.assignment
    const skip = tried.get(group) ?? new Set<NodeId>()
    tried.set(group, skip)
    const to = handOffTarget(s, this.nodeId, a && targetOf(a)[0], skip, recentMs, performance.now())
    if (to === undefined) return
    skip.add(to)
    this.host.transferLeadership(group, to)
  }

  /** Kafka's auto leader rebalance: a partition led elsewhere than its preferred (first) replica goes back to it once it is in sync. */
  balanceLeaders(): void {
    if (this.closed) return
    for (const group of this.ledGroups()) {
      // While a reassignment runs, the target's first replica: never back to one that is leaving.
      const a = this.metadata.partitionOfGroup(group)?.assignment
      const preferred = a && targetOf(a)[0]
      if (preferred === undefined || preferred === this.nodeId) continue
      if (this.host.status(group)?.isr.includes(preferred)) this.host.transferLeadership(group, preferred)
    }
  }

  /** Retention on every replica of every partition, one run at a time. */
  private runRetention(): void {
    if (this.retaining || this.closed) return
    this.retaining = true
    const run = async () => {
      for (const topic of this.metadata.topics.values()) {
        // Its coordinators delete its prefix, behind a snapshot of what it held.
        if (topic.name === OFFSETS_TOPIC) continue
        const ms = Number(topic.configs['retention.ms'] ?? -1)
        const bytes = Number(topic.configs['retention.bytes'] ?? -1)
        for (const a of topic.partitions) {
          const p = this.partitions.get(a.group)
          if (p) await p.applyRetention(Date.now(), ms, bytes)
        }
      }
    }
    run()
      .catch((err: unknown) => this.logger.warn(`retention: ${String(err)}`))
      .finally(() => {
        this.retaining = false
      })
  }

  /**
   * The controller registers every configured node it does not know yet (the cluster is static);
   * once all are, it creates `__consumer_offsets`.
   */
  private registerPeers(): void {
    if (!this.isController() || this.registering) return
    if (this.options.peers.size === this.metadata.brokers.size && !this.offsetsTopic()) {
      this.registering = true
      this.createOffsetsTopic()
        .catch((err: unknown) => {
          if (!(err instanceof NotLeaderError)) this.logger.warn(`creating ${OFFSETS_TOPIC}: ${String(err)}`)
        })
        .finally(() => {
          this.registering = false
        })
      return
    }
    for (const [nodeId, p] of this.options.peers) {
      const known = this.metadata.brokers.get(nodeId)
      if (known && known.host === p.host && known.port === p.port) continue
      this.registering = true
      this.command({ type: 'registerBroker', broker: { nodeId, host: p.host, port: p.port } })
        .catch((err: unknown) => {
          if (!(err instanceof NotLeaderError)) this.logger.warn(`registering node ${nodeId}: ${String(err)}`)
        })
        .finally(() => {
          this.registering = false
        })
      return // one at a time: the next round registers the next
    }
  }

  private async createOffsetsTopic(): Promise<void> {
    const brokers = this.metadata.placeableBrokers()
    const count = this.options.offsetsTopicPartitions ?? OFFSETS_TOPIC_PARTITIONS
    const rf = Math.min(
      this.options.offsetsTopicReplicationFactor ?? OFFSETS_TOPIC_REPLICATION_FACTOR,
      brokers.length,
    )
    const partitions = assignReplicas(brokers, count, rf, Math.floor(Math.random() * 1_000_000))
    // No retention: its coordinators delete the log before each snapshot of their state.
    const configs = { 'retention.ms': '-1', 'retention.bytes': '-1' }
    await this.command({ type: 'createTopic', name: OFFSETS_TOPIC, partitions, configs })
    this.logger.info(`created ${OFFSETS_TOPIC}: ${count} partitions, replication factor ${rf}`)
  }
}

/**
 * Where a leader that stops hands a group off: an in-sync replica not tried yet (all again once
 * each was), the most caught-up first — a transfer waits until its target has the whole log, and
 * an in-sync replica may still be entries behind (one that just restarted and caught up once) —
 * then the one heard from last. The preferred replica wins if it is among the most caught-up and
 * answered within `recentMs`. `skip` is emptied when every replica has been tried.
 */
export function handOffTarget(
  s: Pick<ReplicaStatus, 'isr' | 'match' | 'lastHeardMs'>,
  self: NodeId,
  preferred: NodeId | undefined,
  skip: Set<NodeId>,
  recentMs: number,
  nowMs: number,
): NodeId | undefined {
  const heardAgo = (id: NodeId) => nowMs - (s.lastHeardMs.get(id) ?? Number.NEGATIVE_INFINITY)
  const matchOf = (id: NodeId) => s.match.get(id) ?? 0
  let candidates = s.isr.filter((id) => id !== self && !skip.has(id))
  if (candidates.length === 0) {
    skip.clear() // every one was tried: go round again
    candidates = s.isr.filter((id) => id !== self)
  }
  candidates.sort((x, y) => matchOf(y) - matchOf(x) || heardAgo(x) - heardAgo(y))
  const best = candidates[0] === undefined ? 0 : matchOf(candidates[0])
  const preferredFits =
    preferred !== undefined &&
    candidates.includes(preferred) &&
    heardAgo(preferred) <= recentMs &&
    matchOf(preferred) === best
  return preferredFits ? preferred : candidates[0]
}
