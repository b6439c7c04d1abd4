/**
 * Consumer-group partition assignors, Kafka's three (`range`, `roundrobin`, `cooperative-sticky`),
 * and the consumer protocol's subscription and assignment encodings. Pure: the group leader hands
 * in every member's subscription and the partition count of each topic, and gets back what each
 * member should own. No I/O, no clock, no randomness: the same input, in any member order, gives
 * the same output.
 *
 * Members are ordered by memberId (code-unit order), topics by name, partitions by number; every
 * assignment lists its partitions sorted by (topic, partition), and every member of the input has
 * an entry in the result, empty if it gets nothing. A topic that is subscribed but missing from
 * `partitionsPerTopic` is skipped, as Kafka skips a topic without metadata.
 */
import { CairnError, ConfigError } from './errors.js'
import type { TopicPartition } from './topic-partition.js'

export type { TopicPartition } from './topic-partition.js'

export interface MemberSubscription {
  memberId: string
  topics: string[]
  /** What the member owns now (cooperative-sticky keeps it where balance allows). */
  ownedPartitions: TopicPartition[]
  /** The generation in which the member was given `ownedPartitions`; absent: unknown (Kafka's −1). */
  generation?: number
  userData?: Uint8Array
}

export interface Assignor {
  name: 'range' | 'roundrobin' | 'cooperative-sticky'
  rebalanceProtocol: 'EAGER' | 'COOPERATIVE'
  /** partitionsPerTopic: topic → partition count. Returns memberId → partitions, sorted. */
  assign(
    members: MemberSubscription[],
    partitionsPerTopic: Map<string, number>,
  ): Map<string, TopicPartition[]>
}

/** Malformed consumer-protocol bytes, or a subscription or assignment that cannot be encoded. */
export class ConsumerProtocolError extends CairnError {
  constructor(message: string) {
    super('INVALID_CONSUMER_PROTOCOL', message)
  }
}

/** An assign call the assignors refuse: duplicate member ids, a bad partition count. */
export class AssignorInputError extends CairnError {
  constructor(message: string) {
    super('INVALID_ASSIGNOR_INPUT', message)
  }
}

// ---------------------------------------------------------------------------------------------
// Ordering and the shared preparation of an assign call

function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0
}

export function compareTopicPartitions(a: TopicPartition, b: TopicPartition): number {
  return compareStrings(a.topic, b.topic) || a.partition - b.partition
}

/** Unambiguous: a partition number never contains ':'. */
const partitionKey = (topic: string, partition: number): string => `${partition}:${topic}`

interface Group {
  /** Members sorted by memberId; a member is its index here from now on. */
  members: MemberSubscription[]
  /** Per member, the topics it subscribes to that exist, sorted. */
  topicsOf: string[][]
  /** Per existing, subscribed topic (sorted by name), its subscribers, ascending. */
  subscribersOf: Map<string, number[]>
  partitionsPerTopic: Map<string, number>
}

function prepareGroup(members: MemberSubscription[], partitionsPerTopic: Map<string, number>): Group {
  for (const [topic, count] of partitionsPerTopic) {
    if (!Number.isSafeInteger(count) || count < 0) {
      throw new AssignorInputError(`topic '${topic}' has partition count ${count}, not an integer ≥ 0`)
    }
  }
  const sorted = [...members].sort((a, b) => compareStrings(a.memberId, b.memberId))
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.memberId === sorted[i - 1]!.memberId) {
      throw new AssignorInputError(`member '${sorted[i]!.memberId}' appears twice in the group`)
    }
  }
  const topicsOf = sorted.map((m) =>
    [...new Set(m.topics)].filter((t) => partitionsPerTopic.has(t)).sort(compareStrings),
  )
  const subscribersOf = new Map<string, number[]>()
  for (const topic of [...new Set(topicsOf.flat())].sort(compareStrings)) subscribersOf.set(topic, [])
  topicsOf.forEach((topics, member) => {
    for (const topic of topics) subscribersOf.get(topic)!.push(member)
  })
  return { members: sorted, topicsOf, subscribersOf, partitionsPerTopic }
}

function toResult(group: Group, assigned: TopicPartition[][]): Map<string, TopicPartition[]> {
  const result = new Map<string, TopicPartition[]>()
  group.members.forEach((m, i) => {
    result.set(m.memberId, (assigned[i] ?? []).sort(compareTopicPartitions))
  })
  return result
}

// ---------------------------------------------------------------------------------------------
// range and roundrobin (EAGER: members give up everything before the group rebalances)

/**
 * Kafka's RangeAssignor: topic by topic, the topic's subscribers in memberId order each take a
 * contiguous range; with n partitions and m subscribers the first n % m take one extra.
 */
export const rangeAssignor: Assignor = {
  name: 'range',
  rebalanceProtocol: 'EAGER',
  assign(members, partitionsPerTopic) {
    const group = prepareGroup(members, partitionsPerTopic)
    const assigned: TopicPartition[][] = group.members.map(() => [])
    for (const [topic, subscribers] of group.subscribersOf) {
      const count = partitionsPerTopic.get(topic)!
      const quota = Math.floor(count / subscribers.length)
      const extra = count % subscribers.length
      subscribers.forEach((member, i) => {
        const start = quota * i + Math.min(i, extra)
        const length = quota + (i < extra ? 1 : 0)
        for (let p = start; p < start + length; p++) assigned[member]!.push({ topic, partition: p })
      })
    }
    return toResult(group, assigned)
  },
}

/**
 * Kafka's RoundRobinAssignor: every subscribed partition, sorted by (topic, partition), is dealt
 * to the members in memberId order, the deal going round and round and passing over a member not
 * subscribed to the partition's topic. Balanced when all subscriptions are equal; not otherwise.
 */
export const roundRobinAssignor: Assignor = {
  name: 'roundrobin',
  rebalanceProtocol: 'EAGER',
  assign(members, partitionsPerTopic) {
    const group = prepareGroup(members, partitionsPerTopic)
    const assigned: TopicPartition[][] = group.members.map(() => [])
    const subscribes = group.topicsOf.map((topics) => new Set(topics))
    let next = 0
    for (const topic of group.subscribersOf.keys()) {
      const count = partitionsPerTopic.get(topic)!
      for (let partition = 0; partition < count; partition++) {
        // The topic has a subscriber, so this stops within one turn of the table.
        while (!subscribes[next]!.has(topic)) next = (next + 1) % group.members.length
        assigned[next]!.push({ topic, partition })
        next = (next + 1) % group.members.length
      }
    }
    return toResult(group, assigned)
  },
}

// ---------------------------------------------------------------------------------------------
// cooperative-sticky

/** Min-heap of members by (count, index): who among a topic's subscribers takes the next partition. */
class LeastLoaded {
  private readonly heap: number[] = []
  constructor(
    members: number[],
    private readonly counts: number[],
  ) {
    for (const m of members) this.push(m)
  }
  private less(a: number, b: number): boolean {
    const ca = this.counts[a]!
    const cb = this.counts[b]!
    return ca < cb || (ca === cb && a < b)
  }
  push(member: number): void {
    const heap = this.heap
    heap.push(member)
    let i = heap.length - 1
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (!this.less(heap[i]!, heap[parent]!)) break
      ;[heap[i], heap[parent]] = [heap[parent]!, heap[i]!]
      i = parent
    }
  }
  /** Removes and returns the least loaded; its count must not change while it is out. */
  pop(): number {
    const heap = this.heap
    const top = heap[0]!
    const last = heap.pop()!
    if (heap.length === 0) return top
    heap[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      const r = l + 1
      let least = i
      if (l < heap.length && this.less(heap[l]!, heap[least]!)) least = l
      if (r < heap.length && this.less(heap[r]!, heap[least]!)) least = r
      if (least === i) return top
      ;[heap[i], heap[least]] = [heap[least]!, heap[i]!]
      i = least
    }
  }
}

interface Holding {
  /** Partitions the member owned before this rebalance. */
  kept: Set<number>
  /** Partitions new to the member in this rebalance: moved first when balance needs a move. */
  gained: Set<number>
}

/**
 * Who owned what before this rebalance. A partition claimed by several members belongs to the
 * one claiming it with the highest generation (the others' claims are stale); claimed by several
 * at that same generation it is `contested`: nobody's, and given to nobody until they all have
 * let go of it.
 */
interface PreviousOwners {
  ownerOf: Map<string, number>
  contested: Set<string>
}

/** Kafka's DEFAULT_GENERATION: a subscription that does not say. */
const generationUnknown = -1

function previousOwners(group: Group): PreviousOwners {
  const claims = new Map<string, { generation: number; members: number[] }>()
  group.members.forEach((member, m) => {
    const generation = member.generation ?? generationUnknown
    for (const { topic, partition } of member.ownedPartitions) {
      const count = group.partitionsPerTopic.get(topic)
      if (count === undefined || !Number.isInteger(partition) || partition < 0 || partition >= count) continue
      const key = partitionKey(topic, partition)
      const claim = claims.get(key)
      if (claim === undefined || generation > claim.generation) claims.set(key, { generation, members: [m] })
      else if (generation === claim.generation && !claim.members.includes(m)) claim.members.push(m)
    }
  })
  const ownerOf = new Map<string, number>()
  const contested = new Set<string>()
  for (const [key, claim] of claims) {
    if (claim.members.length === 1) ownerOf.set(key, claim.members[0]!)
    else contested.add(key)
  }
  return { ownerOf, contested }
}

/** One link of a chain of moves: `from` hands a partition of `topic` to `to`. */
interface Link {
  from: number
  topic: string
  to: number
}

/**
 * The sticky target: what each member should own once every move is done.
 *
 * 1. Each member keeps what it owned, if it still subscribes to the topic.
 * 2. Every other subscribed partition goes to its least-loaded subscriber; the topics with the
 *    fewest subscribers go first, as they have the least choice.
 * 3. Balance: while some member could end with a partition fewer and another with one more,
 *    counts differing by two or more before, shift one partition along the shortest chain of
 *    members between them (a chain, because the two may share no topic). First only partitions
 *    gained in step 2 may move; then, if still needed, kept ones too, gained ones first.
 *
 * When no such chain is left the assignment minimises the sum of squared counts over all that the
 * subscriptions allow (a semi-matching with no cost-reducing path is optimal), so no member can be
 * relieved without loading another as much: members with equal subscriptions differ by at most
 * one. Step 3's first pass is what settles a cooperative rebalance in two rounds: in the second
 * round each member owns a subset of its first-round target and the partitions still to hand over
 * are free; the first-round target is one way to place them alone, so the first pass reaches an
 * optimum by moving them alone, and no one is asked to revoke again.
 */
class StickyTarget {
  readonly counts: number[]
  /** Per member, per subscribed topic, what it holds. */
  readonly holdings: Map<string, Holding>[]

  constructor(
    private readonly group: Group,
    private readonly owners: PreviousOwners,
  ) {
    this.counts = group.members.map(() => 0)
    this.holdings = group.topicsOf.map(
      (topics) =>
        new Map(topics.map((topic) => [topic, { kept: new Set<number>(), gained: new Set<number>() }])),
    )
    const taken = this.keep()
    this.placeRest(taken)
    this.balance(true)
    this.balance(false)
  }

  private give(m: number, topic: string, partition: number): void {
    const holding = this.holdings[m]!.get(topic)!
    if (this.owners.ownerOf.get(partitionKey(topic, partition)) === m) holding.kept.add(partition)
    else holding.gained.add(partition)
    this.counts[m]!++
  }

  private keep(): Set<string> {
    const taken = new Set<string>()
    for (const [key, m] of this.owners.ownerOf) {
      const colon = key.indexOf(':')
      const topic = key.slice(colon + 1)
      if (!this.holdings[m]!.has(topic)) continue
      this.give(m, topic, Number(key.slice(0, colon)))
      taken.add(key)
    }
    return taken
  }

  private placeRest(taken: Set<string>): void {
    const { subscribersOf, partitionsPerTopic } = this.group
    const topics = [...subscribersOf.keys()].sort(
      (a, b) => subscribersOf.get(a)!.length - subscribersOf.get(b)!.length || compareStrings(a, b),
    )
    for (const topic of topics) {
      const leastLoaded = new LeastLoaded(subscribersOf.get(topic)!, this.counts)
      for (let partition = 0; partition < partitionsPerTopic.get(topic)!; partition++) {
        if (taken.has(partitionKey(topic, partition))) continue
        const m = leastLoaded.pop()
        this.give(m, topic, partition)
        leastLoaded.push(m)
      }
    }
  }

  /** The least count among members that subscribe to something: no chain ends lower. */
  private countMin(): number {
    let min = Number.POSITIVE_INFINITY
    this.group.topicsOf.forEach((topics, m) => {
      if (topics.length > 0) min = Math.min(min, this.counts[m]!)
    })
    return min
  }

  /** Each move relieves the most loaded member that can be relieved, so loads fall evenly. */
  private balance(gainedOnly: boolean): void {
    const counts = this.counts
    const members = counts.map((_, m) => m)
    for (;;) {
      const countMin = this.countMin()
      let chain: Link[] | null = null
      for (const source of members.sort((a, b) => counts[b]! - counts[a]! || a - b)) {
        if (counts[source]! < countMin + 2) return
        chain = this.shortestChain(source, gainedOnly)
        if (chain !== null) break
      }
      if (chain === null) return
      this.shift(chain, gainedOnly)
    }
  }

  private movable(m: number, topic: string, gainedOnly: boolean): boolean {
    const holding = this.holdings[m]!.get(topic)
    return holding !== undefined && (holding.gained.size > 0 || (!gainedOnly && holding.kept.size > 0))
  }

  /**
   * Breadth-first from `source` over members and topics (a member reaches each topic it can hand
   * a partition of, a topic reaches its subscribers) to the nearest members loaded at least two
   * below `source`; of those, the least loaded. Null if there is none.
   */
  private shortestChain(source: number, gainedOnly: boolean): Link[] | null {
    const counts = this.counts
    const via = new Map<number, Link>()
    const seenTopics = new Set<string>()
    const seenMembers = new Set<number>([source])
    const targetCountMax = counts[source]! - 2
    let frontier = [source]
    while (frontier.length > 0) {
      const next: number[] = []
      let target = -1
      for (const m of frontier) {
        for (const topic of this.group.topicsOf[m]!) {
          if (seenTopics.has(topic) || !this.movable(m, topic, gainedOnly)) continue
          seenTopics.add(topic)
          for (const n of this.group.subscribersOf.get(topic)!) {
            if (seenMembers.has(n)) continue
            seenMembers.add(n)
            via.set(n, { from: m, topic, to: n })
            next.push(n)
            const c = counts[n]!
            if (c <= targetCountMax && (target < 0 || c < counts[target]!)) target = n
          }
        }
      }
      if (target >= 0) {
        const chain: Link[] = []
        for (let n = target; n !== source; n = chain[0]!.from) chain.unshift(via.get(n)!)
        return chain
      }
      frontier = next
    }
    return null
  }

  /** One partition along each link, the last link first, so each member hands over one it held. */
  private shift(chain: Link[], gainedOnly: boolean): void {
    for (let i = chain.length - 1; i >= 0; i--) {
      const { from, topic, to } = chain[i]!
      const holding = this.holdings[from]!.get(topic)!
      // Gained partitions go first; of a set, the highest partition (Kafka revokes from the top too).
      const pool = holding.gained.size > 0 || gainedOnly ? holding.gained : holding.kept
      let partition = -1
      for (const p of pool) partition = Math.max(partition, p)
      pool.delete(partition)
      this.counts[from]!--
      this.give(to, topic, partition)
    }
  }
}

/**
 * Kafka's CooperativeStickyAssignor. The target is balanced and as sticky as balance allows (see
 * {@link StickyTarget}); what `assign` returns is that target less every partition another member
 * still owns (or that members contest). The owner, not finding it in its assignment, revokes it;
 * once it has, the group rebalances again and the partition, now owned by no one, goes to its new
 * member. Nothing is ever owned by two members at once.
 */
export const cooperativeStickyAssignor: Assignor = {
  name: 'cooperative-sticky',
  rebalanceProtocol: 'COOPERATIVE',
  assign(members, partitionsPerTopic) {
    const group = prepareGroup(members, partitionsPerTopic)
    const owners = previousOwners(group)
    const target = new StickyTarget(group, owners).holdings
    const subscribed = [...group.subscribersOf.keys()].reduce((n, t) => n + partitionsPerTopic.get(t)!, 0)
    let placed = 0
    const assigned = target.map((holdings, m) => {
      const partitions: TopicPartition[] = []
      for (const [topic, { kept, gained }] of holdings) {
        placed += kept.size + gained.size
        for (const partition of kept) partitions.push({ topic, partition })
        for (const partition of gained) {
          const key = partitionKey(topic, partition)
          const owner = owners.ownerOf.get(key)
          if (owners.contested.has(key) || (owner !== undefined && owner !== m)) continue
          partitions.push({ topic, partition })
        }
      }
      return partitions
    })
    if (placed !== subscribed) {
      throw new Error(`cooperative-sticky placed ${placed} partitions of the ${subscribed} subscribed`)
    }
    return toResult(group, assigned)
  },
}

export const assignors: readonly Assignor[] = [rangeAssignor, roundRobinAssignor, cooperativeStickyAssignor]

/** The assignor with this `partition.assignment.strategy` name. */
export function assignorByName(name: string): Assignor {
  const assignor = assignors.find((a) => a.name === name)
  if (assignor === undefined) {
    const known = assignors.map((a) => `'${a.name}'`).join(', ')
    throw new ConfigError(`unknown partition assignor '${name}': the known assignors are ${known}`)
  }
  return assignor
}

/**
 * Cooperative protocol: of what a member owned, what its new assignment no longer holds and it
 * must revoke before the next rebalance. Sorted, without duplicates.
 */
export function revokedPartitions(owned: TopicPartition[], assigned: TopicPartition[]): TopicPartition[] {
  const keep = new Set(assigned.map((tp) => partitionKey(tp.topic, tp.partition)))
  const revoked = new Map<string, TopicPartition>()
  for (const tp of owned) {
    const key = partitionKey(tp.topic, tp.partition)
    if (!keep.has(key)) revoked.set(key, { topic: tp.topic, partition: tp.partition })
  }
  return [...revoked.values()].sort(compareTopicPartitions)
}

// ---------------------------------------------------------------------------------------------
// Wire encoding: Kafka's consumer protocol, the bytes inside JoinGroup's protocol metadata and
// SyncGroup's assignment, so a Kafka client's and ours read each other.
//
// All integers big-endian. string: int16 length ≥ 0, then UTF-8. bytes: int32 length, −1 for
// null, then the bytes. [x]: int32 count ≥ 0, then count × x.
//
// Subscription (ConsumerProtocolSubscription, written as v3):
//   version          int16
//   topics           [string]
//   userData         bytes (nullable)
//   ownedPartitions  [ topic string, partitions [int32] ]      v1+
//   generationId     int32, −1 when unknown                     v2+
//   rackId           string (int16 −1 for null), always null    v3+
//
// Assignment (ConsumerProtocolAssignment, written as v3; every version has this layout):
//   version             int16
//   assignedPartitions  [ topic string, partitions [int32] ]
//   userData            bytes (nullable)
//
// Partitions are written sorted, grouped by topic. A reader takes versions 0..3 and reads a later
// version as v3, ignoring what follows (Kafka's forward compatibility); within 0..3, trailing bytes
// are an error. Both sides check the same bounds, before writing and after reading.

export const consumerProtocolVersion = 3
/** Kafka's longest topic name. */
export const topicNameBytesMax = 249
export const subscriptionTopicsMax = 10_000
export const ownedPartitionsMax = 100_000
export const assignedPartitionsMax = 100_000
export const userDataBytesMax = 1024 * 1024
export const rackIdBytesMax = 255

const utf8Encoder = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })
const int32Max = 0x7fff_ffff

export function encodeSubscription(s: Omit<MemberSubscription, 'memberId'>): Uint8Array {
  const fail = (why: string) => new ConsumerProtocolError(`cannot encode subscription: ${why}`)
  if (s.topics.length > subscriptionTopicsMax) {
    throw fail(`${s.topics.length} topics, more than subscriptionTopicsMax (${subscriptionTopicsMax})`)
  }
  if (new Set(s.topics).size !== s.topics.length) throw fail('a topic is listed twice')
  const generation = s.generation ?? generationUnknown
  if (
    s.generation !== undefined &&
    !(Number.isInteger(s.generation) && s.generation >= 0 && s.generation <= int32Max)
  ) {
    throw fail(`generation ${s.generation} is not an int32 ≥ 0`)
  }
  checkUserData(s.userData, fail)
  const writer = new Writer()
  writer.int16(consumerProtocolVersion)
  writer.int32(s.topics.length)
  for (const topic of s.topics) writer.string(topicBytes(topic, fail))
  writer.nullableBytes(s.userData)
  writePartitions(writer, s.ownedPartitions, ownedPartitionsMax, 'ownedPartitionsMax', fail)
  writer.int32(generation)
  writer.int16(-1)
  return writer.finish()
}

export function decodeSubscription(b: Uint8Array): Omit<MemberSubscription, 'memberId'> {
  const reader = new Reader(b, 'subscription')
  const version = reader.version()
  const topicCount = reader.count('topics', subscriptionTopicsMax, 'subscriptionTopicsMax', 2)
  const topics: string[] = []
  for (let i = 0; i < topicCount; i++) topics.push(reader.topic('topic'))
  if (new Set(topics).size !== topics.length) throw reader.fail('a topic is listed twice')
  const userData = reader.nullableBytes('userData', userDataBytesMax, 'userDataBytesMax')
  const ownedPartitions = version >= 1 ? readPartitions(reader, ownedPartitionsMax, 'ownedPartitionsMax') : []
  let generation: number | undefined
  if (version >= 2) {
    const generationId = reader.int32('generationId')
    if (generationId < generationUnknown) throw reader.fail(`generationId ${generationId} is below −1`)
    if (generationId !== generationUnknown) generation = generationId
  }
  if (version >= 3) reader.nullableString('rackId', rackIdBytesMax, 'rackIdBytesMax')
  if (version <= consumerProtocolVersion) reader.end()
  const subscription: Omit<MemberSubscription, 'memberId'> = { topics, ownedPartitions }
  if (generation !== undefined) subscription.generation = generation
  if (userData !== undefined) subscription.userData = userData
  return subscription
}

export function encodeAssignment(a: { partitions: TopicPartition[]; userData?: Uint8Array }): Uint8Array {
  const fail = (why: string) => new ConsumerProtocolError(`cannot encode assignment: ${why}`)
  checkUserData(a.userData, fail)
  const writer = new Writer()
  writer.int16(consumerProtocolVersion)
  writePartitions(writer, a.partitions, assignedPartitionsMax, 'assignedPartitionsMax', fail)
  writer.nullableBytes(a.userData)
  return writer.finish()
}

export function decodeAssignment(b: Uint8Array): { partitions: TopicPartition[]; userData?: Uint8Array } {
  const reader = new Reader(b, 'assignment')
  const version = reader.version()
  const partitions = readPartitions(reader, assignedPartitionsMax, 'assignedPartitionsMax')
  const userData = reader.nullableBytes('userData', userDataBytesMax, 'userDataBytesMax')
  if (version <= consumerProtocolVersion) reader.end()
  return userData === undefined ? { partitions } : { partitions, userData }
}

function topicBytes(topic: string, fail: (why: string) => Error): Uint8Array {
  const bytes = utf8Encoder.encode(topic)
  if (bytes.length === 0 || bytes.length > topicNameBytesMax) {
    throw fail(`topic name '${topic}' is ${bytes.length} bytes, not 1..${topicNameBytesMax}`)
  }
  return bytes
}

function checkUserData(userData: Uint8Array | undefined, fail: (why: string) => Error): void {
  if (userData !== undefined && userData.length > userDataBytesMax) {
    throw fail(`userData is ${userData.length} bytes, more than userDataBytesMax (${userDataBytesMax})`)
  }
}

function writePartitions(
  writer: Writer,
  partitions: TopicPartition[],
  max: number,
  maxName: string,
  fail: (why: string) => Error,
): void {
  if (partitions.length > max) throw fail(`${partitions.length} partitions, more than ${maxName} (${max})`)
  const sorted = [...partitions].sort(compareTopicPartitions)
  const groups: { topic: string; partitions: number[] }[] = []
  let last: TopicPartition | undefined
  for (const tp of sorted) {
    if (!Number.isInteger(tp.partition) || tp.partition < 0 || tp.partition > int32Max) {
      throw fail(`partition ${tp.partition} of '${tp.topic}' is not an int32 ≥ 0`)
    }
    if (last !== undefined && compareTopicPartitions(last, tp) === 0) {
      throw fail(`partition ${tp.topic}-${tp.partition} is listed twice`)
    }
    if (last?.topic !== tp.topic) groups.push({ topic: tp.topic, partitions: [] })
    groups[groups.length - 1]!.partitions.push(tp.partition)
    last = tp
  }
  writer.int32(groups.length)
  for (const group of groups) {
    writer.string(topicBytes(group.topic, fail))
    writer.int32(group.partitions.length)
    for (const partition of group.partitions) writer.int32(partition)
  }
}

function readPartitions(reader: Reader, max: number, maxName: string): TopicPartition[] {
  // A group is at least a 2-byte topic length, a 1-byte name and a 4-byte count.
  const groupCount = reader.count('topic groups', max, maxName, 7)
  const partitions: TopicPartition[] = []
  const seen = new Set<string>()
  for (let g = 0; g < groupCount; g++) {
    const topic = reader.topic('topic')
    const count = reader.count(`partitions of '${topic}'`, max - partitions.length, maxName, 4)
    for (let i = 0; i < count; i++) {
      const partition = reader.int32(`partition of '${topic}'`)
      if (partition < 0) throw reader.fail(`partition ${partition} of '${topic}' is negative`)
      const key = partitionKey(topic, partition)
      if (seen.has(key)) throw reader.fail(`partition ${topic}-${partition} is listed twice`)
      seen.add(key)
      partitions.push({ topic, partition })
    }
  }
  return partitions
}

class Writer {
  private bytes = new Uint8Array(256)
  private view = new DataView(this.bytes.buffer)
  private pos = 0

  private reserve(n: number): void {
    if (this.pos + n <= this.bytes.length) return
    const grown = new Uint8Array(Math.max(this.bytes.length * 2, this.pos + n))
    grown.set(this.bytes.subarray(0, this.pos))
    this.bytes = grown
    this.view = new DataView(grown.buffer)
  }
  int16(v: number): void {
    this.reserve(2)
    this.view.setInt16(this.pos, v)
    this.pos += 2
  }
  int32(v: number): void {
    this.reserve(4)
    this.view.setInt32(this.pos, v)
    this.pos += 4
  }
  private raw(b: Uint8Array): void {
    this.reserve(b.length)
    this.bytes.set(b, this.pos)
    this.pos += b.length
  }
  string(utf8: Uint8Array): void {
    this.int16(utf8.length)
    this.raw(utf8)
  }
  nullableBytes(b: Uint8Array | undefined): void {
    if (b === undefined) return this.int32(-1)
    this.int32(b.length)
    this.raw(b)
  }
  finish(): Uint8Array {
    return this.bytes.slice(0, this.pos)
  }
}

/** Reads, and throws a ConsumerProtocolError naming the field and byte offset at the first fault. */
class Reader {
  private readonly view: DataView
  private pos = 0

  constructor(
    private readonly bytes: Uint8Array,
    private readonly what: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  }

  fail(why: string): ConsumerProtocolError {
    return new ConsumerProtocolError(
      `malformed ${this.what} at byte ${this.pos} of ${this.bytes.length}: ${why}`,
    )
  }
  private need(n: number, field: string): void {
    const left = this.bytes.length - this.pos
    if (n > left) throw this.fail(`truncated: ${field} needs ${n} bytes, ${left} left`)
  }
  int16(field: string): number {
    this.need(2, field)
    const v = this.view.getInt16(this.pos)
    this.pos += 2
    return v
  }
  int32(field: string): number {
    this.need(4, field)
    const v = this.view.getInt32(this.pos)
    this.pos += 4
    return v
  }
  version(): number {
    const version = this.int16('version')
    if (version < 0) throw this.fail(`version ${version} is negative`)
    return version
  }
  /** An array count, checked against its bound and against the bytes its entries need at least. */
  count(field: string, max: number, maxName: string, entryBytesMin: number): number {
    const count = this.int32(`${field} count`)
    if (count < 0) throw this.fail(`${field} count ${count} is negative`)
    if (count > max) throw this.fail(`${count} ${field}, more than ${maxName} (${max})`)
    this.need(count * entryBytesMin, `${count} ${field}`)
    return count
  }
  private utf8(length: number, field: string): string {
    this.need(length, field)
    const slice = this.bytes.subarray(this.pos, this.pos + length)
    this.pos += length
    try {
      return utf8Decoder.decode(slice)
    } catch {
      this.pos -= length
      throw this.fail(`${field} is not valid UTF-8`)
    }
  }
  topic(field: string): string {
    const length = this.int16(`${field} length`)
    if (length < 1 || length > topicNameBytesMax) {
      throw this.fail(`${field} length ${length}, not 1..${topicNameBytesMax} (topicNameBytesMax)`)
    }
    return this.utf8(length, field)
  }
  nullableString(field: string, max: number, maxName: string): string | undefined {
    const length = this.int16(`${field} length`)
    if (length === -1) return undefined
    if (length < 0 || length > max)
      throw this.fail(`${field} length ${length}, not −1 or 0..${max} (${maxName})`)
    return this.utf8(length, field)
  }
  nullableBytes(field: string, max: number, maxName: string): Uint8Array | undefined {
    const length = this.int32(`${field} length`)
    if (length === -1) return undefined
    if (length < 0 || length > max)
      throw this.fail(`${field} length ${length}, not −1 or 0..${max} (${maxName})`)
    this.need(length, field)
    const b = this.bytes.slice(this.pos, this.pos + length)
    this.pos += length
    return b
  }
  end(): void {
    if (this.pos !== this.bytes.length) throw this.fail(`${this.bytes.length - this.pos} trailing bytes`)
  }
}
