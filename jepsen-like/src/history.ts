/**
 * The history a test run records: one JSON object per line (history.jsonl), in the order the
 * harness observed them. An operation is an `invoke` followed later by its completion (`ok`,
 * `fail` or `info`). `info` is indeterminate: a timeout or a lost connection, the operation may or
 * may not have taken effect. `final-read` and `hw` are single observations with no invoke.
 */

export type OpType = 'invoke' | 'ok' | 'fail' | 'info'

export interface SendOp {
  process: number
  type: OpType
  f: 'send'
  /** ms since the start of the run */
  time: number
  key: string
  /** unique per send, e.g. "p3-42": the checker pairs a send's invoke and completion by value */
  value: string
  partition?: number
  /** on ok: the offset the broker acknowledged */
  offset?: number
  error?: string
}

export interface PollRead {
  partition: number
  offset: number
  value: string
}

export interface PollOp {
  process: number
  type: OpType
  f: 'poll'
  time: number
  /** on invoke: the assigned partition, when the consumer has exactly one */
  partition?: number
  /** on invoke: the consumer moved its position explicitly, so the next read may go anywhere */
  seek?: number | boolean
  /** on ok, in the order returned */
  reads?: PollRead[]
  error?: string
}

export interface FinalReadOp {
  process: number
  type: 'ok'
  f: 'final-read'
  time: number
  partition: number
  /** the whole partition from its start */
  reads: { offset: number; value: string }[]
}

export interface HighWatermarkOp {
  process: number
  type: 'ok'
  f: 'hw'
  time: number
  partition: number
  highWatermark: number
}

export type Op = SendOp | PollOp | FinalReadOp | HighWatermarkOp

const OP_TYPES: readonly string[] = ['invoke', 'ok', 'fail', 'info']

class HistoryError extends Error {
  constructor(line: number, message: string) {
    super(`history line ${line}: ${message}`)
    this.name = 'HistoryError'
  }
}

type Json = Record<string, unknown>

function isOffset(x: unknown): x is number {
  return typeof x === 'number' && Number.isSafeInteger(x) && x >= 0
}

function requireField(o: Json, line: number, field: string, ok: (x: unknown) => boolean, what: string): void {
  if (!ok(o[field]))
    throw new HistoryError(line, `"${field}" must be ${what}, got ${JSON.stringify(o[field])}`)
}

function optionalField(
  o: Json,
  line: number,
  field: string,
  ok: (x: unknown) => boolean,
  what: string,
): void {
  if (o[field] !== undefined) requireField(o, line, field, ok, what)
}

const isString = (x: unknown) => typeof x === 'string'

function validateReads(o: Json, line: number, withPartition: boolean): void {
  const reads = o.reads
  if (!Array.isArray(reads)) throw new HistoryError(line, '"reads" must be an array')
  reads.forEach((r: unknown, i) => {
    const read = r as Json
    const ok =
      typeof r === 'object' &&
      r !== null &&
      isOffset(read.offset) &&
      typeof read.value === 'string' &&
      (!withPartition || isOffset(read.partition))
    const shape = withPartition ? '{ partition, offset, value }' : '{ offset, value }'
    if (!ok) throw new HistoryError(line, `reads[${i}] must be ${shape}, got ${JSON.stringify(r)}`)
  })
}

function validateOp(o: Json, line: number): Op {
  requireField(o, line, 'process', (x) => Number.isSafeInteger(x), 'an integer')
  requireField(o, line, 'type', (x) => typeof x === 'string' && OP_TYPES.includes(x), 'invoke|ok|fail|info')
  requireField(o, line, 'time', (x) => typeof x === 'number' && Number.isFinite(x), 'a finite number')
  optionalField(o, line, 'error', isString, 'a string')
  switch (o.f) {
    case 'send':
      requireField(o, line, 'key', isString, 'a string')
      requireField(o, line, 'value', isString, 'a string')
      optionalField(o, line, 'partition', isOffset, 'a partition number')
      optionalField(o, line, 'offset', isOffset, 'an offset')
      return o as unknown as SendOp
    case 'poll':
      optionalField(o, line, 'partition', isOffset, 'a partition number')
      optionalField(
        o,
        line,
        'seek',
        (x) => typeof x === 'number' || typeof x === 'boolean',
        'a number or boolean',
      )
      if (o.reads !== undefined) validateReads(o, line, true)
      return o as unknown as PollOp
    case 'final-read':
      requireField(o, line, 'type', (x) => x === 'ok', '"ok"')
      requireField(o, line, 'partition', isOffset, 'a partition number')
      validateReads(o, line, false)
      return o as unknown as FinalReadOp
    case 'hw':
      requireField(o, line, 'type', (x) => x === 'ok', '"ok"')
      requireField(o, line, 'partition', isOffset, 'a partition number')
      requireField(o, line, 'highWatermark', isOffset, 'an offset')
      return o as unknown as HighWatermarkOp
    default:
      throw new HistoryError(line, `unknown "f": ${JSON.stringify(o.f)} (send|poll|final-read|hw)`)
  }
}

/** Parses history.jsonl. Blank lines are skipped; line numbers in errors are 1-based. */
export function parseHistory(jsonl: string): Op[] {
  const ops: Op[] = []
  const lines = jsonl.split('\n')
  for (let i = 0; i < lines.length; i++) {
    const text = lines[i]!.trim()
    if (text === '') continue
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (err) {
      throw new HistoryError(i + 1, `invalid JSON: ${(err as Error).message}`)
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw new HistoryError(i + 1, 'expected a JSON object')
    }
    ops.push(validateOp(parsed as Json, i + 1))
  }
  return ops
}
