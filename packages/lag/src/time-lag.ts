/**
 * Lag in time, as kafka-lag-exporter estimates it: keep a history of (log-end offset, poll time)
 * per partition; the next unconsumed record, at the committed offset c, was appended after the
 * last poll that saw the log end at or below c and before the first poll that saw it above c.
 * Interpolate linearly between those two polls; its age now is the lag in seconds.
 *
 * The history keeps offsets non-decreasing. A run of polls with the same log end keeps its first
 * and its last poll only (the last one's time moves forward): the first bounds when the run began,
 * the last bounds when the next record can have arrived.
 */

export interface LogEndSample {
  offset: number
  /** Poll time, ms. */
  time: number
}

export class LogEndHistory {
  private samples: LogEndSample[] = []

  constructor(readonly samplesMax: number) {
    if (!Number.isSafeInteger(samplesMax) || samplesMax < 2)
      throw new RangeError(`LogEndHistory: samplesMax must be an integer ≥ 2, got ${samplesMax}`)
  }

  add(offset: number, time: number): void {
    const n = this.samples.length
    const last = this.samples[n - 1]
    if (last && (offset < last.offset || time < last.time)) {
      // The log end went back (topic recreated, unclean truncation) or the clock did: start over.
      this.samples = [{ offset, time }]
      return
    }
    if (last && last.offset === offset && this.samples[n - 2]?.offset === offset) last.time = time
    else this.samples.push({ offset, time })
    if (this.samples.length > this.samplesMax) this.samples.shift()
  }

  /** Oldest first: offsets non-decreasing, times increasing. */
  toArray(): LogEndSample[] {
    return this.samples.map((s) => ({ ...s }))
  }

  get size(): number {
    return this.samples.length
  }
}

const round3 = (x: number) => Math.round(x * 1000) / 1000

/**
 * Seconds since the record at `committed` was appended (0 when caught up), or null when the
 * history cannot say (empty, or a single poll that the consumer is behind).
 */
export function timeLagSeconds(
  samples: readonly LogEndSample[],
  committed: number,
  now: number,
): number | null {
  const latest = samples[samples.length - 1]
  if (!latest) return null
  if (committed >= latest.offset) return 0
  const firstAbove = samples.findIndex((s) => s.offset > committed)
  let appendedAt: number
  if (firstAbove > 0) {
    const a = samples[firstAbove - 1]!
    const b = samples[firstAbove]!
    appendedAt = a.time + ((committed - a.offset) * (b.time - a.time)) / (b.offset - a.offset)
  } else {
    // Older than the whole history: extrapolate at the history's average rate.
    if (samples.length < 2) return null
    const first = samples[0]!
    const rate = (latest.offset - first.offset) / (latest.time - first.time)
    appendedAt = rate > 0 ? first.time - (first.offset - committed) / rate : first.time
  }
  return round3(Math.max(0, now - appendedAt) / 1000)
}
