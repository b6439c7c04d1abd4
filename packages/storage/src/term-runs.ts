/**
 * The terms of a group's log as runs: `[(start, term)]`, one run per stretch of entries with one
 * term. Terms never decrease along a Raft log, so runs are few (one per leader change) and the
 * whole list stays in memory; it is also persisted, one key per run, so a restart reads it back
 * with one short range scan instead of scanning the log.
 *
 * Invariant: starts strictly increase and terms strictly increase.
 */

export interface TermRun {
  start: number
  term: number
}

export class TermRuns {
  private readonly runs: TermRun[]

  constructor(runs: TermRun[] = []) {
    this.runs = runs
    for (let i = 1; i < runs.length; i++) {
      const previous = runs[i - 1]!
      const run = runs[i]!
      if (!(run.start > previous.start && run.term > previous.term)) {
        throw new Error(`term runs out of order at ${run.start}: ${JSON.stringify(runs.slice(i - 1, i + 1))}`)
      }
    }
  }

  get length(): number {
    return this.runs.length
  }

  list(): readonly TermRun[] {
    return this.runs
  }

  last(): TermRun | undefined {
    return this.runs.at(-1)
  }

  /** Term of `index`, assuming the caller checked it lies within the log; undefined before all runs. */
  termAt(index: number): number | undefined {
    const last = this.runs.at(-1)
    if (last === undefined || index >= last.start) return last?.term
    let lo = 0
    let hi = this.runs.length - 1 // runs[hi].start > index
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1
      if (this.runs[mid]!.start <= index) lo = mid
      else hi = mid - 1
    }
    const run = this.runs[lo]!
    return run.start <= index ? run.term : undefined
  }

  /** Forgets runs starting at or after `index` (suffix truncation); returns their starts. */
  truncateFrom(index: number): number[] {
    let keep = this.runs.length
    while (keep > 0 && this.runs[keep - 1]!.start >= index) keep--
    return this.runs.splice(keep).map((run) => run.start)
  }

  /** Records entry (`index`, `term`) appended at the end; returns true when it opens a new run. */
  append(index: number, term: number): boolean {
    const last = this.runs.at(-1)
    if (last !== undefined && last.term === term) return false
    this.runs.push({ start: index, term })
    return true
  }

  /** Forgets runs that end before `index` (prefix deletion); returns their starts. */
  dropBefore(index: number): number[] {
    let drop = 0
    while (drop + 1 < this.runs.length && this.runs[drop + 1]!.start <= index) drop++
    return this.runs.splice(0, drop).map((run) => run.start)
  }

  /** Forgets every run (the whole log was deleted); returns their starts. */
  clear(): number[] {
    return this.runs.splice(0).map((run) => run.start)
  }
}
