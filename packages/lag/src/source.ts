/**
 * Where a cluster's facts come from. The monitor asks a `ClusterSource` for log-end offsets every
 * `offset-refresh`, for new group events (commits, deletions) in a loop, and for the groups'
 * members (who owns which partition). Two real sources read a Cairn cluster (the
 * `__consumer_offsets` log, or the admin API as a fallback); `FakeClusterSource` is driven by hand
 * in tests.
 */
import type { TopicLogEnd } from './store.js'

export interface GroupMember {
  memberId: string
  clientId: string
  clientHost: string
  assignments: { topic: string; partitions: number[] }[]
}

export interface GroupDescription {
  group: string
  /** Kafka's group state: Empty, Stable, PreparingRebalance, ... */
  state: string
  members: GroupMember[]
}

export type GroupEvent =
  | { type: 'commit'; group: string; topic: string; partition: number; offset: number; timestamp: number }
  | { type: 'delete-group'; group: string }
  | { type: 'delete-offset'; group: string; topic: string; partition: number }

export interface ClusterSource {
  /** What it reads: 'offsets-topic', 'admin', 'fake', ... (shown in the API and on the page). */
  readonly kind: string
  /** Every topic's log-end offsets, internal topics excluded. Throws when the cluster cannot answer. */
  logEndOffsets(): Promise<TopicLogEnd[]>
  /**
   * Group events since the previous call, oldest first; the first call returns the history there
   * is. May wait a bounded while (a long poll) when there is nothing new.
   */
  readEvents(): Promise<GroupEvent[]>
  /** The groups the cluster knows, with their members and assignments. */
  describeGroups(): Promise<GroupDescription[]>
  close(): Promise<void>
}

/** A source driven by hand: set log ends, commit, delete; the monitor reads it like a cluster. */
export class FakeClusterSource implements ClusterSource {
  readonly kind = 'fake'
  private readonly topics = new Map<string, number[]>()
  private pending: GroupEvent[] = []
  private readonly groups = new Map<string, GroupDescription>()
  /** Set to make the next calls fail, as an unreachable cluster does. */
  failing: Error | null = null
  closed = false

  constructor(private readonly clock: () => number = Date.now) {}

  setLogEnd(topic: string, offsets: number[]): void {
    this.topics.set(topic, [...offsets])
  }

  /** Appends `count` records to each partition of `topic` (it must exist). */
  produce(topic: string, count: number | number[]): void {
    const offsets = this.topics.get(topic)
    if (!offsets) throw new Error(`fake source: no topic ${topic}`)
    this.topics.set(
      topic,
      offsets.map((o, p) => o + (typeof count === 'number' ? count : (count[p] ?? 0))),
    )
  }

  logEnd(topic: string): number[] | undefined {
    return this.topics.get(topic)
  }

  deleteTopic(topic: string): void {
    this.topics.delete(topic)
  }

  commit(group: string, topic: string, partition: number, offset: number, timestamp = this.clock()): void {
    this.pending.push({ type: 'commit', group, topic, partition, offset, timestamp })
  }

  deleteGroup(group: string): void {
    this.groups.delete(group)
    this.pending.push({ type: 'delete-group', group })
  }

  deleteOffset(group: string, topic: string, partition: number): void {
    this.pending.push({ type: 'delete-offset', group, topic, partition })
  }

  setMembers(group: string, members: GroupMember[], state = members.length > 0 ? 'Stable' : 'Empty'): void {
    this.groups.set(group, { group, state, members })
  }

  async logEndOffsets(): Promise<TopicLogEnd[]> {
    this.check()
    return [...this.topics].map(([topic, offsets]) => ({ topic, offsets: [...offsets] }))
  }

  async readEvents(): Promise<GroupEvent[]> {
    this.check()
    const out = this.pending
    this.pending = []
    return out
  }

  async describeGroups(): Promise<GroupDescription[]> {
    this.check()
    return [...this.groups.values()]
  }

  async close(): Promise<void> {
    this.closed = true
  }

  private check(): void {
    if (this.failing) throw this.failing
  }
}
