/**
 * Checks on every write, made before anything changes, so a rejected write leaves no trace.
 * They guard the invariants the rest of the store relies on: a contiguous log, terms that never
 * decrease, a log start that only moves forward, hard state that never goes back.
 */

import { type Entry, EntryKind, type GroupId, type HardState, type LogStart, NONE } from '@cairn/raft'
import type { AppliedState } from './codec.js'
import { InvalidWriteError } from './errors.js'

const NODE_ID_MAX = 0xffff_ffff
const ENTRY_KINDS: ReadonlySet<number> = new Set(Object.values(EntryKind))

function isU64(n: unknown): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0
}

function isNodeId(n: unknown): boolean {
  return typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= NODE_ID_MAX
}

export function validateHardState(group: GroupId, current: HardState, next: HardState): void {
  const fail = (detail: string) =>
    new InvalidWriteError(group, `hard state ${JSON.stringify(next)}: ${detail}`)
  if (!isU64(next.term) || !isU64(next.commit) || !isNodeId(next.vote)) throw fail('fields out of range')
  if (next.term < current.term) throw fail(`term goes back from ${current.term}`)
  if (next.term === current.term && current.vote !== NONE && next.vote !== current.vote) {
    throw fail(`vote changes within term ${current.term} from ${current.vote}`)
  }
  if (next.commit < current.commit) throw fail(`commit goes back from ${current.commit}`)
}

export function validateLogStart(group: GroupId, current: LogStart, next: LogStart): void {
  const fail = (detail: string) =>
    new InvalidWriteError(group, `log start ${next.index}/${next.term}: ${detail}`)
  if (!isU64(next.index) || !isU64(next.term)) throw fail('index or term out of range')
  if (next.index < current.index) throw fail(`moves back from ${current.index}`)
  if (next.term < current.term) throw fail(`term goes back from ${current.term}`)
  if (!(next.payload instanceof Uint8Array)) throw fail('payload is not a Uint8Array')
  const { voters, learners } = next.membership
  if (!voters.every(isNodeId) || !learners.every(isNodeId)) throw fail('membership node id out of range')
}

export interface AppendBounds {
  logStartIndex: number
  lastIndex: number
  /** Term of the entry just before the first appended one, if the log has it. */
  previousTerm: number | undefined
}

export function validateEntries(group: GroupId, entries: readonly Entry[], bounds: AppendBounds): void {
  const first = entries[0]!.index
  const fail = (detail: string) => new InvalidWriteError(group, `append at ${first}: ${detail}`)
  if (!isU64(first) || first <= bounds.logStartIndex) {
    throw fail(`first index must be above the log start ${bounds.logStartIndex}`)
  }
  if (first > bounds.lastIndex + 1) throw fail(`gap: the log ends at ${bounds.lastIndex}`)
  let previousTerm = bounds.previousTerm ?? 0
  entries.forEach((entry, i) => {
    if (entry.index !== first + i) throw fail(`entry ${i} has index ${entry.index}, expected ${first + i}`)
    if (!isU64(entry.term) || entry.term === 0)
      throw fail(`entry ${entry.index}: term ${entry.term} out of range`)
    if (entry.term < previousTerm)
      throw fail(`entry ${entry.index}: term ${entry.term} after ${previousTerm}`)
    if (!ENTRY_KINDS.has(entry.kind)) throw fail(`entry ${entry.index}: unknown kind ${entry.kind}`)
    if (!(entry.data instanceof Uint8Array)) throw fail(`entry ${entry.index}: data is not a Uint8Array`)
    previousTerm = entry.term
  })
}

export function validateApplied(group: GroupId, applied: AppliedState): void {
  if (!isU64(applied.index) || !(applied.data instanceof Uint8Array)) {
    throw new InvalidWriteError(group, 'applied state: index out of range or data not a Uint8Array')
  }
}
