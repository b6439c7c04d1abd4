/**
 * The records of `__consumer_offsets`: what a group coordinator writes (committed offsets, group
 * metadata, their deletions) and replays after a failover, and what a lag monitor reads back
 * through the ordinary fetch API. One Kafka record (RecordBatch v2, record-batch.ts) per group
 * record; key and value are MessagePack, keyed as Kafka keys the topic, so that a record's key
 * names what it is about and a null value deletes it (a tombstone):
 *
 *   kind          key (msgpack array)                      value (msgpack map, or nil)
 *   offset        ['offset', group, topic, partition]      { offset, metadata, commitTimestamp }
 *   delete-offset ['offset', group, topic, partition]      nil
 *   group         ['group', group]                         { generation, protocolType, protocol,
 *                                                            leader, members: [{ memberId, clientId,
 *                                                            clientHost, sessionTimeoutMs,
 *                                                            rebalanceTimeoutMs, subscription (bin),
 *                                                            assignment (bin) }] }
 *   delete-group  ['group', group]                         nil
 *
 * A record's timestamp is the time it was written (the commit time). Maps hold exactly the keys
 * above; integers are msgpack ints. No record has headers except the last one of a snapshot
 * (below).
 *
 * Snapshots: the coordinator bounds its replay by restating its whole state (one record per
 * group and per committed offset) and deleting the log before it. The last record of a snapshot
 * carries two headers, `cairn.snapshot.start` and `cairn.snapshot.records` (decimal strings): the
 * snapshot's records are the `records` at offsets `start` .. this record's offset. Only when they
 * are exactly that many, with nothing between, may a replica delete the log before `start`.
 *
 * Which partition holds group G: `coordinatorPartition(G, partitions)`, Kafka's
 * `Utils.abs(G.hashCode()) % partitions` with Java's String.hashCode.
 *
 * Decoding never throws: anything malformed (a bad batch, CRC, key, value, an unknown kind, a
 * field out of range, a key too many or too few) is a reason, not a record.
 */
import { Packr, Unpackr } from 'msgpackr'
import { scanMsgpack } from './msgpack-scan.js'
import {
  decodeRecords,
  defaultRecordBatchLimits,
  encodeRecordBatch,
  type ProducerRecord,
  type RecordBatchLimits,
  type RecordHeader,
  splitBatches,
} from './record-batch.js'
import { fail, ok, type Result } from './result.js'
import { describe, isPlainObject } from './validate.js'

// ---- Records -----------------------------------------------------------------------------------

export interface OffsetRecord {
  type: 'offset'
  group: string
  topic: string
  partition: number
  offset: number
  metadata: string
  commitTimestamp: number
}

export interface GroupMemberRecord {
  memberId: string
  clientId: string
  clientHost: string
  sessionTimeoutMs: number
  rebalanceTimeoutMs: number
  /** The member's metadata for the group's selected protocol. */
  subscription: Uint8Array
  assignment: Uint8Array
}

/** A group's metadata as of a completed SyncGroup, or as it became Empty. */
export interface GroupMetadataRecord {
  type: 'group'
  group: string
  generation: number
  /** '' when the group never had a member. */
  protocolType: string
  /** null exactly when `members` is empty. */
  protocol: string | null
  leader: string | null
  members: GroupMemberRecord[]
}

export interface DeleteGroupRecord {
  type: 'delete-group'
  group: string
}

export interface DeleteOffsetRecord {
  type: 'delete-offset'
  group: string
  topic: string
  partition: number
}

/** Plain objects of strings, numbers, null and Uint8Array: msgpack-able as they are. */
export type GroupRecord = OffsetRecord | GroupMetadataRecord | DeleteGroupRecord | DeleteOffsetRecord

/** The records from `startOffset` to the one that carries this, `records` of them, restate the whole state. */
export interface SnapshotMarker {
  startOffset: number
  records: number
}

export interface DecodedGroupRecord {
  offset: number
  timestamp: number
  record: GroupRecord
  /** On the last record of a snapshot; null otherwise. */
  snapshot: SnapshotMarker | null
}

// ---- Limits -----------------------------------------------------------------------------------

/** Group ids, member ids, client ids and hosts, protocol types and names in a record. */
export const groupRecordIdCharsMax = 4_096
/** An offset's metadata string, in UTF-16 units (the coordinator bounds it in UTF-8 bytes, tighter). */
export const groupRecordMetadataCharsMax = 4_096
/** Members of one group record. */
export const groupRecordMembersMax = 10_000
/** Nesting of a key or value: value → members → member → field. */
const nestingDepthMax = 4
/** Any msgpack string of a key or value (the longest is an id or metadata, ≤ 3 bytes per UTF-16 unit). */
const stringBytesMax = 3 * groupRecordIdCharsMax

export const SNAPSHOT_START_HEADER = 'cairn.snapshot.start'
export const SNAPSHOT_RECORDS_HEADER = 'cairn.snapshot.records'

// ---- Which partition holds a group ------------------------------------------------------------

/** Java's `String.hashCode()`: over UTF-16 code units, h = 31·h + c with 32-bit wrap-around. */
export function javaStringHashCode(s: string): number {
  let h = 0
  for (let i = 0; i < s.length; i++) h = (Math.imul(31, h) + s.charCodeAt(i)) | 0
  return h
}

/**
 * The `__consumer_offsets` partition of a group, as Kafka's GroupMetadataManager.partitionFor:
 * `Utils.abs(groupId.hashCode) % partitionCount`, where Utils.abs maps -2^31 to 0 (Math.abs would
 * overflow) and is Math.abs otherwise.
 */
export function coordinatorPartition(groupId: string, partitionCount: number): number {
  if (typeof groupId !== 'string') throw new TypeError(`coordinatorPartition: groupId ${describe(groupId)}`)
  if (!Number.isSafeInteger(partitionCount) || partitionCount < 1)
    throw new RangeError(
      `coordinatorPartition: partitionCount must be a positive integer, got ${partitionCount}`,
    )
  const h = javaStringHashCode(groupId)
  return (h === -0x8000_0000 ? 0 : Math.abs(h)) % partitionCount
}

// ---- Validation --------------------------------------------------------------------------------

const int32Max = 0x7fff_ffff

function isInt(x: unknown, min: number, max: number): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= min && x <= max
}

function isId(x: unknown, charsMin = 0): x is string {
  return typeof x === 'string' && x.length >= charsMin && x.length <= groupRecordIdCharsMax
}

/** Exactly these keys, each present (undefined counts as absent). */
function keysAre(x: Record<string, unknown>, names: readonly string[]): boolean {
  let count = 0
  for (const key in x) {
    if (!names.includes(key) || x[key] === undefined) return false
    count++
  }
  return count === names.length
}

const offsetKeys = ['type', 'group', 'topic', 'partition', 'offset', 'metadata', 'commitTimestamp'] as const
const deleteOffsetKeys = ['type', 'group', 'topic', 'partition'] as const
const groupKeys = ['type', 'group', 'generation', 'protocolType', 'protocol', 'leader', 'members'] as const
const offsetValueKeys = offsetKeys.slice(4)
const groupValueKeys = groupKeys.slice(2)
const memberKeys = [
  'memberId',
  'clientId',
  'clientHost',
  'sessionTimeoutMs',
  'rebalanceTimeoutMs',
  'subscription',
  'assignment',
] as const

/**
 * What is wrong with a group record, or null: the checks a coordinator applies before it loads a
 * record, and a lag monitor before it believes one. Exactly the fields of the record's type.
 */
export function groupRecordProblem(r: unknown): string | null {
  if (!isPlainObject(r)) return `expected a record, got ${describe(r)}`
  if (!isId(r.group, 1)) return `group: expected 1..${groupRecordIdCharsMax} chars, got ${describe(r.group)}`
  switch (r.type) {
    case 'offset':
      if (!keysAre(r, offsetKeys)) return `offset: expected exactly the keys ${offsetKeys.join(', ')}`
      return (
        topicPartitionProblem(r) ??
        (!isInt(r.offset, 0, Number.MAX_SAFE_INTEGER)
          ? `offset: bad offset ${describe(r.offset)}`
          : typeof r.metadata !== 'string' || r.metadata.length > groupRecordMetadataCharsMax
            ? `offset: bad metadata ${describe(r.metadata)}`
            : !Number.isSafeInteger(r.commitTimestamp)
              ? `offset: bad commitTimestamp ${describe(r.commitTimestamp)}`
              : null)
      )
    case 'delete-offset':
      if (!keysAre(r, deleteOffsetKeys))
        return `delete-offset: expected exactly the keys ${deleteOffsetKeys.join(', ')}`
      return topicPartitionProblem(r)
    case 'delete-group':
      return keysAre(r, ['type', 'group']) ? null : 'delete-group: expected exactly the keys type, group'
    case 'group':
      if (!keysAre(r, groupKeys)) return `group: expected exactly the keys ${groupKeys.join(', ')}`
      return groupMetadataProblem(r)
    default:
      return `unknown type ${describe(r.type)}`
  }
}

function topicPartitionProblem(r: Record<string, unknown>): string | null {
  if (!isId(r.topic, 1)) return `${r.type}: bad topic ${describe(r.topic)}`
  return isInt(r.partition, 0, int32Max) ? null : `${r.type}: bad partition ${describe(r.partition)}`
}

function groupMetadataProblem(r: Record<string, unknown>): string | null {
  if (!isInt(r.generation, 0, int32Max)) return `group: bad generation ${describe(r.generation)}`
  if (!isId(r.protocolType)) return `group: bad protocolType ${describe(r.protocolType)}`
  if (!Array.isArray(r.members) || r.members.length > groupRecordMembersMax)
    return `group: members: expected an array of at most ${groupRecordMembersMax}, got ${describe(r.members)}`
  const members = r.members as unknown[]
  if (members.length === 0)
    return r.protocol === null && r.leader === null ? null : 'group: empty, yet with a protocol or leader'
  if (!isId(r.protocol, 1) || !isId(r.leader)) return 'group: members, yet no protocol or leader'
  const ids = new Set<string>()
  for (let i = 0; i < members.length; i++) {
    const m = members[i]
    const problem = memberProblem(m)
    if (problem !== null) return `group: members[${i}]: ${problem}`
    const id = (m as GroupMemberRecord).memberId
    if (ids.has(id)) return `group: members[${i}]: duplicate member id ${describe(id)}`
    ids.add(id)
  }
  return ids.has(r.leader) ? null : `group: the leader ${describe(r.leader)} is not a member`
}

function memberProblem(m: unknown): string | null {
  if (!isPlainObject(m) || !keysAre(m, memberKeys))
    return `expected exactly the keys ${memberKeys.join(', ')}`
  if (!isId(m.memberId) || !isId(m.clientId) || !isId(m.clientHost)) return 'bad member id, client id or host'
  if (!isInt(m.sessionTimeoutMs, 0, int32Max) || !isInt(m.rebalanceTimeoutMs, 0, int32Max))
    return 'bad timeouts'
  if (!(m.subscription instanceof Uint8Array) || !(m.assignment instanceof Uint8Array))
    return 'subscription and assignment must be bytes'
  return null
}

// ---- One record as key and value ----------------------------------------------------------------

// Records (msgpackr's shared structures) are off: every key and value decodes on its own.
const packr = new Packr({ useRecords: false, variableMapSize: true })
const unpackr = new Unpackr({
  useRecords: false,
  mapsAsObjects: true,
  copyBuffers: true,
  int64AsType: 'number',
})

/** A group record's Kafka key and value (null for a deletion). Throws a TypeError on an invalid record. */
export function encodeGroupRecord(record: GroupRecord): { key: Uint8Array; value: Uint8Array | null } {
  const problem = groupRecordProblem(record)
  if (problem !== null) throw new TypeError(`encodeGroupRecord: ${problem}`)
  switch (record.type) {
    case 'offset':
      return {
        key: packr.pack(['offset', record.group, record.topic, record.partition]),
        value: packr.pack({
          offset: record.offset,
          metadata: record.metadata,
          commitTimestamp: record.commitTimestamp,
        }),
      }
    case 'delete-offset':
      return { key: packr.pack(['offset', record.group, record.topic, record.partition]), value: null }
    case 'group':
      return {
        key: packr.pack(['group', record.group]),
        value: packr.pack({
          generation: record.generation,
          protocolType: record.protocolType,
          protocol: record.protocol,
          leader: record.leader,
          members: record.members.map((m) => ({
            memberId: m.memberId,
            clientId: m.clientId,
            clientHost: m.clientHost,
            sessionTimeoutMs: m.sessionTimeoutMs,
            rebalanceTimeoutMs: m.rebalanceTimeoutMs,
            subscription: m.subscription,
            assignment: m.assignment,
          })),
        }),
      }
    case 'delete-group':
      return { key: packr.pack(['group', record.group]), value: null }
  }
}

function unpack(bytes: Uint8Array, what: string): Result<unknown> {
  const structure = scanMsgpack(bytes, { nestingDepthMax, stringBytesMax })
  if (structure !== undefined) return fail(`${what}: ${structure}`)
  try {
    return ok(unpackr.unpack(bytes))
  } catch (error) {
    // Unreachable for input that passed scanMsgpack; kept so no decoder bug can throw out of here.
    return fail(`${what}: msgpack decoder threw: ${error instanceof Error ? error.message.slice(0, 80) : ''}`)
  }
}

/** The group record a Kafka key and value hold, checked field by field. Never throws. */
export function decodeGroupRecord(key: Uint8Array | null, value: Uint8Array | null): Result<GroupRecord> {
  if (!(key instanceof Uint8Array)) return fail(`key: expected bytes, got ${describe(key)}`)
  const k = unpack(key, 'key')
  if (!k.ok) return k
  if (!Array.isArray(k.value)) return fail(`key: expected an array, got ${describe(k.value)}`)
  const [type, group, topic, partition] = k.value as unknown[]
  let fields: Record<string, unknown>
  if (type === 'offset' && k.value.length === 4) fields = { group, topic, partition }
  else if (type === 'group' && k.value.length === 2) fields = { group }
  else return fail(`key: expected ['offset', group, topic, partition] or ['group', group]`)
  let record: Record<string, unknown>
  if (value === null) {
    record = { type: type === 'offset' ? 'delete-offset' : 'delete-group', ...fields }
  } else {
    if (!(value instanceof Uint8Array)) return fail(`value: expected bytes or null, got ${describe(value)}`)
    const v = unpack(value, 'value')
    if (!v.ok) return v
    if (!isPlainObject(v.value)) return fail(`value: expected a map, got ${describe(v.value)}`)
    const names = type === 'offset' ? offsetValueKeys : groupValueKeys
    if (!keysAre(v.value, names)) return fail(`value: expected exactly the keys ${names.join(', ')}`)
    record = { type, ...fields, ...v.value }
  }
  const problem = groupRecordProblem(record)
  return problem === null ? ok(record as unknown as GroupRecord) : fail(problem)
}

// ---- Batches -----------------------------------------------------------------------------------

export interface GroupRecordBatchOptions {
  /** The records' timestamp: when they are written. */
  timestamp: number
  /** Marks the batch's last record as the end of a snapshot. */
  snapshot?: SnapshotMarker
}

const utf8 = new TextEncoder()
const utf8Decoder = new TextDecoder('utf-8', { fatal: true })

/**
 * Group records as one record batch, offsets 0..n−1 (the leader assigns the real ones), ready to
 * append. Throws a TypeError on an invalid record, a RangeError on an empty list or a bad option.
 */
export function encodeGroupRecordBatch(
  records: readonly GroupRecord[],
  options: GroupRecordBatchOptions,
): Uint8Array {
  if (records.length === 0) throw new RangeError('encodeGroupRecordBatch: no records')
  const { timestamp, snapshot } = options
  if (!Number.isSafeInteger(timestamp)) throw new RangeError(`encodeGroupRecordBatch: timestamp ${timestamp}`)
  if (
    snapshot &&
    (!isInt(snapshot.startOffset, 0, Number.MAX_SAFE_INTEGER) ||
      !isInt(snapshot.records, 1, Number.MAX_SAFE_INTEGER))
  )
    throw new RangeError(`encodeGroupRecordBatch: snapshot ${JSON.stringify(snapshot)}`)
  const out: ProducerRecord[] = records.map((r) => ({ ...encodeGroupRecord(r), timestamp }))
  if (snapshot) {
    const headers: RecordHeader[] = [
      { key: SNAPSHOT_START_HEADER, value: utf8.encode(String(snapshot.startOffset)) },
      { key: SNAPSHOT_RECORDS_HEADER, value: utf8.encode(String(snapshot.records)) },
    ]
    out[out.length - 1]!.headers = headers
  }
  return encodeRecordBatch({ records: out })
}

function headerNumber(value: Uint8Array | null, min: number): number | undefined {
  if (value === null || value.length > 16) return undefined
  let text: string
  try {
    text = utf8Decoder.decode(value)
  } catch {
    return undefined
  }
  if (!/^(0|[1-9][0-9]*)$/.test(text)) return undefined
  const n = Number(text)
  return Number.isSafeInteger(n) && n >= min ? n : undefined
}

function snapshotMarker(headers: readonly RecordHeader[], offset: number): Result<SnapshotMarker | null> {
  if (headers.length === 0) return ok(null)
  const [start, count] = headers
  if (headers.length !== 2 || start!.key !== SNAPSHOT_START_HEADER || count!.key !== SNAPSHOT_RECORDS_HEADER)
    return fail(`headers: expected none, or ${SNAPSHOT_START_HEADER} and ${SNAPSHOT_RECORDS_HEADER}`)
  const startOffset = headerNumber(start!.value, 0)
  const records = headerNumber(count!.value, 1)
  if (startOffset === undefined || records === undefined || startOffset > offset)
    return fail(`headers: a snapshot marker must hold a start offset ≤ ${offset} and a record count ≥ 1`)
  return ok({ startOffset, records })
}

/**
 * The group records of one or more whole record batches (a fetch response of `__consumer_offsets`,
 * or one stored batch), with their offsets and timestamps, in log order. Every batch's header and
 * CRC, every record's key, value and headers are checked; a batch cut off at the end, as a Kafka
 * fetch may return, is left out (fetch again from the offset after the last record). Never throws.
 */
export function decodeGroupRecords(
  bytes: Uint8Array,
  limits: Readonly<RecordBatchLimits> = defaultRecordBatchLimits,
): Result<DecodedGroupRecord[]> {
  if (!(bytes instanceof Uint8Array)) return fail(`expected bytes, got ${describe(bytes)}`)
  const split = splitBatches(bytes, limits)
  if (!split.ok) return split
  const out: DecodedGroupRecord[] = []
  for (const { offset: at, header } of split.value.batches) {
    const where = `batch at offset ${header.baseOffset}`
    if (header.isControl || header.isTransactional)
      return fail(`${where}: control and transactional batches do not belong here`)
    const batch = decodeRecords(bytes, at, limits)
    if (!batch.ok) return fail(`${where}: ${batch.reason}`)
    for (const r of batch.value.records) {
      const record = decodeGroupRecord(r.key, r.value)
      if (!record.ok) return fail(`record at offset ${r.offset}: ${record.reason}`)
      const snapshot = snapshotMarker(r.headers, r.offset)
      if (!snapshot.ok) return fail(`record at offset ${r.offset}: ${snapshot.reason}`)
      out.push({ offset: r.offset, timestamp: r.timestamp, record: record.value, snapshot: snapshot.value })
    }
  }
  return ok(out)
}
