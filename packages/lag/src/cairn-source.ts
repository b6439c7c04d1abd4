/**
 * The sources that read a real Cairn cluster.
 *
 * - `OffsetsTopicSource` reads `__consumer_offsets` from its start, as Burrow reads Kafka's: every
 *   commit with its own commit timestamp, group deletions and offset deletions, and the members
 *   (owners) from the group metadata records. Log-end offsets come from ListOffsets (latest) for
 *   every topic, asked of each partition's leader.
 * - `AdminSource`, the fallback, asks the group APIs instead: ListGroups, OffsetFetch and
 *   DescribeGroups every `offset-refresh`; a commit is reported when a group's offset changes,
 *   timestamped when it was seen (OffsetFetch carries no commit time). So a consumer that keeps
 *   committing the same offset looks stopped (STOP) rather than stalled (STALL) here.
 * - `source = "auto"` (the default) starts with the offsets topic and falls back to the admin API
 *   after `fallbackAfterFailures` failed reads in a row.
 */
import {
  type Admin,
  type GroupDescription as AdminGroupDescription,
  Cairn,
  type Consumer,
  decodeAssignment,
} from '@cairn/client'
import { decodeGroupRecord, OFFSETS_TOPIC } from '@cairn/protocol'
import type { ClusterConfig, LagConfig } from './config.js'
import type { ClusterSource, GroupDescription, GroupEvent, GroupMember } from './source.js'
import type { TopicLogEnd } from './store.js'

/** Topics whose log-end offsets are asked at once. */
const listOffsetsConcurrencyMax = 16
/** How often a missing `__consumer_offsets` is looked for again, ms. */
const offsetsTopicRecheckMs = 2000
/** Failed reads of `__consumer_offsets` in a row before `auto` falls back to the admin API. */
export const fallbackAfterFailures = 3

async function mapBounded<T, R>(items: T[], limit: number, f: (t: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length)
  let next = 0
  const worker = async () => {
    for (let i = next++; i < items.length; i = next++) out[i] = await f(items[i]!)
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker))
  return out
}

/** Every topic's log end (ListOffsets latest); a topic that cannot answer now has none this round. */
export async function readLogEndOffsets(admin: Admin): Promise<TopicLogEnd[]> {
  const topics = await admin.listTopics()
  return mapBounded(topics, listOffsetsConcurrencyMax, async (topic) => {
    try {
      const offsets: (number | null)[] = []
      for (const { partition, offset } of await admin.listOffsets(topic, 'latest'))
        offsets[partition] = offset
      return { topic, offsets: Array.from(offsets, (o) => o ?? null) }
    } catch {
      return { topic, offsets: [] }
    }
  })
}

/** The partitions of a member's assignment (Kafka's consumer protocol encoding); [] when it is not one. */
export function assignmentPartitions(bytes: Uint8Array): { topic: string; partitions: number[] }[] {
  let partitions: { topic: string; partition: number }[]
  try {
    partitions = bytes.length === 0 ? [] : decodeAssignment(bytes).partitions
  } catch {
    return []
  }
  return byTopic(partitions)
}

function byTopic(
  partitions: { topic: string; partition: number }[],
): { topic: string; partitions: number[] }[] {
  const out = new Map<string, number[]>()
  for (const tp of partitions) out.set(tp.topic, [...(out.get(tp.topic) ?? []), tp.partition])
  return [...out].map(([topic, ps]) => ({ topic, partitions: ps }))
}

export interface CairnSourceOptions {
  log?: (line: string) => void
  /**
   * fetch.max.wait.ms of the `__consumer_offsets` reads (default 200): a read waits for every
   * partition's leader, so this bounds how late a commit is seen when some leaders have nothing new.
   */
  maxWaitMs?: number
}

export class OffsetsTopicSource implements ClusterSource {
  readonly kind = 'offsets-topic'
  private consumer: Consumer | null = null
  private lastLookAt = Number.NEGATIVE_INFINITY
  private readonly groups = new Map<string, GroupDescription>()
  /** Records that did not decode, since start. */
  badRecords = 0

  constructor(
    private readonly cairn: Cairn,
    private readonly admin: Admin,
    private readonly options: CairnSourceOptions = {},
  ) {}

  logEndOffsets(): Promise<TopicLogEnd[]> {
    return readLogEndOffsets(this.admin)
  }

  async readEvents(): Promise<GroupEvent[]> {
    const consumer = await this.offsetsConsumer()
    if (!consumer) return []
    const records = await consumer.poll()
    const events: GroupEvent[] = []
    let bad = 0
    for (const r of records) {
      const decoded = decodeGroupRecord(r.key, r.value)
      if (!decoded.ok) {
        bad++
        continue
      }
      const g = decoded.value
      if (g.type === 'offset') {
        events.push({
          type: 'commit',
          group: g.group,
          topic: g.topic,
          partition: g.partition,
          offset: g.offset,
          timestamp: g.commitTimestamp > 0 ? g.commitTimestamp : r.timestamp,
        })
      } else if (g.type === 'group') {
        const members: GroupMember[] = g.members.map((m) => ({
          memberId: m.memberId,
          clientId: m.clientId,
          clientHost: m.clientHost,
          assignments: assignmentPartitions(m.assignment),
        }))
        this.groups.set(g.group, { group: g.group, state: members.length > 0 ? 'Stable' : 'Empty', members })
      } else if (g.type === 'delete-group') {
        this.groups.delete(g.group)
        events.push({ type: 'delete-group', group: g.group })
      } else {
        events.push({ type: 'delete-offset', group: g.group, topic: g.topic, partition: g.partition })
      }
    }
    this.badRecords += bad
    if (bad > 0 && bad === records.length)
      throw new Error(`${bad} record(s) of ${OFFSETS_TOPIC} did not decode as group records`)
    if (bad > 0) this.options.log?.(`lag: skipped ${bad} record(s) of ${OFFSETS_TOPIC} that did not decode`)
    return events
  }

  async describeGroups(): Promise<GroupDescription[]> {
    return [...this.groups.values()]
  }

  async close(): Promise<void> {}

  /** The consumer of every `__consumer_offsets` partition, from the start; null while the topic does not exist. */
  private async offsetsConsumer(): Promise<Consumer | null> {
    if (this.consumer) return this.consumer
    if (Date.now() - this.lastLookAt < offsetsTopicRecheckMs) return null
    this.lastLookAt = Date.now()
    const partitions = await this.admin.describeTopic(OFFSETS_TOPIC).catch(() => [])
    if (partitions.length === 0) return null
    const consumer = this.cairn.consumer({
      autoOffsetReset: 'earliest',
      maxWaitMs: this.options.maxWaitMs ?? 200,
    })
    consumer.assign(partitions.map((p) => ({ topic: OFFSETS_TOPIC, partition: p.partition })))
    for (const p of partitions) consumer.seek({ topic: OFFSETS_TOPIC, partition: p.partition }, 'earliest')
    this.consumer = consumer
    return consumer
  }
}

function membersOf(d: AdminGroupDescription): GroupMember[] {
  return d.members.map((m) => ({
    memberId: m.memberId,
    clientId: m.clientId,
    clientHost: m.clientHost,
    assignments: byTopic(m.assignment),
  }))
}

export class AdminSource implements ClusterSource {
  readonly kind = 'admin'
  private readonly known = new Map<string, Map<string, number>>()
  private lastPollAt = Number.NEGATIVE_INFINITY

  constructor(
    private readonly admin: Admin,
    private readonly pollMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  logEndOffsets(): Promise<TopicLogEnd[]> {
    return readLogEndOffsets(this.admin)
  }

  async readEvents(): Promise<GroupEvent[]> {
    if (this.now() - this.lastPollAt < this.pollMs) return []
    this.lastPollAt = this.now()
    const { groups, errors } = await this.admin.listGroups()
    const events: GroupEvent[] = []
    const listed = new Set(groups.filter((g) => g.state !== 'Dead').map((g) => g.groupId))
    // A node that did not answer may coordinate groups that are still there: delete none this round.
    if (errors.length === 0)
      for (const group of this.known.keys()) {
        if (listed.has(group)) continue
        this.known.delete(group)
        events.push({ type: 'delete-group', group })
      }
    const fetched = await mapBounded([...listed], listOffsetsConcurrencyMax, async (group) => ({
      group,
      offsets: await this.admin.fetchOffsets(group).catch(() => null),
    }))
    const timestamp = this.now()
    for (const { group, offsets } of fetched) {
      if (!offsets) continue
      const before = this.known.get(group) ?? new Map<string, number>()
      const after = new Map<string, number>()
      for (const o of offsets) {
        const key = `${o.topic}\u0000${o.partition}`
        after.set(key, o.offset)
        if (before.get(key) !== o.offset)
          events.push({
            type: 'commit',
            group,
            topic: o.topic,
            partition: o.partition,
            offset: o.offset,
            timestamp,
          })
      }
      for (const key of before.keys()) {
        if (after.has(key)) continue
        const [topic, partition] = key.split('\u0000')
        events.push({ type: 'delete-offset', group, topic: topic!, partition: Number(partition) })
      }
      this.known.set(group, after)
    }
    return events
  }

  async describeGroups(): Promise<GroupDescription[]> {
    const { groups } = await this.admin.listGroups()
    const described = await mapBounded(groups, listOffsetsConcurrencyMax, (g) =>
      this.admin.describeGroup(g.groupId).catch(() => null),
    )
    return described.flatMap((d) => (d ? [{ group: d.groupId, state: d.state, members: membersOf(d) }] : []))
  }

  async close(): Promise<void> {}
}

/** `auto`: the offsets topic, then the admin API after repeated failures to read it. */
export class AutoSource implements ClusterSource {
  private failures = 0
  private fellBack = false

  constructor(
    private readonly primary: ClusterSource,
    private readonly fallback: ClusterSource,
    private readonly log: (line: string) => void,
    private readonly clusterName: string,
  ) {}

  get kind(): string {
    return this.fellBack ? `${this.fallback.kind} (fallback)` : this.primary.kind
  }

  logEndOffsets(): Promise<TopicLogEnd[]> {
    return this.current().logEndOffsets()
  }

  async readEvents(): Promise<GroupEvent[]> {
    if (this.fellBack) return this.fallback.readEvents()
    try {
      const events = await this.primary.readEvents()
      this.failures = 0
      return events
    } catch (err) {
      if (++this.failures >= fallbackAfterFailures) {
        this.fellBack = true
        this.log(
          `lag: cluster ${this.clusterName}: cannot read ${OFFSETS_TOPIC} (${(err as Error).message}); falling back to the admin API`,
        )
      }
      throw err
    }
  }

  describeGroups(): Promise<GroupDescription[]> {
    return this.current().describeGroups()
  }

  async close(): Promise<void> {
    await Promise.all([this.primary.close(), this.fallback.close()])
  }

  private current(): ClusterSource {
    return this.fellBack ? this.fallback : this.primary
  }
}

/** The source for one `[cluster.NAME]`: a client of its servers, and the kind of reading it asks for. */
export function createCairnSource(
  cluster: ClusterConfig,
  _config: LagConfig,
  log: (line: string) => void,
): ClusterSource {
  const cairn = new Cairn({ bootstrap: cluster.servers })
  const admin = cairn.admin()
  const offsetsTopic = () => new OffsetsTopicSource(cairn, admin, { log })
  const viaAdmin = () => new AdminSource(admin, cluster.offsetRefreshMs)
  const inner =
    cluster.source === 'offsets-topic'
      ? offsetsTopic()
      : cluster.source === 'admin'
        ? viaAdmin()
        : new AutoSource(offsetsTopic(), viaAdmin(), log, cluster.name)
  return {
    get kind() {
      return inner.kind
    },
    logEndOffsets: () => inner.logEndOffsets(),
    readEvents: () => inner.readEvents(),
    describeGroups: () => inner.describeGroups(),
    async close() {
      await inner.close()
      await cairn.close()
    },
  }
}
