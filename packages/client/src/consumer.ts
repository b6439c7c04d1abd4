/**
 * A consumer of assigned partitions (and the group consumer's fetcher): seek to an offset, the
 * earliest, the latest or a time; poll fetches from each partition's leader with a long poll and
 * returns the records at or after each position, in offset order per partition. A position
 * outside the log is handled by auto.offset.reset: earliest, latest, or none (an error).
 */
import { type ApiResponse, decodeRecords, type RecordHeader, splitBatches } from '@cairn/protocol'
import type { Admin } from './admin.js'
import type { ClusterClient } from './cluster-client.js'
import { CairnError } from './errors.js'
import { type TopicPartition, topicPartitionKey } from './topic-partition.js'

export interface ConsumerOptions {
  /** Kafka's auto.offset.reset: where to go when the position is not in the log. Default latest. */
  autoOffsetReset?: 'earliest' | 'latest' | 'none'
  /** fetch.max.wait.ms (500). */
  maxWaitMs?: number
  /** fetch.min.bytes (1). */
  minBytes?: number
  /** fetch.max.bytes (52428800). */
  maxBytes?: number
  /** max.partition.fetch.bytes (1048576). */
  maxPartitionBytes?: number
  /** max.poll.records: most records one poll returns (default: no bound); the rest are fetched again. */
  maxPollRecords?: number
}

export interface ConsumedRecord {
  topic: string
  partition: number
  offset: number
  timestamp: number
  key: Uint8Array | null
  value: Uint8Array | null
  headers: RecordHeader[]
}

export type { TopicPartition } from './topic-partition.js'

type Seek = number | 'earliest' | 'latest' | { timestamp: number }

const key = topicPartitionKey

interface Position {
  tp: TopicPartition
  offset: number | null
  highWatermark: number
}

/** One partition of a fetch request: the position it was sent for, at the offset it asked for. */
interface FetchItem {
  tp: TopicPartition
  offset: number
  position: Position
}

export class Consumer {
  private readonly positions = new Map<string, Position>()
  private readonly pendingSeeks = new Map<string, Seek>()
  private readonly pausedKeys = new Set<string>()

  constructor(
    private readonly cluster: ClusterClient,
    private readonly admin: Admin,
    private readonly options: ConsumerOptions = {},
  ) {}

  assign(partitions: TopicPartition[]): void {
    this.positions.clear()
    this.pausedKeys.clear()
    for (const tp of partitions) this.positions.set(key(tp), { tp, offset: null, highWatermark: 0 })
  }

  /**
   * Adds partitions to the assignment, each at its position; the others keep theirs (how a group
   * consumer takes partitions in a cooperative rebalance).
   */
  addPartitions(partitions: { tp: TopicPartition; offset: number }[]): void {
    for (const { tp, offset } of partitions) {
      this.pendingSeeks.delete(key(tp))
      this.pausedKeys.delete(key(tp))
      this.positions.set(key(tp), {
        tp: { topic: tp.topic, partition: tp.partition },
        offset,
        highWatermark: 0,
      })
    }
  }

  /** Removes partitions from the assignment; a fetch in flight for them is dropped when it returns. */
  removePartitions(partitions: TopicPartition[]): void {
    for (const tp of partitions) {
      this.positions.delete(key(tp))
      this.pendingSeeks.delete(key(tp))
      this.pausedKeys.delete(key(tp))
    }
  }

  /** Fetches stop for these partitions until `resume`; their positions stay. */
  pause(partitions: TopicPartition[]): void {
    for (const tp of partitions) if (this.positions.has(key(tp))) this.pausedKeys.add(key(tp))
  }

  resume(partitions: TopicPartition[]): void {
    for (const tp of partitions) this.pausedKeys.delete(key(tp))
  }

  paused(): TopicPartition[] {
    return [...this.pausedKeys].map((k) => this.positions.get(k)!.tp)
  }

  assignment(): TopicPartition[] {
    return [...this.positions.values()].map((p) => p.tp)
  }

  seek(tp: TopicPartition, to: Seek): void {
    const p = this.positions.get(key(tp))
    if (!p) throw new CairnError('ILLEGAL_STATE', `${tp.topic}-${tp.partition} is not assigned`)
    if (typeof to === 'number') p.offset = to
    else {
      p.offset = null
      this.pendingSeeks.set(key(tp), to)
    }
  }

  position(tp: TopicPartition): number | null {
    return this.positions.get(key(tp))?.offset ?? null
  }

  /** The high watermark the last fetch of `tp` reported (0 before any). */
  highWatermark(tp: TopicPartition): number {
    return this.positions.get(key(tp))?.highWatermark ?? 0
  }

  /** Records between each position and its partition's high watermark (Kafka's records-lag). */
  lag(): Map<string, number> {
    const out = new Map<string, number>()
    for (const p of this.positions.values())
      out.set(`${p.tp.topic}-${p.tp.partition}`, Math.max(0, p.highWatermark - (p.offset ?? 0)))
    return out
  }

  /** One round of fetches; returns what arrived (possibly nothing after max.wait.ms). */
  async poll(): Promise<ConsumedRecord[]> {
    await this.resolvePositions()
    const byLeader = new Map<number, FetchItem[]>()
    for (const [k, p] of this.positions) {
      if (p.offset === null || this.pausedKeys.has(k)) continue
      const leader = this.cluster.leaderOf(p.tp.topic, p.tp.partition)
      const list = byLeader.get(leader) ?? []
      list.push({ tp: p.tp, offset: p.offset, position: p })
      byLeader.set(leader, list)
    }
    const budget = { records: this.options.maxPollRecords ?? Number.POSITIVE_INFINITY }
    const results = await Promise.all(
      [...byLeader].map(([leader, items]) => this.fetchFrom(leader, items, budget)),
    )
    return results.flat()
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<ConsumedRecord[]> {
    for (;;) {
      const records = await this.poll()
      if (records.length > 0) yield records
    }
  }

  private async fetchFrom(
    leader: number,
    items: FetchItem[],
    budget: { records: number },
  ): Promise<ConsumedRecord[]> {
    const topics = new Map<string, { partition: number; fetchOffset: number; partitionMaxBytes: number }[]>()
    for (const { tp, offset } of items) {
      const list = topics.get(tp.topic) ?? []
      list.push({
        partition: tp.partition,
        fetchOffset: offset,
        partitionMaxBytes: this.options.maxPartitionBytes ?? 1 << 20,
      })
      topics.set(tp.topic, list)
    }
    let response: ApiResponse<'fetch'>
    try {
      if (!leader) throw new CairnError('LEADER_NOT_AVAILABLE', 'no leader known')
      response = await this.cluster.toNode(leader, 'fetch', {
        maxWaitMs: this.options.maxWaitMs ?? 500,
        minBytes: this.options.minBytes ?? 1,
        maxBytes: this.options.maxBytes ?? 52_428_800,
        topics: [...topics].map(([name, partitions]) => ({ name, partitions })),
      })
    } catch (err) {
      await this.cluster.refreshMetadata().catch(() => undefined)
      if ((err as { code?: string }).code === 'LEADER_NOT_AVAILABLE')
        await new Promise((r) => setTimeout(r, 100))
      return []
    }
    const out: ConsumedRecord[] = []
    let stale = false
    const asked = new Map(items.map((item) => [key(item.tp), item]))
    for (const t of response.topics) {
      for (const p of t.partitions) {
        const k = key({ topic: t.name, partition: p.partition })
        const pos = this.positions.get(k)
        // Only an answer for the position as it was asked: after a seek, a removal or a re-add
        // while the fetch was out, its records may not follow the position (a gap, a repeat).
        const item = asked.get(k)
        if (!pos || pos.offset === null || item?.position !== pos || item.offset !== pos.offset) continue
        if (p.error === 'OFFSET_OUT_OF_RANGE') {
          this.reset(pos.tp)
          continue
        }
        if (p.error) {
          stale = true
          continue
        }
        pos.highWatermark = p.highWatermark
        const split = splitBatches(p.records)
        if (!split.ok) throw new CairnError('CORRUPT_MESSAGE', `${t.name}-${p.partition}: ${split.reason}`)
        for (const b of split.value.batches) {
          const decoded = decodeRecords(p.records, b.offset)
          if (!decoded.ok)
            throw new CairnError('CORRUPT_MESSAGE', `${t.name}-${p.partition}: ${decoded.reason}`)
          let whole = true
          for (const r of decoded.value.records) {
            if (r.offset < pos.offset) continue
            // max.poll.records reached: the position stays at the first record not returned.
            if (budget.records <= 0) {
              whole = false
              break
            }
            out.push({ topic: t.name, partition: p.partition, ...r })
            budget.records--
            pos.offset = r.offset + 1
          }
          if (!whole) break
          pos.offset = Math.max(pos.offset, b.header.lastOffset + 1)
        }
      }
    }
    if (stale) await this.cluster.refreshMetadata().catch(() => undefined)
    return out
  }

  private reset(tp: TopicPartition): void {
    const policy = this.options.autoOffsetReset ?? 'latest'
    if (policy === 'none') {
      throw new CairnError(
        'OFFSET_OUT_OF_RANGE',
        `${tp.topic}-${tp.partition}: position is outside the log and auto.offset.reset is none`,
      )
    }
    this.seek(tp, policy)
  }

  private async resolvePositions(): Promise<void> {
    for (const p of this.positions.values()) {
      if (p.offset !== null) continue
      const seek = this.pendingSeeks.get(key(p.tp)) ?? this.options.autoOffsetReset ?? 'latest'
      if (seek === 'none')
        throw new CairnError(
          'NO_OFFSET',
          `${p.tp.topic}-${p.tp.partition} has no position and auto.offset.reset is none`,
        )
      const at = typeof seek === 'object' ? seek.timestamp : seek
      const offsets = await this.admin.listOffsets(p.tp.topic, at)
      const found = offsets.find((o) => o.partition === p.tp.partition)
      if (!found)
        throw new CairnError('UNKNOWN_TOPIC_OR_PARTITION', `${p.tp.topic}-${p.tp.partition} does not exist`)
      p.offset = found.offset
      this.pendingSeeks.delete(key(p.tp))
    }
  }
}
