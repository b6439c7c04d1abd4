/**
 * GET /metrics in Prometheus's text format (prom-client): per partition replica its high
 * watermark, log start, whether this node leads it and the ISR size; per node the Raft host's
 * turns, flushes and fsyncs, and client requests by api and error. Gauges are read at scrape time.
 */
import { Counter, collectDefaultMetrics, Gauge, Registry } from 'prom-client'
import type { CairnNode } from './node.js'

export class NodeMetrics {
  readonly registry = new Registry()
  readonly requests: Counter<'api' | 'error'>

  constructor(node: CairnNode) {
    const r = this.registry
    collectDefaultMetrics({ register: r, prefix: 'cairn_process_' })
    this.requests = new Counter({
      name: 'cairn_client_requests_total',
      help: 'Client API requests answered, by api and Kafka error (none for success).',
      labelNames: ['api', 'error'],
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
  }
}
