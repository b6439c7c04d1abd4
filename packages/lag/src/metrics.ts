/**
 * GET /metrics: Burrow's Prometheus names, so its dashboards and alerts work unchanged, plus the
 * names of the widely used burrow-exporter, the lag in time, and the monitor's own health.
 * Every gauge is refilled from one evaluation per scrape.
 *
 *   burrow_kafka_consumer_status{cluster,consumer_group}                       group status code
 *   burrow_kafka_consumer_lag_total{cluster,consumer_group}                    sum of partition lags
 *   burrow_kafka_consumer_max_lag_seconds{cluster,consumer_group}              largest lag in time
 *   burrow_kafka_consumer_current_offset{cluster,consumer_group,topic,partition}
 *   burrow_kafka_consumer_partition_current_offset{…}                         (the same, exporter name)
 *   burrow_kafka_consumer_partition_max_offset{…}                             log-end offset
 *   burrow_kafka_consumer_partition_lag{…}
 *   burrow_kafka_consumer_partition_lag_seconds{…}                            lag in time
 *   burrow_kafka_topic_partition_status{…}                                    partition status code
 *   burrow_kafka_topic_partition_offset{cluster,topic,partition}               log-end offset
 */
import { collectDefaultMetrics, Gauge, Registry } from 'prom-client'
import type { LagMonitor } from './monitor.js'
import { statusCodes } from './status.js'

type GroupLabels = 'cluster' | 'consumer_group'
type PartitionLabels = GroupLabels | 'topic' | 'partition'

export class LagMetrics {
  readonly registry = new Registry()
  private readonly group: Record<'status' | 'lagTotal' | 'maxLagSeconds', Gauge<GroupLabels>>
  private readonly partition: Record<
    'currentOffset' | 'partitionCurrentOffset' | 'maxOffset' | 'lag' | 'lagSeconds' | 'status',
    Gauge<PartitionLabels>
  >
  private readonly topicOffset: Gauge<'cluster' | 'topic' | 'partition'>
  private readonly clusterUp: Gauge<'cluster'>
  private readonly notifications: Gauge<'notifier' | 'result'>
  private readonly incidents: Gauge<'notifier'>

  constructor(private readonly monitor: LagMonitor) {
    const registers = [this.registry]
    collectDefaultMetrics({ register: this.registry, prefix: 'cairn_lag_process_' })
    const groupGauge = (name: string, help: string) =>
      new Gauge({ name, help, labelNames: ['cluster', 'consumer_group'] as const, registers })
    const partitionGauge = (name: string, help: string) =>
      new Gauge({
        name,
        help,
        labelNames: ['cluster', 'consumer_group', 'topic', 'partition'] as const,
        registers,
      })
    this.group = {
      status: groupGauge(
        'burrow_kafka_consumer_status',
        'Group status: 0 NOTFOUND, 1 OK, 2 WARN, 3 ERR, 4 STOP, 5 STALL, 6 REWIND.',
      ),
      lagTotal: groupGauge(
        'burrow_kafka_consumer_lag_total',
        'Sum of the current lag of every partition of the group.',
      ),
      maxLagSeconds: groupGauge(
        'burrow_kafka_consumer_max_lag_seconds',
        'Age in seconds of the oldest unconsumed record across the group’s partitions.',
      ),
    }
    this.partition = {
      currentOffset: partitionGauge(
        'burrow_kafka_consumer_current_offset',
        'Last offset the group committed.',
      ),
      partitionCurrentOffset: partitionGauge(
        'burrow_kafka_consumer_partition_current_offset',
        'Last offset the group committed.',
      ),
      maxOffset: partitionGauge(
        'burrow_kafka_consumer_partition_max_offset',
        'Latest log-end offset of the partition.',
      ),
      lag: partitionGauge(
        'burrow_kafka_consumer_partition_lag',
        'Log-end offset minus the last committed offset.',
      ),
      lagSeconds: partitionGauge(
        'burrow_kafka_consumer_partition_lag_seconds',
        'Age in seconds of the next unconsumed record (interpolated over the log-end history).',
      ),
      status: partitionGauge(
        'burrow_kafka_topic_partition_status',
        'Partition status: 1 OK, 2 WARN, 4 STOP, 5 STALL, 6 REWIND.',
      ),
    }
    this.topicOffset = new Gauge({
      name: 'burrow_kafka_topic_partition_offset',
      help: 'Latest log-end offset of the partition.',
      labelNames: ['cluster', 'topic', 'partition'] as const,
      registers,
    })
    this.clusterUp = new Gauge({
      name: 'cairn_lag_cluster_up',
      help: '1 when the last reads of the cluster succeeded.',
      labelNames: ['cluster'] as const,
      registers,
    })
    this.notifications = new Gauge({
      name: 'cairn_lag_notifications',
      help: 'Notifications by notifier and result (sent, failed, dropped) since start.',
      labelNames: ['notifier', 'result'] as const,
      registers,
    })
    this.incidents = new Gauge({
      name: 'cairn_lag_open_incidents',
      help: 'Incidents open, by notifier.',
      labelNames: ['notifier'] as const,
      registers,
    })
  }

  /** Refills every gauge from one evaluation; then `registry.metrics()`. */
  refresh(): void {
    for (const g of [
      ...Object.values(this.group),
      ...Object.values(this.partition),
      this.topicOffset,
      this.clusterUp,
      this.notifications,
      this.incidents,
    ])
      g.reset()
    for (const cluster of this.monitor.clusterNames()) {
      const w = this.monitor.cluster(cluster)!
      this.clusterUp.set({ cluster }, w.health.lastError === null ? 1 : 0)
      for (const topic of w.store.topicNames())
        w.store.logEndOffsets(topic)!.forEach((offset, partition) => {
          if (offset >= 0) this.topicOffset.set({ cluster, topic, partition: String(partition) }, offset)
        })
      for (const s of this.monitor.statuses(cluster)) {
        const gl = { cluster, consumer_group: s.group }
        this.group.status.set(gl, statusCodes[s.status])
        this.group.lagTotal.set(gl, s.totallag)
        if (s.maxlag_seconds !== null) this.group.maxLagSeconds.set(gl, s.maxlag_seconds)
        for (const p of s.partitions) {
          const pl = { ...gl, topic: p.topic, partition: String(p.partition) }
          this.partition.status.set(pl, statusCodes[p.status])
          this.partition.lag.set(pl, p.current_lag)
          if (p.current_lag_seconds !== null) this.partition.lagSeconds.set(pl, p.current_lag_seconds)
          if (p.end) {
            this.partition.currentOffset.set(pl, p.end.offset)
            this.partition.partitionCurrentOffset.set(pl, p.end.offset)
          }
          const logEnd = w.store.logEndOffsets(p.topic)?.[p.partition]
          if (logEnd !== undefined && logEnd >= 0) this.partition.maxOffset.set(pl, logEnd)
        }
      }
    }
    for (const n of this.monitor.notifiers) {
      const notifier = n.config.name
      for (const result of ['sent', 'failed', 'dropped'] as const)
        this.notifications.set({ notifier, result }, n.stats[result])
      this.incidents.set({ notifier }, n.tracker.open().length)
    }
  }

  async text(): Promise<string> {
    this.refresh()
    return this.registry.metrics()
  }
}
