/**
 * Coalesced heartbeats. Between two nodes, one frame per tick carries the heartbeats (and, apart,
 * the heartbeat responses) of every group they share. From and to are the frame's; what varies per
 * group goes in parallel columns, group ids sorted and delta-coded so that thousands of groups
 * cost a few bytes each:
 *
 *   heartbeats:          [groupDeltas: uint[], terms: uint[], commits: uint[]]
 *   heartbeat responses: [groupDeltas: uint[], terms: uint[]]
 *
 * groupDeltas[0] is the first group id, groupDeltas[i] = group[i] - group[i-1] >= 0.
 */

import { groupIdMax } from './limits.js'
import type { Heartbeat, HeartbeatResponse, NodeId } from './raft-messages.js'
import { fail, ok, type Result } from './result.js'
import { describe } from './validate.js'

export type HeartbeatColumns = [groupDeltas: number[], terms: number[], commits: number[]]
export type HeartbeatResponseColumns = [groupDeltas: number[], terms: number[]]

function byGroup(a: { group: number }, b: { group: number }): number {
  return a.group - b.group
}

function groupDeltas(sorted: readonly { group: number }[]): number[] {
  const deltas = new Array<number>(sorted.length)
  let previous = 0
  for (let i = 0; i < sorted.length; i++) {
    const group = sorted[i]!.group
    deltas[i] = group - previous
    previous = group
  }
  return deltas
}

export function packHeartbeats(heartbeats: readonly Heartbeat[]): HeartbeatColumns {
  const sorted = [...heartbeats].sort(byGroup) // stable: two heartbeats of one group keep their order
  return [groupDeltas(sorted), sorted.map((h) => h.term), sorted.map((h) => h.commit)]
}

export function packHeartbeatResponses(responses: readonly HeartbeatResponse[]): HeartbeatResponseColumns {
  const sorted = [...responses].sort(byGroup)
  return [groupDeltas(sorted), sorted.map((h) => h.term)]
}

function isUint(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
}

/** Check columns: arrays of equal length within `countMax`, all non-negative safe integers. */
function columnsError(columns: unknown, width: number, countMax: number, path: string): string | undefined {
  if (!Array.isArray(columns) || columns.length !== width) {
    return `${path}: expected ${width} columns, got ${describe(columns)}`
  }
  const first = columns[0]
  if (!Array.isArray(first)) return `${path}[0]: expected an array, got ${describe(first)}`
  if (first.length > countMax)
    return `${path}: ${first.length} heartbeats exceed heartbeatsPerFrameMax ${countMax}`
  for (let c = 0; c < width; c++) {
    const column = columns[c]
    if (!Array.isArray(column) || column.length !== first.length) {
      return `${path}[${c}]: expected an array of ${first.length}, got ${describe(column)}`
    }
    for (let i = 0; i < column.length; i++) {
      if (!isUint(column[i]))
        return `${path}[${c}][${i}]: expected a non-negative safe integer, got ${describe(column[i])}`
    }
  }
  return undefined
}

/** Undo the delta coding; fails if a group id leaves 0..2^32-1. */
function groupsFromDeltas(deltas: readonly number[], path: string): Result<number[]> {
  const groups = new Array<number>(deltas.length)
  let group = 0
  for (let i = 0; i < deltas.length; i++) {
    group += deltas[i]!
    if (group > groupIdMax) return fail(`${path}[0][${i}]: group id ${group} exceeds 2^32-1`)
    groups[i] = group
  }
  return ok(groups)
}

export function unpackHeartbeats(
  columns: unknown,
  from: NodeId,
  to: NodeId,
  countMax: number,
  path = 'heartbeats',
): Result<Heartbeat[]> {
  const error = columnsError(columns, 3, countMax, path)
  if (error) return fail(error)
  const [deltas, terms, commits] = columns as HeartbeatColumns
  const groups = groupsFromDeltas(deltas, path)
  if (!groups.ok) return groups
  return ok(
    groups.value.map((group, i) => ({
      type: 'heartbeat',
      group,
      from,
      to,
      term: terms[i]!,
      commit: commits[i]!,
    })),
  )
}

export function unpackHeartbeatResponses(
  columns: unknown,
  from: NodeId,
  to: NodeId,
  countMax: number,
  path = 'heartbeatResponses',
): Result<HeartbeatResponse[]> {
  const error = columnsError(columns, 2, countMax, path)
  if (error) return fail(error)
  const [deltas, terms] = columns as HeartbeatResponseColumns
  const groups = groupsFromDeltas(deltas, path)
  if (!groups.ok) return groups
  return ok(groups.value.map((group, i) => ({ type: 'heartbeatResponse', group, from, to, term: terms[i]! })))
}
