/**
 * The notifier, as Burrow's HTTP notifier: every `interval` it looks at every group; a group at or
 * above `threshold` opens an incident (an id and a start time) and POSTs `open`; back below the
 * threshold (or gone), the incident closes and, with `send-close`, POSTs `close`. Without
 * `send-once`, an open incident is POSTed again at every check, as Burrow does; with it, once.
 *
 * `IncidentTracker` is the pure part (statuses in, events out). `Notifier` delivers the events in
 * order, one at a time, each with at most `retries` retries and a doubling backoff, from a queue
 * of at most `pendingMax` events (the oldest is dropped, and counted, beyond that).
 */
import { randomUUID } from 'node:crypto'
import type { NotifierConfig } from './config.js'
import { type GroupStatus, notFoundStatus } from './evaluator.js'
import { type GroupStatusName, statusCodes } from './status.js'

export interface Incident {
  id: string
  cluster: string
  group: string
  /** ms */
  start: number
  status: GroupStatusName
}

/** The JSON body POSTed to the notifier's url. */
export interface Notification {
  event: 'open' | 'close'
  notifier: string
  id: string
  /** ISO 8601, with `start_ms` beside it. */
  start: string
  start_ms: number
  cluster: string
  group: string
  status: GroupStatusName
  /** The group's status object, as `/v3/kafka/:cluster/consumer/:group/status` returns it. */
  result: GroupStatus
  extras: Record<string, string>
  /** When this notification was made, ISO 8601. */
  sent: string
}

export type TrackerConfig = Pick<
  NotifierConfig,
  'name' | 'threshold' | 'sendOnce' | 'sendClose' | 'cluster' | 'groupAllowlist' | 'groupDenylist' | 'extras'
>

const incidentKey = (cluster: string, group: string) => `${cluster}\u0000${group}`

export class IncidentTracker {
  private readonly incidents = new Map<string, Incident>()

  constructor(
    private readonly config: TrackerConfig,
    private readonly newId: () => string = randomUUID,
  ) {}

  watches(cluster: string, group: string): boolean {
    const c = this.config
    if (c.cluster !== null && c.cluster !== cluster) return false
    if (c.groupAllowlist && !c.groupAllowlist.test(group)) return false
    return !c.groupDenylist?.test(group)
  }

  /**
   * One check over every group of the clusters watched (a group absent from `statuses` is gone):
   * returns the notifications to send, in order.
   */
  check(statuses: GroupStatus[], now: number): Notification[] {
    const out: Notification[] = []
    const threshold = statusCodes[this.config.threshold]
    const seen = new Set<string>()
    for (const s of statuses) {
      if (!this.watches(s.cluster, s.group)) continue
      const key = incidentKey(s.cluster, s.group)
      seen.add(key)
      const incident = this.incidents.get(key)
      if (statusCodes[s.status] >= threshold && s.status !== 'NOTFOUND') {
        if (!incident) {
          const opened = {
            id: this.newId(),
            cluster: s.cluster,
            group: s.group,
            start: now,
            status: s.status,
          }
          this.incidents.set(key, opened)
          out.push(this.notification('open', opened, s, now))
        } else {
          incident.status = s.status
          if (!this.config.sendOnce) out.push(this.notification('open', incident, s, now))
        }
      } else if (incident) {
        out.push(...this.close(key, incident, s, now))
      }
    }
    for (const [key, incident] of this.incidents) {
      if (seen.has(key)) continue
      out.push(...this.close(key, incident, notFoundStatus(incident.cluster, incident.group), now))
    }
    return out
  }

  open(): Incident[] {
    return [...this.incidents.values()].map((i) => ({ ...i }))
  }

  private close(key: string, incident: Incident, s: GroupStatus, now: number): Notification[] {
    this.incidents.delete(key)
    return this.config.sendClose ? [this.notification('close', incident, s, now)] : []
  }

  private notification(event: 'open' | 'close', i: Incident, s: GroupStatus, now: number): Notification {
    return {
      event,
      notifier: this.config.name,
      id: i.id,
      start: new Date(i.start).toISOString(),
      start_ms: i.start,
      cluster: i.cluster,
      group: i.group,
      status: s.status,
      result: s,
      extras: this.config.extras,
      sent: new Date(now).toISOString(),
    }
  }
}

/** Sends one body; resolves on a 2xx answer, throws otherwise. */
export type Deliver = (url: string, body: string, timeoutMs: number) => Promise<void>

export const httpDeliver: Deliver = async (url, body, timeoutMs) => {
  const r = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
    signal: AbortSignal.timeout(timeoutMs),
  })
  await r.arrayBuffer().catch(() => undefined)
  if (r.status < 200 || r.status > 299) throw new Error(`HTTP ${r.status}`)
}

export interface NotifierStats {
  sent: number
  failed: number
  dropped: number
  attempts: number
}

export interface NotifierOptions {
  deliver?: Deliver
  newId?: () => string
  log?: (line: string) => void
  pendingMax?: number
  backoffMsMax?: number
}

export class Notifier {
  readonly tracker: IncidentTracker
  readonly stats: NotifierStats = { sent: 0, failed: 0, dropped: 0, attempts: 0 }
  private readonly queue: Notification[] = []
  private draining: Promise<void> | null = null
  private closed = false
  private wake: (() => void) | null = null
  private readonly deliver: Deliver
  private readonly log: (line: string) => void
  private readonly pendingMax: number
  private readonly backoffMsMax: number

  constructor(
    readonly config: NotifierConfig,
    options: NotifierOptions = {},
  ) {
    this.tracker = new IncidentTracker(config, options.newId)
    this.deliver = options.deliver ?? httpDeliver
    this.log = options.log ?? ((line) => console.error(line))
    this.pendingMax = options.pendingMax ?? 1000
    this.backoffMsMax = options.backoffMsMax ?? 30_000
  }

  /** Looks at every group once; queues what must be sent and starts sending. */
  check(statuses: GroupStatus[], now: number): Notification[] {
    if (this.closed) return []
    const events = this.tracker.check(statuses, now)
    for (const e of events) {
      this.queue.push(e)
      if (this.queue.length > this.pendingMax) {
        this.queue.shift()
        this.stats.dropped++
      }
    }
    if (events.length > 0) this.drain()
    return events
  }

  /** Resolves once every queued notification is sent or given up on. */
  async idle(): Promise<void> {
    while (this.draining) await this.draining
  }

  /** Stops: no new checks, no more retries; the queue is dropped. */
  async close(): Promise<void> {
    this.closed = true
    this.stats.dropped += this.queue.length
    this.queue.length = 0
    this.wake?.()
    await this.idle()
  }

  private drain(): void {
    if (this.draining) return
    this.draining = (async () => {
      try {
        for (let n = this.queue.shift(); n && !this.closed; n = this.queue.shift()) await this.sendOne(n)
      } finally {
        this.draining = null
      }
    })()
  }

  private async sendOne(n: Notification): Promise<void> {
    const body = JSON.stringify(n)
    const { url, retries, backoffMs, timeoutMs, name } = this.config
    for (let attempt = 0; attempt <= retries && !(attempt > 0 && this.closed); attempt++) {
      this.stats.attempts++
      try {
        await this.deliver(url, body, timeoutMs)
        this.stats.sent++
        return
      } catch (err) {
        const last = attempt === retries || this.closed
        this.log(
          `lag notifier ${name}: ${n.event} ${n.cluster}/${n.group} (incident ${n.id}) to ${url} failed: ${(err as Error).message}${last ? `; giving up after ${attempt + 1} attempt(s)` : '; retrying'}`,
        )
        if (last) break
        await this.sleep(Math.min(this.backoffMsMax, backoffMs * 2 ** attempt))
      }
    }
    this.stats.failed++
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms)
      function done() {
        clearTimeout(t)
        resolve()
      }
      this.wake = () => {
        this.wake = null
        done()
      }
    })
  }
}
