import fc from 'fast-check'
import { type DefectName, setDefects } from '../defects.js'
import { type SimResult, Simulation } from './cluster.js'
import { drawSchedule, type Schedule, type ScheduleShape, scheduleArbitrary } from './schedule.js'

/** Shrinking replays whole simulations; past this it keeps the smallest failure found so far. */
const SHRINK_MS_MAX = 30_000

export interface SeedOutcome {
  seed: number
  result: SimResult
}

export function runSchedule(schedule: Schedule, seed: number, transcript = false): SimResult {
  return new Simulation(schedule, seed, transcript).run()
}

export function runSeed(shape: ScheduleShape, seed: number, transcript = false): SeedOutcome {
  return { seed, result: runSchedule(drawSchedule(shape, seed), seed, transcript) }
}

export function useDefects(names: readonly DefectName[]): void {
  setDefects(names)
}

/**
 * Shrinks a failing seed's schedule with fast-check: the same seed makes fast-check try the
 * same schedule first, then smaller ones that still violate an invariant.
 */
export function shrinkSeed(shape: ScheduleShape, seed: number): Schedule {
  const details = fc.check(
    fc.property(scheduleArbitrary(shape), (schedule) => runSchedule(schedule, seed).violations.length === 0),
    { seed, numRuns: 1, maxSkipsPerRun: 0, interruptAfterTimeLimit: SHRINK_MS_MAX },
  )
  const found = details.counterexample?.[0]
  return found ?? drawSchedule(shape, seed)
}
