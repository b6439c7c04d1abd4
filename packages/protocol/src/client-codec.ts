/**
 * The client API codec: one envelope per WebSocket binary frame, a MessagePack map (records off,
 * so any MessagePack reader can decode it and no frame depends on an earlier one).
 *
 *   request  = { id: uint32, api: ApiName, body: <the api's request> }
 *   response = { id: uint32, error: ErrorName | nil, message?: str, body: <the api's response> | nil }
 *
 * Bodies are maps keyed by the field names of client-api.ts, written in the order of the schemas
 * below; record batches (produce and fetch `records`) and a group member's metadata and assignment
 * are msgpack `bin`; `configs` is a flat map of
 * string to string; integers are msgpack ints (a float64 only beyond 32 bits). A response has a
 * body exactly when its error is nil.
 *
 * The codec refuses what is malformed: a wrong type, a key the schema does not name, a number
 * outside the range its field can hold, an array, string or map longer than its named limit. The
 * broker closes the connection with the reason (`produce.acks: expected -1, 0 or 1, got 2`).
 * A well-formed request for something the broker will not do (an illegal topic name, 0 partitions)
 * passes here and is answered per topic, as Kafka does.
 *
 * Decoding is in four gates, cheapest first, as frame.ts: length (before a byte is read), the
 * structural scan (scanMsgpack), msgpackr, then the schema. It never throws. Encoding writes the
 * schema's fields only, truncates free text (`message`) to messageCharsMax, checks the result
 * with the decoder's own schema, and throws on a programming error: a field the peer would refuse,
 * or a frame over the byte limit.
 */
import { Packr, Unpackr } from 'msgpackr'
import type {
  ApiName,
  ApiRequest,
  ApiResponse,
  GroupState,
  RequestEnvelope,
  ResponseEnvelope,
} from './client-api.js'
import { membersMax } from './limits.js'
import { scanMsgpack } from './msgpack-scan.js'
import { packInto } from './pack-into.js'
import { fail, ok, type Result } from './result.js'
import { describe, isPlainObject, validateNodeIds } from './validate.js'

// ---- Limits ----------------------------------------------------------------------------------

/** Largest request frame: a produce can carry many batches. Matches the server's WebSocket maxPayload. */
export const clientRequestBytesMax = 64 * 1024 * 1024
/** Largest response frame: a fetch answer. The broker keeps fetch responses below it. */
export const clientResponseBytesMax = 64 * 1024 * 1024
/** Topics in one request or response (a metadata response for every topic included). */
export const topicsPerRequestMax = 16_384
/** Partitions of one topic in a request or response, and the largest partition count a topic can ask for. */
export const partitionsPerTopicMax = 16_384
/** Brokers in a metadata response. */
export const brokersMax = 1_024
/** Node ids in a partition's requested replica list (a Raft group's members, at most). */
export const replicasPerPartitionMax = membersMax
/** Entries in one `configs` map. */
export const configEntriesMax = 1_024
/** Kafka's limit on a topic name. */
export const topicNameCharsMax = 249
export const configKeyCharsMax = 255
export const configValueCharsMax = 4_096
/** Free text: the envelope's and per-partition/per-topic `message`. Longer text is cut on encode. */
export const messageCharsMax = 1_024
/** An error name such as NOT_LEADER_OR_FOLLOWER. */
export const errorNameCharsMax = 64
export const hostCharsMax = 255
export const clusterIdCharsMax = 255
/** Groups in a DescribeGroups or DeleteGroups request or response, and in a ListGroups response. */
export const groupsPerRequestMax = 1_000_000
/** Members in a JoinGroup or DescribeGroups response, assignments in a SyncGroup, ids in a LeaveGroup. */
export const membersPerGroupMax = 10_000
/** Protocols (assignors) one member offers in a JoinGroup. */
export const protocolsPerMemberMax = 64
/** Committed offsets of one group in a DescribeGroups response. */
export const offsetsPerGroupMax = 1_000_000
/**
 * Group, member and client ids, client hosts, protocol types and names. The coordinator applies
 * its own, tighter limit and answers INVALID_GROUP_ID or INVALID_REQUEST; this one bounds the frame.
 */
export const idCharsMax = 4_096
/** An offset commit's metadata (the coordinator checks offset.metadata.max.bytes in UTF-8). */
export const offsetMetadataCharsMax = 4_096
/** A member's metadata for one protocol (its subscription), and its assignment. */
export const memberMetadataBytesMax = 1024 * 1024
/**
 * Nesting of msgpack containers. The deepest valid path is 7: envelope → body → topics → topic →
 * partitions → partition → replicas.
 */
export const clientNestingDepthMax = 8
/** Any msgpack string in a client frame: the longest string field, in UTF-8 (≤ 3 bytes per UTF-16 unit). */
export const clientStringBytesMax = 3 * configValueCharsMax

/** The bounds a decoder applies; pass stricter ones to `decodeRequest`/`decodeResponse`. */
export interface ClientLimits {
  requestBytesMax: number
  responseBytesMax: number
  topicsPerRequestMax: number
  partitionsPerTopicMax: number
  brokersMax: number
  configEntriesMax: number
  replicasPerPartitionMax: number
  groupsPerRequestMax: number
  membersPerGroupMax: number
  protocolsPerMemberMax: number
  offsetsPerGroupMax: number
}

export const defaultClientLimits: Readonly<ClientLimits> = Object.freeze({
  requestBytesMax: clientRequestBytesMax,
  responseBytesMax: clientResponseBytesMax,
  topicsPerRequestMax,
  partitionsPerTopicMax,
  brokersMax,
  configEntriesMax,
  replicasPerPartitionMax,
  groupsPerRequestMax,
  membersPerGroupMax,
  protocolsPerMemberMax,
  offsetsPerGroupMax,
})

type Limit = Exclude<keyof ClientLimits, 'requestBytesMax' | 'responseBytesMax'>

// ---- Schemas -----------------------------------------------------------------------------------
// A schema is plain data walked by one checker (decode) and one projector (encode). Its phantom
// type ties it to client-api.ts: the tables at the bottom do not compile unless every schema has
// exactly its api type's fields, with the same types.

type Node =
  | { readonly kind: 'int'; readonly min: number; readonly max: number | Limit; readonly text?: string }
  | {
      readonly kind: 'string'
      readonly charsMin: number
      readonly charsMax: number
      readonly limit: string
      readonly pattern?: RegExp
      readonly what?: string
      /** Free text: cut to charsMax on encode rather than refused. */
      readonly truncate: boolean
    }
  | { readonly kind: 'bool' }
  | { readonly kind: 'bytes'; readonly bytesMax?: number; readonly limit?: string }
  | { readonly kind: 'int64String' }
  | { readonly kind: 'nodeIds' }
  | { readonly kind: 'configs' }
  | { readonly kind: 'nullable'; readonly of: Node }
  | { readonly kind: 'array'; readonly of: Node; readonly max: Limit }
  | ({ readonly kind: 'record'; readonly fields: readonly (readonly [string, Node])[] } & Shape)

/** The keys of a map: all of `required`, any of `optional`, no other. */
interface Shape {
  readonly required: readonly string[]
  readonly names: ReadonlySet<string>
  readonly optional: ReadonlySet<string>
}

function shape(required: readonly string[], optional: readonly string[] = []): Shape {
  return { required, names: new Set([...required, ...optional]), optional: new Set(optional) }
}

declare const typeOf: unique symbol
/** A schema for values of type T (invariant in T, so the compiler checks both directions). */
type Schema<T> = Node & { readonly [typeOf]?: (value: T) => T }
type TypeOf<S> = S extends { readonly [typeOf]?: (value: infer T) => unknown } ? T : never

const int32Max = 0x7fff_ffff
const uint32Max = 0xffff_ffff
const safeMax = Number.MAX_SAFE_INTEGER

const int = (min: number, max: number | Limit, text?: string): Schema<number> =>
  text === undefined ? { kind: 'int', min, max } : { kind: 'int', min, max, text }

const string = (
  charsMax: number,
  limit: string,
  options: { charsMin?: number; pattern?: RegExp; what?: string; truncate?: boolean } = {},
): Schema<string> => ({ kind: 'string', charsMin: 0, truncate: false, ...options, charsMax, limit })

const bool: Schema<boolean> = { kind: 'bool' }
const bytes: Schema<Uint8Array> = { kind: 'bytes' }
const boundedBytes = (bytesMax: number, limit: string): Schema<Uint8Array> => ({
  kind: 'bytes',
  bytesMax,
  limit,
})
const nodeIds: Schema<number[]> = { kind: 'nodeIds' }
const configs: Schema<Record<string, string>> = { kind: 'configs' }
/** A signed 64-bit integer as a decimal string, -1 (none) or above. */
const int64String: Schema<string> = { kind: 'int64String' }

/** One of a few strings (a state name). */
const oneOf = <T extends string>(values: readonly T[]): Schema<T> =>
  string(Math.max(...values.map((v) => v.length)), 'the longest name', {
    charsMin: 1,
    pattern: new RegExp(`^(${values.join('|')})$`),
    what: `one of ${values.join(', ')}`,
  }) as unknown as Schema<T>

const nullable = <T>(of: Schema<T>): Schema<T | null> => ({ kind: 'nullable', of })
const array = <T>(of: Schema<T>, max: Limit): Schema<T[]> => ({ kind: 'array', of, max })

/** A field that may be absent (never null: absent is how msgpack says "not set" here). */
type Optional<T> = Schema<T> & { readonly optionalField: true }
const optional = <T>(s: Schema<T>): Optional<T> => ({ ...s, optionalField: true })
const isOptional = (s: Node): boolean => 'optionalField' in s

type RequiredKeys<R> = { [K in keyof R]: R[K] extends { optionalField: true } ? never : K }[keyof R]
type OptionalKeys<R> = { [K in keyof R]: R[K] extends { optionalField: true } ? K : never }[keyof R]
type Fields<R> = { [K in RequiredKeys<R>]: TypeOf<R[K]> } & { [K in OptionalKeys<R>]?: TypeOf<R[K]> }

function record<R extends Record<string, Node>>(fields: R): Schema<Fields<R>> {
  const entries = Object.entries(fields)
  const names = (optionalFields: boolean) =>
    entries.filter(([, s]) => isOptional(s) === optionalFields).map(([name]) => name)
  return { kind: 'record', fields: entries, ...shape(names(false), names(true)) }
}

// Field kinds shared by several apis.
const partition = int(0, int32Max)
const durationMs = int(0, int32Max)
const byteCount = int(0, int32Max)
const offset = int(0, safeMax)
/** Offsets in responses: -1 when unknown or on error, as Kafka sends. */
const offsetOrNone = int(-1, safeMax)
const nodeId = int(1, safeMax, 'a positive node id')
/** 0 when no node is known to lead (see ProducePartitionResponse.leaderId). */
const leaderId = int(0, safeMax, 'a node id, or 0 for none')
const topicName = string(topicNameCharsMax, 'topicNameCharsMax')
const errorName = nullable(
  string(errorNameCharsMax, 'errorNameCharsMax', {
    charsMin: 1,
    pattern: /^[A-Z][A-Z0-9_]*$/,
    what: 'null or an error name like NOT_LEADER_OR_FOLLOWER',
  }),
)
const freeText = string(messageCharsMax, 'messageCharsMax', { truncate: true })
const topicResult = record({ name: topicName, error: errorName, message: optional(freeText) })
const topicResults = record({ topics: array(topicResult, 'topicsPerRequestMax') })
const topicNames = record({ topics: array(topicName, 'topicsPerRequestMax') })
const partitionResult = record({ partition, error: errorName, message: optional(freeText) })
/**
 * Replicas a client asks for: positive node ids, duplicates allowed here, so that the broker
 * answers that partition with INVALID_REPLICA_ASSIGNMENT, as Kafka does.
 */
const requestedReplicas = array(nodeId, 'replicasPerPartitionMax')
const nodeState = record({ nodeId })
const nodeStateResult = record({ error: errorName, message: optional(freeText) })

// Consumer groups.
const id = string(idCharsMax, 'idCharsMax')
/** Generations in requests: any int32 (the coordinator answers ILLEGAL_GENERATION); -1 standalone. */
const int32 = int(-0x8000_0000, int32Max, 'an int32')
const memberBytes = boundedBytes(memberMetadataBytesMax, 'memberMetadataBytesMax')
const offsetMetadata = string(offsetMetadataCharsMax, 'offsetMetadataCharsMax')
const groupState = oneOf<GroupState>(['Empty', 'PreparingRebalance', 'CompletingRebalance', 'Stable', 'Dead'])
const groupIds = record({ groups: array(id, 'groupsPerRequestMax') })
const groupResult = { error: errorName, message: optional(freeText) }

/** Topics, each with its partitions: the shape of produce, fetch and list offsets, both ways. */
const byTopic = <P>(partitionSchema: Schema<P>) =>
  array(
    record({ name: topicName, partitions: array(partitionSchema, 'partitionsPerTopicMax') }),
    'topicsPerRequestMax',
  )

const requestSchemas: { readonly [A in ApiName]: Schema<ApiRequest<A>> } = {
  metadata: record({ topics: nullable(array(topicName, 'topicsPerRequestMax')) }),
  produce: record({
    // Any int16: the broker answers INVALID_REQUIRED_ACKS for values other than -1, 0 and 1, as Kafka does.
    acks: int(-32768, 32767, 'an int16'),
    timeoutMs: durationMs,
    topics: byTopic(record({ partition, records: bytes })),
  }),
  fetch: record({
    maxWaitMs: durationMs,
    minBytes: byteCount,
    maxBytes: byteCount,
    topics: byTopic(record({ partition, fetchOffset: offset, partitionMaxBytes: byteCount })),
  }),
  listOffsets: record({
    topics: byTopic(
      record({ partition, timestamp: int(-2, safeMax, '-2 (earliest), -1 (latest) or a time in ms') }),
    ),
  }),
  createTopics: record({
    topics: array(
      record({
        name: topicName,
        partitions: int(0, 'partitionsPerTopicMax'),
        replicationFactor: int(0, membersMax),
        configs,
      }),
      'topicsPerRequestMax',
    ),
    validateOnly: bool,
  }),
  deleteTopics: topicNames,
  createPartitions: record({
    topics: array(record({ name: topicName, count: int(0, 'partitionsPerTopicMax') }), 'topicsPerRequestMax'),
  }),
  describeConfigs: topicNames,
  alterConfigs: record({
    topics: array(record({ name: topicName, configs }), 'topicsPerRequestMax'),
  }),
  initProducerId: record({}),
  alterPartitionReassignments: record({
    topics: byTopic(record({ partition, replicas: nullable(requestedReplicas) })),
  }),
  listPartitionReassignments: record({
    topics: nullable(
      array(
        record({ name: topicName, partitions: array(partition, 'partitionsPerTopicMax') }),
        'topicsPerRequestMax',
      ),
    ),
  }),
  alterPartition: record({
    brokerId: nodeId,
    topics: byTopic(record({ partition, leaderEpoch: int(0, safeMax), replicas: nodeIds })),
  }),
  decommissionNode: nodeState,
  recommissionNode: nodeState,
  findCoordinator: record({ key: id }),
  joinGroup: record({
    groupId: id,
    memberId: id,
    clientId: id,
    sessionTimeoutMs: durationMs,
    rebalanceTimeoutMs: durationMs,
    protocolType: id,
    protocols: array(record({ name: id, metadata: memberBytes }), 'protocolsPerMemberMax'),
  }),
  syncGroup: record({
    groupId: id,
    generationId: int32,
    memberId: id,
    assignments: array(record({ memberId: id, assignment: memberBytes }), 'membersPerGroupMax'),
  }),
  heartbeat: record({ groupId: id, generationId: int32, memberId: id }),
  leaveGroup: record({ groupId: id, memberIds: array(id, 'membersPerGroupMax') }),
  offsetCommit: record({
    groupId: id,
    generationId: int32,
    memberId: id,
    topics: byTopic(record({ partition, offset, metadata: optional(offsetMetadata) })),
  }),
  offsetFetch: record({
    groupId: id,
    topics: nullable(
      array(
        record({ name: topicName, partitions: array(partition, 'partitionsPerTopicMax') }),
        'topicsPerRequestMax',
      ),
    ),
  }),
  describeGroups: groupIds,
  listGroups: record({}),
  deleteGroups: groupIds,
}

const responseSchemas: { readonly [A in ApiName]: Schema<ApiResponse<A>> } = {
  metadata: record({
    clusterId: string(clusterIdCharsMax, 'clusterIdCharsMax'),
    controllerId: leaderId,
    brokers: array(
      record({
        nodeId,
        host: string(hostCharsMax, 'hostCharsMax', { charsMin: 1 }),
        port: int(0, 0xffff),
      }),
      'brokersMax',
    ),
    topics: array(
      record({
        name: topicName,
        error: errorName,
        partitions: array(
          record({
            partition,
            error: errorName,
            leaderId,
            leaderEpoch: int(-1, safeMax),
            replicas: nodeIds,
            isr: nodeIds,
            highWatermark: offsetOrNone,
            logStartOffset: offsetOrNone,
            addingReplicas: optional(nodeIds),
            removingReplicas: optional(nodeIds),
          }),
          'partitionsPerTopicMax',
        ),
      }),
      'topicsPerRequestMax',
    ),
  }),
  produce: record({
    topics: byTopic(
      record({
        partition,
        error: errorName,
        message: optional(freeText),
        baseOffset: offsetOrNone,
        logStartOffset: offsetOrNone,
        leaderId,
        leaderEpoch: optional(int(0, safeMax)),
      }),
    ),
  }),
  fetch: record({
    topics: byTopic(
      record({
        partition,
        error: errorName,
        highWatermark: offsetOrNone,
        logStartOffset: offsetOrNone,
        records: bytes,
      }),
    ),
  }),
  listOffsets: record({
    topics: byTopic(
      record({
        partition,
        error: errorName,
        // The request's timestamp comes back, special values included.
        timestamp: int(-2, safeMax, '-2, -1 or a time in ms'),
        offset: offsetOrNone,
      }),
    ),
  }),
  createTopics: topicResults,
  deleteTopics: topicResults,
  createPartitions: topicResults,
  describeConfigs: record({
    topics: array(record({ name: topicName, error: errorName, configs }), 'topicsPerRequestMax'),
  }),
  alterConfigs: topicResults,
  initProducerId: record({ error: errorName, producerId: int64String, producerEpoch: int(-1, 0x7fff) }),
  alterPartitionReassignments: record({ topics: byTopic(partitionResult) }),
  listPartitionReassignments: record({
    topics: byTopic(
      record({ partition, replicas: nodeIds, addingReplicas: nodeIds, removingReplicas: nodeIds }),
    ),
  }),
  alterPartition: record({ topics: byTopic(partitionResult) }),
  decommissionNode: nodeStateResult,
  recommissionNode: nodeStateResult,
  findCoordinator: record({
    ...groupResult,
    nodeId: leaderId,
    host: string(hostCharsMax, 'hostCharsMax'),
    port: int(0, 0xffff),
    partition: int(-1, int32Max, 'a partition, or -1 for none'),
  }),
  joinGroup: record({
    ...groupResult,
    generationId: int(-1, int32Max),
    protocolName: nullable(id),
    leader: id,
    memberId: id,
    members: array(record({ memberId: id, metadata: memberBytes }), 'membersPerGroupMax'),
  }),
  syncGroup: record({ ...groupResult, assignment: memberBytes }),
  heartbeat: record(groupResult),
  leaveGroup: record({
    ...groupResult,
    members: array(record({ memberId: id, error: errorName }), 'membersPerGroupMax'),
  }),
  offsetCommit: record({ ...groupResult, topics: byTopic(partitionResult) }),
  offsetFetch: record({
    ...groupResult,
    topics: byTopic(record({ partition, offset: offsetOrNone, metadata: offsetMetadata, error: errorName })),
  }),
  describeGroups: record({
    groups: array(
      record({
        groupId: id,
        error: errorName,
        state: groupState,
        protocolType: id,
        protocol: id,
        members: array(
          record({
            memberId: id,
            clientId: id,
            clientHost: id,
            subscription: memberBytes,
            assignment: memberBytes,
          }),
          'membersPerGroupMax',
        ),
        offsets: array(
          record({
            topic: topicName,
            partition,
            committed: offsetOrNone,
            logEndOffset: offsetOrNone,
            lag: offsetOrNone,
          }),
          'offsetsPerGroupMax',
        ),
      }),
      'groupsPerRequestMax',
    ),
  }),
  listGroups: record({
    error: errorName,
    groups: array(record({ groupId: id, protocolType: id, state: groupState }), 'groupsPerRequestMax'),
  }),
  deleteGroups: record({
    results: array(record({ groupId: id, ...groupResult }), 'groupsPerRequestMax'),
  }),
}

const envelopeError = errorName
const envelopeMessage = freeText
const requestShape = shape(['id', 'api', 'body'])
const responseShape = shape(['id', 'error', 'body'], ['message'])

// ---- Checking ----------------------------------------------------------------------------------

/**
 * What is wrong, and where below the node that was checked. Built only on failure: each level
 * prefixes its own step on the way out, so a valid frame allocates no path strings.
 */
interface Problem {
  path: string
  message: string
}

const problem = (message: string): Problem => ({ path: '', message })

function at(step: string, p: Problem | undefined): Problem | undefined {
  if (p) p.path = step + p.path
  return p
}

function bound(n: number): string {
  if (n === safeMax) return '2^53-1'
  if (n === int32Max) return '2^31-1'
  if (n === uint32Max) return '2^32-1'
  return String(n)
}

function checkInt(s: Extract<Node, { kind: 'int' }>, x: unknown, limits: ClientLimits): Problem | undefined {
  const max = typeof s.max === 'number' ? s.max : limits[s.max]
  if (typeof x === 'number' && Number.isInteger(x) && x >= s.min && x <= max) return undefined
  const range = `an integer in ${bound(s.min)}..${bound(max)}${typeof s.max === 'number' ? '' : ` (${s.max})`}`
  return problem(`expected ${s.text ?? range}, got ${describe(x)}`)
}

function checkString(s: Extract<Node, { kind: 'string' }>, x: unknown): Problem | undefined {
  if (typeof x !== 'string') return problem(`expected ${s.what ?? 'a string'}, got ${describe(x)}`)
  if (x.length > s.charsMax) return problem(`${x.length} chars exceed ${s.limit} ${s.charsMax}`)
  if (x.length < s.charsMin) {
    return problem(`expected ${s.what ?? `${s.charsMin}..${s.charsMax} chars`}, got ${describe(x)}`)
  }
  if (s.pattern && !s.pattern.test(x)) return problem(`expected ${s.what ?? 'a string'}, got ${describe(x)}`)
  return undefined
}

const int64Max = 2n ** 63n - 1n

function checkInt64String(x: unknown): Problem | undefined {
  // 19 digits at most (2^63-1 has 19), so the BigInt below is short.
  if (typeof x === 'string' && /^(-1|0|[1-9][0-9]{0,18})$/.test(x) && BigInt(x) <= int64Max) return undefined
  return problem(`expected a decimal string of an integer in -1..2^63-1, got ${describe(x)}`)
}

function checkNodeIds(x: unknown): Problem | undefined {
  const error = validateNodeIds(x, membersMax, '')
  if (error === undefined) return undefined
  // validateNodeIds answers `<path>: <message>` or `<path>[i]: <message>` for the path given.
  const split = error.indexOf(': ')
  return { path: error.slice(0, split), message: error.slice(split + 2) }
}

function checkConfigs(x: unknown, limits: ClientLimits): Problem | undefined {
  if (!isPlainObject(x)) return problem(`expected a map of string to string, got ${describe(x)}`)
  let count = 0
  for (const key in x) {
    if (++count > limits.configEntriesMax) {
      return problem(`more than configEntriesMax ${limits.configEntriesMax} entries`)
    }
    const step = `[${describe(key)}]`
    // msgpackr renames a `__proto__` key on decode, so it could never arrive as sent.
    if (key.length === 0 || key.length > configKeyCharsMax || key === '__proto__') {
      return at(step, problem(`expected a config name of 1..${configKeyCharsMax} chars`))
    }
    const value = x[key]
    if (typeof value !== 'string') return at(step, problem(`expected a string, got ${describe(value)}`))
    if (value.length > configValueCharsMax) {
      return at(step, problem(`${value.length} chars exceed configValueCharsMax ${configValueCharsMax}`))
    }
  }
  return undefined
}

function checkArray(
  s: Extract<Node, { kind: 'array' }>,
  x: unknown,
  limits: ClientLimits,
): Problem | undefined {
  if (!Array.isArray(x)) return problem(`expected an array, got ${describe(x)}`)
  const max = limits[s.max]
  if (x.length > max) return problem(`${x.length} entries exceed ${s.max} ${max}`)
  for (let i = 0; i < x.length; i++) {
    const p = check(s.of, x[i], limits)
    if (p) return at(`[${i}]`, p)
  }
  return undefined
}

/** Exactly the schema's keys: every required one, any optional one, nothing else. */
function keysProblem(s: Shape, x: Record<string, unknown>): Problem | undefined {
  let present = 0
  for (const name of s.required) {
    if (x[name] === undefined || !Object.hasOwn(x, name)) return at(`.${name}`, problem('missing'))
    present++
  }
  for (const name of s.optional) if (x[name] !== undefined && Object.hasOwn(x, name)) present++
  let count = 0
  for (const _ in x) count++
  if (count === present) return undefined
  const extra = Object.keys(x).find((key) => !s.names.has(key) || x[key] === undefined)
  return problem(`unexpected key ${describe(extra)}`)
}

function checkRecord(
  s: Extract<Node, { kind: 'record' }>,
  x: unknown,
  limits: ClientLimits,
): Problem | undefined {
  if (!isPlainObject(x)) return problem(`expected a map, got ${describe(x)}`)
  const keys = keysProblem(s, x)
  if (keys) return keys
  for (const [name, field] of s.fields) {
    const value = x[name]
    if (value === undefined) continue // an absent optional field
    const p = check(field, value, limits)
    if (p) return at(`.${name}`, p)
  }
  return undefined
}

function check(s: Node, x: unknown, limits: ClientLimits): Problem | undefined {
  switch (s.kind) {
    case 'int':
      return checkInt(s, x, limits)
    case 'string':
      return checkString(s, x)
    case 'bool':
      return typeof x === 'boolean' ? undefined : problem(`expected a boolean, got ${describe(x)}`)
    case 'bytes':
      if (!(x instanceof Uint8Array)) return problem(`expected bytes, got ${describe(x)}`)
      return s.bytesMax === undefined || x.length <= s.bytesMax
        ? undefined
        : problem(`${x.length} bytes exceed ${s.limit} ${s.bytesMax}`)
    case 'int64String':
      return checkInt64String(x)
    case 'nodeIds':
      return checkNodeIds(x)
    case 'configs':
      return checkConfigs(x, limits)
    case 'nullable':
      return x === null ? undefined : orNull(check(s.of, x, limits))
    case 'array':
      return checkArray(s, x, limits)
    case 'record':
      return checkRecord(s, x, limits)
  }
}

/** `expected an array` becomes `expected null or an array` when the field may be null. */
function orNull(p: Problem | undefined): Problem | undefined {
  if (p && p.path === '' && p.message.startsWith('expected ') && !p.message.startsWith('expected null')) {
    p.message = `expected null or ${p.message.slice('expected '.length)}`
  }
  return p
}

const reason = (root: string, p: Problem): string => `${root}${p.path}: ${p.message}`

const isApiName = (x: unknown): x is ApiName => typeof x === 'string' && Object.hasOwn(requestSchemas, x)

function envelopeId(x: unknown): Problem | undefined {
  return at('.id', checkInt({ kind: 'int', min: 0, max: uint32Max }, x, defaultClientLimits))
}

function requestProblem(x: unknown, limits: ClientLimits): string | undefined {
  if (!isPlainObject(x)) return `request: expected a map, got ${describe(x)}`
  const envelope = keysProblem(requestShape, x) ?? envelopeId(x.id)
  if (envelope) return reason('request', envelope)
  if (!isApiName(x.api)) return `request.api: unknown api ${describe(x.api)}`
  const body = check(requestSchemas[x.api], x.body, limits)
  return body ? reason(x.api, body) : undefined
}

/** The envelope, and the body against the api's schema unless no api is named (see encodeResponse). */
function responseProblem(x: unknown, api: ApiName | undefined, limits: ClientLimits): string | undefined {
  if (!isPlainObject(x)) return `response: expected a map, got ${describe(x)}`
  const envelope =
    keysProblem(responseShape, x) ??
    envelopeId(x.id) ??
    at('.error', check(envelopeError, x.error, limits)) ??
    (x.message === undefined ? undefined : at('.message', check(envelopeMessage, x.message, limits)))
  if (envelope) return reason('response', envelope)
  if (x.error !== null) {
    return x.body === null ? undefined : `response.body: expected null with an error, got ${describe(x.body)}`
  }
  if (x.body === null) return 'response.body: expected a body without an error, got null'
  if (api === undefined) return undefined
  const body = check(responseSchemas[api], x.body, limits)
  return body ? reason(`${api}Response`, body) : undefined
}

// ---- Encoding ----------------------------------------------------------------------------------

// Records (msgpackr's shared structures) are off: every frame decodes on its own, into plain maps.
// A request's bins are views into the request (bytes.ts): the broker copies only what it keeps
// (a produce's batch, which it stamps; a member's metadata and assignment), and every byte of a
// produce was copied once more before. A response's bins are copies: a consumer hands out records
// that live as long as the application keeps them, which must not pin a whole fetch response.
const packr = new Packr({ useRecords: false, variableMapSize: true })
const unpackrOptions = { useRecords: false, mapsAsObjects: true, int64AsType: 'number' } as const
const requestUnpackr = new Unpackr({ ...unpackrOptions, copyBuffers: false })
const responseUnpackr = new Unpackr({ ...unpackrOptions, copyBuffers: true })

/** The schema's fields of x and nothing else, free text cut to its limit; anything else as it is. */
function project(s: Node, x: unknown): unknown {
  switch (s.kind) {
    case 'nullable':
      return x === null ? null : project(s.of, x)
    case 'array':
      return Array.isArray(x) ? x.map((item) => project(s.of, item)) : x
    case 'record': {
      if (typeof x !== 'object' || x === null || Array.isArray(x) || x instanceof Uint8Array) return x
      const source = x as Record<string, unknown>
      const out: Record<string, unknown> = {}
      for (const [name, field] of s.fields) {
        const value = source[name]
        if (value === undefined && s.optional.has(name)) continue
        out[name] = project(field, value)
      }
      return out
    }
    case 'string':
      return s.truncate && typeof x === 'string' && x.length > s.charsMax ? x.slice(0, s.charsMax) : x
    default:
      return x
  }
}

function pack(wire: unknown, bytesMax: number, what: string, target: Uint8Array | undefined): Uint8Array {
  const bytes = packInto(packr, wire, target)
  if (bytes.length > bytesMax) throw new RangeError(`${what}: ${bytes.length} bytes exceed ${bytesMax}`)
  return bytes
}

/**
 * Encode a request. Throws a TypeError naming the field when the envelope is not one the broker
 * would accept, and a RangeError when it encodes to more than `limits.requestBytesMax`. With
 * `target` (from a SendBuffers, send-buffers.ts) the request is packed into it if it fits.
 */
export function encodeRequest(
  envelope: RequestEnvelope,
  limits: Readonly<ClientLimits> = defaultClientLimits,
  target?: Uint8Array,
): Uint8Array {
  const { id, api, body } = envelope
  if (!isApiName(api)) throw new TypeError(`encodeRequest: request.api: unknown api ${describe(api)}`)
  const wire = { id, api, body: project(requestSchemas[api], body) }
  const error = requestProblem(wire, limits)
  if (error) throw new TypeError(`encodeRequest: ${error}`)
  return pack(wire, limits.requestBytesMax, 'encodeRequest', target)
}

/**
 * Encode a response. Throws a TypeError naming the field when the client would refuse it, and a
 * RangeError when it encodes to more than `limits.responseBytesMax`. The api is the request's.
 * With `target` (from a SendBuffers) the response is packed into it if it fits.
 */
export function encodeResponse<A extends ApiName>(
  envelope: ResponseEnvelope<A>,
  api?: A,
  limits: Readonly<ClientLimits> = defaultClientLimits,
  target?: Uint8Array,
): Uint8Array {
  if (api !== undefined && !isApiName(api)) {
    throw new TypeError(`encodeResponse: unknown api ${describe(api)}`)
  }
  const { id, error, message, body } = envelope
  const wire: Record<string, unknown> = { id, error }
  if (message !== undefined) wire.message = project(envelopeMessage, message)
  // Without the api the body is written as given, and only the envelope is checked.
  wire.body = body === null || api === undefined ? body : project(responseSchemas[api], body)
  const refused = responseProblem(wire, api, limits)
  if (refused) throw new TypeError(`encodeResponse: ${refused}`)
  return pack(wire, limits.responseBytesMax, 'encodeResponse', target)
}

// ---- Decoding ----------------------------------------------------------------------------------

function unpack(unpackr: Unpackr, bytes: Uint8Array, bytesMax: number, what: string): Result<unknown> {
  if (!(bytes instanceof Uint8Array)) return fail(`${what}: expected bytes, got ${describe(bytes)}`)
  if (bytes.length > bytesMax) return fail(`${what}: ${bytes.length} bytes exceed ${bytesMax}`)
  const structure = scanMsgpack(bytes, {
    nestingDepthMax: clientNestingDepthMax,
    stringBytesMax: clientStringBytesMax,
  })
  if (structure !== undefined) return fail(`${what}: ${structure}`)
  try {
    return ok(unpackr.unpack(bytes))
  } catch (error) {
    // Unreachable for input that passed scanMsgpack; kept so no decoder bug can throw out of here.
    const text = error instanceof Error ? error.message.slice(0, 80) : 'unknown'
    return fail(`${what}: msgpack decoder threw: ${text}`)
  }
}

/**
 * Decode and validate one request frame from an untrusted client. Never throws. The reason names
 * the field (`produce.topics[0].partitions[2].records: expected bytes, got string`). Its bins are
 * views into `bytes`: copy one (`ownedBytes`) to keep it beyond the request.
 */
export function decodeRequest(
  bytes: Uint8Array,
  limits: Readonly<ClientLimits> = defaultClientLimits,
): Result<RequestEnvelope> {
  const value = unpack(requestUnpackr, bytes, limits.requestBytesMax, 'request')
  if (!value.ok) return value
  const error = requestProblem(value.value, limits)
  return error ? fail(error) : ok(value.value as RequestEnvelope)
}

/**
 * Decode and validate one response frame from a broker, as the answer to a request of `api`.
 * Never throws.
 */
export function decodeResponse<A extends ApiName>(
  bytes: Uint8Array,
  api: A,
  limits: Readonly<ClientLimits> = defaultClientLimits,
): Result<ResponseEnvelope<A>> {
  if (!isApiName(api)) return fail(`response: unknown api ${describe(api)}`)
  const value = unpack(responseUnpackr, bytes, limits.responseBytesMax, 'response')
  if (!value.ok) return value
  const error = responseProblem(value.value, api, limits)
  return error ? fail(error) : ok(value.value as ResponseEnvelope<A>)
}

/**
 * Decodes a response whose api is known only by its id (the client's table of requests in flight):
 * one unpack, then the api that `apiOf(id)` names checks the body. Undefined from `apiOf` (an
 * answer to nothing in flight, e.g. after a timeout) gives `{ ok: true, value: null }`.
 */
export function decodeResponseById(
  bytes: Uint8Array,
  apiOf: (id: number) => ApiName | undefined,
  limits: Readonly<ClientLimits> = defaultClientLimits,
): Result<ResponseEnvelope | null> {
  const value = unpack(responseUnpackr, bytes, limits.responseBytesMax, 'response')
  if (!value.ok) return value
  const id = isPlainObject(value.value) ? (value.value as { id?: unknown }).id : undefined
  if (typeof id !== 'number') return fail('response.id: expected an integer')
  const api = apiOf(id)
  if (api === undefined) return ok(null)
  const error = responseProblem(value.value, api, limits)
  return error ? fail(error) : ok(value.value as ResponseEnvelope)
}
