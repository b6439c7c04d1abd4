/**
 * A simulation's schedule: the cluster's shape and the faults, drawn by fast-check from a seed so
 * that a failing schedule can be shrunk to a small one that still fails.
 */
import fc from 'fast-check'

export type PartitionShape = 'isolate' | 'halves' | 'ring' | 'oneWay' | 'isolateLeader'

export type Fault =
  | { at: number; type: 'crash'; node: number; downMs: number }
  | { at: number; type: 'crashLeader'; group: number; downMs: number }
  /** Crashes whoever leads `group`, `count` times, `gapMs` apart: leaders die soon after winning (Raft's Figure 8). */
  | { at: number; type: 'leaderChurn'; group: number; count: number; gapMs: number; downMs: number }
  /** Raft's Figure 8, scripted: an old leader's entry is committed, then overwritten, unless the leader waits for an entry of its own term. */
  | { at: number; type: 'figure8'; group: number }
  /** The next time `node` grants a vote (within `durationMs`), it crashes right after and restarts. */
  | { at: number; type: 'crashAfterVote'; node: number; durationMs: number }
  | {
      at: number
      type: 'partition'
      shape: PartitionShape
      a: number
      b: number
      group: number
      durationMs: number
    }
  | { at: number; type: 'drop'; rate: number; durationMs: number }
  | { at: number; type: 'delay'; extraMs: number; durationMs: number }
  | { at: number; type: 'duplicate'; rate: number; durationMs: number }
  | { at: number; type: 'reorder'; durationMs: number }
  | { at: number; type: 'clockJump'; node: number; ms: number }
  | { at: number; type: 'transfer'; group: number; to: number }
  | { at: number; type: 'remove'; group: number; node: number }
  | { at: number; type: 'add'; group: number; node: number }
  | { at: number; type: 'compact'; node: number; group: number }
  /** No proposals for a while: groups go quiet (quiesce), and the other faults must wake them. */
  | { at: number; type: 'idle'; durationMs: number }

export interface Schedule {
  nodes: number
  groups: number
  /** Upper bound of one message's network delay. */
  netMsMax: number
  /** Upper bound of one fsync. */
  diskMsMax: number
  /** Mean gap between proposals. */
  proposeEveryMs: number
  /** Entries per AppendEntries: small values split batches, which some defects need. */
  appendEntriesMax: number
  faults: Fault[]
}

export interface ScheduleShape {
  nodes: number
  groups: number
  faultWindowMs: number
  faultsMax: number
}

export const DEFAULT_SHAPE: ScheduleShape = { nodes: 3, groups: 2, faultWindowMs: 3000, faultsMax: 40 }

export function scheduleArbitrary(shape: ScheduleShape): fc.Arbitrary<Schedule> {
  const at = fc.integer({ min: 0, max: shape.faultWindowMs })
  const node = fc.integer({ min: 1, max: shape.nodes })
  const group = fc.integer({ min: 0, max: shape.groups - 1 })
  const downMs = fc.integer({ min: 5, max: 800 })
  const durationMs = fc.integer({ min: 50, max: 1500 })
  const fault: fc.Arbitrary<Fault> = fc.oneof(
    { weight: 4, arbitrary: fc.record({ at, type: fc.constant('crash' as const), node, downMs }) },
    { weight: 4, arbitrary: fc.record({ at, type: fc.constant('crashLeader' as const), group, downMs }) },
    {
      weight: 2,
      arbitrary: fc.record({
        at,
        type: fc.constant('leaderChurn' as const),
        group,
        count: fc.integer({ min: 2, max: 8 }),
        gapMs: fc.integer({ min: 5, max: 300 }),
        downMs,
      }),
    },
    { weight: 4, arbitrary: fc.record({ at, type: fc.constant('figure8' as const), group }) },
    {
      weight: 3,
      arbitrary: fc.record({ at, type: fc.constant('crashAfterVote' as const), node, durationMs }),
    },
    {
      weight: 4,
      arbitrary: fc.record({
        at,
        type: fc.constant('partition' as const),
        shape: fc.constantFrom<PartitionShape>('isolate', 'halves', 'ring', 'oneWay', 'isolateLeader'),
        a: node,
        b: node,
        group,
        durationMs,
      }),
    },
    {
      weight: 2,
      arbitrary: fc.record({
        at,
        type: fc.constant('drop' as const),
        rate: fc.double({ min: 0.05, max: 0.6, noNaN: true }),
        durationMs,
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        at,
        type: fc.constant('delay' as const),
        extraMs: fc.integer({ min: 5, max: 200 }),
        durationMs,
      }),
    },
    {
      weight: 1,
      arbitrary: fc.record({
        at,
        type: fc.constant('duplicate' as const),
        rate: fc.double({ min: 0.05, max: 0.5, noNaN: true }),
        durationMs,
      }),
    },
    { weight: 1, arbitrary: fc.record({ at, type: fc.constant('reorder' as const), durationMs }) },
    {
      weight: 1,
      arbitrary: fc.record({
        at,
        type: fc.constant('clockJump' as const),
        node,
        ms: fc.integer({ min: 10, max: 500 }),
      }),
    },
    { weight: 1, arbitrary: fc.record({ at, type: fc.constant('transfer' as const), group, to: node }) },
    { weight: 1, arbitrary: fc.record({ at, type: fc.constant('remove' as const), group, node }) },
    { weight: 1, arbitrary: fc.record({ at, type: fc.constant('add' as const), group, node }) },
    { weight: 1, arbitrary: fc.record({ at, type: fc.constant('compact' as const), node, group }) },
    { weight: 3, arbitrary: fc.record({ at, type: fc.constant('idle' as const), durationMs }) },
  )
  return fc.record({
    nodes: fc.constant(shape.nodes),
    groups: fc.constant(shape.groups),
    netMsMax: fc.integer({ min: 1, max: 8 }),
    diskMsMax: fc.integer({ min: 1, max: 50 }),
    proposeEveryMs: fc.integer({ min: 2, max: 30 }),
    appendEntriesMax: fc.oneof(fc.constant(1), fc.integer({ min: 1, max: 64 })),
    faults: fc.array(fault, { maxLength: shape.faultsMax }),
  })
}

/** The schedule fast-check draws first for `seed`: the one `fc.check` with this seed tries first. */
export function drawSchedule(shape: ScheduleShape, seed: number): Schedule {
  const [schedule] = fc.sample(scheduleArbitrary(shape), { seed, numRuns: 1 })
  if (!schedule) throw new Error(`no schedule for seed ${seed}`)
  return schedule
}
