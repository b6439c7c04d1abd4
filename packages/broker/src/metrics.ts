/**
 * GET /metrics in Prometheus's text format (prom-client): per partition replica its high
 * watermark, log start, whether this node leads it and the ISR size; per node the Raft host's
 * turns, flushes and fsyncs, client requests by api and error and the time each took to answer
 * (Kafka's RequestMetrics TotalTimeMs, by request type); per consumer group this node
 * coordinates, its lag and records-lag-max, and groups by state. Gauges are read at scrape time.
 */
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'
import type { CairnNode } from './node.js'

/**
 * Buckets of cairn_client_request_duration_seconds: from half a millisecond (one acks=all write on
 * a quiet cluster) to the longest wait a request may ask for (a fetch's long poll, a produce's
 * timeout).
 */
export const REQUEST_DURATION_BUCKETS_S = [
  0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
]

export class NodeMetrics {
  readonly registry = new Registry()
  readonly requests: Counter<'api' | 'error'>
  private readonly requestDuration: Histogram<'api'>
  /** One child per api, so that observing does not hash a label set per request. */
  private readonly requestDurationByApi = new Map<string, { observe(seconds: number): void }>()

  constructor(node: CairnNode) {
    const r = this.registry
    collectDefaultMetrics({ register: r, prefix: 'cairn_process_' })
    this.requests = new Counter({
      name: 'cairn_client_requests_total',
      help: 'Client API requests answered, by api and Kafka error (none for success).',
      labelNames: ['api', 'error'],
      registers: [r],
    })
    this.requestDuration = new Histogram({
      name: 'cairn_client_request_duration_seconds',
      help: "Time from a client request's arrival (decoded) to its answer, by api: Kafka's TotalTimeMs. A produce with acks=all includes the wait for its replication; a fetch, its long poll.",
      labelNames: ['api'],
      buckets: REQUEST_DURATION_BUCKETS_S,
      registers: [r],
    })
    const partitionGauge = (
      name: string,
      help: string,
      value: (topic: string, partition: number) => number | undefined,
    ) =>
      new Gauge({
        name,
        help,
        labelNames: ['topic', 'partition'],
        registers: [r],
        collect() {
          this.reset()
          for (const topic of node.metadata.topics.values()) {
            for (const a of topic.partitions) {
              const v = value(topic.name, a.partition)
              if (v !== undefined) this.set({ topic: topic.name, partition: String(a.partition) }, v)
            }
          }
        },
      })
    partitionGauge(
      'cairn_partition_high_watermark',
      'Offset after the last committed record.',
      (t, p) => node.partition(t, p)?.highWatermark,
    )
    partitionGauge(
      'cairn_partition_log_start_offset',
      'First offset still in the log.',
      (t, p) => node.partition(t, p)?.logStartOffset,
    )
    const statusOf = (t: string, p: number) => {
      const part = node.partition(t, p)
      return part && node.host.status(part.group)
    }
    partitionGauge('cairn_partition_leader', '1 if this node leads the partition.', (t, p) => {
      const s = statusOf(t, p)
      return s && (s.role === 'leader' ? 1 : 0)
    })
    partitionGauge('cairn_partition_in_sync_replicas', 'ISR size, on the leader.', (t, p) => {
      const s = statusOf(t, p)
      return s?.role === 'leader' ? s.isr.length : undefined
    })
    const hostGauge = (name: string, help: string, value: () => number) =>
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          this.set(value())
        },
      })
    hostGauge(
      'cairn_raft_turns_total',
      'Event-loop turns that drained Raft groups.',
      () => node.host.stats().turns,
    )
    hostGauge(
      'cairn_raft_flushes_total',
      'Store flushes (group commits) requested.',
      () => node.host.stats().flushes,
    )
    hostGauge(
      'cairn_store_syncs_total',
      'LevelDB batches written with sync (fsyncs).',
      () => node.store.stats().syncs,
    )
    hostGauge('cairn_raft_groups', 'Raft groups hosted on this node.', () => node.host.stats().groups)
    hostGauge('cairn_controller', '1 if this node leads the controller group.', () =>
      node.isController() ? 1 : 0,
    )
    this.groupMetrics(node)
  }

  /** Records how long a request of `api` took to answer. */
  requestAnswered(api: string, ms: number): void {
    let child = this.requestDurationByApi.get(api)
    if (child === undefined) {
      child = this.requestDuration.labels({ api })
      this.requestDurationByApi.set(api, child)
    }
    child.observe(ms / 1000)
  }

  /**
   * For the groups this node coordinates: lag per committed partition whose log end this node
   * knows (it hosts a replica), Kafka's records-lag-max per group, and groups by state.
   */
  private groupMetrics(node: CairnNode): void {
    const r = this.registry
    const lags = () => {
      const out: { group: string; topic: string; partition: number; lag: number }[] = []
      for (const c of node.groups.serving().coordinators) {
        for (const o of c.committedOffsets()) {
          const t = node.metadata.topics.get(o.topic)
          if (!t || o.partition >= t.partitions.length) continue // a deleted topic's offset
          const end = node.partition(o.topic, o.partition)?.highWatermark
          if (end !== undefined) out.push({ ...o, lag: Math.max(0, end - o.offset) })
        }
      }
      return out
    }
    new Gauge({
      name: 'cairn_consumer_group_lag',
      help: "Log-end offset minus the group's committed offset, per partition whose log end this node knows.",
      labelNames: ['group', 'topic', 'partition'],
      registers: [r],
      collect() {
        this.reset()
        for (const l of lags())
          this.set({ group: l.group, topic: l.topic, partition: String(l.partition) }, l.lag)
      },
    })
    new Gauge({
      name: 'cairn_consumer_group_records_lag_max',
      help: "Kafka's records-lag-max: a group's largest lag over the partitions whose log end this node knows.",
      labelNames: ['group'],
      registers: [r],
      collect() {
        this.reset()
        const max = new Map<string, number>()
        for (const l of lags()) max.set(l.group, Math.max(max.get(l.group) ?? 0, l.lag))
        for (const [group, lag] of max) this.set({ group }, lag)
      },
    })
    new Gauge({
      name: 'cairn_consumer_groups',
      help: 'Groups this node coordinates, by state.',
      labelNames: ['state'],
      registers: [r],
      collect() {
        this.reset()
        const states = new Map<string, number>()
        for (const c of node.groups.serving().coordinators)
          for (const g of c.listGroups()) states.set(g.state, (states.get(g.state) ?? 0) + 1)
        for (const state of ['Empty', 'PreparingRebalance', 'CompletingRebalance', 'Stable'])
          this.set({ state }, states.get(state) ?? 0)
      },
    })
    new Gauge({
      name: 'cairn_group_coordinator_partitions',
      help: "__consumer_offsets partitions led here, by their coordinator's state (waiting, loading, ready).",
      labelNames: ['state'],
      registers: [r],
      collect() {
        this.reset()
        const states = new Map<string, number>([
          ['waiting', 0],
          ['loading', 0],
          ['ready', 0],
        ])
        for (const h of node.groups.status()) states.set(h.state, (states.get(h.state) ?? 0) + 1)
        for (const [state, n] of states) if (state !== 'closed') this.set({ state }, n)
      },
    })
  }
}
