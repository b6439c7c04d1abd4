/**
 * The driver around the pure parts: per cluster, one loop reads group events (commits, deletions)
 * from the cluster's source into its store, another polls log-end offsets and the groups' members
 * every `offset-refresh` and expires old groups; per notifier, a check every `interval`.
 * Statuses are evaluated on demand, from the store, at the monitor's `now`.
 *
 * Every loop is bounded: a source error is logged (once per distinct message), recorded for the
 * API and the page, and retried after a pause; close() wakes every pause and waits for the loops.
 */
import type { ClusterConfig, LagConfig } from './config.js'
import { evaluateGroup, type GroupStatus, notFoundStatus } from './evaluator.js'
import { type Deliver, Notifier } from './notifier.js'
import type { ClusterSource, GroupEvent } from './source.js'
import { ClusterStore, type PartitionOwner } from './store.js'

export type SourceFactory = (
  cluster: ClusterConfig,
  config: LagConfig,
  log: (line: string) => void,
) => ClusterSource

export interface MonitorRuntime {
  /** A source per cluster name, instead of connecting to it (tests, or embedding). */
  sources?: Record<string, ClusterSource>
  /** Makes the source of a cluster that `sources` does not give. */
  createSource?: SourceFactory
  now?: () => number
  log?: (line: string) => void
  /** How notifiers POST (tests); default fetch. */
  deliver?: Deliver
  /** Pause after an empty read of group events, ms (default 200). */
  idlePollMs?: number
  /** Pause after a source error, ms (default 1000). */
  errorBackoffMs?: number
}

export interface ClusterHealth {
  source: string
  lastError: string | null
  lastErrorAt: number | null
  lastOffsetsAt: number | null
  eventsRead: number
}

class Sleeper {
  private readonly wakers = new Set<() => void>()
  closed = false

  sleep(ms: number): Promise<void> {
    if (this.closed) return Promise.resolve()
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t)
        this.wakers.delete(done)
        resolve()
      }
      const t = setTimeout(done, ms)
      this.wakers.add(done)
    })
  }

  close(): void {
    this.closed = true
    for (const w of [...this.wakers]) w()
  }
}

export class ClusterWatcher {
  readonly store: ClusterStore
  readonly health: ClusterHealth
  private readonly sleeper = new Sleeper()
  private loops: Promise<void>[] = []
  private firstRefresh: Promise<void> | null = null
  private lastLogged = new Map<string, string>()

  constructor(
    readonly config: ClusterConfig,
    readonly source: ClusterSource,
    store: ClusterStore,
    private readonly now: () => number,
    private readonly log: (line: string) => void,
    private readonly idlePollMs: number,
    private readonly errorBackoffMs: number,
  ) {
    this.store = store
    this.health = {
      source: source.kind,
      lastError: null,
      lastErrorAt: null,
      lastOffsetsAt: null,
      eventsRead: 0,
    }
  }

  start(): void {
    let refreshed!: () => void
    this.firstRefresh = new Promise((r) => {
      refreshed = r
    })
    this.loops = [this.offsetsLoop(refreshed), this.eventsLoop()]
  }

  /** Stops the loops; a read still in flight after `closeGraceMs` is cut short by closing the source. */
  async close(closeGraceMs = 1000): Promise<void> {
    this.sleeper.close()
    const loops = Promise.all(this.loops)
    let timer: NodeJS.Timeout | undefined
    await Promise.race([loops, new Promise((r) => (timer = setTimeout(r, closeGraceMs)))])
    clearTimeout(timer)
    await this.source.close().catch(() => undefined)
    await loops
  }

  /** One poll of log-end offsets and members, and group expiry; what the loop does each time. */
  async refresh(): Promise<void> {
    const at = this.now()
    try {
      const topics = await this.source.logEndOffsets()
      this.store.setLogEndOffsets(topics, at)
      this.health.lastOffsetsAt = at
      this.ok('offsets')
    } catch (err) {
      this.failed('offsets', 'reading log-end offsets', err)
    }
    try {
      for (const g of await this.source.describeGroups()) {
        const owners: PartitionOwner[] = g.members.flatMap((m) =>
          m.assignments.flatMap((a) =>
            a.partitions.map((partition) => ({
              topic: a.topic,
              partition,
              owner: m.clientHost,
              clientId: m.clientId,
            })),
          ),
        )
        this.store.setOwners(g.group, owners)
      }
      this.ok('groups')
    } catch (err) {
      this.failed('groups', 'describing groups', err)
    }
    this.store.expireGroups(this.now())
  }

  /** Reads one round of group events into the store; returns how many. */
  async readEvents(): Promise<number> {
    const events = await this.source.readEvents()
    this.apply(events)
    return events.length
  }

  apply(events: GroupEvent[]): void {
    const observedAt = this.now()
    for (const e of events) {
      if (e.type === 'commit') this.store.addCommit(e, observedAt)
      else if (e.type === 'delete-group') this.store.deleteGroup(e.group)
      else this.store.deleteOffsets(e.group, e.topic, e.partition)
    }
    this.health.eventsRead += events.length
  }

  private async offsetsLoop(refreshed: () => void): Promise<void> {
    while (!this.sleeper.closed) {
      await this.refresh()
      refreshed()
      await this.sleeper.sleep(this.config.offsetRefreshMs)
    }
    refreshed()
  }

  private async eventsLoop(): Promise<void> {
    // Log ends first, so that the history read now gets lags.
    await this.firstRefresh
    while (!this.sleeper.closed) {
      let n = 0
      try {
        n = await this.readEvents()
        this.ok('events')
      } catch (err) {
        this.failed('events', 'reading group events', err)
        await this.sleeper.sleep(this.errorBackoffMs)
      }
      if (n === 0) await this.sleeper.sleep(this.idlePollMs)
    }
  }

  private ok(what: string): void {
    if (!this.lastLogged.delete(what)) return
    this.log(`lag: cluster ${this.config.name}: ${what} readable again`)
    if (this.lastLogged.size === 0) this.health.lastError = null
  }

  private failed(what: string, doing: string, err: unknown): void {
    if (this.sleeper.closed) return
    const message = `${doing}: ${(err as Error)?.message ?? String(err)}`
    this.health.lastError = message
    this.health.lastErrorAt = this.now()
    if (this.lastLogged.get(what) !== message) this.log(`lag: cluster ${this.config.name}: ${message}`)
    this.lastLogged.set(what, message)
  }
}

export class LagMonitor {
  private readonly watchers = new Map<string, ClusterWatcher>()
  readonly notifiers: Notifier[]
  private readonly now: () => number
  private readonly sleeper = new Sleeper()
  private notifierLoops: Promise<void>[] = []
  private started = false

  constructor(
    readonly config: LagConfig,
    runtime: MonitorRuntime = {},
  ) {
    this.now = runtime.now ?? Date.now
    const log = runtime.log ?? ((line: string) => console.error(line))
    for (const c of config.clusters) {
      const source = runtime.sources?.[c.name] ?? runtime.createSource?.(c, config, log)
      if (!source) throw new Error(`lag: no source for cluster ${c.name}`)
      const store = new ClusterStore(config.storage)
      this.watchers.set(
        c.name,
        new ClusterWatcher(
          c,
          source,
          store,
          this.now,
          log,
          runtime.idlePollMs ?? 200,
          runtime.errorBackoffMs ?? 1000,
        ),
      )
    }
    this.notifiers = config.notifiers.map((n) => new Notifier(n, { deliver: runtime.deliver, log }))
  }

  start(): void {
    if (this.started) return
    this.started = true
    for (const w of this.watchers.values()) w.start()
    this.notifierLoops = this.notifiers.map(async (n) => {
      while (!this.sleeper.closed) {
        await this.sleeper.sleep(n.config.intervalMs)
        if (!this.sleeper.closed) n.check(this.statuses(), this.now())
      }
    })
  }

  async close(): Promise<void> {
    this.sleeper.close()
    await Promise.all(this.notifierLoops)
    await Promise.all([...this.watchers.values()].map((w) => w.close()))
    await Promise.all(this.notifiers.map((n) => n.close()))
  }

  clusterNames(): string[] {
    return [...this.watchers.keys()]
  }

  cluster(name: string): ClusterWatcher | undefined {
    return this.watchers.get(name)
  }

  /** A group's status now; NOTFOUND for a group the cluster's store does not hold; undefined for an unknown cluster. */
  groupStatus(cluster: string, group: string): GroupStatus | undefined {
    const w = this.watchers.get(cluster)
    if (!w) return undefined
    const now = this.now()
    const inputs = w.store.partitionInputs(group, now)
    if (!inputs) return notFoundStatus(cluster, group)
    return evaluateGroup(cluster, group, inputs, now, this.config.evaluator)
  }

  /** Every group of one cluster, or of all. */
  statuses(cluster?: string): GroupStatus[] {
    const names = cluster === undefined ? this.clusterNames() : [cluster]
    return names.flatMap((c) =>
      (this.watchers.get(c)?.store.groupNames() ?? []).map((g) => this.groupStatus(c, g)!),
    )
  }

  /** Burrow's DELETE: forget the group until it commits again. */
  deleteGroup(cluster: string, group: string): boolean {
    return this.watchers.get(cluster)?.store.deleteGroup(group) ?? false
  }

  time(): number {
    return this.now()
  }
}
