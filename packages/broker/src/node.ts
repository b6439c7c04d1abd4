/**
 * A Cairn node: one LevelDB store, one node-to-node transport, one RaftHost running the
 * controller group (the metadata log, replicated on the first three or five nodes, learned by the
 * others) and a replica of every partition assigned to this node; and the client API.
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import type { GroupId, NodeId } from '@cairn/raft'
import { LevelLogStore } from '@cairn/storage'
import { type Logger, silentLogger, WsTransport } from '@cairn/transport'
import { ClientApiServer } from './api-server.js'
import {
  ClusterMetadata,
  CONTROLLER_GROUP,
  decodeCommand,
  encodeCommand,
  type MetadataCommand,
  MetadataError,
  type TopicRecord,
} from './metadata.js'
import { NodeMetrics } from './metrics.js'
import { DEFAULT_PARTITION_CONFIG, Partition, type PartitionConfig } from './partition.js'
import { DEFAULT_TICK_MS, HostError, NotLeaderError, RaftHost } from './raft-host.js'

export interface PeerAddress {
  host: string
  /** The client API port. */
  port: number
  /** The node-to-node (Raft) port. */
  raftPort: number
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
  logger?: Logger
  clusterId?: string
  /** Kafka's log.retention.check.interval.ms: how often retention runs on every replica. */
  retentionCheckIntervalMs?: number
  /** Kafka's leader.imbalance.check.interval.seconds, in ms: how often preferred leaders are restored. */
  leaderBalanceIntervalMs?: number
}

export const RETENTION_CHECK_INTERVAL_MS = 300_000
export const LEADER_BALANCE_INTERVAL_MS = 300_000
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
  /** Partition replicas hosted here, by Raft group. */
  readonly partitions = new Map<GroupId, Partition>()
  private readonly opening = new Map<GroupId, Promise<void>>()
  private applyWaiters: { index: number; resolve: () => void }[] = []
  private registrar: NodeJS.Timeout | null = null
  private retention: NodeJS.Timeout | null = null
  private balancer: NodeJS.Timeout | null = null
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
    this.metrics = new NodeMetrics(this)
  }

  get nodeId(): NodeId {
    return this.options.nodeId
  }

  static async start(options: NodeOptions): Promise<CairnNode> {
    const self = options.peers.get(options.nodeId)
    if (!self) throw new Error(`node ${options.nodeId} is not among the peers`)
    const logger = options.logger ?? silentLogger
    mkdirSync(options.dataDir, { recursive: true })
    const store = await LevelLogStore.open(join(options.dataDir, 'log'))
    const raftPeers = new Map(
      [...options.peers]
        .filter(([id]) => id !== options.nodeId)
        .map(([id, p]) => [id, { host: p.host, port: p.raftPort }] as const),
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
    const host = new RaftHost({
      nodeId: options.nodeId,
      store,
      transport,
      tickMs,
      raft: {
        electionTicks: options.electionTicks ?? 10,
        ...(options.replicaLagTimeMs !== undefined && { replicaLagTimeMs: options.replicaLagTimeMs }),
      },
    })
    const node = new CairnNode(options, store, transport, host, logger)
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
    logger.info(
      `node ${options.nodeId} up: clients on ${self.host}:${self.port}, raft on ${self.host}:${self.raftPort}`,
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
    await this.handOffLeadership().catch((err: unknown) =>
      this.logger.warn(`leadership hand-off: ${String(err)}`),
    )
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
    return this.host.status(CONTROLLER_GROUP)?.role === 'leader'
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

  /** The partition replica of `topic`/`partition` hosted here, if any. */
  partition(topic: string, partition: number): Partition | undefined {
    const assignment = this.metadata.topics.get(topic)?.partitions[partition]
    return assignment && this.partitions.get(assignment.group)
  }

  private onCommitted(group: GroupId, entries: import('@cairn/raft').Entry[]): void {
    if (group !== CONTROLLER_GROUP) {
      this.partitions.get(group)?.applyCommitted(entries)
      return
    }
    for (const e of entries) {
      if (e.kind !== 0) continue
      let command: MetadataCommand
      try {
        command = decodeCommand(e.data)
      } catch (err) {
        this.logger.error(`metadata entry ${e.index} is unreadable: ${String(err)}`)
        continue
      }
      this.metadata.apply(e.index, command)
    }
    const last = entries[entries.length - 1]
    if (last && last.index > this.metadata.appliedIndex) this.metadata.appliedIndex = last.index
    const ready = this.applyWaiters.filter((w) => w.index <= this.metadata.appliedIndex)
    this.applyWaiters = this.applyWaiters.filter((w) => w.index > this.metadata.appliedIndex)
    for (const w of ready) w.resolve()
    this.reconcile()
  }

  /** Opens a replica of every partition assigned here, closes those of deleted topics, applies configs. */
  private reconcile(): void {
    const wanted = new Map<GroupId, TopicRecord>()
    for (const topic of this.metadata.topics.values()) {
      for (const p of topic.partitions) if (p.replicas.includes(this.nodeId)) wanted.set(p.group, topic)
    }
    for (const [group, topic] of wanted) {
      const open = this.partitions.get(group)
      if (open) {
        open.configure(partitionConfigOf(topic))
        continue
      }
      if (this.opening.has(group)) continue
      const replicas = topic.partitions.find((p) => p.group === group)!.replicas
      const opening = Partition.open(
        this.host,
        group,
        { voters: replicas, learners: [] },
        partitionConfigOf(topic),
      )
        .then((partition) => {
          this.partitions.set(group, partition)
        })
        .catch((err: unknown) => this.logger.error(`could not open group ${group}: ${String(err)}`))
        .finally(() => this.opening.delete(group))
      this.opening.set(group, opening)
    }
    for (const group of [...this.partitions.keys()]) {
      if (wanted.has(group)) continue
      this.host.closeGroup(group)
      this.partitions.delete(group)
    }
  }

  private ledGroups(): GroupId[] {
    return this.host.groupIds().filter((g) => this.host.status(g)?.role === 'leader')
  }

  private async handOffLeadership(): Promise<void> {
    const led = this.ledGroups()
    for (const group of led) {
      const s = this.host.status(group)!
      const preferred = this.metadata.partitionOfGroup(group)?.assignment.replicas[0]
      const candidates = s.isr.filter((id) => id !== this.nodeId)
      const to = preferred !== undefined && candidates.includes(preferred) ? preferred : candidates[0]
      if (to !== undefined) this.host.transferLeadership(group, to)
    }
    const deadline = Date.now() + LEADERSHIP_HANDOFF_MS_MAX
    while (this.ledGroups().some((g) => led.includes(g)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10))
    }
  }

  /** Kafka's auto leader rebalance: a partition led elsewhere than its preferred (first) replica goes back to it once it is in sync. */
  balanceLeaders(): void {
    if (this.closed) return
    for (const group of this.ledGroups()) {
      const preferred = this.metadata.partitionOfGroup(group)?.assignment.replicas[0]
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

  /** The controller registers every configured node it does not know yet (the cluster is static). */
  private registerPeers(): void {
    if (!this.isController() || this.registering) return
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
}
