/**
 * Nemesis schedules: drawn by fast-check from a seed, laid out one window at a time inside the
 * run, every fault healed within its window, valid JSON that --schedule replays.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import {
  drawSchedule,
  FAULTS,
  NEMESES,
  type Nemesis,
  type NemesisEvent,
  SCENARIOS,
  scenario,
  scheduleArbitrary,
  validateSchedule,
  windowsOf,
} from '../src/nemesis.js'

const SEED = Number(process.env.SEED ?? 20261125)

/** What each fault's start must be undone by, within its window. */
const HEALS: Partial<Record<NemesisEvent['action'], NemesisEvent['action'][]>> = {
  kill: ['restart'],
  pause: ['resume'],
  isolate: ['heal-network', 'kill'],
  'cut-out': ['heal-network'],
  'cut-in': ['heal-network'],
  ring: ['heal-network'],
  slow: ['heal-network'],
  'clock-skew': ['clock-reset'],
  'clock-strobe': ['clock-reset'],
  decommission: ['recommission'],
}

function checkSchedule(events: NemesisEvent[], timeS: number, nodes: number): void {
  validateSchedule(JSON.parse(JSON.stringify(events)), { nodes })
  for (let i = 1; i < events.length; i++) assert.ok(events[i - 1]!.at <= events[i]!.at, 'sorted by time')
  for (const e of events)
    assert.ok(e.at >= 0 && e.at <= timeS * 1000 - 1000, `event at ${e.at} inside the run`)
  const windows = windowsOf(events)
  for (let i = 1; i < windows.length; i++)
    assert.ok(windows[i - 1]!.end < windows[i]!.start, 'one window at a time')
  for (const [i, e] of events.entries()) {
    if (e.target && 'ref' in e.target) {
      const hit = events[e.target.ref]!
      assert.ok(e.target.ref < i, 'refs name earlier events')
      assert.equal(hit.window, e.window, 'a heal belongs to its fault')
    }
    const heals = HEALS[e.action]
    if (!heals) continue
    const healed = events.some(
      (h, k) =>
        k > i &&
        h.window === e.window &&
        heals.includes(h.action) &&
        (h.action === 'heal-network' || (h.target && 'ref' in h.target && h.target.ref === i)),
    )
    // A node isolated and then killed is healed by its restart (partition-kill).
    const restarted =
      e.action === 'isolate' && events.some((h) => h.window === e.window && h.action === 'restart')
    assert.ok(healed || restarted, `event ${i} (${e.action}) is healed within its window`)
  }
}

describe('nemesis schedules', () => {
  it('the same seed draws the same schedule; another seed another', () => {
    const o = { nodes: 3, timeS: 60, nemesis: [...NEMESES] as Nemesis[], partitions: 4 }
    assert.deepEqual(drawSchedule({ ...o, seed: 7 }), drawSchedule({ ...o, seed: 7 }))
    assert.notDeepEqual(drawSchedule({ ...o, seed: 7 }), drawSchedule({ ...o, seed: 8 }))
  })

  it('no nemesis, no events', () => {
    assert.deepEqual(drawSchedule({ nodes: 3, timeS: 30, nemesis: [], partitions: 4, seed: 1 }), [])
  })

  it('every drawn schedule is valid, inside the run, one window at a time, each fault healed', () => {
    fc.assert(
      fc.property(
        fc.record({
          nodes: fc.constantFrom(3, 5),
          timeS: fc.integer({ min: 5, max: 300 }),
          nemesis: fc.subarray([...NEMESES], { minLength: 1 }),
          partitions: fc.integer({ min: 1, max: 16 }),
        }),
        fc.nat(),
        (o, seed) => checkSchedule(drawSchedule({ ...o, seed }), o.timeS, o.nodes),
      ),
      { seed: SEED, numRuns: 300 },
    )
  })

  it('a schedule fills the run with faults of the chosen kinds only', () => {
    for (const kind of FAULTS) {
      const events = drawSchedule({ nodes: 5, timeS: 60, nemesis: [kind], partitions: 4, seed: SEED })
      assert.ok(windowsOf(events).length >= 5, `${kind}: ${windowsOf(events).length} windows in 60 s`)
      const allowed: Record<string, string[]> = {
        kill: ['kill', 'restart'],
        pause: ['pause', 'resume'],
        partition: ['isolate', 'cut-out', 'cut-in', 'ring', 'slow', 'heal-network'],
        clock: ['clock-skew', 'clock-strobe', 'clock-reset'],
        membership: ['move-replica', 'decommission', 'recommission'],
      }
      for (const e of events) assert.ok(allowed[kind]!.includes(e.action), `${kind} drew ${e.action}`)
    }
  })

  it('scenarios are their named sequences', () => {
    assert.deepEqual(
      scenario('kip-101', 2).steps.map((s) => s.action),
      ['kill', 'kill', 'restart', 'restart'],
    )
    assert.deepEqual(
      scenario('partition-kill', 0).steps.map((s) => s.action),
      ['isolate', 'kill', 'heal-network', 'restart'],
    )
    for (const name of SCENARIOS) {
      const events = drawSchedule({ nodes: 3, timeS: 30, nemesis: [name], partitions: 4, seed: SEED })
      assert.ok(events.length >= 4, name)
      assert.match(events[0]!.label ?? '', new RegExp(`^${name} on partition \\d`))
    }
  })

  it('shrinks: a property failing on any kill shrinks to a single short kill window', () => {
    const o = { nodes: 3, timeS: 60, nemesis: ['kill', 'pause'] as Nemesis[], partitions: 4 }
    const out = fc.check(
      fc.property(scheduleArbitrary(o), (events) => !events.some((e) => e.action === 'kill')),
      { seed: SEED, numRuns: 200 },
    )
    assert.equal(out.failed, true)
    const shrunk = out.counterexample![0]
    assert.ok(shrunk.filter((e) => e.action === 'kill').length === 1, JSON.stringify(shrunk))
  })

  it('rejects a schedule file with a clear message', () => {
    assert.throws(() => validateSchedule({}, { nodes: 3 }), /not an array/)
    assert.throws(
      () => validateSchedule([{ at: -1, action: 'kill', window: 0 }], { nodes: 3 }),
      /event 0.*"at"/,
    )
    assert.throws(
      () => validateSchedule([{ at: 1, action: 'nuke', window: 0 }], { nodes: 3 }),
      /unknown action "nuke"/,
    )
    assert.throws(
      () => validateSchedule([{ at: 1, action: 'kill', window: 0, target: { node: 4 } }], { nodes: 3 }),
      /node 4 is not in 1..3/,
    )
    assert.throws(
      () => validateSchedule([{ at: 1, action: 'restart', window: 0, target: { ref: 0 } }], { nodes: 3 }),
      /ref 0 does not name an earlier event/,
    )
  })
})
