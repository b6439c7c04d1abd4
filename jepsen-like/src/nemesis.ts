/**
 * The nemesis schedule: what fault happens when, to whom. A schedule is plain JSON
 * (DIR/schedule.json) so `--schedule FILE` replays it; `--seed S` draws one with fast-check
 * ({@link scheduleArbitrary}), so a schedule is also a value a property can generate and shrink.
 *
 * Targets are logical — "the leader of partition 2", "the controller", "the nodes event 4 hit" —
 * and resolved when the event fires, so a replay hits the same roles even if ids differ.
 * Faults run one window at a time (a scenario is one window of several steps), and every window
 * heals itself; the final phase heals whatever is left.
 */
import fc from 'fast-check'

export const FAULTS = ['kill', 'pause', 'partition', 'clock', 'membership'] as const
/** Named schedules from the literature (see {@link scenario}). */
export const SCENARIOS = ['kip-101', 'kip-966', 'pause-kill', 'partition-kill'] as const
export const NEMESES = [...FAULTS, ...SCENARIOS] as const
export type Nemesis = (typeof NEMESES)[number]

export type Target =
  /** one node by id */
  | { node: number }
  /** the leader of partition N of the workload's topic (at the time the event fires) */
  | { leaderOf: number }
  /** the controller group's leader */
  | { controller: true }
  /** a minority: ⌊(n−1)/2⌋ nodes, chosen by `pick` */
  | { minority: number }
  /** the nodes event #ref (an index into the schedule) hit */
  | { ref: number }

export type Action =
  | 'kill'
  | 'restart'
  | 'pause'
  | 'resume'
  /** cut every link between the target nodes and the rest, both ways */
  | 'isolate'
  /** the target's messages to everyone else stop; it still hears them */
  | 'cut-out'
  /** everyone's messages to the target stop; its own still arrive */
  | 'cut-in'
  /** majorities ring: each node sees its neighbours only */
  | 'ring'
  /** delay every message the target sends, by `ms` */
  | 'slow'
  | 'heal-network'
  /** the target's wall clock jumps by `ms` */
  | 'clock-skew'
  /** the target's wall clock flips between +ms and 0 every `periodMs` */
  | 'clock-strobe'
  | 'clock-reset'
  /** move one replica of partition `partition` to a node that does not hold it */
  | 'move-replica'
  /** move every replica off the target node; `recommission` makes it eligible again */
  | 'decommission'
  | 'recommission'

export interface NemesisEvent {
  /** ms after the workload starts */
  at: number
  action: Action
  target?: Target
  /** clock-skew / clock-strobe: the offset; slow: the delay */
  ms?: number
  periodMs?: number
  partition?: number
  /** which fault window this event belongs to (for the report's shading) */
  window: number
  /** the window's name, on its first event */
  label?: string
}

export interface ScheduleOptions {
  nodes: number
  timeS: number
  nemesis: Nemesis[]
  partitions: number
}

/** A window's steps, relative to its start. */
interface Step {
  after: number
  action: Action
  target?: Target
  ms?: number
  periodMs?: number
  partition?: number
  /** the target is the step #k of this window's hits (resolved to a schedule index later) */
  refStep?: number
}

interface Fault {
  label: string
  steps: Step[]
}

const FAULT_MS_MIN = 1000
const FAULT_MS_MAX = 5000
const GAP_MS_MIN = 500
const GAP_MS_MAX = 2500
/** Room at the end of the run for the last window to heal before the workload stops. */
const TAIL_MS = 1000

function targetArbitrary(o: ScheduleOptions): fc.Arbitrary<Target> {
  return fc.oneof(
    fc.integer({ min: 1, max: o.nodes }).map((node): Target => ({ node })),
    fc.integer({ min: 0, max: o.partitions - 1 }).map((leaderOf): Target => ({ leaderOf })),
    fc.constant<Target>({ controller: true }),
    fc.nat(1000).map((minority): Target => ({ minority })),
  )
}

const duration = fc.integer({ min: FAULT_MS_MIN, max: FAULT_MS_MAX })

function describe(t: Target): string {
  if ('node' in t) return `node ${t.node}`
  if ('leaderOf' in t) return `leader of partition ${t.leaderOf}`
  if ('controller' in t) return 'controller'
  if ('minority' in t) return 'a minority'
  return `event ${t.ref}'s nodes`
}

function faultArbitrary(kind: Nemesis, o: ScheduleOptions): fc.Arbitrary<Fault> {
  const target = targetArbitrary(o)
  const leader = fc.integer({ min: 0, max: o.partitions - 1 })
  switch (kind) {
    case 'kill':
    case 'pause': {
      const [start, stop] = kind === 'kill' ? (['kill', 'restart'] as const) : (['pause', 'resume'] as const)
      return fc.record({ target, ms: duration }).map(({ target, ms }) => ({
        label: `${kind} ${describe(target)}`,
        steps: [
          { after: 0, action: start, target },
          { after: ms, action: stop, refStep: 0 },
        ],
      }))
    }
    case 'partition':
      return fc
        .record({
          shape: fc.constantFrom('isolate', 'halves', 'ring', 'isolate-leader', 'cut-out', 'cut-in', 'slow'),
          node: fc.integer({ min: 1, max: o.nodes }),
          pick: fc.nat(1000),
          partition: leader,
          slowMs: fc.integer({ min: 50, max: 500 }),
          ms: duration,
        })
        .map(({ shape, node, pick, partition, slowMs, ms }) => {
          const first: Step =
            shape === 'isolate'
              ? { after: 0, action: 'isolate', target: { node } }
              : shape === 'halves'
                ? { after: 0, action: 'isolate', target: { minority: pick } }
                : shape === 'ring'
                  ? { after: 0, action: 'ring' }
                  : shape === 'isolate-leader'
                    ? { after: 0, action: 'isolate', target: { leaderOf: partition } }
                    : shape === 'slow'
                      ? { after: 0, action: 'slow', target: { leaderOf: partition }, ms: slowMs }
                      : { after: 0, action: shape, target: { leaderOf: partition } }
          return {
            label: `partition: ${shape}${first.target ? ` ${describe(first.target)}` : ''}`,
            steps: [first, { after: ms, action: 'heal-network' }],
          }
        })
    case 'clock':
      return fc
        .record({
          target,
          strobe: fc.boolean(),
          skew: fc.integer({ min: 1, max: 300 }).chain((s) => fc.constantFrom(s * 1000, -s * 1000)),
          periodMs: fc.integer({ min: 50, max: 500 }),
          ms: duration,
        })
        .map(({ target, strobe, skew, periodMs, ms }) => ({
          label: `clock: ${strobe ? 'strobe' : 'skew'} ${skew / 1000} s ${describe(target)}`,
          steps: [
            strobe
              ? { after: 0, action: 'clock-strobe' as const, target, ms: skew, periodMs }
              : { after: 0, action: 'clock-skew' as const, target, ms: skew },
            { after: ms, action: 'clock-reset', refStep: 0 },
          ],
        }))
    case 'membership':
      return fc
        .record({
          move: fc.boolean(),
          partition: leader,
          node: fc.integer({ min: 1, max: o.nodes }),
          ms: duration,
        })
        .map(({ move, partition, node, ms }) =>
          move
            ? {
                label: `membership: move a replica of partition ${partition}`,
                steps: [{ after: 0, action: 'move-replica', partition }],
              }
            : {
                label: `membership: decommission node ${node}`,
                steps: [
                  { after: 0, action: 'decommission', target: { node } },
                  { after: ms, action: 'recommission', refStep: 0 },
                ],
              },
        )
    default:
      return leader.map((partition) => scenario(kind, partition))
  }
}

/**
 * Named schedules, each one window on partition `p`'s replicas:
 * - kip-101 (Kafka's double failover, where a returning leader truncated committed data): kill
 *   the leader, then kill the leader elected after it, restart the first, then the second.
 * - kip-966 ("last replica standing": replicas drop out until the leader is the last one in
 *   sync, then it dies): pause a minority, kill the leader, resume the minority — the
 *   survivors must elect a leader that has every acknowledged write — restart the old leader.
 * - pause-kill (Jepsen's NATS analysis): pause the leader, kill another node, resume, restart.
 * - partition-kill (Jepsen's NATS analysis): isolate the leader, kill it while isolated, heal,
 *   restart it.
 */
export function scenario(name: Nemesis, p: number): Fault {
  const leader: Target = { leaderOf: p }
  switch (name) {
    case 'kip-101':
      return {
        label: `kip-101 on partition ${p}`,
        steps: [
          { after: 0, action: 'kill', target: leader },
          { after: 1500, action: 'kill', target: leader },
          { after: 3000, action: 'restart', refStep: 0 },
          { after: 4500, action: 'restart', refStep: 1 },
        ],
      }
    case 'kip-966':
      return {
        label: `kip-966 on partition ${p}`,
        steps: [
          { after: 0, action: 'pause', target: { minority: p } },
          { after: 1000, action: 'kill', target: leader },
          { after: 2000, action: 'resume', refStep: 0 },
          { after: 3500, action: 'restart', refStep: 1 },
        ],
      }
    case 'pause-kill':
      return {
        label: `pause-kill on partition ${p}`,
        steps: [
          { after: 0, action: 'pause', target: leader },
          { after: 1000, action: 'kill', target: { minority: p + 1 } },
          { after: 2500, action: 'resume', refStep: 0 },
          { after: 3500, action: 'restart', refStep: 1 },
        ],
      }
    case 'partition-kill':
      return {
        label: `partition-kill on partition ${p}`,
        steps: [
          { after: 0, action: 'isolate', target: leader },
          { after: 1500, action: 'kill', refStep: 0 },
          { after: 2500, action: 'heal-network' },
          { after: 3500, action: 'restart', refStep: 1 },
        ],
      }
    default:
      throw new Error(`no scenario named ${name}`)
  }
}

/** Lay windows out one after the other with gaps, inside the run, and number the events. */
export function layOut(faults: { gapMs: number; fault: Fault }[], timeS: number): NemesisEvent[] {
  const events: NemesisEvent[] = []
  const end = timeS * 1000 - TAIL_MS
  let t = 0
  for (const [w, { gapMs, fault }] of faults.entries()) {
    const start = t + gapMs
    const length = Math.max(...fault.steps.map((s) => s.after))
    if (start + length > end) break
    const first = events.length
    for (const [k, s] of fault.steps.entries()) {
      const target: Target | undefined = s.refStep !== undefined ? { ref: first + s.refStep } : s.target
      events.push({
        at: start + s.after,
        action: s.action,
        window: w,
        ...(k === 0 && { label: fault.label }),
        ...(target && { target }),
        ...(s.ms !== undefined && { ms: s.ms }),
        ...(s.periodMs !== undefined && { periodMs: s.periodMs }),
        ...(s.partition !== undefined && { partition: s.partition }),
      })
    }
    t = start + length
  }
  return events.sort((a, b) => a.at - b.at || a.window - b.window)
}

/**
 * Schedules for these options, as a fast-check arbitrary that shrinks towards fewer, shorter
 * faults. With `fill`, as many windows as the run holds (what `--seed` runs).
 */
export function scheduleArbitrary(o: ScheduleOptions, fill = false): fc.Arbitrary<NemesisEvent[]> {
  if (o.nemesis.length === 0) return fc.constant([])
  const window = fc.record({
    gapMs: fc.integer({ min: GAP_MS_MIN, max: GAP_MS_MAX }),
    fault: fc.constantFrom(...o.nemesis).chain((kind) => faultArbitrary(kind, o)),
  })
  const windowsMax = Math.max(1, Math.ceil((o.timeS * 1000) / (FAULT_MS_MIN + GAP_MS_MIN)))
  return fc
    .array(window, { minLength: fill ? windowsMax : 0, maxLength: windowsMax })
    .map((w) => layOut(w, o.timeS))
}

/** The schedule `--seed S` runs. */
export function drawSchedule(o: ScheduleOptions & { seed: number }): NemesisEvent[] {
  const [schedule] = fc.sample(scheduleArbitrary(o, true), { seed: o.seed, numRuns: 1 })
  return schedule ?? []
}

/** Checks a schedule read from a file; throws one clear line on the first problem. */
export function validateSchedule(events: unknown, o: Pick<ScheduleOptions, 'nodes'>): NemesisEvent[] {
  if (!Array.isArray(events)) throw new Error('the schedule is not an array of events')
  const actions = new Set<string>([
    'kill',
    'restart',
    'pause',
    'resume',
    'isolate',
    'cut-out',
    'cut-in',
    'ring',
    'slow',
    'heal-network',
    'clock-skew',
    'clock-strobe',
    'clock-reset',
    'move-replica',
    'decommission',
    'recommission',
  ])
  for (const [i, e] of events.entries()) {
    const where = `schedule event ${i}`
    if (typeof e !== 'object' || e === null) throw new Error(`${where} is not an object`)
    const ev = e as Record<string, unknown>
    if (typeof ev.at !== 'number' || !(ev.at >= 0)) throw new Error(`${where}: "at" is not a time ≥ 0 in ms`)
    if (typeof ev.action !== 'string' || !actions.has(ev.action))
      throw new Error(`${where}: unknown action ${JSON.stringify(ev.action)}`)
    if (typeof ev.window !== 'number') throw new Error(`${where}: "window" is not a number`)
    const t = ev.target as Record<string, unknown> | undefined
    if (t !== undefined) {
      if (typeof t !== 'object' || t === null) throw new Error(`${where}: target is not an object`)
      if (
        'node' in t &&
        !(Number.isInteger(t.node) && (t.node as number) >= 1 && (t.node as number) <= o.nodes)
      )
        throw new Error(`${where}: node ${String(t.node)} is not in 1..${o.nodes}`)
      if ('ref' in t && !(Number.isInteger(t.ref) && (t.ref as number) >= 0 && (t.ref as number) < i))
        throw new Error(`${where}: ref ${String(t.ref)} does not name an earlier event`)
    }
  }
  return events as NemesisEvent[]
}

/** The fault windows of a schedule, for the report: [start, end] with the window's name. */
export function windowsOf(events: NemesisEvent[]): { start: number; end: number; label: string }[] {
  const byWindow = new Map<number, { start: number; end: number; label: string }>()
  for (const e of events) {
    const w = byWindow.get(e.window)
    if (!w) byWindow.set(e.window, { start: e.at, end: e.at, label: e.label ?? e.action })
    else {
      w.start = Math.min(w.start, e.at)
      w.end = Math.max(w.end, e.at)
      if (e.label) w.label = e.label
    }
  }
  return [...byWindow.values()].sort((a, b) => a.start - b.start)
}
