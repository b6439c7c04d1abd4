/**
 * Reading a group back at open, without scanning its log: three point reads (hard state, log
 * start, applied), the term runs (one key per leader change), and the last entry (a reverse
 * iterator with limit 1). Then cross-checks: the last entry's term must be the term the runs give
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
  decodeTermRun,
} from './codec.js'
import type { Db } from './context.js'
import { CorruptLogError } from './errors.js'
import { KeyKind, key, keyNumber, kindRange } from './keys.js'
import { type TermRun, TermRuns } from './term-runs.js'

export interface Recovered {
  hardState: HardState
  logStart: LogStart
  applied: AppliedState | undefined
  runs: TermRuns
  lastIndex: number
  /** Entries at or below the log start are still stored: a prefix deletion was cut short. */
  leftoverPrefix: boolean
}

export function emptyHardState(): HardState {
  return { term: 0, vote: 0, commit: 0 }
}

export function emptyLogStart(): LogStart {
  return { index: 0, term: 0, payload: new Uint8Array(0), membership: { voters: [], learners: [] } }
}

export async function recover(db: Db, group: GroupId): Promise<Recovered> {
  const keys = [
    key(group, KeyKind.hardState, 0),
    key(group, KeyKind.logStart, 0),
    key(group, KeyKind.applied, 0),
  ]
  const [hard, start, applied] = await db.getMany(keys)
  const logStart = start ? decodeLogStart(group, keys[1]!, start) : emptyLogStart()
  const runs = new TermRuns(await readTermRuns(db, group))
  const last = await readLastEntry(db, group, logStart.index)
  const lastIndex = last?.index ?? logStart.index
  runs.dropBefore(logStart.index + 1)
  checkRuns(group, runs, logStart, last)
  return {
    hardState: hard ? decodeHardState(group, keys[0]!, hard) : emptyHardState(),
    logStart,
    applied: applied ? decodeApplied(group, keys[2]!, applied) : undefined,
    runs,
    lastIndex,
    leftoverPrefix:
      (await hasEntriesThrough(db, group, logStart.index)) ||
      (await hasOffsetRowsThrough(db, group, logStart.index)),
  }
}

async function readTermRuns(db: Db, group: GroupId): Promise<TermRun[]> {
  const rows = await db.iterator(kindRange(group, KeyKind.termRun)).all()
  const runs = rows.map(([k, v]) => ({ start: keyNumber(k), term: decodeTermRun(group, k, v) }))
  for (let i = 1; i < runs.length; i++) {
    if (runs[i]!.term <= runs[i - 1]!.term) {
      throw new CorruptLogError(group, `term runs do not increase at index ${runs[i]!.start}`)
    }
  }
  return runs
}

async function readLastEntry(
  db: Db,
  group: GroupId,
  logStartIndex: number,
): Promise<{ index: number; term: number } | undefined> {
  const range = { gt: key(group, KeyKind.entry, logStartIndex), lt: kindRange(group, KeyKind.entry).lt }
  const rows = await db.iterator({ ...range, reverse: true, limit: 1 }).all()
  const row = rows[0]
  if (row === undefined) return undefined
  const index = keyNumber(row[0])
  return { index, term: decodeEntry(group, row[0], row[1], index).term }
}

async function hasEntriesThrough(db: Db, group: GroupId, index: number): Promise<boolean> {
  if (index === 0) return false
  const range = { gte: key(group, KeyKind.entry, 0), lte: key(group, KeyKind.entry, index) }
  const rows = await db.keys({ ...range, limit: 1 }).all()
  return rows.length > 0
}

async function hasOffsetRowsThrough(db: Db, group: GroupId, index: number): Promise<boolean> {
  if (index === 0) return false
  const [row] = await db.iterator({ ...kindRange(group, KeyKind.offset), limit: 1 }).all()
  return row !== undefined && decodeOffsetRow(group, row[0], row[1], keyNumber(row[0])).index <= index
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
