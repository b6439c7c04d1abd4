/**
 * Where a group's rows are: one run per node segment the group wrote in, in segment order, each
 * with the first entry index it holds. Entry i is in the last run whose first index is <= i.
 *
 * Invariant: segments strictly increase along the list, first indexes never decrease. Two runs
 * with one first index: the earlier holds no entry (the group wrote only its hard state in that
 * segment) and is shadowed; it stays until retention removes it, because deleting its rows would
 * put keys of an old segment into the current memtable (keys.ts). A write only ever goes into the
 * last run (the node's current segment); a suffix truncation removes the runs that start at or
 * above it and re-bases the last run to start there; a prefix deletion removes runs that lie
 * wholly below the log start.
 *
 * On disk each run is a directory row (kind segmentRun) in its own segment. Runs that were removed
 * keep their row until a background deletion has cleared their leftovers, so a run read back at
 * open that is followed by a run starting below it is such a retired run.
 */

import type { SegmentRunRow } from './codec.js'

export interface SegmentRun extends SegmentRunRow {
  segment: number
}

export class SegmentRuns {
  private readonly runs: SegmentRun[]

  constructor(runs: SegmentRun[] = []) {
    this.runs = runs
    for (let i = 1; i < runs.length; i++) {
      const previous = runs[i - 1]!
      const run = runs[i]!
      if (!(run.segment > previous.segment && run.firstIndex >= previous.firstIndex)) {
        throw new Error(`segment runs out of order at segment ${run.segment}`)
      }
    }
  }

  /**
   * Splits the directory rows read at open (in segment order) into the live runs and the retired
   * ones: a row followed by one that starts below it was removed by a truncation and its deletion
   * did not finish before the restart. (One removed by a truncation to its own first index reads
   * back as shadowed, which is as good: nothing reads a shadowed run's entries.)
   */
  static fromRows(rows: readonly SegmentRun[]): { runs: SegmentRuns; retired: SegmentRun[] } {
    const live: SegmentRun[] = []
    const retired: SegmentRun[] = []
    for (const row of rows) {
      while (live.length > 0 && live.at(-1)!.firstIndex > row.firstIndex) retired.push(live.pop()!)
      live.push({ ...row })
    }
    return { runs: new SegmentRuns(live), retired }
  }

  get length(): number {
    return this.runs.length
  }

  list(): readonly SegmentRun[] {
    return this.runs
  }

  last(): SegmentRun | undefined {
    return this.runs.at(-1)
  }

  /** The position of the run holding entry `index` (the last starting at or below it), or -1. */
  positionOf(index: number): number {
    let lo = 0
    let hi = this.runs.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.runs[mid]!.firstIndex <= index) lo = mid + 1
      else hi = mid
    }
    return lo - 1
  }

  /** The run holding entry `index`, or undefined if every run starts above it. */
  runOf(index: number): SegmentRun | undefined {
    return this.runs[this.positionOf(index)]
  }

  /** Copies of the runs from the one holding `index` on (from the first if none holds it). */
  from(index: number): SegmentRun[] {
    return this.runs.slice(Math.max(0, this.positionOf(index))).map((run) => ({ ...run }))
  }

  /**
   * A copy of the run holding `index` and where the next run starts (the end of what it holds),
   * or undefined if every run starts above `index`. Reads walk the log with it run by run, so a
   * read near the end of a long log copies nothing else.
   */
  span(index: number): { run: SegmentRun; end: number | undefined } | undefined {
    const at = this.positionOf(index)
    if (at === -1) return undefined
    return { run: { ...this.runs[at]! }, end: this.runs[at + 1]?.firstIndex }
  }

  /** The run after `run` in the list now, or undefined (also when `run` is no longer listed). */
  after(run: SegmentRun): SegmentRun | undefined {
    const at = this.runs.findIndex((r) => r.segment === run.segment)
    return at === -1 ? undefined : this.runs[at + 1]
  }

  /**
   * Copies of the runs an offset lookup for `offset` scans, in order: from the last run whose first
   * offset row is at or below `offset` (the first run with offset rows if there is none), skipping
   * runs without offset rows. Offsets grow with the index along the log, so no current row of an
   * earlier run reaches `offset`.
   */
  forOffset(offset: number): SegmentRun[] {
    // From the end: lookups are mostly for recent offsets, found in the last runs.
    let start = -1
    for (let i = this.runs.length - 1; i >= 0 && start === -1; i--) {
      const lo = this.runs[i]!.offsetLo
      if (lo !== undefined && lo <= offset) start = i
    }
    const out: SegmentRun[] = []
    for (let i = Math.max(0, start); i < this.runs.length; i++) {
      const run = this.runs[i]!
      if (run.offsetLo !== undefined) out.push({ ...run })
    }
    return out
  }

  push(run: SegmentRun): void {
    const last = this.last()
    if (last !== undefined && !(run.segment > last.segment && run.firstIndex >= last.firstIndex)) {
      throw new Error(
        `segment run ${run.segment}@${run.firstIndex} does not follow ${last.segment}@${last.firstIndex}`,
      )
    }
    this.runs.push(run)
  }

  /** Removes the runs before the last one that start at or above `index`; returns them. */
  removeFrom(index: number): SegmentRun[] {
    const keep = this.runs.length - 1
    const at = this.positionOf(index - 1) + 1
    if (at >= keep) return []
    return this.runs.splice(at, keep - at)
  }

  /** Removes `run` (by segment); false if it is not listed. */
  remove(run: SegmentRun): boolean {
    const at = this.runs.findIndex((r) => r.segment === run.segment)
    if (at === -1) return false
    this.runs.splice(at, 1)
    return true
  }
}
