/**
 * Carries out a nemesis schedule against a running {@link Cluster}: resolves each event's logical
 * target (leader of a partition, the controller, a minority, the nodes an earlier event hit) when
 * it fires, applies the fault, and remembers what it did for the results and the report.
 */
import type { Admin } from '@cairn/client'
import type { Cluster } from './cluster.js'
import type { NemesisEvent, Target } from './nemesis.js'

export interface AppliedEvent {
  index: number
  /** ms since the workload started, when it was applied */
  time: number
  action: NemesisEvent['action']
  window: number
  label?: string
  nodes: number[]
  note?: string
}

/** Asking the cluster who leads what gives up after this. */
const LOOKUP_MS_MAX = 2000

async function within<T>(ms: number, p: Promise<T>): Promise<T | undefined> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms)
  })
  try {
    return await Promise.race([p.catch(() => undefined), timeout])
  } finally {
    clearTimeout(timer)
  }
}

export class NemesisExecutor {
  readonly applied: AppliedEvent[] = []
  private readonly hits = new Map<number, number[]>()

  constructor(
    private readonly cluster: Cluster,
    private readonly admin: Admin,
    private readonly topic: string,
    private readonly now: () => number,
    private readonly log: (line: string) => void,
  ) {}

  private async leaderOf(partition: number): Promise<number> {
    const parts = await within(LOOKUP_MS_MAX, this.admin.describeTopic(this.topic))
    const leader = parts?.find((p) => p.partition === partition)?.leaderId ?? 0
    return leader > 0 ? leader : this.cluster.ids[partition % this.cluster.ids.length]!
  }

  private async resolve(t: Target | undefined): Promise<number[]> {
    const ids = this.cluster.ids
    if (!t) return []
    if ('node' in t) return [t.node]
    if ('ref' in t) return this.hits.get(t.ref) ?? []
    if ('leaderOf' in t) return [await this.leaderOf(t.leaderOf)]
    if ('controller' in t) {
      const c = (await within(LOOKUP_MS_MAX, this.admin.describeCluster()))?.controllerId ?? 0
      return [c > 0 ? c : ids[0]!]
    }
    const size = Math.floor((ids.length - 1) / 2)
    return Array.from({ length: size }, (_, k) => ids[(t.minority + k) % ids.length]!)
  }

  async apply(e: NemesisEvent, index: number): Promise<AppliedEvent> {
    const nodes = await this.resolve(e.target)
    const c = this.cluster
    let note: string | undefined
    const others = (n: number[]) => c.ids.filter((id) => !n.includes(id))
    switch (e.action) {
      case 'kill':
        for (const id of nodes) c.signal(id, 'SIGKILL')
        break
      case 'restart':
        for (const id of nodes) c.start(id)
        break
      case 'pause':
        for (const id of nodes) c.signal(id, 'SIGSTOP')
        break
      case 'resume':
        for (const id of nodes) c.signal(id, 'SIGCONT')
        break
      case 'isolate':
        this.proxies(e).partition([nodes, others(nodes)])
        break
      case 'cut-out':
        for (const from of nodes) for (const to of others(nodes)) this.proxies(e).cut(from, to)
        break
      case 'cut-in':
        for (const to of nodes) for (const from of others(nodes)) this.proxies(e).cut(from, to)
        break
      case 'ring':
        this.proxies(e).ring()
        break
      case 'slow':
        for (const from of nodes) for (const to of others(nodes)) this.proxies(e).delay(from, to, e.ms ?? 100)
        break
      case 'heal-network':
        this.proxies(e).heal()
        break
      case 'clock-skew':
        for (const id of nodes) c.setClock(id, e.ms ?? 0)
        break
      case 'clock-strobe':
        for (const id of nodes) c.strobeClock(id, e.ms ?? 0, e.periodMs ?? 100)
        break
      case 'clock-reset':
        for (const id of nodes) c.resetClock(id)
        break
      case 'move-replica':
        note = await this.moveReplica(e.partition ?? 0)
        break
      case 'decommission':
        for (const id of nodes) await this.admin.decommissionNode(id).catch((err) => (note = String(err)))
        break
      case 'recommission':
        for (const id of nodes) await this.admin.recommissionNode(id).catch((err) => (note = String(err)))
        break
    }
    this.hits.set(index, nodes)
    const applied: AppliedEvent = {
      index,
      time: this.now(),
      action: e.action,
      window: e.window,
      ...(e.label !== undefined && { label: e.label }),
      nodes,
      ...(note !== undefined && { note }),
    }
    this.applied.push(applied)
    this.log(
      `nemesis: ${e.action}${nodes.length ? ` node${nodes.length > 1 ? 's' : ''} ${nodes.join(',')}` : ''}${note ? ` (${note})` : ''}`,
    )
    return applied
  }

  private proxies(e: NemesisEvent) {
    if (!this.cluster.proxies) throw new Error(`${e.action} needs the link proxies (the partition nemesis)`)
    return this.cluster.proxies
  }

  /** Replace one replica of the partition (not the leader's) with a node that does not hold it. */
  private async moveReplica(partition: number): Promise<string> {
    const parts = await within(LOOKUP_MS_MAX, this.admin.describeTopic(this.topic))
    const p = parts?.find((x) => x.partition === partition)
    if (!p) return `partition ${partition}: no metadata, not moved`
    const spare = this.cluster.ids.filter((id) => !p.replicas.includes(id))
    const away = p.replicas.find((id) => id !== p.leaderId)
    if (spare.length === 0 || away === undefined) return `partition ${partition}: no spare node, not moved`
    const replicas = p.replicas.map((id) => (id === away ? spare[0]! : id))
    try {
      await this.admin.alterPartitionReassignments([{ topic: this.topic, partition, replicas }])
      return `partition ${partition}: ${p.replicas.join(',')} → ${replicas.join(',')}`
    } catch (err) {
      return `partition ${partition}: reassignment refused: ${String(err)}`
    }
  }
}
