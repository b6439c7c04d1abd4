/**
 * Hand-written schema checks for Raft messages decoded from the network. Everything a peer sends
 * passes here before Raft sees it: types, ranges, array lengths, and no key that the schema does
 * not name. Checks return the first problem found, with a path, instead of throwing.
 */
import { defaultFrameLimits, type FrameLimits, groupIdMax } from './limits.js'
import type { Entry, LogStart, Membership, RaftMessage, RaftMessageType } from './raft-messages.js'
import { fail, ok, type Result } from './result.js'

/** The keys of each message type, `type` included: exactly these, no more. */
const keysByType: Readonly<Record<RaftMessageType, readonly string[]>> = {
  preVote: ['type', 'group', 'from', 'to', 'term', 'lastIndex', 'lastTerm', 'transfer'],
  vote: ['type', 'group', 'from', 'to', 'term', 'lastIndex', 'lastTerm', 'transfer'],
  preVoteResponse: ['type', 'group', 'from', 'to', 'term', 'granted'],
  voteResponse: ['type', 'group', 'from', 'to', 'term', 'granted'],
  append: ['type', 'group', 'from', 'to', 'term', 'prevIndex', 'prevTerm', 'entries', 'commit'],
  appendResponse: ['type', 'group', 'from', 'to', 'term', 'index', 'reject', 'hintIndex', 'hintTerm'],
  heartbeat: ['type', 'group', 'from', 'to', 'term', 'commit'],
  heartbeatResponse: ['type', 'group', 'from', 'to', 'term'],
  snapshot: ['type', 'group', 'from', 'to', 'term', 'logStart'],
  timeoutNow: ['type', 'group', 'from', 'to', 'term'],
  quiesce: ['type', 'group', 'from', 'to', 'term', 'commit'],
}

export const raftMessageTypes: readonly RaftMessageType[] = Object.keys(keysByType) as RaftMessageType[]

/** Record shape: an object whose prototype is Object's (or null), not an array or a class instance. */
export function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== 'object' || x === null || Array.isArray(x)) return false
  const proto = Object.getPrototypeOf(x)
  return proto === Object.prototype || proto === null
}

/** A short, bounded description of a value for an error message (never echoes a large input). */
export function describe(x: unknown): string {
  if (typeof x === 'number' || typeof x === 'boolean' || typeof x === 'bigint') return String(x)
  if (typeof x === 'string') return JSON.stringify(x.length > 24 ? `${x.slice(0, 24)}…` : x)
  if (x === null || x === undefined) return String(x)
  if (x instanceof Uint8Array) return `bytes(${x.length})`
  if (Array.isArray(x)) return `array(${x.length})`
  return typeof x
}

function isUint(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
}

function isNodeId(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x > 0
}

/**
 * Exactly the expected keys, none missing and none extra. The fast path allocates nothing: `x` is
 * a plain map (its prototype holds no enumerable keys) and decoded values are never undefined.
 */
function checkKeys(x: Record<string, unknown>, keys: readonly string[], path: string): string | undefined {
  let count = 0
  for (const _ in x) count++
  if (count === keys.length) {
    let present = 0
    for (let i = 0; i < keys.length; i++)
      if (x[keys[i]!] !== undefined && Object.hasOwn(x, keys[i]!)) present++
    if (present === keys.length) return undefined
  }
  const actual = Object.keys(x)
  const extra = actual.filter((k) => !keys.includes(k))
  const missing = keys.filter((k) => !Object.hasOwn(x, k) || x[k] === undefined)
  const parts = []
  if (missing.length > 0) parts.push(`missing ${missing.join(', ')}`)
  if (extra.length > 0) parts.push(`unexpected key ${describe(extra[0])}`)
  return `${path}: ${parts.join('; ')}`
}

function uintError(x: Record<string, unknown>, key: string, path: string): string | undefined {
  const v = x[key]
  return isUint(v) ? undefined : `${path}.${key}: expected a non-negative safe integer, got ${describe(v)}`
}

function boolError(x: Record<string, unknown>, key: string, path: string): string | undefined {
  const v = x[key]
  return typeof v === 'boolean' ? undefined : `${path}.${key}: expected a boolean, got ${describe(v)}`
}

function envelopeError(x: Record<string, unknown>, path: string): string | undefined {
  const g = x.group
  if (!(isUint(g) && g <= groupIdMax))
    return `${path}.group: expected an integer in 0..2^32-1, got ${describe(g)}`
  if (!isNodeId(x.from)) return `${path}.from: expected a positive node id, got ${describe(x.from)}`
  if (!isNodeId(x.to)) return `${path}.to: expected a positive node id, got ${describe(x.to)}`
  return uintError(x, 'term', path)
}

export function validateNodeIds(ids: unknown, limit: number, path: string): string | undefined {
  if (!Array.isArray(ids)) return `${path}: expected an array, got ${describe(ids)}`
  if (ids.length > limit) return `${path}: ${ids.length} members exceed membersMax ${limit}`
  for (let i = 0; i < ids.length; i++) {
    if (!isNodeId(ids[i])) return `${path}[${i}]: expected a positive node id, got ${describe(ids[i])}`
  }
  if (new Set(ids).size !== ids.length) return `${path}: duplicate node id`
  return undefined
}

export function validateMembership(
  x: unknown,
  limits: FrameLimits,
  path: string,
  shaped = false,
): Result<Membership> {
  if (!isPlainObject(x)) return fail(`${path}: expected a map, got ${describe(x)}`)
  const error =
    (shaped ? undefined : checkKeys(x, ['voters', 'learners'], path)) ??
    validateNodeIds(x.voters, limits.membersMax, `${path}.voters`) ??
    validateNodeIds(x.learners, limits.membersMax, `${path}.learners`)
  if (error) return fail(error)
  const m = x as unknown as Membership
  if (m.voters.length + m.learners.length > limits.membersMax)
    return fail(`${path}: more than membersMax members`)
  const voters = new Set(m.voters)
  if (m.learners.some((id) => voters.has(id))) return fail(`${path}: a node is both voter and learner`)
  return ok(m)
}

export function validateLogStart(
  x: unknown,
  limits: FrameLimits,
  path: string,
  shaped = false,
): Result<LogStart> {
  if (!isPlainObject(x)) return fail(`${path}: expected a map, got ${describe(x)}`)
  const error =
    (shaped ? undefined : checkKeys(x, ['index', 'term', 'payload', 'membership'], path)) ??
    uintError(x, 'index', path) ??
    uintError(x, 'term', path)
  if (error) return fail(error)
  const payload = x.payload
  if (!(payload instanceof Uint8Array))
    return fail(`${path}.payload: expected bytes, got ${describe(payload)}`)
  if (payload.length > limits.logStartPayloadBytesMax) {
    return fail(`${path}.payload: ${payload.length} bytes exceed logStartPayloadBytesMax`)
  }
  const membership = validateMembership(x.membership, limits, `${path}.membership`, shaped)
  return membership.ok ? ok(x as unknown as LogStart) : membership
}

const entryKeys = ['index', 'term', 'kind', 'data'] as const

function entryError(x: unknown, index: number, path: string, shaped: boolean): string | undefined {
  if (!isPlainObject(x)) return `${path}: expected a map, got ${describe(x)}`
  const error = (shaped ? undefined : checkKeys(x, entryKeys, path)) ?? uintError(x, 'term', path)
  if (error) return error
  if (x.index !== index)
    return `${path}.index: expected ${index} (entries follow prevIndex), got ${describe(x.index)}`
  if (x.kind !== 0 && x.kind !== 1 && x.kind !== 2)
    return `${path}.kind: expected 0..2, got ${describe(x.kind)}`
  if (!(x.data instanceof Uint8Array)) return `${path}.data: expected bytes, got ${describe(x.data)}`
  return undefined
}

/**
 * Entries of an append: contiguous from prevIndex + 1, terms non-decreasing from prevTerm and
 * never above the message's term (Raft's log matching and leader append-only properties).
 */
function entriesError(
  x: Record<string, unknown>,
  limits: FrameLimits,
  path: string,
  shaped: boolean,
): string | undefined {
  const entries = x.entries
  if (!Array.isArray(entries)) return `${path}.entries: expected an array, got ${describe(entries)}`
  if (entries.length > limits.entriesPerMessageMax) {
    return `${path}.entries: ${entries.length} entries exceed entriesPerMessageMax ${limits.entriesPerMessageMax}`
  }
  const prevIndex = x.prevIndex as number
  let lastTerm = x.prevTerm as number
  for (let i = 0; i < entries.length; i++) {
    const at = `${path}.entries[${i}]`
    const error = entryError(entries[i], prevIndex + 1 + i, at, shaped)
    if (error) return error
    const term = (entries[i] as Entry).term
    if (term < lastTerm || term > (x.term as number)) {
      return `${at}.term: ${term} breaks prevTerm <= entry terms (non-decreasing) <= message term`
    }
    lastTerm = term
  }
  return undefined
}

function bodyError(
  x: Record<string, unknown>,
  limits: FrameLimits,
  path: string,
  shaped: boolean,
): string | undefined {
  switch (x.type as RaftMessageType) {
    case 'preVote':
    case 'vote':
      return (
        uintError(x, 'lastIndex', path) ?? uintError(x, 'lastTerm', path) ?? boolError(x, 'transfer', path)
      )
    case 'preVoteResponse':
    case 'voteResponse':
      return boolError(x, 'granted', path)
    case 'append':
      return (
        uintError(x, 'prevIndex', path) ??
        uintError(x, 'prevTerm', path) ??
        uintError(x, 'commit', path) ??
        entriesError(x, limits, path, shaped)
      )
    case 'appendResponse':
      return (
        uintError(x, 'index', path) ??
        boolError(x, 'reject', path) ??
        uintError(x, 'hintIndex', path) ??
        uintError(x, 'hintTerm', path)
      )
    case 'heartbeat':
    case 'quiesce':
      return uintError(x, 'commit', path)
    case 'snapshot': {
      const logStart = validateLogStart(x.logStart, limits, `${path}.logStart`, shaped)
      return logStart.ok ? undefined : logStart.reason
    }
    case 'heartbeatResponse':
    case 'timeoutNow':
      return undefined
  }
}

/**
 * Accept `x` as a {@link RaftMessage} only if every field has the schema's type and range and no
 * other key is present. Returns the input itself (not a copy) on success.
 */
export function validateRaftMessage(
  x: unknown,
  limits: FrameLimits = defaultFrameLimits,
  path = 'message',
): Result<RaftMessage> {
  return check(x, limits, path, false)
}

/**
 * Every field's type and range, as {@link validateRaftMessage}, but not the set of keys: for
 * objects whose keys are right by construction (the frame decoder builds each message from a tuple
 * of the right length) or do not matter (the encoder writes the schema's fields only, so an extra
 * key never travels).
 */
export function validateMessageFields(
  x: unknown,
  limits: FrameLimits = defaultFrameLimits,
  path = 'message',
): Result<RaftMessage> {
  return check(x, limits, path, true)
}

function check(x: unknown, limits: FrameLimits, path: string, shaped: boolean): Result<RaftMessage> {
  if (!isPlainObject(x)) return fail(`${path}: expected a map, got ${describe(x)}`)
  const type = x.type
  if (typeof type !== 'string' || !Object.hasOwn(keysByType, type)) {
    return fail(`${path}.type: unknown message type ${describe(type)}`)
  }
  const error =
    (shaped ? undefined : checkKeys(x, keysByType[type as RaftMessageType], path)) ??
    envelopeError(x, path) ??
    bodyError(x, limits, path, shaped)
  return error ? fail(error) : ok(x as unknown as RaftMessage)
}
