/**
 * Burrow's evaluator, as pure functions: a partition's window of commits in, a status out; a group
 * is the worst of its partitions. No clock, no I/O: `now` comes in with the window.
 *
 * Partition rules, in order, the first that matches wins (Burrow's `calculatePartitionStatus`):
 *  0. Leading empty slots are dropped; complete = filled / intervals. Below `minimumComplete`, or
 *     with nothing committed, or when the current lag is at most `allowedLag`: OK.
 *  1. STOP: the time since the last commit is larger than the time the window spans
 *     (now − last > last − first), and no recent log-end offset is ≤ the last committed offset
 *     (the consumer was not simply caught up on an idle partition).
 *  2. REWIND: some offset is lower than the one before it and no later offset recovers to it.
 *  3. If no commit in the window has lag ≤ allowedLag:
 *     STALL when every offset equals the one before it; WARN when no lag is smaller than the lag
 *     before it.
 *  4. OK.
 * An unknown lag (null: no log-end offset was known at the commit) is no evidence either way: the
 * lag rules (3) look at known lags only, and with none known they do not fire.
 */
import { type GroupStatusName, groupStatusOf, type PartitionStatusName } from './status.js'

/** One commit in a partition's window, as Burrow's ConsumerOffset. */
export interface CommitSample {
  offset: number
  /** Commit time, ms since the epoch. */
  timestamp: number
  /** max(0, latest log-end offset − offset) when it was committed; null when unknown. */
  lag: number | null
}

export interface PartitionWindow {
  /** Oldest first; null is an empty slot of the ring. */
  offsets: (CommitSample | null)[]
  /** Recent log-end offsets (the ring of the last `intervals` polls). */
  brokerOffsets: number[]
  /** Latest log-end offset − last committed offset, ≥ 0. */
  currentLag: number
  /** ms since the epoch. */
  now: number
  /** Size of the window; default: offsets.length. */
  intervals?: number
  /** Lag that still counts as caught up; default 0. */
  allowedLag?: number
  /** Share of the window that must be filled before the rules apply, 0..1; default 0. */
  minimumComplete?: number
}

export interface PartitionEvaluation {
  status: PartitionStatusName
  /** Filled slots / intervals, 0..1. */
  complete: number
}

function check(ok: boolean, message: string): void {
  if (!ok) throw new RangeError(`evaluatePartition: ${message}`)
}

function validate(w: PartitionWindow, intervals: number, allowedLag: number, minimumComplete: number): void {
  check(Array.isArray(w.offsets), 'offsets must be an array')
  check(Array.isArray(w.brokerOffsets), 'brokerOffsets must be an array')
  check(Number.isFinite(w.currentLag) && w.currentLag >= 0, `currentLag must be ≥ 0, got ${w.currentLag}`)
  check(Number.isFinite(w.now), `now must be a finite number of ms, got ${w.now}`)
  check(
    Number.isSafeInteger(intervals) && intervals >= 0,
    `intervals must be an integer ≥ 0, got ${intervals}`,
  )
  check(Number.isFinite(allowedLag) && allowedLag >= 0, `allowedLag must be ≥ 0, got ${allowedLag}`)
  check(
    Number.isFinite(minimumComplete) && minimumComplete >= 0 && minimumComplete <= 1,
    `minimumComplete must be within 0..1, got ${minimumComplete}`,
  )
  for (const o of w.offsets) {
    if (o === null) continue
    check(
      Number.isFinite(o.offset) && Number.isFinite(o.timestamp),
      'every commit needs a finite offset and timestamp',
    )
    check(
      o.lag === null || (Number.isFinite(o.lag) && o.lag >= 0),
      `a commit's lag must be ≥ 0 or null, got ${o.lag}`,
    )
  }
}

/** The window's filled slots, oldest first, after dropping the leading empty ones. */
function filledSlots(offsets: (CommitSample | null)[], intervals: number): CommitSample[] {
  const window = intervals === 0 ? [] : offsets.slice(-intervals)
  return window.filter((o): o is CommitSample => o !== null)
}

/** Rule 1's clock half: the consumer has been silent longer than its window spans. */
export function offsetsStopped(offsets: CommitSample[], now: number): boolean {
  const first = offsets[0]!.timestamp
  const last = offsets[offsets.length - 1]!.timestamp
  return now - last > last - first
}

/** Rule 1's exception: a recent log-end offset at or below the last commit means it was caught up. */
export function caughtUpRecently(offsets: CommitSample[], brokerOffsets: number[]): boolean {
  const last = offsets[offsets.length - 1]!.offset
  return brokerOffsets.some((b) => b <= last)
}

/** Rule 2: a drop that no later commit climbs back from. */
export function offsetsRewound(offsets: CommitSample[]): boolean {
  for (let i = 1; i < offsets.length; i++) {
    const before = offsets[i - 1]!.offset
    if (offsets[i]!.offset >= before) continue
    if (!offsets.slice(i + 1).some((o) => o.offset >= before)) return true
  }
  return false
}

/** Rule 3, STALL: the committed offset never moved. */
export function offsetsStalled(offsets: CommitSample[]): boolean {
  return offsets.every((o, i) => i === 0 || o.offset === offsets[i - 1]!.offset)
}

/** Rule 3, WARN: the lag never went down. */
export function lagNeverDecreases(lags: number[]): boolean {
  return lags.every((lag, i) => i === 0 || lag >= lags[i - 1]!)
}

export function evaluatePartition(w: PartitionWindow): PartitionEvaluation {
  const intervals = w.intervals ?? w.offsets.length
  const allowedLag = w.allowedLag ?? 0
  const minimumComplete = w.minimumComplete ?? 0
  validate(w, intervals, allowedLag, minimumComplete)
  const offsets = filledSlots(w.offsets, intervals)
  const complete = intervals === 0 ? 0 : Math.min(1, offsets.length / intervals)
  if (offsets.length === 0 || complete < minimumComplete || w.currentLag <= allowedLag)
    return { status: 'OK', complete }
  if (offsetsStopped(offsets, w.now) && !caughtUpRecently(offsets, w.brokerOffsets))
    return { status: 'STOP', complete }
  if (offsetsRewound(offsets)) return { status: 'REWIND', complete }
  const lags = offsets.map((o) => o.lag).filter((l): l is number => l !== null)
  if (lags.length > 0 && lags.every((l) => l > allowedLag)) {
    if (offsetsStalled(offsets)) return { status: 'STALL', complete }
    if (lagNeverDecreases(lags)) return { status: 'WARN', complete }
  }
  return { status: 'OK', complete }
}

// ---- Groups ----------------------------------------------------------------------------------

/** A commit as Burrow's JSON shows it. */
export interface ConsumerOffset {
  offset: number
  timestamp: number
  /** When the monitor read the commit, ms. */
  observedAt: number
  lag: number | null
}

/** A partition's status in Burrow's JSON, plus the lag in time. */
export interface PartitionStatus {
  topic: string
  partition: number
  owner: string
  client_id: string
  status: PartitionStatusName
  start: ConsumerOffset | null
  end: ConsumerOffset | null
  current_lag: number
  complete: number
  /** How old the next unconsumed record is, s; 0 when caught up, null when unknown. */
  current_lag_seconds: number | null
}

/** A group's status in Burrow's JSON, plus the largest lag in time. */
export interface GroupStatus {
  cluster: string
  group: string
  status: GroupStatusName
  complete: number
  partitions: PartitionStatus[]
  partition_count: number
  maxlag: PartitionStatus | null
  totallag: number
  maxlag_seconds: number | null
}

export interface PartitionInput {
  topic: string
  partition: number
  owner: string
  clientId: string
  offsets: ((CommitSample & { observedAt: number }) | null)[]
  brokerOffsets: number[]
  currentLag: number
  currentLagSeconds: number | null
}

export interface EvaluatorOptions {
  intervals: number
  allowedLag: number
  minimumComplete: number
}

function lastFilled<T>(xs: (T | null)[]): T | null {
  for (let i = xs.length - 1; i >= 0; i--) if (xs[i] !== null) return xs[i]!
  return null
}

function asConsumerOffset(o: (CommitSample & { observedAt: number }) | null): ConsumerOffset | null {
  return o && { offset: o.offset, timestamp: o.timestamp, observedAt: o.observedAt, lag: o.lag }
}

/** Every partition evaluated; the group is the worst of them, capped at ERR. */
export function evaluateGroup(
  cluster: string,
  group: string,
  partitions: PartitionInput[],
  now: number,
  options: EvaluatorOptions,
): GroupStatus {
  const statuses: PartitionStatus[] = partitions.map((p) => {
    const { status, complete } = evaluatePartition({
      offsets: p.offsets,
      brokerOffsets: p.brokerOffsets,
      currentLag: p.currentLag,
      now,
      ...options,
    })
    return {
      topic: p.topic,
      partition: p.partition,
      owner: p.owner,
      client_id: p.clientId,
      status,
      start: asConsumerOffset(p.offsets.find((o) => o !== null) ?? null),
      end: asConsumerOffset(lastFilled(p.offsets)),
      current_lag: p.currentLag,
      complete,
      current_lag_seconds: p.currentLagSeconds,
    }
  })
  let maxlag: PartitionStatus | null = null
  let totallag = 0
  let full = 0
  let maxlagSeconds: number | null = null
  for (const s of statuses) {
    totallag += s.current_lag
    if (s.complete >= 1) full++
    if (maxlag === null || s.current_lag > maxlag.current_lag) maxlag = s
    if (s.current_lag_seconds !== null) maxlagSeconds = Math.max(maxlagSeconds ?? 0, s.current_lag_seconds)
  }
  return {
    cluster,
    group,
    status: groupStatusOf(statuses.map((s) => s.status)),
    complete: statuses.length === 0 ? 0 : full / statuses.length,
    partitions: statuses,
    partition_count: statuses.length,
    maxlag,
    totallag,
    maxlag_seconds: maxlagSeconds,
  }
}

/** What Burrow answers for a group it does not know. */
export function notFoundStatus(cluster: string, group: string): GroupStatus {
  return {
    cluster,
    group,
    status: 'NOTFOUND',
    complete: 0,
    partitions: [],
    partition_count: 0,
    maxlag: null,
    totallag: 0,
    maxlag_seconds: null,
  }
}
