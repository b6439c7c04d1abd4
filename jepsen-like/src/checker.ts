/**
 * The checker: reads a history and reports the anomalies of jepsen-anomalies.md. Pure, no I/O.
 *
 * Every map is keyed by value, by partition or by `partition:offset`, so a history of n ops with
 * r records read costs O((n + r) log(n + r)): the only sorts are of offsets per partition.
 */
import type { Op, PollOp, PollRead, SendOp } from './history.js'

export interface CheckOptions {
  acks: 'all' | '1'
  idempotence: boolean
}

export type AnomalyName =
  | 'lost-write'
  | 'lost-prefix'
  | 'lost-middle'
  | 'lost-postfix'
  | 'unseen'
  | 'duplicate'
  | 'inconsistent-offsets'
  | 'nonmonotonic-send'
  | 'poll-skip'
  | 'nonmonotonic-poll'
  | 'aborted-read'
  | 'hw-regression'

export const ANOMALY_NAMES: readonly AnomalyName[] = [
  'lost-write',
  'lost-prefix',
  'lost-middle',
  'lost-postfix',
  'unseen',
  'duplicate',
  'inconsistent-offsets',
  'nonmonotonic-send',
  'poll-skip',
  'nonmonotonic-poll',
  'aborted-read',
  'hw-regression',
]

export interface Anomaly {
  name: AnomalyName
  partition?: number
  value?: string
  offsets?: number[]
  detail: string
}

export interface CheckStats {
  /** send invocations */
  sends: number
  ok: number
  failed: number
  /** `info` completions plus sends never completed */
  indeterminate: number
  /** polls that completed ok */
  polls: number
  /** records returned by ok polls and final reads */
  valuesRead: number
  finalReads: number
  /** reads of a value no send in the history carries */
  unknownValuesRead: number
}

export interface CheckResult {
  /** lost writes appear under their specific name (lost-prefix/-middle/-postfix) only */
  anomalies: Anomaly[]
  /** lost-prefix/-middle/-postfix are counted under their own name AND under lost-write */
  counts: Record<AnomalyName, number>
  /** names present that the mode forbids */
  forbidden: AnomalyName[]
  /** no forbidden anomaly */
  ok: boolean
  stats: CheckStats
}

const LOSSES: readonly AnomalyName[] = ['lost-write', 'lost-prefix', 'lost-middle', 'lost-postfix', 'unseen']

/**
 * acks=all promises every acknowledged write survives, so every anomaly is forbidden; duplicates
 * only when the producer is idempotent (a retried send may land twice otherwise). acks=1 may lose
 * acknowledged writes when the leader dies before followers copy them, so losses are expected.
 */
export function isForbidden(name: AnomalyName, options: CheckOptions): boolean {
  if (name === 'duplicate') return options.idempotence
  if (options.acks === '1' && LOSSES.includes(name)) return false
  return true
}

type Outcome = 'ok' | 'fail' | 'info'

interface SendRecord {
  value: string
  process: number
  /** undefined until a completion arrives; a send never completed is indeterminate */
  outcome?: Outcome
  partition?: number
  offset?: number
}

interface Location {
  partition: number
  offset: number
}

interface PollEvent {
  process: number
  reads: PollRead[]
  /** the invoke carried `seek`: forget this consumer's positions before these reads */
  seek: boolean
}

/** Everything the history says about where values sit, gathered in one pass. */
class Observations {
  /** partition -> offset -> the first value seen there */
  readonly valueAt = new Map<number, Map<number, string>>()
  /** `partition:offset` -> every distinct value seen there, only where there is more than one */
  readonly conflicts = new Map<string, { location: Location; values: string[] }>()
  /** value -> distinct locations (acknowledged offsets and reads) */
  readonly locations = new Map<string, Location[]>()
  /** values returned by some poll or final read */
  readonly read = new Set<string>()
  /** partition -> the highest offset any read returned */
  readonly maxReadOffset = new Map<number, number>()

  observe(partition: number, offset: number, value: string, isRead: boolean): void {
    let offsets = this.valueAt.get(partition)
    if (offsets === undefined) {
      offsets = new Map()
      this.valueAt.set(partition, offsets)
    }
    const first = offsets.get(offset)
    if (first === undefined) offsets.set(offset, value)
    else if (first !== value) {
      const key = `${partition}:${offset}`
      let conflict = this.conflicts.get(key)
      if (conflict === undefined) {
        conflict = { location: { partition, offset }, values: [first] }
        this.conflicts.set(key, conflict)
      }
      if (!conflict.values.includes(value)) conflict.values.push(value)
    }

    const seen = this.locations.get(value)
    if (seen === undefined) this.locations.set(value, [{ partition, offset }])
    else if (!seen.some((l) => l.partition === partition && l.offset === offset))
      seen.push({ partition, offset })

    if (isRead) {
      this.read.add(value)
      const max = this.maxReadOffset.get(partition)
      if (max === undefined || offset > max) this.maxReadOffset.set(partition, offset)
    }
  }

  /** partition -> offsets known to hold a value, ascending */
  knownOffsets(): Map<number, number[]> {
    const known = new Map<number, number[]>()
    for (const [partition, offsets] of this.valueAt) {
      known.set(
        partition,
        [...offsets.keys()].sort((a, b) => a - b),
      )
    }
    return known
  }
}

/** Index of the first element of ascending `xs` greater than `x`. */
function upperBound(xs: readonly number[], x: number): number {
  let lo = 0
  let hi = xs.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (xs[mid]! <= x) lo = mid + 1
    else hi = mid
  }
  return lo
}

/** Offsets in `sorted` strictly between `low` and `high`. */
function offsetsBetween(sorted: readonly number[], low: number, high: number): number[] {
  const found: number[] = []
  for (let i = upperBound(sorted, low); i < sorted.length && sorted[i]! < high; i++) found.push(sorted[i]!)
  return found
}

function describeRange(offsets: readonly number[]): string {
  if (offsets.length <= 3) return offsets.join(', ')
  return `${offsets[0]}..${offsets[offsets.length - 1]} (${offsets.length} offsets)`
}

interface Collected {
  sends: Map<string, SendRecord>
  polls: PollEvent[]
  observations: Observations
  stats: CheckStats
  anomalies: Anomaly[]
}

function completeSend(
  op: SendOp,
  index: number,
  sends: Map<string, SendRecord>,
  stats: CheckStats,
): SendRecord {
  const record = sends.get(op.value)
  if (record === undefined)
    throw new Error(`op ${index}: ${op.type} of send ${op.value} that was never invoked`)
  if (record.outcome !== undefined) throw new Error(`op ${index}: send ${op.value} completed twice`)
  record.outcome = op.type as Outcome
  record.partition = op.partition ?? record.partition
  if (op.type === 'ok') {
    stats.ok++
    record.offset = op.offset
  } else if (op.type === 'fail') stats.failed++
  else stats.indeterminate++
  return record
}

/**
 * One pass over the history. Sends pair invoke and completion by value, since a producer may have
 * several sends in flight; polls pair by process, since a consumer polls one at a time.
 */
function collect(ops: readonly Op[]): Collected {
  const sends = new Map<string, SendRecord>()
  const pendingPolls = new Map<number, PollOp>()
  const polls: PollEvent[] = []
  const observations = new Observations()
  const anomalies: Anomaly[] = []
  const highWatermarks = new Map<string, number>()
  const stats: CheckStats = {
    sends: 0,
    ok: 0,
    failed: 0,
    indeterminate: 0,
    polls: 0,
    valuesRead: 0,
    finalReads: 0,
    unknownValuesRead: 0,
  }

  ops.forEach((op, index) => {
    switch (op.f) {
      case 'send': {
        if (op.type === 'invoke') {
          if (sends.has(op.value))
            throw new Error(`op ${index}: value ${op.value} sent twice; values must be unique`)
          sends.set(op.value, { value: op.value, process: op.process, partition: op.partition })
          stats.sends++
          return
        }
        const record = completeSend(op, index, sends, stats)
        if (record.outcome === 'ok' && record.partition !== undefined && record.offset !== undefined) {
          observations.observe(record.partition, record.offset, record.value, false)
        }
        return
      }
      case 'poll': {
        if (op.type === 'invoke') {
          if (pendingPolls.has(op.process))
            throw new Error(`op ${index}: process ${op.process} polls while polling`)
          pendingPolls.set(op.process, op)
          return
        }
        const invoke = pendingPolls.get(op.process)
        if (invoke === undefined)
          throw new Error(`op ${index}: poll ${op.type} of process ${op.process} never invoked`)
        pendingPolls.delete(op.process)
        const seek = invoke.seek !== undefined && invoke.seek !== false
        if (op.type === 'ok') {
          const reads = op.reads ?? []
          stats.polls++
          stats.valuesRead += reads.length
          for (const r of reads) observations.observe(r.partition, r.offset, r.value, true)
          polls.push({ process: op.process, reads, seek })
        } else if (op.type === 'info') {
          // The consumer may have consumed records we never saw: its position is unknown.
          polls.push({ process: op.process, reads: [], seek: true })
        } else if (seek) polls.push({ process: op.process, reads: [], seek })
        return
      }
      case 'final-read':
        stats.finalReads++
        stats.valuesRead += op.reads.length
        for (const r of op.reads) observations.observe(op.partition, r.offset, r.value, true)
        return
      case 'hw': {
        // One process observes in order; two processes' concurrent polls do not order their
        // answers, so each is compared with its own past — and the final phase (process 0,
        // after every poll ended) with everything seen before.
        const mine = `${op.process}:${op.partition}`
        const before = op.process === 0 ? highWatermarks.get(`max:${op.partition}`) : highWatermarks.get(mine)
        if (before !== undefined && op.highWatermark < before) {
          anomalies.push({
            name: 'hw-regression',
            partition: op.partition,
            offsets: [before, op.highWatermark],
            detail: `partition ${op.partition}: high watermark went from ${before} back to ${op.highWatermark} at ${op.time} ms (process ${op.process})`,
          })
        } else highWatermarks.set(mine, op.highWatermark)
        const max = highWatermarks.get(`max:${op.partition}`) ?? 0
        highWatermarks.set(`max:${op.partition}`, Math.max(max, op.highWatermark))
        return
      }
    }
  })

  for (const record of sends.values()) if (record.outcome === undefined) stats.indeterminate++
  for (const value of observations.read) if (!sends.has(value)) stats.unknownValuesRead++
  return { sends, polls, observations, stats, anomalies }
}

function inconsistentOffsets(obs: Observations): Anomaly[] {
  return [...obs.conflicts.values()].map(({ location: { partition, offset }, values }) => ({
    name: 'inconsistent-offsets',
    partition,
    offsets: [offset],
    detail: `partition ${partition} offset ${offset} holds ${values.length} values: ${values.join(', ')}`,
  }))
}

function duplicates(obs: Observations): Anomaly[] {
  const found: Anomaly[] = []
  for (const [value, locations] of obs.locations) {
    if (locations.length < 2) continue
    const partitions = [...new Set(locations.map((l) => l.partition))].sort((a, b) => a - b)
    const where = locations.map((l) => `${l.partition}:${l.offset}`).join(', ')
    found.push({
      name: 'duplicate',
      partition: partitions[0]!,
      value,
      offsets: locations.map((l) => l.offset).sort((a, b) => a - b),
      detail:
        partitions.length === 1
          ? `value ${value} at ${locations.length} offsets of partition ${partitions[0]}: ${where}`
          : `value ${value} in partitions ${partitions.join(', ')} (partition:offset ${where})`,
    })
  }
  return found
}

function abortedReads(sends: Map<string, SendRecord>, obs: Observations): Anomaly[] {
  const found: Anomaly[] = []
  for (const value of obs.read) {
    if (sends.get(value)?.outcome !== 'fail') continue
    const locations = obs.locations.get(value) ?? []
    const first = locations[0]
    found.push({
      name: 'aborted-read',
      partition: first?.partition,
      value,
      offsets: locations.map((l) => l.offset),
      detail: `value ${value} was read at ${locations.map((l) => `${l.partition}:${l.offset}`).join(', ')} but its send failed`,
    })
  }
  return found
}

/** The producer's order is invoke order; a later acknowledged send must land higher. */
function nonmonotonicSends(sends: Map<string, SendRecord>): Anomaly[] {
  const found: Anomaly[] = []
  const last = new Map<string, SendRecord>()
  for (const record of sends.values()) {
    if (record.outcome !== 'ok' || record.partition === undefined || record.offset === undefined) continue
    const key = `${record.process}:${record.partition}`
    const before = last.get(key)
    if (before !== undefined && record.offset < before.offset!) {
      found.push({
        name: 'nonmonotonic-send',
        partition: record.partition,
        value: record.value,
        offsets: [before.offset!, record.offset],
        detail: `process ${record.process}: ${record.value} landed at partition ${record.partition} offset ${record.offset}, below the earlier ${before.value} at ${before.offset}`,
      })
    }
    if (before === undefined || record.offset > before.offset!) last.set(key, record)
  }
  return found
}

/**
 * A lost write sits below the highest offset any read reached, yet no read saw it. Where it falls
 * is judged against the acknowledged offsets of acknowledged values that were read in its
 * partition: none below it = prefix; some below and above = middle; some below, none above =
 * postfix (the reads that went past it returned only values whose sends were not acknowledged).
 */
function losses(sends: Map<string, SendRecord>, obs: Observations): Anomaly[] {
  const readAcked = new Map<number, number[]>()
  const lost: SendRecord[] = []
  for (const record of sends.values()) {
    if (record.outcome !== 'ok') continue
    if (!obs.read.has(record.value)) lost.push(record)
    else if (record.partition !== undefined && record.offset !== undefined) {
      const offsets = readAcked.get(record.partition) ?? []
      offsets.push(record.offset)
      readAcked.set(record.partition, offsets)
    }
  }
  for (const offsets of readAcked.values()) offsets.sort((a, b) => a - b)

  return lost.map(({ value, partition, offset }) => {
    const maxRead = partition === undefined ? undefined : obs.maxReadOffset.get(partition)
    if (partition === undefined || offset === undefined || maxRead === undefined || offset >= maxRead) {
      const where = partition === undefined ? 'an unknown partition' : `partition ${partition}`
      return {
        name: 'unseen' as const,
        partition,
        value,
        offsets: offset === undefined ? [] : [offset],
        detail: `acknowledged ${value} at ${where} offset ${offset ?? '?'} was never read (highest read offset ${maxRead ?? 'none'})`,
      }
    }
    const acked = readAcked.get(partition) ?? []
    const above = upperBound(acked, offset)
    const hasBelow = above > 0
    const hasAbove = above < acked.length
    const name = !hasBelow ? 'lost-prefix' : hasAbove ? 'lost-middle' : 'lost-postfix'
    return {
      name,
      partition,
      value,
      offsets: [offset],
      detail: `acknowledged ${value} at partition ${partition} offset ${offset} was never read, though reads reached offset ${maxRead}`,
    }
  })
}

/**
 * Follows each consumer's position per partition through its polls, record by record: the next
 * offset must be higher than the last (else nonmonotonic-poll) and must not jump over offsets known
 * to hold a value (else poll-skip).
 */
function pollOrder(polls: readonly PollEvent[], known: Map<number, number[]>): Anomaly[] {
  const found: Anomaly[] = []
  const positions = new Map<number, Map<number, number>>()
  for (const { process, reads, seek } of polls) {
    let last = positions.get(process)
    if (last === undefined || seek) {
      last = new Map()
      positions.set(process, last)
    }
    for (const { partition, offset, value } of reads) {
      const before = last.get(partition)
      last.set(partition, offset)
      if (before === undefined) continue
      if (offset <= before) {
        found.push({
          name: 'nonmonotonic-poll',
          partition,
          value,
          offsets: [before, offset],
          detail: `process ${process} read partition ${partition} offset ${offset} after offset ${before}`,
        })
        continue
      }
      const skipped = offsetsBetween(known.get(partition) ?? [], before, offset)
      if (skipped.length > 0) {
        found.push({
          name: 'poll-skip',
          partition,
          value,
          offsets: [before, offset],
          detail: `process ${process} jumped in partition ${partition} from offset ${before} to ${offset} over ${describeRange(skipped)}`,
        })
      }
    }
  }
  return found
}

function emptyCounts(): Record<AnomalyName, number> {
  return Object.fromEntries(ANOMALY_NAMES.map((n) => [n, 0])) as Record<AnomalyName, number>
}

export function check(ops: readonly Op[], options: CheckOptions): CheckResult {
  const { sends, polls, observations, stats, anomalies } = collect(ops)
  const found = [
    inconsistentOffsets(observations),
    duplicates(observations),
    abortedReads(sends, observations),
    nonmonotonicSends(sends),
    losses(sends, observations),
    pollOrder(polls, observations.knownOffsets()),
  ]
  // No spread: a list of a few hundred thousand anomalies would overflow the argument stack.
  for (const list of found) for (const a of list) anomalies.push(a)

  const counts = emptyCounts()
  for (const a of anomalies) {
    counts[a.name]++
    if (a.name === 'lost-prefix' || a.name === 'lost-middle' || a.name === 'lost-postfix')
      counts['lost-write']++
  }
  const forbidden = ANOMALY_NAMES.filter((n) => counts[n] > 0 && isForbidden(n, options))
  return { anomalies, counts, forbidden, ok: forbidden.length === 0, stats }
}
