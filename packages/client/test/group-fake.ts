/**
 * A fake group coordinator and fake partition logs, in one process, for the group consumer's
 * tests: Kafka's classic protocol as the broker runs it (MEMBER_ID_REQUIRED on a first join, a
 * join phase that ends when every member has rejoined or the rebalance timeout passes, the
 * leader's assignment handed out on sync, heartbeats and commits checked against member and
 * generation), with hooks to inject errors and to expel a member as a session timeout would.
 */
import type { ApiRequest, ApiResponse, GroupState } from '@cairn/protocol'
import type { GroupApi } from '../src/group-io.js'
import {
  type ConsumedRecord,
  GroupConsumer,
  type GroupConsumerConfig,
  type GroupFetcher,
  type GroupIo,
  resolveGroupConsumerConfig,
  systemClock,
  type TopicPartition,
  topicPartitionKey,
} from '../src/index.js'

interface FakeMember {
  memberId: string
  protocols: { name: string; metadata: Uint8Array }[]
  rebalanceTimeoutMs: number
  assignment: Uint8Array
  join: ((r: ApiResponse<'joinGroup'>) => void) | null
  sync: ((r: ApiResponse<'syncGroup'>) => void) | null
}

type Fault = { error: string } | { throws: string }

export class FakeCoordinator {
  state: GroupState = 'Empty'
  generationId = 0
  protocol: string | null = null
  leader: string | null = null
  readonly members = new Map<string, FakeMember>()
  private readonly pending = new Set<string>()
  private nextId = 1
  private joinTimer: NodeJS.Timeout | null = null
  readonly committed = new Map<string, number>()
  /** Every accepted commit, in order. */
  readonly commitLog: {
    memberId: string
    generationId: number
    topic: string
    partition: number
    offset: number
  }[] = []
  readonly calls: { api: GroupApi; memberId: string; generationId?: number; at: number }[] = []
  private readonly faults: { api: GroupApi; fault: Fault }[] = []
  /** Called with every commit accepted, before it is answered. */
  onCommit: ((c: { memberId: string; topic: string; partition: number; offset: number }) => void) | null =
    null

  /** The next request of `api` gets `error` in its body, or (throws) is rejected with that code. */
  inject(api: GroupApi, fault: Fault): void {
    this.faults.push({ api, fault })
  }

  /** The member is gone as if its session timed out. */
  expel(memberId: string): void {
    const m = this.members.get(memberId)
    if (!m) return
    this.members.delete(memberId)
    m.join?.(this.joinError('UNKNOWN_MEMBER_ID', memberId))
    m.sync?.({ error: 'UNKNOWN_MEMBER_ID', assignment: new Uint8Array() })
    if (this.leader === memberId) this.leader = this.members.keys().next().value ?? null
    this.prepareRebalance()
  }

  async handle<A extends GroupApi>(api: A, body: ApiRequest<A>): Promise<ApiResponse<A>> {
    const b = body as { memberId?: string; generationId?: number; memberIds?: string[] }
    this.calls.push({
      api,
      memberId: b.memberId ?? b.memberIds?.[0] ?? '',
      ...(b.generationId !== undefined && { generationId: b.generationId }),
      at: Date.now(),
    })
    await Promise.resolve()
    const k = this.faults.findIndex((f) => f.api === api)
    if (k >= 0) {
      const { fault } = this.faults.splice(k, 1)[0]!
      if ('throws' in fault)
        throw Object.assign(new Error(`injected ${fault.throws}`), { code: fault.throws })
      return this.errorResponse(api, fault.error) as ApiResponse<A>
    }
    switch (api) {
      case 'joinGroup':
        return this.join(body as ApiRequest<'joinGroup'>) as Promise<ApiResponse<A>>
      case 'syncGroup':
        return this.sync(body as ApiRequest<'syncGroup'>) as Promise<ApiResponse<A>>
      case 'heartbeat':
        return { error: this.heartbeatError(body as ApiRequest<'heartbeat'>) } as ApiResponse<A>
      case 'leaveGroup':
        return this.leave(body as ApiRequest<'leaveGroup'>) as ApiResponse<A>
      case 'offsetCommit':
        return this.commit(body as ApiRequest<'offsetCommit'>) as ApiResponse<A>
      case 'offsetFetch':
        return this.fetchOffsets(body as ApiRequest<'offsetFetch'>) as ApiResponse<A>
    }
    throw new Error(`unknown api ${api}`)
  }

  private errorResponse(api: GroupApi, error: string): unknown {
    switch (api) {
      case 'joinGroup':
        return this.joinError(error, '')
      case 'syncGroup':
        return { error, assignment: new Uint8Array() }
      case 'leaveGroup':
        return { error, members: [] }
      case 'offsetCommit':
        return { error, topics: [] }
      case 'offsetFetch':
        return { error, topics: [] }
      default:
        return { error }
    }
  }

  private joinError(error: string, memberId: string): ApiResponse<'joinGroup'> {
    return { error, generationId: -1, protocolName: null, leader: '', memberId, members: [] }
  }

  private join(req: ApiRequest<'joinGroup'>): Promise<ApiResponse<'joinGroup'>> {
    if (req.memberId === '') {
      const memberId = `${req.clientId}-${this.nextId++}`
      this.pending.add(memberId)
      return Promise.resolve(this.joinError('MEMBER_ID_REQUIRED', memberId))
    }
    const known = this.members.get(req.memberId)
    if (!known && !this.pending.delete(req.memberId))
      return Promise.resolve(this.joinError('UNKNOWN_MEMBER_ID', req.memberId))
    const same =
      known !== undefined &&
      known.protocols.length === req.protocols.length &&
      known.protocols.every(
        (p, i) =>
          p.name === req.protocols[i]!.name && Buffer.compare(p.metadata, req.protocols[i]!.metadata) === 0,
      )
    // As the broker: a follower rejoining a Stable group with unchanged metadata changes nothing.
    if (known && same && this.state === 'Stable' && this.leader !== req.memberId)
      return Promise.resolve({
        error: null,
        generationId: this.generationId,
        protocolName: this.protocol,
        leader: this.leader!,
        memberId: req.memberId,
        members: [],
      })
    return new Promise((resolve) => {
      const member: FakeMember = known ?? {
        memberId: req.memberId,
        protocols: [],
        rebalanceTimeoutMs: req.rebalanceTimeoutMs,
        assignment: new Uint8Array(),
        join: null,
        sync: null,
      }
      member.protocols = req.protocols
      member.join?.(this.joinError('REBALANCE_IN_PROGRESS', member.memberId))
      member.join = resolve
      this.members.set(member.memberId, member)
      this.leader ??= member.memberId
      this.prepareRebalance()
      this.maybeCompleteJoin()
    })
  }

  private prepareRebalance(): void {
    if (this.state === 'CompletingRebalance')
      for (const m of this.members.values()) {
        m.sync?.({ error: 'REBALANCE_IN_PROGRESS', assignment: new Uint8Array() })
        m.sync = null
      }
    if (this.members.size === 0) {
      this.state = 'Empty'
      return
    }
    if (this.state !== 'PreparingRebalance') {
      this.state = 'PreparingRebalance'
      const timeoutMs = Math.max(...[...this.members.values()].map((m) => m.rebalanceTimeoutMs))
      if (this.joinTimer) clearTimeout(this.joinTimer)
      this.joinTimer = setTimeout(() => this.completeJoin(), timeoutMs)
    }
    this.maybeCompleteJoin()
  }

  private maybeCompleteJoin(): void {
    if (this.state !== 'PreparingRebalance') return
    for (const m of this.members.values()) if (!m.join) return
    this.completeJoin()
  }

  private completeJoin(): void {
    if (this.joinTimer) clearTimeout(this.joinTimer)
    this.joinTimer = null
    if (this.state !== 'PreparingRebalance') return
    for (const m of [...this.members.values()]) if (!m.join) this.members.delete(m.memberId)
    if (!this.leader || !this.members.has(this.leader)) this.leader = this.members.keys().next().value ?? null
    this.generationId++
    if (this.members.size === 0) {
      this.state = 'Empty'
      return
    }
    const leader = this.members.get(this.leader!)!
    this.protocol = leader.protocols.find((p) =>
      [...this.members.values()].every((m) => m.protocols.some((q) => q.name === p.name)),
    )!.name
    this.state = 'CompletingRebalance'
    const all = [...this.members.values()].map((m) => ({
      memberId: m.memberId,
      metadata: m.protocols.find((p) => p.name === this.protocol)!.metadata,
    }))
    for (const m of this.members.values()) {
      const resolve = m.join!
      m.join = null
      m.assignment = new Uint8Array()
      resolve({
        error: null,
        generationId: this.generationId,
        protocolName: this.protocol,
        leader: this.leader!,
        memberId: m.memberId,
        members: m.memberId === this.leader ? all : [],
      })
    }
  }

  private sync(req: ApiRequest<'syncGroup'>): Promise<ApiResponse<'syncGroup'>> {
    const m = this.members.get(req.memberId)
    if (!m) return Promise.resolve({ error: 'UNKNOWN_MEMBER_ID', assignment: new Uint8Array() })
    if (req.generationId !== this.generationId)
      return Promise.resolve({ error: 'ILLEGAL_GENERATION', assignment: new Uint8Array() })
    if (this.state === 'PreparingRebalance')
      return Promise.resolve({ error: 'REBALANCE_IN_PROGRESS', assignment: new Uint8Array() })
    if (this.state === 'Stable') return Promise.resolve({ error: null, assignment: m.assignment })
    return new Promise((resolve) => {
      m.sync = resolve
      if (req.memberId !== this.leader) return
      const byMember = new Map(req.assignments.map((a) => [a.memberId, a.assignment]))
      this.state = 'Stable'
      for (const x of this.members.values()) {
        x.assignment = byMember.get(x.memberId) ?? new Uint8Array()
        const done = x.sync
        x.sync = null
        done?.({ error: null, assignment: x.assignment })
      }
    })
  }

  private heartbeatError(req: ApiRequest<'heartbeat'>): string | null {
    if (!this.members.has(req.memberId)) return 'UNKNOWN_MEMBER_ID'
    if (req.generationId !== this.generationId) return 'ILLEGAL_GENERATION'
    return this.state === 'PreparingRebalance' ? 'REBALANCE_IN_PROGRESS' : null
  }

  private leave(req: ApiRequest<'leaveGroup'>): ApiResponse<'leaveGroup'> {
    const members = req.memberIds.map((memberId) => {
      if (!this.members.has(memberId)) return { memberId, error: 'UNKNOWN_MEMBER_ID' }
      this.expel(memberId)
      return { memberId, error: null }
    })
    return { error: null, members }
  }

  private commit(req: ApiRequest<'offsetCommit'>): ApiResponse<'offsetCommit'> {
    const standalone = req.generationId < 0 && req.memberId === ''
    let error: string | null = null
    if (standalone) error = this.state === 'Empty' ? null : 'ILLEGAL_GENERATION'
    else if (!this.members.has(req.memberId)) error = 'UNKNOWN_MEMBER_ID'
    else if (req.generationId !== this.generationId) error = 'ILLEGAL_GENERATION'
    else if (this.state === 'CompletingRebalance') error = 'REBALANCE_IN_PROGRESS'
    const topics = req.topics.map((t) => ({
      name: t.name,
      partitions: t.partitions.map((p) => {
        if (!error) {
          this.committed.set(topicPartitionKey({ topic: t.name, partition: p.partition }), p.offset)
          this.commitLog.push({
            memberId: req.memberId,
            generationId: req.generationId,
            topic: t.name,
            partition: p.partition,
            offset: p.offset,
          })
          this.onCommit?.({ memberId: req.memberId, topic: t.name, partition: p.partition, offset: p.offset })
        }
        return { partition: p.partition, error }
      }),
    }))
    return { error: null, topics }
  }

  private fetchOffsets(req: ApiRequest<'offsetFetch'>): ApiResponse<'offsetFetch'> {
    return {
      error: null,
      topics: (req.topics ?? []).map((t) => ({
        name: t.name,
        partitions: t.partitions.map((partition) => ({
          partition,
          offset: this.committed.get(topicPartitionKey({ topic: t.name, partition })) ?? -1,
          metadata: '',
          error: null,
        })),
      })),
    }
  }
}

/** Topics as in-memory logs: record `offset` of a partition holds value `topic/partition/offset`. */
export class FakeLogs {
  readonly logs = new Map<string, ConsumedRecord[]>()
  constructor(readonly partitionsPerTopic: Map<string, number>) {}

  append(topic: string, partition: number, count = 1): void {
    const k = topicPartitionKey({ topic, partition })
    const log = this.logs.get(k) ?? []
    for (let i = 0; i < count; i++) {
      const offset = log.length
      log.push({
        topic,
        partition,
        offset,
        timestamp: Date.now(),
        key: null,
        value: new TextEncoder().encode(`${topic}/${partition}/${offset}`),
        headers: [],
      })
    }
    this.logs.set(k, log)
  }

  end(tp: TopicPartition): number {
    return this.logs.get(topicPartitionKey(tp))?.length ?? 0
  }

  read(tp: TopicPartition, from: number, max: number): ConsumedRecord[] {
    return (this.logs.get(topicPartitionKey(tp)) ?? []).slice(from, from + max)
  }
}

/** A fetcher over FakeLogs: a poll returns what is there at once, or waits `waitMs` for nothing. */
export class FakeFetcher implements GroupFetcher {
  readonly positions = new Map<string, { tp: TopicPartition; offset: number; paused: boolean; hw: number }>()
  constructor(
    private readonly logs: FakeLogs,
    private readonly maxPollRecords: number,
    private readonly waitMs = 5,
  ) {}
  add(partitions: { tp: TopicPartition; offset: number }[]): void {
    for (const { tp, offset } of partitions)
      this.positions.set(topicPartitionKey(tp), { tp, offset, paused: false, hw: 0 })
  }
  remove(partitions: TopicPartition[]): void {
    for (const tp of partitions) this.positions.delete(topicPartitionKey(tp))
  }
  pause(partitions: TopicPartition[]): void {
    for (const tp of partitions) {
      const p = this.positions.get(topicPartitionKey(tp))
      if (p) p.paused = true
    }
  }
  resume(partitions: TopicPartition[]): void {
    for (const tp of partitions) {
      const p = this.positions.get(topicPartitionKey(tp))
      if (p) p.paused = false
    }
  }
  seek(tp: TopicPartition, offset: number): void {
    const p = this.positions.get(topicPartitionKey(tp))
    if (p) p.offset = offset
  }
  position(tp: TopicPartition): number | null {
    return this.positions.get(topicPartitionKey(tp))?.offset ?? null
  }
  highWatermark(tp: TopicPartition): number {
    return this.positions.get(topicPartitionKey(tp))?.hw ?? 0
  }
  async poll(): Promise<ConsumedRecord[]> {
    let budget = this.maxPollRecords
    const out: ConsumedRecord[] = []
    for (const p of this.positions.values()) {
      if (p.paused) continue
      p.hw = this.logs.end(p.tp)
      if (budget <= 0) continue
      const records = this.logs.read(p.tp, p.offset, budget)
      budget -= records.length
      if (records.length > 0) p.offset = records[records.length - 1]!.offset + 1
      out.push(...records)
    }
    if (out.length === 0) await new Promise((r) => setTimeout(r, this.waitMs))
    return out
  }
}

export interface FakeMemberHandle {
  consumer: GroupConsumer
  fetcher: FakeFetcher
  coordinatorLost: number
}

/** A group consumer wired to `coordinator` and `logs`. */
export function fakeMember(
  coordinator: FakeCoordinator,
  logs: FakeLogs,
  config: Omit<GroupConsumerConfig, 'groupId'> = {},
): FakeMemberHandle {
  const resolved = resolveGroupConsumerConfig({
    groupId: 'g',
    'session.timeout.ms': 1000,
    'heartbeat.interval.ms': 20,
    'rebalance.timeout.ms': 2000,
    'auto.commit.interval.ms': 20,
    'retry.backoff.ms': 5,
    'retry.backoff.max.ms': 20,
    'default.api.timeout.ms': 2000,
    ...config,
  })
  const fetcher = new FakeFetcher(logs, resolved.maxPollRecords)
  const handle: FakeMemberHandle = {
    consumer: undefined as unknown as GroupConsumer,
    fetcher,
    coordinatorLost: 0,
  }
  const io: GroupIo = {
    clock: systemClock,
    fetcher,
    toCoordinator: (api, body) => coordinator.handle(api, body),
    coordinatorLost: () => {
      handle.coordinatorLost++
    },
    partitionCounts: async (topics) =>
      new Map(
        topics.filter((t) => logs.partitionsPerTopic.has(t)).map((t) => [t, logs.partitionsPerTopic.get(t)!]),
      ),
    topicNames: async () => [...logs.partitionsPerTopic.keys()],
    listOffsets: async (topic, at) =>
      Array.from({ length: logs.partitionsPerTopic.get(topic) ?? 0 }, (_, partition) => ({
        partition,
        offset: at === 'earliest' ? 0 : logs.end({ topic, partition }),
      })),
  }
  handle.consumer = new GroupConsumer(io, resolved)
  return handle
}

/** Polls `probe` until it holds, at most `timeoutMs`. */
export async function until(what: string, probe: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 2))
  }
}
