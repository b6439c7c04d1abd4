/**
 * Reading a node's groups back at open, without scanning their logs.
 *
 * The store first reads the directory: every group's segment runs, one row per group per segment
 * it wrote in, found by seeking from one group's rows in a segment to the next group's. Then each
 * group reads two point rows (log start, applied), its term runs (one key per leader change), the
 * hard state in its latest segment and its last entry (a reverse iterator with limit 1 per run,
 * from the last run back). Then cross-checks: the last entry's term must be the term the runs give
 * for its index.
 */

import type { GroupId, HardState, LogStart } from '@cairn/raft'
import {
  type AppliedState,
  decodeApplied,
  decodeEntry,
  decodeHardState,
  decodeLogStart,
  decodeOffsetRow,
  decodeSegmentRun,
  decodeTermRun,
} from './codec.js'
import type { Db } from './context.js'
import { CorruptLogError } from './errors.js'
import {
  GROUP_ID_MAX,
  GROUP_ROWS,
  groupKey,
  KeyKind,
  key,
  keyNumber,
  keyParts,
  kindRange,
  SEGMENT_MAX,
  SEGMENT_MIN,
} from './keys.js'
import { type SegmentRun, SegmentRuns } from './segments.js'
import { type TermRun, TermRuns } from './term-runs.js'

export interface Recovered {
  hardState: HardState
  logStart: LogStart
  applied: AppliedState | undefined
  runs: TermRuns
  segments: SegmentRuns
  /** Runs removed before the restart whose leftovers are still stored. */
  retired: SegmentRun[]
  lastIndex: number
  /** Rows at or below the log start are still stored: a prefix deletion was cut short. */
  leftoverPrefix: boolean
}

/** Every group's segment runs in segment order (or why they cannot be read), and the highest segment. */
export interface Directory {
  groups: Map<GroupId, SegmentRun[] | CorruptLogError>
  /** The highest log segment holding any row, or SEGMENT_MIN - 1 if there is none. */
  segmentMax: number
  /** Directory rows (runs of any group, live or retired, readable or not) per segment. */
  runsPerSegment: Map<number, number>
}

export function emptyHardState(): HardState {
  return { term: 0, vote: 0, commit: 0 }
}

export function emptyLogStart(): LogStart {
  return { index: 0, term: 0, payload: new Uint8Array(0), membership: { voters: [], learners: [] } }
}

/**
 * Reads the directory: one seek per group per segment. A group's rows in a segment begin with its
 * run row (kind 0), so the first key at or after [segment][group] is that row, or the next group's.
 */
export async function readDirectory(db: Db): Promise<Directory> {
  const groups = new Map<GroupId, SegmentRun[] | CorruptLogError>()
  const runsPerSegment = new Map<number, number>()
  let segmentMax = SEGMENT_MIN - 1
  const iterator = db.iterator({ gte: key(SEGMENT_MIN, 0, KeyKind.segmentRun, 0) })
  try {
    for (let row = await iterator.next(); row !== undefined; row = await iterator.next()) {
      const [k, v] = row
      const { segment, group, kind } = keyParts(k)
      segmentMax = Math.max(segmentMax, segment)
      if (kind === KeyKind.segmentRun) {
        runsPerSegment.set(segment, (runsPerSegment.get(segment) ?? 0) + 1)
        const runs = groups.get(group) ?? []
        if (Array.isArray(runs)) {
          try {
            runs.push({ segment, ...decodeSegmentRun(group, k, v) })
            groups.set(group, runs)
          } catch (error) {
            if (!(error instanceof CorruptLogError)) throw error
            groups.set(group, error)
          }
        }
      }
      if (group === GROUP_ID_MAX && segment === SEGMENT_MAX) break
      iterator.seek(
        group === GROUP_ID_MAX
          ? key(segment + 1, 0, KeyKind.segmentRun, 0)
          : key(segment, group + 1, KeyKind.segmentRun, 0),
      )
    }
  } finally {
    await iterator.close()
  }
  return { groups, segmentMax, runsPerSegment }
}

export async function recover(
  db: Db,
  group: GroupId,
  directoryRows: SegmentRun[] | CorruptLogError,
): Promise<Recovered> {
  if (directoryRows instanceof CorruptLogError) throw directoryRows
  const { runs: segments, retired } = SegmentRuns.fromRows(directoryRows)
  const latest = segments.last()
  const keys = [
    key(latest?.segment ?? 0, group, KeyKind.hardState, 0),
    groupKey(group, KeyKind.logStart, 0),
    groupKey(group, KeyKind.applied, 0),
  ]
  const [hard, start, applied] = await db.getMany(keys)
  if (latest !== undefined && hard === undefined)
    throw new CorruptLogError(group, `no hard state in its latest segment ${latest.segment}`)
  const logStart = start ? decodeLogStart(group, keys[1]!, start) : emptyLogStart()
  const runs = new TermRuns(await readTermRuns(db, group))
  const last = await readLastEntry(db, group, segments, logStart.index)
  const lastIndex = last?.index ?? logStart.index
  runs.dropBefore(logStart.index + 1)
  checkRuns(group, runs, logStart, last)
  return {
    hardState: hard ? decodeHardState(group, keys[0]!, hard) : emptyHardState(),
    logStart,
    applied: applied ? decodeApplied(group, keys[2]!, applied) : undefined,
    runs,
    segments,
    retired,
    lastIndex,
    leftoverPrefix: await hasLeftoverPrefix(db, group, segments, logStart.index),
  }
}

async function readTermRuns(db: Db, group: GroupId): Promise<TermRun[]> {
  const rows = await db.iterator(kindRange(GROUP_ROWS, group, KeyKind.termRun)).all()
  const runs = rows.map(([k, v]) => ({ start: keyNumber(k), term: decodeTermRun(group, k, v) }))
  for (let i = 1; i < runs.length; i++) {
    if (runs[i]!.term <= runs[i - 1]!.term) {
      throw new CorruptLogError(group, `term runs do not increase at index ${runs[i]!.start}`)
    }
  }
  return runs
}

/** The last entry above the log start: from the latest run back, the first run that holds one. */
async function readLastEntry(
  db: Db,
  group: GroupId,
  segments: SegmentRuns,
  logStartIndex: number,
): Promise<{ index: number; term: number } | undefined> {
  const list = segments.list()
  for (let i = list.length - 1; i >= 0; i--) {
    const { segment } = list[i]!
    const range = {
      gt: key(segment, group, KeyKind.entry, logStartIndex),
      lt: kindRange(segment, group, KeyKind.entry).lt,
    }
    const [row] = await db.iterator({ ...range, reverse: true, limit: 1 }).all()
    if (row === undefined) continue
    const index = keyNumber(row[0])
    return { index, term: decodeEntry(group, row[0], row[1], index).term }
  }
  return undefined
}

/**
 * Whether a prefix deletion must run again: a run other than the latest lies wholly at or below
 * the log start, or a run starting at or below it still holds entries or offset rows there.
 */
async function hasLeftoverPrefix(
  db: Db,
  group: GroupId,
  segments: SegmentRuns,
  logStartIndex: number,
): Promise<boolean> {
  if (logStartIndex === 0) return false
  const list = segments.list()
  for (let i = 0; i < list.length && list[i]!.firstIndex <= logStartIndex; i++) {
    const { segment } = list[i]!
    const next = list[i + 1]
    if (next !== undefined && next.firstIndex <= logStartIndex + 1) return true
    const entries = {
      gte: key(segment, group, KeyKind.entry, 0),
      lte: key(segment, group, KeyKind.entry, logStartIndex),
    }
    if ((await db.keys({ ...entries, limit: 1 }).all()).length > 0) return true
    const [row] = await db.iterator({ ...kindRange(segment, group, KeyKind.offset), limit: 1 }).all()
    if (row !== undefined && decodeOffsetRow(group, row[0], row[1], keyNumber(row[0])).index <= logStartIndex)
      return true
  }
  return false
}

/** The runs must cover exactly (logStart.index, last.index] and agree with the last entry. */
function checkRuns(
  group: GroupId,
  runs: TermRuns,
  logStart: LogStart,
  last: { index: number; term: number } | undefined,
): void {
  if (last === undefined) {
    if (runs.length > 0)
      throw new CorruptLogError(group, `term runs left beyond the last entry ${logStart.index}`)
    return
  }
  const first = runs.list()[0]
  if (first === undefined || first.start > logStart.index + 1) {
    throw new CorruptLogError(group, `no term run covers the first entry ${logStart.index + 1}`)
  }
  if (runs.last()!.start > last.index) {
    throw new CorruptLogError(group, `a term run starts after the last entry ${last.index}`)
  }
  const term = runs.termAt(last.index)
  if (term !== last.term) {
    throw new CorruptLogError(group, `last entry ${last.index} has term ${last.term}, term runs say ${term}`)
  }
  if (first.term < logStart.term) {
    throw new CorruptLogError(group, `entry terms fall below the log start term ${logStart.term}`)
  }
}
