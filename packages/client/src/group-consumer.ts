/**
 * A consumer group member, Kafka's classic protocol: find the coordinator, join, the leader
 * assigns, sync, heartbeat, rejoin when the group rebalances, commit, leave.
 *
 * Two tasks run side by side. The *membership* task joins and rejoins, gives up and takes
 * partitions; heartbeats and auto-commits go on their own timers. The *run* loop fetches from
 * the partitions owned and hands records to the application, one handler at a time. They meet
 * in {@link OwnedPartitions}: the membership task takes a partition away by marking it revoking
 * (it is delivered no more), waits for the handler in flight, commits what finished, and removes
 * it. So a slow handler holds up neither heartbeats nor the cooperative protocol, in which the
 * partitions that stay keep being consumed while the group rebalances.
 *
 * At-least-once: a commit carries, per partition, the offset after the last record whose handler
 * finished; records are handed over in offset order per partition; so no commit passes a record
 * the application has not finished, and after any crash the next owner starts at or before the
 * first record not finished.
 *
 * Protocols. EAGER (range, roundrobin): before rejoining, commit and give up everything.
 * COOPERATIVE (cooperative-sticky): rejoin owning what one owns; after the sync give up only
 * what the new assignment lacks, then rejoin once more, so the group can hand those partitions to
 * their new owners (Kafka's two-phase incremental rebalance, KIP-429).
 *
 * Errors, as Kafka's consumer treats them: MEMBER_ID_REQUIRED → join again with the id given;
 * REBALANCE_IN_PROGRESS → rejoin; ILLEGAL_GENERATION → the generation is gone: partitions lost,
 * rejoin; UNKNOWN_MEMBER_ID → the same, and the member id too; NOT_COORDINATOR,
 * COORDINATOR_NOT_AVAILABLE, no answer → find the coordinator again and retry after backoff;
 * COORDINATOR_LOAD_IN_PROGRESS → retry after backoff. Anything else (INVALID_SESSION_TIMEOUT,
 * INCONSISTENT_GROUP_PROTOCOL, GROUP_MAX_SIZE_REACHED, …) stops the consumer: run() rejects.
 */
import { AsyncLocalStorage } from 'node:async_hooks'
import type { ApiRequest, ApiResponse, JoinGroupResponse } from '@cairn/protocol'
import {
  compareTopicPartitions,
  decodeAssignment,
  decodeSubscription,
  encodeAssignment,
  encodeSubscription,
  type MemberSubscription,
  revokedPartitions,
} from './assignors.js'
import type { TimerHandle } from './clock.js'
import type { ConsumedRecord } from './consumer.js'
import type { ResolvedGroupConsumerConfig } from './consumer-config.js'
import { CairnError, CommitFailedError, NoOffsetForPartitionError, TimeoutError } from './errors.js'
import type { GroupApi, GroupIo } from './group-io.js'
import { type OffsetToCommit, OwnedPartitions } from './owned-partitions.js'
import { retryBackoffMs } from './retry.js'
import { type TopicPartition, topicPartitionKey, topicPartitionName } from './topic-partition.js'

export type Subscription = { topics: string[] } | { pattern: RegExp }

/** Kafka's ConsumerRebalanceListener. Each call is awaited before the rebalance goes on. */
export interface RebalanceListener {
  /** Partitions given up in order (committed first when auto-commit is on). */
  onPartitionsRevoked?(partitions: TopicPartition[]): void | Promise<void>
  /** Partitions taken, positions known. */
  onPartitionsAssigned?(partitions: TopicPartition[]): void | Promise<void>
  /** Partitions that may already be another member's (the generation was lost): nothing was committed. */
  onPartitionsLost?(partitions: TopicPartition[]): void | Promise<void>
}

export interface EachMessagePayload {
  topic: string
  partition: number
  message: ConsumedRecord
}

export interface Batch {
  topic: string
  partition: number
  /** The partition's high watermark as the fetch reported it. */
  highWatermark: number
  messages: ConsumedRecord[]
}

export interface EachBatchPayload {
  batch: Batch
  /** Marks every record up to `offset` finished (committable); without it, the batch counts when the handler returns. */
  resolveOffset(offset: number): void
  /** Commits what is finished now, if auto-commit is on. */
  commitOffsetsIfNecessary(): Promise<void>
  /** False once the consumer is stopping. */
  isRunning(): boolean
  /** True once the partition is being revoked or was lost: stop early, the rest goes to its next owner. */
  isStale(): boolean
}

export type RunOptions =
  | { eachMessage: (payload: EachMessagePayload) => Promise<void> | void }
  | {
      eachBatch: (payload: EachBatchPayload) => Promise<void> | void
      /** Count the whole batch finished when the handler returns (default true). */
      eachBatchAutoResolve?: boolean
    }

export interface GroupConsumerEvents {
  /** A JoinGroup goes out. */
  rebalancing: { memberId: string; generationId: number }
  /** A rebalance ended: the member holds `assignment` in `generationId`. */
  'group.join': {
    memberId: string
    generationId: number
    leaderId: string
    protocol: string
    assignment: TopicPartition[]
    /** Of this rebalance: from the JoinGroup sent to the assignment applied. */
    durationMs: number
  }
  commit: { offsets: OffsetToCommit[] }
  /** Something that did not stop the consumer: a failed auto-commit, a heartbeat error, a retried rejoin. */
  error: { error: Error }
}

type Listener<E extends keyof GroupConsumerEvents> = (event: GroupConsumerEvents[E]) => void

/** Errors after which the coordinator has to be found again. */
const coordinatorMoved: ReadonlySet<string> = new Set([
  'NOT_COORDINATOR',
  'COORDINATOR_NOT_AVAILABLE',
  'NETWORK_EXCEPTION',
  'REQUEST_TIMED_OUT',
])
/** Errors after which the same request may succeed later. */
const retryLater: ReadonlySet<string> = new Set([...coordinatorMoved, 'COORDINATOR_LOAD_IN_PROGRESS'])
/** Errors that end the member's generation or its turn in a rebalance: it joins again. */
const rejoinOn: ReadonlySet<string> = new Set([
  'REBALANCE_IN_PROGRESS',
  'ILLEGAL_GENERATION',
  'UNKNOWN_MEMBER_ID',
  'MEMBER_ID_REQUIRED',
])

/** Rejoins in a row without backoff, before backoff applies again. */
const immediateRejoinsMax = 5
/** MEMBER_ID_REQUIRED answers one join may meet (one is normal). */
const memberIdRequiredMax = 3
/** Extra time a JoinGroup or SyncGroup gets beyond the rebalance timeout (Kafka's 5 s). */
const joinRequestSlackMs = 5_000

/** The iterator's way to tell the run loop that a record handed out will not be finished. */
class Abandoned extends Error {}

/** The positions of newly assigned partitions could not be found: rejoin after backoff. */
class AssignmentNotTaken extends CairnError {
  constructor(message: string) {
    super('ASSIGNMENT_NOT_TAKEN', message)
  }
}

function codeOf(err: unknown): string {
  return (err as { code?: unknown })?.code && typeof (err as { code: unknown }).code === 'string'
    ? (err as { code: string }).code
    : 'UNKNOWN'
}

function groupError(what: string, code: string, message?: string): CairnError {
  return new CairnError(code, `${what}: ${code}${message ? `: ${message}` : ''}`)
}

/** Groups `records` by partition, keeping their order within each. */
function byPartition(records: ConsumedRecord[]): ConsumedRecord[][] {
  const runs = new Map<string, ConsumedRecord[]>()
  for (const r of records) {
    const k = topicPartitionKey(r)
    const run = runs.get(k)
    if (run) run.push(r)
    else runs.set(k, [r])
  }
  return [...runs.values()]
}

export class GroupConsumer {
  readonly groupId: string
  private subscription: Subscription | null = null
  private listener: RebalanceListener = {}
  private readonly owned = new OwnedPartitions()
  private readonly handlerScope = new AsyncLocalStorage<GroupConsumer>()
  private readonly listeners = new Map<keyof GroupConsumerEvents, Set<Listener<never>>>()

  private memberIdValue = ''
  private generationIdValue = -1
  private protocolName = ''
  private leaderId = ''
  /** The topics of the last join's subscription. */
  private subscribedTopics: string[] = []
  /** As leader: the partition counts the last assignment used, to notice topics and partitions added. */
  private assignedCounts = new Map<string, number>()

  private running = false
  private stopping = false
  private closed = false
  private rejoinNeeded = true
  /** From a JoinGroup sent until its SyncGroup answered: commits may meet the next generation. */
  private joining = false
  private fatal: Error | null = null
  /** The handler running now, if any (settles, never rejects). */
  private inFlight: Promise<void> = Promise.resolve()
  private membershipTask: Promise<void> | null = null
  private runTask: Promise<void> | null = null
  private commits: Promise<unknown> = Promise.resolve()
  private heartbeatTimer: TimerHandle | null = null
  private autoCommitTimer: TimerHandle | null = null
  private wakeRun: (() => void) | null = null
  private wakeMembership: (() => void) | null = null

  constructor(
    private readonly io: GroupIo,
    private readonly config: ResolvedGroupConsumerConfig,
  ) {
    this.groupId = config.groupId
  }

  // ---- The application's API ------------------------------------------------------------------

  /** The member id the coordinator gave ('' before the first join). */
  get memberId(): string {
    return this.memberIdValue
  }

  /** The generation the member is in (-1: none). */
  get generationId(): number {
    return this.generationIdValue
  }

  /** Topics by name, or every topic whose name matches `pattern` (checked every metadata.max.age.ms). */
  subscribe(subscription: Subscription, listener: RebalanceListener = {}): void {
    this.checkOpen()
    if ('pattern' in subscription) {
      if (!(subscription.pattern instanceof RegExp))
        throw new CairnError('ILLEGAL_ARGUMENT', 'subscribe({ pattern }) takes a RegExp')
    } else if (
      !Array.isArray(subscription.topics) ||
      subscription.topics.length === 0 ||
      !subscription.topics.every((t) => typeof t === 'string' && t !== '')
    ) {
      throw new CairnError('ILLEGAL_ARGUMENT', 'subscribe({ topics }) takes a non-empty list of topic names')
    }
    this.subscription =
      'pattern' in subscription
        ? { pattern: subscription.pattern }
        : { topics: [...new Set(subscription.topics)] }
    this.listener = listener
    if (this.running) this.requestRejoin()
  }

  /** What the member owns now. */
  assignment(): TopicPartition[] {
    return this.owned.active()
  }

  /** Stops fetching `partitions` (owned ones) until `resume`; they stay assigned. */
  pause(partitions: TopicPartition[]): void {
    const known = this.checkOwned(partitions, 'pause')
    this.owned.setPaused(known, true)
    this.io.fetcher.pause(known)
  }

  resume(partitions: TopicPartition[]): void {
    const known = this.checkOwned(partitions, 'resume')
    this.owned.setPaused(known, false)
    this.io.fetcher.resume(known)
    this.wakeRun?.()
  }

  paused(): TopicPartition[] {
    return this.owned.paused()
  }

  /** Records between each owned partition's position and its high watermark, by `topic-partition`. */
  lag(): Map<string, number> {
    const out = new Map<string, number>()
    for (const tp of this.owned.all()) {
      const position = this.io.fetcher.position(tp) ?? this.owned.get(tp)!.finishedNext
      out.set(topicPartitionName(tp), Math.max(0, this.io.fetcher.highWatermark(tp) - position))
    }
    return out
  }

  /** Kafka's consumer fetch metrics: `records-lag-max` and `records-lag` per partition. */
  metrics(): { 'records-lag-max': number; 'records-lag': Record<string, number> } {
    const lag = this.lag()
    return { 'records-lag-max': Math.max(0, ...lag.values()), 'records-lag': Object.fromEntries(lag) }
  }

  on<E extends keyof GroupConsumerEvents>(event: E, listener: Listener<E>): this {
    const set = this.listeners.get(event) ?? new Set()
    set.add(listener as Listener<never>)
    this.listeners.set(event, set)
    return this
  }

  off<E extends keyof GroupConsumerEvents>(event: E, listener: Listener<E>): this {
    this.listeners.get(event)?.delete(listener as Listener<never>)
    return this
  }

  /**
   * Commits offsets: without an argument, what has finished on every owned partition; with one,
   * exactly these (the offset of the next record to read, as Kafka). Rejects with a
   * CommitFailedError (REBALANCE_IN_PROGRESS, ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID) when the group
   * refuses it, a TimeoutError after default.api.timeout.ms.
   */
  async commitOffsets(offsets?: OffsetToCommit[]): Promise<void> {
    const list = offsets
      ? offsets.map((o) => ({ topic: o.topic, partition: o.partition, offset: o.offset }))
      : this.owned.toCommit()
    for (const o of list)
      if (!Number.isSafeInteger(o.offset) || o.offset < 0)
        throw new CairnError('ILLEGAL_ARGUMENT', `commit offset ${o.offset} of ${topicPartitionName(o)}`)
    if (list.length === 0) return
    await this.commit(list)
  }

  /**
   * Joins the group and hands records to the handler until `stop()`; resolves once stopped (the
   * member has committed and left), rejects with the error that stopped it otherwise (a handler's
   * error, NO_OFFSET_FOR_PARTITION, a fatal group error) after committing what finished and leaving.
   */
  run(options: RunOptions): Promise<void> {
    this.checkOpen()
    if (this.running)
      return Promise.reject(new CairnError('ILLEGAL_STATE', 'the consumer is already running'))
    if (!this.subscription) return Promise.reject(new CairnError('ILLEGAL_STATE', 'subscribe() before run()'))
    this.running = true
    this.stopping = false
    this.fatal = null
    this.rejoinNeeded = true
    this.membershipTask = this.membershipLoop().catch((err: unknown) => this.fail(err as Error))
    this.runTask = this.runLoop(options).finally(() => {
      this.running = false
    })
    return this.runTask
  }

  /**
   * Stops: the run loop ends after the handler in flight, what finished is committed, the member
   * leaves the group. From inside a handler it returns at once (the rest happens once the handler
   * returns); elsewhere it resolves when all is done.
   */
  async stop(): Promise<void> {
    if (!this.running) return
    this.stopping = true
    this.wakeRun?.()
    this.wakeMembership?.()
    if (this.handlerScope.getStore() === this) return
    await this.runTask?.catch(() => undefined)
  }

  /** stop(), and the consumer can not run again. */
  async close(): Promise<void> {
    await this.stop()
    this.closed = true
  }

  /**
   * The records one by one. A record counts as finished (committable) when the loop asks for the
   * next one; leaving the loop (break, throw) stops the consumer, and the last record handed out
   * is not counted: it will be delivered again (at-least-once).
   */
  [Symbol.asyncIterator](): AsyncIterator<ConsumedRecord> {
    type Handoff = { record: ConsumedRecord; finish: () => void; abandon: () => void }
    const queue: Handoff[] = []
    const waiting: { resolve: (r: IteratorResult<ConsumedRecord>) => void; reject: (e: unknown) => void }[] =
      []
    let current: Handoff | null = null
    let ended: { error: unknown } | null = null
    const settleWaiting = () => {
      while (waiting.length > 0 && (queue.length > 0 || ended)) {
        const w = waiting.shift()!
        if (queue.length > 0) {
          current = queue.shift()!
          w.resolve({ value: current.record, done: false })
        } else if (ended!.error !== null) w.reject(ended!.error)
        else w.resolve({ value: undefined, done: true })
      }
    }
    const done = this.run({
      eachMessage: ({ message }) =>
        new Promise<void>((finish, reject) => {
          queue.push({ record: message, finish, abandon: () => reject(new Abandoned()) })
          settleWaiting()
        }),
    })
    done.then(
      () => {
        ended = { error: null }
        settleWaiting()
      },
      (error: unknown) => {
        ended = { error }
        settleWaiting()
      },
    )
    return {
      next: () => {
        current?.finish()
        current = null
        return new Promise((resolve, reject) => {
          waiting.push({ resolve, reject })
          settleWaiting()
        })
      },
      return: async () => {
        current?.abandon()
        current = null
        for (const h of queue.splice(0)) h.abandon()
        await this.stop()
        return { value: undefined, done: true }
      },
    }
  }

  // ---- The run loop ---------------------------------------------------------------------------

  private async runLoop(options: RunOptions): Promise<void> {
    let failure: unknown = null
    try {
      while (!this.stopping) {
        if (this.fatal) throw this.fatal
        if (!this.owned.fetchable()) {
          await this.waitForWork(this.config.fetchMaxWaitMs)
          continue
        }
        const startedAt = this.io.clock.now()
        const records = await this.io.fetcher.poll()
        if (records.length === 0) {
          // An error answered at once (no leader, a refused connection) must not spin.
          if (this.io.clock.now() - startedAt < 5) await this.waitForWork(this.config.retryBackoffMs)
          continue
        }
        await this.deliver(records, options)
        if (this.config.autoCommit && this.config.autoCommitIntervalMs === 0) this.autoCommit()
      }
      if (this.fatal) throw this.fatal
    } catch (err) {
      if (!(err instanceof Abandoned)) failure = err
    }
    await this.shutdown()
    if (failure !== null) throw failure
  }

  /** Hands the records over, one handler at a time; records no longer deliverable are skipped. */
  private async deliver(records: ConsumedRecord[], options: RunOptions): Promise<void> {
    // Ownership as the fetch returned: a partition revoked and given back since is not this one.
    const runs = byPartition(records).map((run) => ({ run, token: this.owned.tokenOf(run[0]!) }))
    const skipped = new Map<string, { tp: TopicPartition; token: number | undefined; offset: number }>()
    const skip = (r: ConsumedRecord, token: number | undefined) => {
      const k = topicPartitionKey(r)
      if (!skipped.has(k))
        skipped.set(k, { tp: { topic: r.topic, partition: r.partition }, token, offset: r.offset })
    }
    const open = (r: ConsumedRecord, token: number | undefined) =>
      !this.stopping &&
      this.fatal === null &&
      !skipped.has(topicPartitionKey(r)) &&
      this.owned.deliverable(r, token)
    try {
      if ('eachBatch' in options) {
        for (const { run, token } of runs) {
          const first = run[0]!
          if (!open(first, token)) {
            skip(first, token)
            continue
          }
          await this.invoke(() => this.callEachBatch(options, run, token!))
        }
      } else {
        // Partition by partition, in offset order within each.
        for (const { run, token } of runs) {
          for (const r of run) {
            if (!open(r, token)) {
              skip(r, token)
              continue
            }
            await this.invoke(async () => {
              await options.eachMessage({ topic: r.topic, partition: r.partition, message: r })
              this.owned.finished(r, token!, r.offset)
            })
          }
        }
      }
    } finally {
      // A paused partition's skipped records are fetched again on resume, from the first skipped.
      for (const { tp, token, offset } of skipped.values())
        if (this.owned.current(tp, token)) this.io.fetcher.seek(tp, offset)
    }
  }

  private async callEachBatch(
    options: Extract<RunOptions, { eachBatch: unknown }>,
    run: ConsumedRecord[],
    token: number,
  ): Promise<void> {
    const first = run[0]!
    const tp = { topic: first.topic, partition: first.partition }
    const last = run[run.length - 1]!
    await options.eachBatch({
      batch: {
        topic: tp.topic,
        partition: tp.partition,
        highWatermark: this.io.fetcher.highWatermark(tp),
        messages: run,
      },
      resolveOffset: (offset) => {
        if (offset >= first.offset && offset <= last.offset) this.owned.finished(tp, token, offset)
      },
      commitOffsetsIfNecessary: async () => {
        if (this.config.autoCommit) await this.commitOffsets().catch(() => undefined)
      },
      isRunning: () => !this.stopping,
      isStale: () => !this.owned.current(tp, token),
    })
    if (options.eachBatchAutoResolve ?? true) this.owned.finished(tp, token, last.offset)
  }

  /** Runs one handler call; what it throws stops the consumer (an abandoned iterator record, silently). */
  private async invoke(fn: () => Promise<void>): Promise<void> {
    const call = this.handlerScope.run(this, fn)
    this.inFlight = call.then(
      () => undefined,
      () => undefined,
    )
    await call
  }

  /** Resolves on a wake-up (assignment, resume, stop) or after `ms`. */
  private waitForWork(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.io.clock.setTimer(ms, () => {
        this.wakeRun = null
        resolve()
      })
      this.wakeRun = () => {
        this.io.clock.clearTimer(timer)
        this.wakeRun = null
        resolve()
      }
    })
  }

  /** Waits for the handler in flight, at most rebalance.timeout.ms (a handler that never returns is left behind). */
  private async quiesce(): Promise<void> {
    let timer: TimerHandle | undefined
    await Promise.race([
      this.inFlight,
      new Promise<void>((resolve) => {
        timer = this.io.clock.setTimer(this.config.rebalanceTimeoutMs, resolve)
      }),
    ])
    this.io.clock.clearTimer(timer)
  }

  /** After the run loop: commit what finished, give everything up, leave the group. */
  private async shutdown(): Promise<void> {
    this.stopping = true
    this.wakeMembership?.()
    this.stopHeartbeat()
    this.stopAutoCommit()
    // Partitions already being revoked or lost are the membership task's to finish.
    const all = this.owned.active()
    if (all.length > 0)
      await this.giveUp(all, this.generationIdValue >= 0 ? 'revoked' : 'lost').catch((error: unknown) =>
        this.emit('error', { error: error as Error }),
      )
    if (this.memberIdValue !== '')
      await this.leaveGroup().catch((error: unknown) => this.emit('error', { error: error as Error }))
    await this.boundedWait(this.membershipTask ?? Promise.resolve(), this.config.defaultApiTimeoutMs)
    // A join that completed while we were leaving may have added partitions: never finished, dropped.
    const late = this.owned.all()
    this.owned.remove(late)
    this.io.fetcher.remove(late)
    this.memberIdValue = ''
    this.generationIdValue = -1
    this.membershipTask = null
  }

  private async boundedWait(p: Promise<unknown>, ms: number): Promise<void> {
    let timer: TimerHandle | undefined
    await Promise.race([
      p.catch(() => undefined),
      new Promise<void>((resolve) => {
        timer = this.io.clock.setTimer(ms, resolve)
      }),
    ])
    this.io.clock.clearTimer(timer)
  }

  // ---- The membership task --------------------------------------------------------------------

  private async membershipLoop(): Promise<void> {
    let failures = 0
    let rejoinsInARow = 0
    this.scheduleAutoCommit()
    while (!this.stopping && this.fatal === null) {
      if (!this.rejoinNeeded) {
        await this.membershipPause(this.config.metadataMaxAgeMs)
        if (!this.stopping && !this.rejoinNeeded) await this.checkMetadata().catch(() => undefined)
        continue
      }
      try {
        await this.rebalance()
        failures = 0
        rejoinsInARow = 0
      } catch (err) {
        if (this.stopping) break
        const code = codeOf(err)
        if (rejoinOn.has(code)) {
          this.onRebalanceError(code, this.generationIdValue)
          if (++rejoinsInARow <= immediateRejoinsMax) continue
        } else if (retryLater.has(code) || err instanceof AssignmentNotTaken) {
          if (coordinatorMoved.has(code)) this.io.coordinatorLost()
        } else {
          this.fail(err as Error)
          break
        }
        this.rejoinNeeded = true
        this.emit('error', { error: err as Error })
        await this.membershipPause(this.backoffMs(++failures))
      }
    }
  }

  private membershipPause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = this.io.clock.setTimer(ms, () => {
        this.wakeMembership = null
        resolve()
      })
      this.wakeMembership = () => {
        this.io.clock.clearTimer(timer)
        this.wakeMembership = null
        resolve()
      }
    })
  }

  private requestRejoin(): void {
    this.rejoinNeeded = true
    this.wakeMembership?.()
  }

  /**
   * The generation is gone (ILLEGAL_GENERATION) or the member too (UNKNOWN_MEMBER_ID): what it
   * owns may be another's already, so delivery stops at once; the membership task reports the
   * partitions lost before it rejoins.
   */
  private resetGeneration(resetMemberId: boolean): void {
    this.generationIdValue = -1
    if (resetMemberId) this.memberIdValue = ''
    this.owned.beginRevoke(this.owned.all())
    this.stopHeartbeat()
    this.requestRejoin()
  }

  /** A rebalance error from a request sent in `sentGeneration`. */
  private onRebalanceError(code: string, sentGeneration: number): void {
    // A late answer from an older generation, or one about the rebalance this member is already
    // joining, changes nothing (acting on it would start one more rebalance for nothing).
    if (this.joining || sentGeneration !== this.generationIdValue) return
    if (code === 'UNKNOWN_MEMBER_ID') this.resetGeneration(true)
    else if (code === 'ILLEGAL_GENERATION') this.resetGeneration(false)
    else this.requestRejoin()
  }

  private fail(error: Error): void {
    if (this.fatal === null) this.fatal = error
    this.stopping = true
    this.wakeRun?.()
  }

  /** One rebalance: give up what must go, join, assign if leader, sync, take the assignment. */
  private async rebalance(): Promise<void> {
    this.stopHeartbeat()
    const lost = this.generationIdValue < 0
    const cooperative = this.config.rebalanceProtocol === 'COOPERATIVE'
    if (this.owned.size > 0 && (lost || !cooperative))
      await this.giveUp(this.owned.all(), lost ? 'lost' : 'revoked')
    if (this.stopping) return

    const topics = await this.resolveTopics()
    this.subscribedTopics = topics
    const ownedPartitions = cooperative ? this.owned.active() : []
    const metadata = encodeSubscription({
      topics,
      ownedPartitions,
      ...(cooperative && this.generationIdValue >= 0 ? { generation: this.generationIdValue } : {}),
    })
    const startedAt = this.io.clock.now()
    this.rejoinNeeded = false
    this.joining = true
    let assigned: TopicPartition[]
    let join: JoinGroupResponse
    try {
      join = await this.joinGroup(metadata)
      if (this.stopping) return
      const assignments = join.leader === join.memberId ? await this.assign(join) : []
      const sync = await this.call(
        'syncGroup',
        { groupId: this.groupId, generationId: join.generationId, memberId: join.memberId, assignments },
        this.config.rebalanceTimeoutMs + joinRequestSlackMs,
      )
      if (sync.error) throw groupError(`sync group '${this.groupId}'`, sync.error, sync.message)
      assigned = decodeAssignment(sync.assignment).partitions
      this.generationIdValue = join.generationId
      this.protocolName = join.protocolName ?? ''
      this.leaderId = join.leader
    } finally {
      this.joining = false
    }
    if (this.stopping) return
    this.startHeartbeat()
    await this.applyAssignment(assigned)
    this.emit('group.join', {
      memberId: this.memberIdValue,
      generationId: this.generationIdValue,
      leaderId: this.leaderId,
      protocol: this.protocolName,
      assignment: this.owned.active(),
      durationMs: this.io.clock.now() - startedAt,
    })
  }

  private async joinGroup(metadata: Uint8Array): Promise<JoinGroupResponse> {
    for (let attempt = 1; ; attempt++) {
      this.emit('rebalancing', { memberId: this.memberIdValue, generationId: this.generationIdValue })
      const r = await this.call(
        'joinGroup',
        {
          groupId: this.groupId,
          memberId: this.memberIdValue,
          clientId: this.config.clientId,
          sessionTimeoutMs: this.config.sessionTimeoutMs,
          rebalanceTimeoutMs: this.config.rebalanceTimeoutMs,
          protocolType: 'consumer',
          protocols: this.config.assignors.map((a) => ({ name: a.name, metadata })),
        },
        this.config.rebalanceTimeoutMs + joinRequestSlackMs,
      )
      // KIP-394: a first join is answered with the id to join with.
      if (r.error === 'MEMBER_ID_REQUIRED' && attempt < memberIdRequiredMax) {
        this.memberIdValue = r.memberId
        continue
      }
      if (r.error) throw groupError(`join group '${this.groupId}'`, r.error, r.message)
      this.memberIdValue = r.memberId
      return r
    }
  }

  /** As leader: every member's subscription, the partition counts, the chosen assignor. */
  private async assign(join: JoinGroupResponse): Promise<{ memberId: string; assignment: Uint8Array }[]> {
    const assignor = this.config.assignors.find((a) => a.name === join.protocolName)
    if (!assignor)
      throw new CairnError(
        'INCONSISTENT_GROUP_PROTOCOL',
        `group '${this.groupId}' chose assignor '${join.protocolName}', which this member does not have`,
      )
    const members: MemberSubscription[] = join.members.map((m) => {
      try {
        return { memberId: m.memberId, ...decodeSubscription(m.metadata) }
      } catch (err) {
        // A member whose subscription is unreadable gets nothing rather than stopping the group.
        this.emit('error', { error: err as Error })
        return { memberId: m.memberId, topics: [], ownedPartitions: [] }
      }
    })
    const topics = [...new Set(members.flatMap((m) => m.topics))].sort()
    const counts = await this.io.partitionCounts(topics)
    this.assignedCounts = new Map([...topics].map((t) => [t, counts.get(t) ?? 0]))
    const result = assignor.assign(members, counts)
    return [...result].map(([memberId, partitions]) => ({
      memberId,
      assignment: encodeAssignment({ partitions }),
    }))
  }

  /**
   * Takes the new assignment. Cooperative: gives up what it lacks first, and if anything was
   * given up, asks for the second rebalance that hands it to its new owner.
   */
  private async applyAssignment(assigned: TopicPartition[]): Promise<void> {
    const cooperative = this.config.rebalanceProtocol === 'COOPERATIVE'
    const revoked = cooperative ? revokedPartitions(this.owned.active(), assigned) : []
    const added = assigned.filter((tp) => !this.owned.has(tp)).sort(compareTopicPartitions)
    if (revoked.length > 0) await this.giveUp(revoked, 'revoked')
    try {
      await this.take(added)
    } catch (err) {
      if (err instanceof NoOffsetForPartitionError) throw err
      // Positions unknown (the coordinator moved, say): rejoin after backoff, and the group
      // assigns the partitions again.
      throw new AssignmentNotTaken(
        `group '${this.groupId}': could not start on ${added.map(topicPartitionName).join(', ')}: ${(err as Error).message}`,
      )
    }
    if (revoked.length > 0) this.requestRejoin()
  }

  /** Starts owning `added`: committed offsets, else auto.offset.reset. */
  private async take(added: TopicPartition[]): Promise<void> {
    if (added.length > 0) {
      const committed = await this.fetchCommitted(added)
      const missing = added.filter((tp) => (committed.get(topicPartitionKey(tp)) ?? -1) < 0)
      const reset = this.config.autoOffsetReset
      if (missing.length > 0 && reset === 'none')
        throw new NoOffsetForPartitionError(
          missing,
          `Undefined offset with no reset policy for partitions: ${missing.map(topicPartitionName).join(', ')} (group '${this.groupId}', auto.offset.reset none)`,
        )
      const start = new Map<string, number>()
      for (const topic of new Set(missing.map((tp) => tp.topic))) {
        for (const { partition, offset } of await this.io.listOffsets(topic, reset as 'earliest' | 'latest'))
          start.set(topicPartitionKey({ topic, partition }), offset)
      }
      if (this.stopping) return
      const positions: { tp: TopicPartition; offset: number }[] = []
      for (const tp of added) {
        const k = topicPartitionKey(tp)
        const c = committed.get(k) ?? -1
        const offset = c >= 0 ? c : start.get(k)
        if (offset === undefined)
          throw new CairnError(
            'UNKNOWN_TOPIC_OR_PARTITION',
            `no ${reset} offset for ${topicPartitionName(tp)}`,
          )
        this.owned.add(tp, offset, c)
        positions.push({ tp, offset })
      }
      this.io.fetcher.add(positions)
    }
    await this.callListener('onPartitionsAssigned', added)
    this.wakeRun?.()
  }

  /** Revoked (committing what finished first) or lost (nothing committed): delivery stops, then the partitions go. */
  private async giveUp(tps: TopicPartition[], how: 'revoked' | 'lost'): Promise<void> {
    this.owned.beginRevoke(tps)
    await this.quiesce()
    try {
      if (how === 'revoked') {
        if (this.config.autoCommit) {
          const offsets = this.owned.toCommit(tps)
          if (offsets.length > 0)
            await this.commit(offsets).catch((error: unknown) =>
              this.emit('error', { error: error as Error }),
            )
        }
        await this.callListener('onPartitionsRevoked', tps)
      } else {
        await this.callListener('onPartitionsLost', tps)
      }
    } finally {
      this.owned.remove(tps)
      this.io.fetcher.remove(tps)
    }
  }

  private async callListener(name: keyof RebalanceListener, tps: TopicPartition[]): Promise<void> {
    const fn = this.listener[name]
    if (fn) await fn.call(this.listener, tps)
  }

  private async resolveTopics(): Promise<string[]> {
    const s = this.subscription!
    if ('topics' in s) return [...s.topics].sort()
    const names = await this.io.topicNames()
    return names.filter((n) => s.pattern.test(n)).sort()
  }

  /** Every metadata.max.age.ms: a pattern now matching other topics, or (leader) partitions added, rebalance. */
  private async checkMetadata(): Promise<void> {
    if (this.subscription && 'pattern' in this.subscription) {
      const topics = await this.resolveTopics()
      if (topics.join('\u0000') !== this.subscribedTopics.join('\u0000')) return this.requestRejoin()
    }
    if (this.leaderId !== '' && this.leaderId === this.memberIdValue && this.assignedCounts.size > 0) {
      const counts = await this.io.partitionCounts([...this.assignedCounts.keys()])
      for (const [topic, count] of this.assignedCounts)
        if ((counts.get(topic) ?? 0) !== count) return this.requestRejoin()
    }
  }

  private async leaveGroup(): Promise<void> {
    const memberId = this.memberIdValue
    await this.retrying(`leave group '${this.groupId}'`, async () => {
      const r = await this.call(
        'leaveGroup',
        { groupId: this.groupId, memberIds: [memberId] },
        this.config.defaultApiTimeoutMs,
      )
      // UNKNOWN_MEMBER_ID: already gone (expired, or removed when its generation ended).
      const error =
        r.error ?? r.members.find((m) => m.error && m.error !== 'UNKNOWN_MEMBER_ID')?.error ?? null
      if (error) throw groupError(`leave group '${this.groupId}'`, error, r.message)
    })
  }

  // ---- Heartbeats ------------------------------------------------------------------------------

  private startHeartbeat(): void {
    this.stopHeartbeat()
    this.heartbeatTimer = this.io.clock.setTimer(this.config.heartbeatIntervalMs, () => void this.heartbeat())
  }

  private stopHeartbeat(): void {
    if (this.heartbeatTimer !== null) this.io.clock.clearTimer(this.heartbeatTimer)
    this.heartbeatTimer = null
  }

  private async heartbeat(): Promise<void> {
    this.heartbeatTimer = null
    if (this.stopping || this.joining || this.generationIdValue < 0) return
    const generationId = this.generationIdValue
    try {
      const r = await this.call(
        'heartbeat',
        { groupId: this.groupId, generationId, memberId: this.memberIdValue },
        Math.min(this.config.sessionTimeoutMs, this.config.defaultApiTimeoutMs),
      )
      if (r.error && rejoinOn.has(r.error)) this.onRebalanceError(r.error, generationId)
      else if (r.error && !retryLater.has(r.error))
        this.emit('error', { error: groupError(`heartbeat to group '${this.groupId}'`, r.error, r.message) })
    } catch (error) {
      this.emit('error', { error: error as Error })
    }
    // The next beat, unless a rebalance took over (it starts them again once synced).
    if (
      !this.stopping &&
      !this.joining &&
      this.generationIdValue === generationId &&
      this.heartbeatTimer === null
    )
      this.heartbeatTimer = this.io.clock.setTimer(
        this.config.heartbeatIntervalMs,
        () => void this.heartbeat(),
      )
  }

  // ---- Offsets ---------------------------------------------------------------------------------

  private scheduleAutoCommit(): void {
    if (!this.config.autoCommit || this.config.autoCommitIntervalMs === 0) return
    this.autoCommitTimer = this.io.clock.setTimer(this.config.autoCommitIntervalMs, () => {
      this.autoCommitTimer = null
      if (this.stopping) return
      this.autoCommit()
      this.scheduleAutoCommit()
    })
  }

  private stopAutoCommit(): void {
    if (this.autoCommitTimer !== null) this.io.clock.clearTimer(this.autoCommitTimer)
    this.autoCommitTimer = null
  }

  /** Commits what finished, unless a rebalance is under way; failures are reported, not thrown. */
  private autoCommit(): void {
    if (this.joining || this.generationIdValue < 0) return
    const offsets = this.owned.toCommit()
    if (offsets.length === 0) return
    this.commit(offsets).catch((error: unknown) => this.emit('error', { error: error as Error }))
  }

  /** One commit at a time, in call order, so a later commit never lands before an earlier one. */
  private commit(offsets: OffsetToCommit[]): Promise<void> {
    const next = this.commits.then(() => this.commitNow(offsets))
    this.commits = next.catch(() => undefined)
    return next
  }

  private async commitNow(offsets: OffsetToCommit[]): Promise<void> {
    const what = `commit offsets of group '${this.groupId}'`
    await this.retrying(what, async () => {
      const generationId = this.generationIdValue
      const memberId = this.memberIdValue
      if (generationId < 0 || memberId === '')
        throw new CommitFailedError(
          this.joining ? 'REBALANCE_IN_PROGRESS' : 'ILLEGAL_GENERATION',
          `${what}: the member is not in a generation of the group (it is ${this.joining ? 'rebalancing' : 'not joined'})`,
        )
      const topics = new Map<string, { partition: number; offset: number }[]>()
      for (const o of offsets) {
        const list = topics.get(o.topic) ?? []
        list.push({ partition: o.partition, offset: o.offset })
        topics.set(o.topic, list)
      }
      const r = await this.call(
        'offsetCommit',
        {
          groupId: this.groupId,
          generationId,
          memberId,
          topics: [...topics].map(([name, partitions]) => ({ name, partitions })),
        },
        this.config.defaultApiTimeoutMs,
      )
      const failed = new Set<string>()
      let error = r.error
      for (const t of r.topics)
        for (const p of t.partitions)
          if (p.error) {
            failed.add(topicPartitionKey({ topic: t.name, partition: p.partition }))
            error ??= p.error
          }
      if (!error) {
        this.owned.committed(offsets)
        this.emit('commit', { offsets })
        return
      }
      if (!r.error) this.owned.committed(offsets.filter((o) => !failed.has(topicPartitionKey(o))))
      if (rejoinOn.has(error)) {
        this.onRebalanceError(error, generationId)
        throw new CommitFailedError(error, `${what}: ${error}${r.message ? `: ${r.message}` : ''}`)
      }
      throw groupError(what, error, r.message)
    })
  }

  private async fetchCommitted(tps: TopicPartition[]): Promise<Map<string, number>> {
    const topics = new Map<string, number[]>()
    for (const tp of tps) topics.set(tp.topic, [...(topics.get(tp.topic) ?? []), tp.partition])
    return this.retrying(`fetch offsets of group '${this.groupId}'`, async () => {
      const r = await this.call(
        'offsetFetch',
        { groupId: this.groupId, topics: [...topics].map(([name, partitions]) => ({ name, partitions })) },
        this.config.defaultApiTimeoutMs,
      )
      if (r.error) throw groupError(`fetch offsets of group '${this.groupId}'`, r.error, r.message)
      const out = new Map<string, number>()
      for (const t of r.topics)
        for (const p of t.partitions) {
          if (p.error) throw groupError(`fetch offset of ${t.name}-${p.partition}`, p.error)
          out.set(topicPartitionKey({ topic: t.name, partition: p.partition }), p.offset)
        }
      return out
    })
  }

  // ---- Requests --------------------------------------------------------------------------------

  /** A request to the coordinator; an answer naming another coordinator makes the next one look again. */
  private async call<A extends GroupApi>(
    api: A,
    body: ApiRequest<A>,
    timeoutMs: number,
  ): Promise<ApiResponse<A>> {
    const r = await this.io.toCoordinator(api, body, timeoutMs)
    const error = (r as { error?: string | null }).error
    if (error === 'NOT_COORDINATOR' || error === 'COORDINATOR_NOT_AVAILABLE') this.io.coordinatorLost()
    return r
  }

  /**
   * `attempt` until it succeeds or throws an error that is not retriable (coordinator moved,
   * loading, no answer); backoff between tries; at most default.api.timeout.ms in all.
   */
  private async retrying<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    const deadline = this.io.clock.now() + this.config.defaultApiTimeoutMs
    for (let tries = 1; ; tries++) {
      try {
        return await attempt()
      } catch (err) {
        const code = codeOf(err)
        if (!retryLater.has(code)) throw err
        if (coordinatorMoved.has(code)) this.io.coordinatorLost()
        const backoff = this.backoffMs(tries)
        if (this.io.clock.now() + backoff > deadline)
          throw new TimeoutError(
            `${what}: no success within default.api.timeout.ms (${this.config.defaultApiTimeoutMs}); last error: ${(err as Error).message}`,
            code,
          )
        await new Promise<void>((resolve) => this.io.clock.setTimer(backoff, resolve))
      }
    }
  }

  private backoffMs(retry: number): number {
    return retryBackoffMs(retry, this.config.retryBackoffMs, this.config.retryBackoffMaxMs, Math.random)
  }

  // ---- Small things ----------------------------------------------------------------------------

  private emit<E extends keyof GroupConsumerEvents>(event: E, payload: GroupConsumerEvents[E]): void {
    for (const listener of this.listeners.get(event) ?? []) {
      try {
        ;(listener as Listener<E>)(payload)
      } catch {
        // A listener's failure is its own.
      }
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new CairnError('ILLEGAL_STATE', 'the consumer is closed')
  }

  private checkOwned(partitions: TopicPartition[], what: string): TopicPartition[] {
    for (const tp of partitions)
      if (!this.owned.has(tp))
        throw new CairnError(
          'ILLEGAL_STATE',
          `No current assignment for partition ${topicPartitionName(tp)} (${what})`,
        )
    return partitions
  }
}
