/**
 * The client API codec: every api's request and response round-trips; a table of malformed bodies
 * per api, each refused with the field's path; 30,000+ random and mutated frames that must decode
 * to a valid envelope or a reason, never an exception; the limits, checked before the work they bound.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { Packr, Unpackr } from 'msgpackr'
import { isWhole, ownedBytes } from '../src/bytes.js'
import {
  API_NAMES,
  type ApiName,
  type ApiRequest,
  type ApiResponse,
  type RequestEnvelope,
  type ResponseEnvelope,
} from '../src/client-api.js'
import {
  type ClientLimits,
  clientRequestBytesMax,
  clientStringBytesMax,
  configValueCharsMax,
  decodeRequest,
  decodeResponse,
  defaultClientLimits,
  encodeRequest,
  encodeResponse,
  idCharsMax,
  memberMetadataBytesMax,
  messageCharsMax,
  offsetMetadataCharsMax,
  topicNameCharsMax,
} from '../src/client-codec.js'
import { ErrorCode } from '../src/error-codes.js'
import type { Result } from '../src/result.js'
import { plain } from './arbitraries.js'
import { fcOptions, seed } from './seed.js'

const rawPackr = new Packr({ useRecords: false })
const rawUnpackr = new Unpackr({ useRecords: false, mapsAsObjects: true })
const int32Max = 0x7fff_ffff
const safeMax = Number.MAX_SAFE_INTEGER

// ---- Arbitraries: valid by construction, edges included ------------------------------------------

const small = <T>(usual: fc.Arbitrary<T>, rare: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 4, arbitrary: usual }, { weight: 1, arbitrary: rare })
const intArb = (min: number, max: number) =>
  fc.oneof(
    { weight: 1, arbitrary: fc.constantFrom(min, max) },
    { weight: 3, arbitrary: fc.integer({ min, max: Math.min(max, min + 1_000) }) },
    { weight: 2, arbitrary: fc.integer({ min, max }) },
  )

const idArb = intArb(0, 0xffff_ffff)
const partitionArb = intArb(0, int32Max)
const int32Arb = intArb(0, int32Max)
const offsetArb = intArb(0, safeMax)
const offsetOrNoneArb = intArb(-1, safeMax)
const nodeIdArb = small(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: safeMax }))
const leaderIdArb = fc.oneof(fc.constant(0), nodeIdArb)
// Up to 60 code points is at most 120 UTF-16 units: within every string limit.
const textArb = (charsMax: number) =>
  small(fc.string({ unit: 'binary', maxLength: 60 }), fc.constant('x'.repeat(charsMax)))
const topicNameArb = fc.oneof(
  fc.stringMatching(/^[a-zA-Z0-9._-]{1,30}$/),
  textArb(topicNameCharsMax),
  fc.constant(''),
)
const errorNameArb = fc.oneof(
  fc.constantFrom(...Object.keys(ErrorCode)),
  fc.stringMatching(/^[A-Z][A-Z0-9_]{0,63}$/),
)
const errorArb = fc.oneof(fc.constant(null), errorNameArb)
const messageArb = textArb(messageCharsMax)
const configsArb = fc.dictionary(
  small(fc.stringMatching(/^[a-z][a-z0-9._-]{0,30}$/), fc.constant('k'.repeat(255))),
  textArb(configValueCharsMax),
  { maxKeys: 5, noNullPrototype: true },
)
const bytesArb = small(fc.uint8Array({ maxLength: 64 }), fc.uint8Array({ minLength: 1000, maxLength: 4000 }))
const nodeIdsArb = fc.uniqueArray(nodeIdArb, { maxLength: 7 })
const list = <T>(item: fc.Arbitrary<T>) => fc.array(item, { maxLength: 4 })
const byTopic = <P>(partition: fc.Arbitrary<P>) =>
  list(fc.record({ name: topicNameArb, partitions: list(partition) }))
const partitionResultArb = fc.record(
  { partition: partitionArb, error: errorArb, message: messageArb },
  { requiredKeys: ['partition', 'error'] },
)
const nodeStateResultArb = fc.record({ error: errorArb, message: messageArb }, { requiredKeys: ['error'] })
const topicResultsArb = fc.record({
  topics: list(
    fc.record(
      { name: topicNameArb, error: errorArb, message: messageArb },
      { requiredKeys: ['name', 'error'] },
    ),
  ),
})

// Consumer groups.
const groupIdArb = small(fc.string({ unit: 'binary', maxLength: 40 }), fc.constant('g'.repeat(idCharsMax)))
const int32RangeArb = intArb(-(2 ** 31), int32Max)
const generationArb = intArb(-1, int32Max)
// The 1 MiB limit itself has its own cases below: frames that large would slow the fuzzing.
const memberBytesArb = bytesArb
const groupStateArb = fc.constantFrom(
  'Empty' as const,
  'PreparingRebalance' as const,
  'CompletingRebalance' as const,
  'Stable' as const,
  'Dead' as const,
)

const requestArbs: { [A in ApiName]: fc.Arbitrary<ApiRequest<A>> } = {
  metadata: fc.record({ topics: fc.option(list(topicNameArb), { nil: null }) }),
  produce: fc.record({
    acks: fc.constantFrom(-1, 0, 1),
    timeoutMs: int32Arb,
    topics: byTopic(fc.record({ partition: partitionArb, records: bytesArb })),
  }),
  fetch: fc.record({
    maxWaitMs: int32Arb,
    minBytes: int32Arb,
    maxBytes: int32Arb,
    topics: byTopic(
      fc.record({ partition: partitionArb, fetchOffset: offsetArb, partitionMaxBytes: int32Arb }),
    ),
  }),
  listOffsets: fc.record({
    topics: byTopic(fc.record({ partition: partitionArb, timestamp: intArb(-2, safeMax) })),
  }),
  createTopics: fc.record({
    topics: list(
      fc.record({
        name: topicNameArb,
        partitions: intArb(0, defaultClientLimits.partitionsPerTopicMax),
        replicationFactor: intArb(0, 1_024),
        configs: configsArb,
      }),
    ),
    validateOnly: fc.boolean(),
  }),
  deleteTopics: fc.record({ topics: list(topicNameArb) }),
  createPartitions: fc.record({
    topics: list(
      fc.record({ name: topicNameArb, count: intArb(0, defaultClientLimits.partitionsPerTopicMax) }),
    ),
  }),
  describeConfigs: fc.record({ topics: list(topicNameArb) }),
  alterConfigs: fc.record({ topics: list(fc.record({ name: topicNameArb, configs: configsArb })) }),
  initProducerId: fc.constant({}),
  alterPartitionReassignments: fc.record({
    topics: byTopic(
      fc.record({
        partition: partitionArb,
        // Duplicates pass the codec: the broker answers INVALID_REPLICA_ASSIGNMENT for them.
        replicas: fc.option(fc.array(nodeIdArb, { maxLength: 7 }), { nil: null }),
      }),
    ),
  }),
  listPartitionReassignments: fc.record({
    topics: fc.option(list(fc.record({ name: topicNameArb, partitions: list(partitionArb) })), { nil: null }),
  }),
  alterPartition: fc.record({
    brokerId: nodeIdArb,
    topics: byTopic(
      fc.record({ partition: partitionArb, leaderEpoch: intArb(0, safeMax), replicas: nodeIdsArb }),
    ),
  }),
  decommissionNode: fc.record({ nodeId: nodeIdArb }),
  recommissionNode: fc.record({ nodeId: nodeIdArb }),
  findCoordinator: fc.record({ key: groupIdArb }),
  joinGroup: fc.record({
    groupId: groupIdArb,
    memberId: groupIdArb,
    clientId: groupIdArb,
    sessionTimeoutMs: int32Arb,
    rebalanceTimeoutMs: int32Arb,
    protocolType: fc.constantFrom('consumer', '', 'connect'),
    protocols: list(fc.record({ name: groupIdArb, metadata: memberBytesArb })),
  }),
  syncGroup: fc.record({
    groupId: groupIdArb,
    generationId: int32RangeArb,
    memberId: groupIdArb,
    assignments: list(fc.record({ memberId: groupIdArb, assignment: memberBytesArb })),
  }),
  heartbeat: fc.record({ groupId: groupIdArb, generationId: int32RangeArb, memberId: groupIdArb }),
  leaveGroup: fc.record({ groupId: groupIdArb, memberIds: list(groupIdArb) }),
  offsetCommit: fc.record({
    groupId: groupIdArb,
    generationId: int32RangeArb,
    memberId: groupIdArb,
    topics: byTopic(
      fc.record(
        { partition: partitionArb, offset: offsetArb, metadata: textArb(offsetMetadataCharsMax) },
        { requiredKeys: ['partition', 'offset'] },
      ),
    ),
  }),
  offsetFetch: fc.record({
    groupId: groupIdArb,
    topics: fc.option(list(fc.record({ name: topicNameArb, partitions: list(partitionArb) })), { nil: null }),
  }),
  describeGroups: fc.record({ groups: list(groupIdArb) }),
  listGroups: fc.constant({}),
  deleteGroups: fc.record({ groups: list(groupIdArb) }),
}

const responseArbs: { [A in ApiName]: fc.Arbitrary<ApiResponse<A>> } = {
  metadata: fc.record({
    clusterId: textArb(255),
    controllerId: leaderIdArb,
    brokers: list(
      fc.record({
        nodeId: nodeIdArb,
        host: fc.oneof(fc.domain(), fc.ipV4(), fc.constant('h'.repeat(255))),
        port: intArb(0, 0xffff),
      }),
    ),
    topics: list(
      fc.record({
        name: topicNameArb,
        error: errorArb,
        partitions: list(
          fc.record(
            {
              partition: partitionArb,
              error: errorArb,
              leaderId: leaderIdArb,
              leaderEpoch: intArb(-1, safeMax),
              replicas: nodeIdsArb,
              isr: nodeIdsArb,
              highWatermark: offsetOrNoneArb,
              logStartOffset: offsetOrNoneArb,
              addingReplicas: nodeIdsArb,
              removingReplicas: nodeIdsArb,
            },
            {
              requiredKeys: [
                'partition',
                'error',
                'leaderId',
                'leaderEpoch',
                'replicas',
                'isr',
                'highWatermark',
                'logStartOffset',
              ],
            },
          ),
        ),
      }),
    ),
  }),
  produce: fc.record({
    topics: byTopic(
      fc.record(
        {
          partition: partitionArb,
          error: errorArb,
          message: messageArb,
          baseOffset: offsetOrNoneArb,
          logStartOffset: offsetOrNoneArb,
          leaderId: leaderIdArb,
          leaderEpoch: fc.nat(),
        },
        { requiredKeys: ['partition', 'error', 'baseOffset', 'logStartOffset', 'leaderId'] },
      ),
    ),
  }),
  fetch: fc.record({
    topics: byTopic(
      fc.record({
        partition: partitionArb,
        error: errorArb,
        highWatermark: offsetOrNoneArb,
        logStartOffset: offsetOrNoneArb,
        records: bytesArb,
      }),
    ),
  }),
  listOffsets: fc.record({
    topics: byTopic(
      fc.record({
        partition: partitionArb,
        error: errorArb,
        timestamp: intArb(-2, safeMax),
        offset: offsetOrNoneArb,
      }),
    ),
  }),
  createTopics: topicResultsArb,
  deleteTopics: topicResultsArb,
  createPartitions: topicResultsArb,
  describeConfigs: fc.record({
    topics: list(fc.record({ name: topicNameArb, error: errorArb, configs: configsArb })),
  }),
  alterConfigs: topicResultsArb,
  initProducerId: fc.record({
    error: errorArb,
    producerId: fc.oneof(fc.constant('-1'), fc.bigInt({ min: 0n, max: 2n ** 63n - 1n }).map(String)),
    producerEpoch: intArb(-1, 0x7fff),
  }),
  alterPartitionReassignments: fc.record({ topics: byTopic(partitionResultArb) }),
  listPartitionReassignments: fc.record({
    topics: byTopic(
      fc.record({
        partition: partitionArb,
        replicas: nodeIdsArb,
        addingReplicas: nodeIdsArb,
        removingReplicas: nodeIdsArb,
      }),
    ),
  }),
  alterPartition: fc.record({ topics: byTopic(partitionResultArb) }),
  decommissionNode: nodeStateResultArb,
  recommissionNode: nodeStateResultArb,
  findCoordinator: fc.record(
    {
      error: errorArb,
      message: messageArb,
      nodeId: leaderIdArb,
      host: fc.oneof(fc.constant(''), fc.domain(), fc.ipV4()),
      port: intArb(0, 0xffff),
      partition: intArb(-1, int32Max),
    },
    { requiredKeys: ['error', 'nodeId', 'host', 'port', 'partition'] },
  ),
  joinGroup: fc.record(
    {
      error: errorArb,
      message: messageArb,
      generationId: generationArb,
      protocolName: fc.option(groupIdArb, { nil: null }),
      leader: groupIdArb,
      memberId: groupIdArb,
      members: list(fc.record({ memberId: groupIdArb, metadata: memberBytesArb })),
    },
    { requiredKeys: ['error', 'generationId', 'protocolName', 'leader', 'memberId', 'members'] },
  ),
  syncGroup: fc.record(
    { error: errorArb, message: messageArb, assignment: memberBytesArb },
    { requiredKeys: ['error', 'assignment'] },
  ),
  heartbeat: nodeStateResultArb,
  leaveGroup: fc.record(
    {
      error: errorArb,
      message: messageArb,
      members: list(fc.record({ memberId: groupIdArb, error: errorArb })),
    },
    { requiredKeys: ['error', 'members'] },
  ),
  offsetCommit: fc.record(
    { error: errorArb, message: messageArb, topics: byTopic(partitionResultArb) },
    { requiredKeys: ['error', 'topics'] },
  ),
  offsetFetch: fc.record(
    {
      error: errorArb,
      message: messageArb,
      topics: byTopic(
        fc.record({
          partition: partitionArb,
          offset: offsetOrNoneArb,
          metadata: textArb(offsetMetadataCharsMax),
          error: errorArb,
        }),
      ),
    },
    { requiredKeys: ['error', 'topics'] },
  ),
  describeGroups: fc.record({
    groups: list(
      fc.record({
        groupId: groupIdArb,
        error: errorArb,
        state: groupStateArb,
        protocolType: groupIdArb,
        protocol: groupIdArb,
        members: list(
          fc.record({
            memberId: groupIdArb,
            clientId: groupIdArb,
            clientHost: fc.oneof(fc.ipV4(), fc.ipV6(), fc.constant('')),
            subscription: memberBytesArb,
            assignment: memberBytesArb,
          }),
        ),
        offsets: list(
          fc.record({
            topic: topicNameArb,
            partition: partitionArb,
            committed: offsetOrNoneArb,
            logEndOffset: offsetOrNoneArb,
            lag: offsetOrNoneArb,
          }),
        ),
      }),
    ),
  }),
  listGroups: fc.record({
    error: errorArb,
    groups: list(fc.record({ groupId: groupIdArb, protocolType: groupIdArb, state: groupStateArb })),
  }),
  deleteGroups: fc.record({
    results: list(
      fc.record(
        { groupId: groupIdArb, error: errorArb, message: messageArb },
        { requiredKeys: ['groupId', 'error'] },
      ),
    ),
  }),
}

const requestArb = <A extends ApiName>(api: A): fc.Arbitrary<RequestEnvelope<A>> =>
  fc.record({ id: idArb, api: fc.constant(api), body: requestArbs[api] as fc.Arbitrary<ApiRequest<A>> })

const responseArb = <A extends ApiName>(api: A): fc.Arbitrary<ResponseEnvelope<A>> =>
  fc.oneof(
    fc.record(
      {
        id: idArb,
        error: fc.constant(null),
        message: messageArb,
        body: responseArbs[api] as fc.Arbitrary<ApiResponse<A>>,
      },
      { requiredKeys: ['id', 'error', 'body'] },
    ),
    fc.record(
      { id: idArb, error: errorNameArb, message: messageArb, body: fc.constant(null) },
      { requiredKeys: ['id', 'error', 'body'] },
    ),
  )

// ---- Helpers ----------------------------------------------------------------------------------------

function accepted<T>(result: Result<T>): T {
  assert.ok(result.ok, result.ok ? '' : result.reason)
  return result.value
}

/** Decoded values are maps, arrays, strings, numbers, booleans, null and Uint8Array: no class instances. */
function assertPlainData(x: unknown, path = '$'): void {
  if (x === null || typeof x !== 'object') return
  if (x instanceof Uint8Array) return
  if (Array.isArray(x)) {
    for (let i = 0; i < x.length; i++) assertPlainData(x[i], `${path}[${i}]`)
    return
  }
  assert.equal(Object.getPrototypeOf(x), Object.prototype, `${path} is a plain map`)
  for (const [key, value] of Object.entries(x)) assertPlainData(value, `${path}.${key}`)
}

function rejectedWith(result: Result<unknown>, expected: string): void {
  assert.equal(result.ok, false, `accepted, expected ${expected}`)
  if (!result.ok) assert.ok(result.reason.startsWith(expected), `reason ${JSON.stringify(result.reason)}`)
}

// ---- Round trips ------------------------------------------------------------------------------------

describe('client codec round trips', () => {
  for (const api of API_NAMES) {
    it(`${api}: request and response envelopes survive encode → decode`, () => {
      fc.assert(
        fc.property(requestArb(api), responseArb(api), (request, response) => {
          const requestBack = accepted(decodeRequest(encodeRequest(request)))
          assert.deepStrictEqual(plain(requestBack), plain(request))
          assertPlainData(requestBack)
          const responseBack = accepted(decodeResponse(encodeResponse(response, api), api))
          assert.deepStrictEqual(plain(responseBack), plain(response))
          assertPlainData(responseBack)
          // Without the api, the body is written as given: the same bytes for a valid response.
          assert.deepStrictEqual(encodeResponse(response), encodeResponse(response, api))
        }),
        fcOptions(150),
      )
    })
  }

  it("decodes a request's bins as views into it (the broker copies what it keeps), a response's as copies", () => {
    const records = Uint8Array.from([1, 2, 3, 4])
    const bytes = encodeRequest({
      id: 1,
      api: 'produce',
      body: { acks: 1, timeoutMs: 100, topics: [{ name: 't', partitions: [{ partition: 0, records }] }] },
    })
    const decoded = accepted(decodeRequest(bytes)) as RequestEnvelope<'produce'>
    const back = decoded.body.topics[0]!.partitions[0]!.records
    assert.ok(back instanceof Uint8Array)
    assert.equal(back.buffer, bytes.buffer, 'a view: no copy of every produced byte')
    assert.deepEqual([...back], [1, 2, 3, 4])
    assert.ok(!isWhole(back) && isWhole(ownedBytes(back)) && ownedBytes(back).buffer !== bytes.buffer)

    // A consumer hands records to the application, which may keep them: never a view of the fetch.
    const response = encodeResponse(
      {
        id: 2,
        error: null,
        body: {
          topics: [
            {
              name: 't',
              partitions: [{ partition: 0, error: null, highWatermark: 4, logStartOffset: 0, records }],
            },
          ],
        },
      } as ResponseEnvelope,
      'fetch',
    )
    const fetched = accepted(decodeResponse(response, 'fetch')) as ResponseEnvelope<'fetch'>
    const got = fetched.body!.topics[0]!.partitions[0]!.records
    assert.notEqual(got.buffer, response.buffer)
    response.fill(0)
    assert.deepEqual([...got], [1, 2, 3, 4])
  })
})

// ---- The encoder ------------------------------------------------------------------------------------

describe('client codec encoder', () => {
  it('writes the schema fields only and cuts free text to messageCharsMax', () => {
    const long = 'm'.repeat(messageCharsMax + 500)
    const body = { topics: [{ name: 'a', error: 'INVALID_PARTITIONS', message: long, internal: { x: 1 } }] }
    const bytes = encodeResponse(
      { id: 3, error: null, message: long, body } as ResponseEnvelope,
      'createTopics',
    )
    const back = accepted(decodeResponse(bytes, 'createTopics'))
    assert.deepStrictEqual(plain(back), {
      id: 3,
      error: null,
      message: 'm'.repeat(messageCharsMax),
      body: { topics: [{ name: 'a', error: 'INVALID_PARTITIONS', message: 'm'.repeat(messageCharsMax) }] },
    })
    const request = { id: 1, api: 'metadata', body: { topics: null, debug: true }, trace: 'x' }
    assert.deepStrictEqual(accepted(decodeRequest(encodeRequest(request as RequestEnvelope))), {
      id: 1,
      api: 'metadata',
      body: { topics: null },
    })
  })

  it('omits an undefined optional field instead of writing it', () => {
    const bytes = encodeResponse(
      { id: 1, error: null, message: undefined, body: { topics: [] } },
      'deleteTopics',
    )
    assert.deepStrictEqual(accepted(decodeResponse(bytes, 'deleteTopics')), {
      id: 1,
      error: null,
      body: { topics: [] },
    })
  })

  it('throws a TypeError naming the field for an envelope the peer would refuse', () => {
    const produce = { acks: 40000, timeoutMs: 10, topics: [] }
    assert.throws(
      () => encodeRequest({ id: 1, api: 'produce', body: produce }),
      (e: unknown) =>
        e instanceof TypeError && e.message === 'encodeRequest: produce.acks: expected an int16, got 40000',
    )
    assert.throws(
      () => encodeRequest({ id: 1, api: 'nope' as ApiName, body: {} }),
      /request\.api: unknown api "nope"/,
    )
    assert.throws(() => encodeRequest({ id: -1, api: 'initProducerId', body: {} }), /request\.id: expected/)
    const configs = JSON.parse('{"__proto__": "x"}') as Record<string, string>
    assert.throws(
      () => encodeRequest({ id: 1, api: 'alterConfigs', body: { topics: [{ name: 't', configs }] } }),
      /alterConfigs\.topics\[0\]\.configs\["__proto__"\]: expected a config name/,
    )
    assert.throws(
      () =>
        encodeResponse(
          { id: 1, error: null, body: { topics: [{ name: 't' }] } } as ResponseEnvelope,
          'createTopics',
        ),
      /createTopicsResponse\.topics\[0\]\.error: missing/,
    )
    assert.throws(
      () => encodeResponse({ id: 1, error: 'E', body: { topics: [] } }),
      /response\.body: expected null/,
    )
  })

  it('throws a RangeError for a frame over the byte limit', () => {
    const limits: ClientLimits = { ...defaultClientLimits, requestBytesMax: 100, responseBytesMax: 100 }
    const records = new Uint8Array(200)
    const body = { acks: 1, timeoutMs: 10, topics: [{ name: 't', partitions: [{ partition: 0, records }] }] }
    assert.throws(() => encodeRequest({ id: 1, api: 'produce', body }, limits), RangeError)
    const fetched = {
      topics: [
        {
          name: 't',
          partitions: [{ partition: 0, error: null, highWatermark: 0, logStartOffset: 0, records }],
        },
      ],
    }
    assert.throws(() => encodeResponse({ id: 1, error: null, body: fetched }, 'fetch', limits), RangeError)
  })
})

// ---- Malformed bodies: one table per api, each refused with the field's path ------------------------------

const records = (n: number) => new Uint8Array(n).fill(7)

const requestBases: { [A in ApiName]: ApiRequest<A> } = {
  metadata: { topics: ['a', 'b'] },
  produce: {
    acks: -1,
    timeoutMs: 30_000,
    topics: [
      {
        name: 'a',
        partitions: [
          { partition: 0, records: records(3) },
          { partition: 1, records: records(3) },
          { partition: 2, records: records(3) },
        ],
      },
    ],
  },
  fetch: {
    maxWaitMs: 500,
    minBytes: 1,
    maxBytes: 1 << 20,
    topics: [{ name: 'a', partitions: [{ partition: 0, fetchOffset: 10, partitionMaxBytes: 1 << 20 }] }],
  },
  listOffsets: { topics: [{ name: 'a', partitions: [{ partition: 0, timestamp: -2 }] }] },
  createTopics: {
    topics: [{ name: 'a', partitions: 3, replicationFactor: 3, configs: { 'retention.ms': '1000' } }],
    validateOnly: false,
  },
  deleteTopics: { topics: ['a'] },
  createPartitions: { topics: [{ name: 'a', count: 6 }] },
  describeConfigs: { topics: ['a'] },
  alterConfigs: { topics: [{ name: 'a', configs: { 'cleanup.policy': 'compact' } }] },
  initProducerId: {},
  alterPartitionReassignments: {
    topics: [
      {
        name: 'a',
        partitions: [
          { partition: 0, replicas: [1, 2, 4] },
          { partition: 1, replicas: null },
        ],
      },
    ],
  },
  listPartitionReassignments: { topics: [{ name: 'a', partitions: [0, 1] }] },
  alterPartition: {
    brokerId: 1,
    topics: [{ name: 'a', partitions: [{ partition: 0, leaderEpoch: 3, replicas: [1, 2, 4] }] }],
  },
  decommissionNode: { nodeId: 2 },
  recommissionNode: { nodeId: 2 },
  findCoordinator: { key: 'billing' },
  joinGroup: {
    groupId: 'billing',
    memberId: '',
    clientId: 'cairn',
    sessionTimeoutMs: 10_000,
    rebalanceTimeoutMs: 60_000,
    protocolType: 'consumer',
    protocols: [
      { name: 'cooperative-sticky', metadata: records(4) },
      { name: 'range', metadata: records(4) },
    ],
  },
  syncGroup: {
    groupId: 'billing',
    generationId: 3,
    memberId: 'cairn-1',
    assignments: [
      { memberId: 'cairn-1', assignment: records(2) },
      { memberId: 'cairn-2', assignment: records(2) },
    ],
  },
  heartbeat: { groupId: 'billing', generationId: 3, memberId: 'cairn-1' },
  leaveGroup: { groupId: 'billing', memberIds: ['cairn-1', 'cairn-2'] },
  offsetCommit: {
    groupId: 'billing',
    generationId: -1,
    memberId: '',
    topics: [
      {
        name: 'a',
        partitions: [
          { partition: 0, offset: 10, metadata: 'm' },
          { partition: 1, offset: 0 },
        ],
      },
    ],
  },
  offsetFetch: { groupId: 'billing', topics: [{ name: 'a', partitions: [0, 1] }] },
  describeGroups: { groups: ['billing', 'audit'] },
  listGroups: {},
  deleteGroups: { groups: ['billing'] },
}

const responseBases: { [A in ApiName]: ApiResponse<A> } = {
  metadata: {
    clusterId: 'cairn',
    controllerId: 1,
    brokers: [{ nodeId: 1, host: 'localhost', port: 9092 }],
    topics: [
      {
        name: 'a',
        error: null,
        partitions: [
          {
            partition: 0,
            error: null,
            leaderId: 1,
            leaderEpoch: 4,
            replicas: [1, 2, 3],
            isr: [1, 2],
            highWatermark: 10,
            logStartOffset: 0,
          },
        ],
      },
    ],
  },
  produce: {
    topics: [
      {
        name: 'a',
        partitions: [{ partition: 0, error: null, baseOffset: 10, logStartOffset: 0, leaderId: 1 }],
      },
    ],
  },
  fetch: {
    topics: [
      {
        name: 'a',
        partitions: [
          { partition: 0, error: null, highWatermark: 10, logStartOffset: 0, records: records(5) },
        ],
      },
    ],
  },
  listOffsets: {
    topics: [{ name: 'a', partitions: [{ partition: 0, error: null, timestamp: -1, offset: 10 }] }],
  },
  createTopics: { topics: [{ name: 'a', error: 'TOPIC_ALREADY_EXISTS', message: 'exists' }] },
  deleteTopics: { topics: [{ name: 'a', error: null }] },
  createPartitions: { topics: [{ name: 'a', error: null }] },
  describeConfigs: { topics: [{ name: 'a', error: null, configs: { 'retention.ms': '1000' } }] },
  alterConfigs: { topics: [{ name: 'a', error: null }] },
  initProducerId: { error: null, producerId: '9223372036854775807', producerEpoch: 0 },
  alterPartitionReassignments: {
    topics: [
      {
        name: 'a',
        partitions: [
          { partition: 0, error: null },
          { partition: 1, error: 'INVALID_REPLICA_ASSIGNMENT', message: 'broker 9 is not registered' },
        ],
      },
    ],
  },
  listPartitionReassignments: {
    topics: [
      {
        name: 'a',
        partitions: [{ partition: 0, replicas: [1, 2, 4, 3], addingReplicas: [4], removingReplicas: [3] }],
      },
    ],
  },
  alterPartition: { topics: [{ name: 'a', partitions: [{ partition: 0, error: null }] }] },
  decommissionNode: { error: null },
  recommissionNode: { error: 'BROKER_ID_NOT_REGISTERED', message: 'node 9 is not registered' },
  findCoordinator: { error: null, nodeId: 2, host: 'localhost', port: 9092, partition: 7 },
  joinGroup: {
    error: null,
    generationId: 3,
    protocolName: 'range',
    leader: 'cairn-1',
    memberId: 'cairn-1',
    members: [
      { memberId: 'cairn-1', metadata: records(4) },
      { memberId: 'cairn-2', metadata: records(4) },
    ],
  },
  syncGroup: { error: null, assignment: records(2) },
  heartbeat: { error: 'REBALANCE_IN_PROGRESS' },
  leaveGroup: { error: null, members: [{ memberId: 'cairn-1', error: null }] },
  offsetCommit: {
    error: null,
    topics: [{ name: 'a', partitions: [{ partition: 0, error: 'ILLEGAL_GENERATION' }] }],
  },
  offsetFetch: {
    error: null,
    topics: [{ name: 'a', partitions: [{ partition: 0, offset: 10, metadata: '', error: null }] }],
  },
  describeGroups: {
    groups: [
      {
        groupId: 'billing',
        error: null,
        state: 'Stable',
        protocolType: 'consumer',
        protocol: 'range',
        members: [
          {
            memberId: 'cairn-1',
            clientId: 'cairn',
            clientHost: '127.0.0.1',
            subscription: records(4),
            assignment: records(2),
          },
        ],
        offsets: [{ topic: 'a', partition: 0, committed: 10, logEndOffset: 15, lag: 5 }],
      },
    ],
  },
  listGroups: { error: null, groups: [{ groupId: 'billing', protocolType: 'consumer', state: 'Empty' }] },
  deleteGroups: { results: [{ groupId: 'billing', error: 'NON_EMPTY_GROUP', message: 'has members' }] },
}

type Tree = Record<string, unknown>
/** One malformed case: an edit of the api's valid body (or whole envelope), and the reason's start. */
type Case = [
  api: ApiName,
  edit: (body: Tree, envelope: Tree) => unknown,
  expected: string,
  limits?: Partial<ClientLimits>,
]

/**
 * Set (or with undefined, delete) the field at a dotted path with [i] steps
 * ("topics[0].partitions[2]"), or at a list of steps for keys holding a dot.
 */
function set(root: Tree, path: string | string[], value: unknown): void {
  const steps = typeof path === 'string' ? path.match(/[^.[\]]+/g)! : path
  let node: Record<string, unknown> = root
  for (const step of steps.slice(0, -1)) node = node[step] as Record<string, unknown>
  const last = steps[steps.length - 1]!
  if (value === undefined) delete node[last]
  else node[last] = value
}
const setting =
  (path: string | string[], value: unknown) =>
  (body: Tree): void =>
    set(body, path, value)
const enveloping =
  (path: string, value: unknown) =>
  (_body: Tree, envelope: Tree): void =>
    set(envelope, path, value)
const replacing = (value: unknown) => () => value

const requestCases: Case[] = [
  // The envelope.
  ['metadata', replacing([1, 2, 3]), 'request: expected a map, got array(3)'],
  ['metadata', replacing('hello'), 'request: expected a map, got "hello"'],
  ['metadata', enveloping('id', undefined), 'request.id: missing'],
  ['metadata', enveloping('id', -1), 'request.id: expected an integer in 0..2^32-1, got -1'],
  ['metadata', enveloping('id', 2 ** 32), 'request.id: expected an integer in 0..2^32-1, got 4294967296'],
  ['metadata', enveloping('id', 1.5), 'request.id: expected an integer in 0..2^32-1, got 1.5'],
  ['metadata', enveloping('id', '1'), 'request.id: expected an integer in 0..2^32-1, got "1"'],
  ['metadata', enveloping('api', 'nope'), 'request.api: unknown api "nope"'],
  ['metadata', enveloping('api', 5), 'request.api: unknown api 5'],
  ['metadata', enveloping('api', 'toString'), 'request.api: unknown api "toString"'],
  ['metadata', enveloping('api', undefined), 'request.api: missing'],
  ['metadata', enveloping('extra', 1), 'request: unexpected key "extra"'],
  ['metadata', enveloping('body', undefined), 'request.body: missing'],
  ['metadata', enveloping('body', null), 'metadata: expected a map, got null'],
  // Each api's body.
  ['metadata', setting('topics', 5), 'metadata.topics: expected null or an array, got 5'],
  ['metadata', setting('topics', undefined), 'metadata.topics: missing'],
  ['metadata', setting('topics[1]', 1), 'metadata.topics[1]: expected a string, got 1'],
  [
    'metadata',
    setting('topics[0]', 't'.repeat(250)),
    'metadata.topics[0]: 250 chars exceed topicNameCharsMax 249',
  ],
  [
    'metadata',
    setting('topics[2]', 'c'),
    'metadata.topics: 3 entries exceed topicsPerRequestMax 2',
    { topicsPerRequestMax: 2 },
  ],
  ['produce', setting('acks', 40000), 'produce.acks: expected an int16, got 40000'],
  ['produce', setting('acks', '1'), 'produce.acks: expected an int16, got "1"'],
  ['produce', setting('timeoutMs', -1), 'produce.timeoutMs: expected an integer in 0..2^31-1, got -1'],
  [
    'produce',
    setting('timeoutMs', 2 ** 31),
    'produce.timeoutMs: expected an integer in 0..2^31-1, got 2147483648',
  ],
  [
    'produce',
    setting('timeoutMs', Number.NaN),
    'produce.timeoutMs: expected an integer in 0..2^31-1, got NaN',
  ],
  ['produce', setting('topics', {}), 'produce.topics: expected an array, got object'],
  ['produce', setting('topics[0].name', 7), 'produce.topics[0].name: expected a string, got 7'],
  [
    'produce',
    setting('topics[0].partitions[2].records', 'x'),
    'produce.topics[0].partitions[2].records: expected bytes, got "x"',
  ],
  [
    'produce',
    setting('topics[0].partitions[1].records', [1, 2]),
    'produce.topics[0].partitions[1].records: expected bytes, got array(2)',
  ],
  [
    'produce',
    setting('topics[0].partitions[0].records', undefined),
    'produce.topics[0].partitions[0].records: missing',
  ],
  [
    'produce',
    setting('topics[0].partitions[0].partition', -1),
    'produce.topics[0].partitions[0].partition: expected an integer in 0..2^31-1, got -1',
  ],
  [
    'produce',
    setting('topics[0].partitions[0].partition', 0.5),
    'produce.topics[0].partitions[0].partition: expected an integer in 0..2^31-1, got 0.5',
  ],
  [
    'produce',
    setting('topics[0].partitions[1].key', 'k'),
    'produce.topics[0].partitions[1]: unexpected key "key"',
  ],
  [
    'produce',
    () => undefined,
    'produce.topics[0].partitions: 3 entries exceed partitionsPerTopicMax 2',
    { partitionsPerTopicMax: 2 },
  ],
  ['fetch', setting('maxWaitMs', '100'), 'fetch.maxWaitMs: expected an integer in 0..2^31-1, got "100"'],
  ['fetch', setting('minBytes', -1), 'fetch.minBytes: expected an integer in 0..2^31-1, got -1'],
  ['fetch', setting('maxBytes', 2 ** 31), 'fetch.maxBytes: expected an integer in 0..2^31-1, got 2147483648'],
  [
    'fetch',
    setting('topics[0].partitions[0].fetchOffset', -1),
    'fetch.topics[0].partitions[0].fetchOffset: expected an integer in 0..2^53-1, got -1',
  ],
  [
    'fetch',
    setting('topics[0].partitions[0].fetchOffset', 2 ** 53),
    'fetch.topics[0].partitions[0].fetchOffset: expected an integer in 0..2^53-1, got 9007199254740992',
  ],
  [
    'fetch',
    setting('topics[0].partitions[0].partitionMaxBytes', null),
    'fetch.topics[0].partitions[0].partitionMaxBytes: expected an integer in 0..2^31-1, got null',
  ],
  [
    'listOffsets',
    setting('topics[0].partitions[0].timestamp', -3),
    'listOffsets.topics[0].partitions[0].timestamp: expected -2 (earliest), -1 (latest) or a time in ms, got -3',
  ],
  [
    'listOffsets',
    setting('topics[0].partitions[0].timestamp', true),
    'listOffsets.topics[0].partitions[0].timestamp: expected -2 (earliest), -1 (latest) or a time in ms, got true',
  ],
  [
    'listOffsets',
    setting('topics[0].partitions', 'all'),
    'listOffsets.topics[0].partitions: expected an array, got "all"',
  ],
  [
    'createTopics',
    setting('topics[0].configs', []),
    'createTopics.topics[0].configs: expected a map of string to string, got array(0)',
  ],
  [
    'createTopics',
    setting(['topics', '0', 'configs', 'retention.ms'], 5),
    'createTopics.topics[0].configs["retention.ms"]: expected a string, got 5',
  ],
  [
    'createTopics',
    setting('topics[0].configs.x', 'v'.repeat(4097)),
    'createTopics.topics[0].configs["x"]: 4097 chars exceed configValueCharsMax 4096',
  ],
  [
    'createTopics',
    setting('topics[0].configs.x', { y: 'z' }),
    'createTopics.topics[0].configs["x"]: expected a string, got object',
  ],
  [
    'createTopics',
    setting(`topics[0].configs.${'k'.repeat(256)}`, 'v'),
    'createTopics.topics[0].configs["kkkkkkkkkkkkkkkkkkkkkkkk…"]: expected a config name of 1..255 chars',
  ],
  [
    'createTopics',
    setting('topics[0].configs.y', 'v'),
    'createTopics.topics[0].configs: more than configEntriesMax 1 entries',
    { configEntriesMax: 1 },
  ],
  [
    'createTopics',
    setting('validateOnly', 'yes'),
    'createTopics.validateOnly: expected a boolean, got "yes"',
  ],
  [
    'createTopics',
    setting('topics[0].partitions', -1),
    'createTopics.topics[0].partitions: expected an integer in 0..16384 (partitionsPerTopicMax), got -1',
  ],
  [
    'createTopics',
    setting('topics[0].partitions', 16_385),
    'createTopics.topics[0].partitions: expected an integer in 0..16384 (partitionsPerTopicMax), got 16385',
  ],
  [
    'createTopics',
    setting('topics[0].replicationFactor', 1_025),
    'createTopics.topics[0].replicationFactor: expected an integer in 0..1024, got 1025',
  ],
  ['deleteTopics', setting('topics', null), 'deleteTopics.topics: expected an array, got null'],
  ['deleteTopics', setting('topics[0]', null), 'deleteTopics.topics[0]: expected a string, got null'],
  [
    'createPartitions',
    setting('topics[0].count', '3'),
    'createPartitions.topics[0].count: expected an integer in 0..16384 (partitionsPerTopicMax), got "3"',
  ],
  ['createPartitions', setting('topics[0].name', undefined), 'createPartitions.topics[0].name: missing'],
  ['describeConfigs', setting('topics', {}), 'describeConfigs.topics: expected an array, got object'],
  [
    'describeConfigs',
    setting('topics[0]', new Uint8Array(2)),
    'describeConfigs.topics[0]: expected a string, got bytes(2)',
  ],
  [
    'alterConfigs',
    setting('topics[0].configs', 'a=b'),
    'alterConfigs.topics[0].configs: expected a map of string to string, got "a=b"',
  ],
  [
    'alterConfigs',
    setting('topics[0].validateOnly', true),
    'alterConfigs.topics[0]: unexpected key "validateOnly"',
  ],
  ['initProducerId', setting('transactionalId', 'x'), 'initProducerId: unexpected key "transactionalId"'],
  ['initProducerId', enveloping('body', []), 'initProducerId: expected a map, got array(0)'],
  [
    'alterPartitionReassignments',
    setting('topics[0].partitions[0].replicas[1]', 0),
    'alterPartitionReassignments.topics[0].partitions[0].replicas[1]: expected a positive node id, got 0',
  ],
  [
    'alterPartitionReassignments',
    setting('topics[0].partitions[0].replicas', [1, 2, 3]),
    'alterPartitionReassignments.topics[0].partitions[0].replicas: 3 entries exceed replicasPerPartitionMax 2',
    { replicasPerPartitionMax: 2 },
  ],
  [
    'alterPartitionReassignments',
    setting('topics[0].partitions[1].replicas', undefined),
    'alterPartitionReassignments.topics[0].partitions[1].replicas: missing',
  ],
  [
    'alterPartitionReassignments',
    setting('topics[0].partitions[0].replicas', '1,2,4'),
    'alterPartitionReassignments.topics[0].partitions[0].replicas: expected null or an array, got "1,2,4"',
  ],
  [
    'listPartitionReassignments',
    setting('topics[0].partitions[0]', -1),
    'listPartitionReassignments.topics[0].partitions[0]: expected an integer in 0..2^31-1, got -1',
  ],
  [
    'listPartitionReassignments',
    setting('topics', 'a'),
    'listPartitionReassignments.topics: expected null or an array, got "a"',
  ],
  [
    'alterPartition',
    setting('topics[0].partitions[0].replicas', [1, 1]),
    'alterPartition.topics[0].partitions[0].replicas: duplicate node id',
  ],
  ['alterPartition', setting('brokerId', 0), 'alterPartition.brokerId: expected a positive node id, got 0'],
  [
    'decommissionNode',
    setting('nodeId', '2'),
    'decommissionNode.nodeId: expected a positive node id, got "2"',
  ],
  ['decommissionNode', setting('force', true), 'decommissionNode: unexpected key "force"'],
  ['recommissionNode', setting('nodeId', undefined), 'recommissionNode.nodeId: missing'],
  ['findCoordinator', setting('key', 5), 'findCoordinator.key: expected a string, got 5'],
  ['findCoordinator', setting('keyType', 0), 'findCoordinator: unexpected key "keyType"'],
  [
    'findCoordinator',
    setting('key', 'g'.repeat(4097)),
    'findCoordinator.key: 4097 chars exceed idCharsMax 4096',
  ],
  ['joinGroup', setting('groupId', null), 'joinGroup.groupId: expected a string, got null'],
  [
    'joinGroup',
    setting('sessionTimeoutMs', -1),
    'joinGroup.sessionTimeoutMs: expected an integer in 0..2^31-1, got -1',
  ],
  ['joinGroup', setting('rebalanceTimeoutMs', undefined), 'joinGroup.rebalanceTimeoutMs: missing'],
  [
    'joinGroup',
    setting('protocols[1].metadata', 'range'),
    'joinGroup.protocols[1].metadata: expected bytes, got "range"',
  ],
  [
    'joinGroup',
    setting('protocols[0].metadata', new Uint8Array(memberMetadataBytesMax + 1)),
    'joinGroup.protocols[0].metadata: 1048577 bytes exceed memberMetadataBytesMax 1048576',
  ],
  [
    'joinGroup',
    () => undefined,
    'joinGroup.protocols: 2 entries exceed protocolsPerMemberMax 1',
    { protocolsPerMemberMax: 1 },
  ],
  ['joinGroup', setting('groupInstanceId', 'static-1'), 'joinGroup: unexpected key "groupInstanceId"'],
  [
    'syncGroup',
    setting('generationId', 2 ** 31),
    'syncGroup.generationId: expected an int32, got 2147483648',
  ],
  [
    'syncGroup',
    () => undefined,
    'syncGroup.assignments: 2 entries exceed membersPerGroupMax 1',
    { membersPerGroupMax: 1 },
  ],
  [
    'syncGroup',
    setting('assignments[1].assignment', null),
    'syncGroup.assignments[1].assignment: expected bytes, got null',
  ],
  ['heartbeat', setting('generationId', 1.5), 'heartbeat.generationId: expected an int32, got 1.5'],
  ['heartbeat', setting('memberId', undefined), 'heartbeat.memberId: missing'],
  ['leaveGroup', setting('memberIds[0]', 7), 'leaveGroup.memberIds[0]: expected a string, got 7'],
  ['leaveGroup', setting('memberIds', 'cairn-1'), 'leaveGroup.memberIds: expected an array, got "cairn-1"'],
  [
    'offsetCommit',
    setting('topics[0].partitions[0].offset', -1),
    'offsetCommit.topics[0].partitions[0].offset: expected an integer in 0..2^53-1, got -1',
  ],
  [
    'offsetCommit',
    setting('topics[0].partitions[0].metadata', null),
    'offsetCommit.topics[0].partitions[0].metadata: expected a string, got null',
  ],
  [
    'offsetCommit',
    setting('topics[0].partitions[0].metadata', 'm'.repeat(4097)),
    'offsetCommit.topics[0].partitions[0].metadata: 4097 chars exceed offsetMetadataCharsMax 4096',
  ],
  [
    'offsetCommit',
    setting('topics[0].partitions[1].leaderEpoch', 3),
    'offsetCommit.topics[0].partitions[1]: unexpected key "leaderEpoch"',
  ],
  ['offsetFetch', setting('topics', 'all'), 'offsetFetch.topics: expected null or an array, got "all"'],
  [
    'offsetFetch',
    setting('topics[0].partitions[1]', -1),
    'offsetFetch.topics[0].partitions[1]: expected an integer in 0..2^31-1, got -1',
  ],
  ['describeGroups', setting('groups', null), 'describeGroups.groups: expected an array, got null'],
  [
    'describeGroups',
    setting('groups[2]', 'c'),
    'describeGroups.groups: 3 entries exceed groupsPerRequestMax 2',
    { groupsPerRequestMax: 2 },
  ],
  ['listGroups', setting('statesFilter', ['Empty']), 'listGroups: unexpected key "statesFilter"'],
  ['deleteGroups', setting('groups[0]', 1), 'deleteGroups.groups[0]: expected a string, got 1'],
]

const responseCases: Case[] = [
  // The envelope.
  ['metadata', replacing(null), 'response: expected a map, got null'],
  ['metadata', enveloping('id', undefined), 'response.id: missing'],
  ['metadata', enveloping('id', 2 ** 32), 'response.id: expected an integer in 0..2^32-1, got 4294967296'],
  [
    'metadata',
    enveloping('error', 'lower'),
    'response.error: expected null or an error name like NOT_LEADER_OR_FOLLOWER, got "lower"',
  ],
  [
    'metadata',
    enveloping('error', 5),
    'response.error: expected null or an error name like NOT_LEADER_OR_FOLLOWER, got 5',
  ],
  ['metadata', enveloping('error', 'E'.repeat(65)), 'response.error: 65 chars exceed errorNameCharsMax 64'],
  ['metadata', enveloping('error', undefined), 'response.error: missing'],
  ['metadata', enveloping('message', 5), 'response.message: expected a string, got 5'],
  [
    'metadata',
    enveloping('message', 'm'.repeat(1025)),
    'response.message: 1025 chars exceed messageCharsMax 1024',
  ],
  ['metadata', enveloping('body', null), 'response.body: expected a body without an error, got null'],
  [
    'metadata',
    enveloping('error', 'NOT_CONTROLLER'),
    'response.body: expected null with an error, got object',
  ],
  ['metadata', enveloping('api', 'metadata'), 'response: unexpected key "api"'],
  // Each api's body.
  [
    'metadata',
    setting('brokers[0].port', 70_000),
    'metadataResponse.brokers[0].port: expected an integer in 0..65535, got 70000',
  ],
  [
    'metadata',
    setting('brokers[0].nodeId', 0),
    'metadataResponse.brokers[0].nodeId: expected a positive node id, got 0',
  ],
  [
    'metadata',
    setting('brokers[0].host', ''),
    'metadataResponse.brokers[0].host: expected 1..255 chars, got ""',
  ],
  [
    'metadata',
    setting('brokers[1]', { nodeId: 2, host: 'b', port: 1 }),
    'metadataResponse.brokers: 2 entries exceed brokersMax 1',
    { brokersMax: 1 },
  ],
  [
    'metadata',
    setting('clusterId', 'c'.repeat(256)),
    'metadataResponse.clusterId: 256 chars exceed clusterIdCharsMax 255',
  ],
  [
    'metadata',
    setting('controllerId', -1),
    'metadataResponse.controllerId: expected a node id, or 0 for none, got -1',
  ],
  [
    'metadata',
    setting('topics[0].error', 'x'),
    'metadataResponse.topics[0].error: expected null or an error name like NOT_LEADER_OR_FOLLOWER, got "x"',
  ],
  [
    'metadata',
    setting('topics[0].partitions[0].replicas', [1, 2, 1]),
    'metadataResponse.topics[0].partitions[0].replicas: duplicate node id',
  ],
  [
    'metadata',
    setting('topics[0].partitions[0].isr', [0]),
    'metadataResponse.topics[0].partitions[0].isr[0]: expected a positive node id, got 0',
  ],
  [
    'metadata',
    setting('topics[0].partitions[0].isr', null),
    'metadataResponse.topics[0].partitions[0].isr: expected an array, got null',
  ],
  [
    'metadata',
    setting('topics[0].partitions[0].leaderEpoch', -2),
    'metadataResponse.topics[0].partitions[0].leaderEpoch: expected an integer in -1..2^53-1, got -2',
  ],
  [
    'metadata',
    setting('topics[0].partitions[0].highWatermark', '10'),
    'metadataResponse.topics[0].partitions[0].highWatermark: expected an integer in -1..2^53-1, got "10"',
  ],
  [
    'produce',
    setting('topics[0].partitions[0].baseOffset', -2),
    'produceResponse.topics[0].partitions[0].baseOffset: expected an integer in -1..2^53-1, got -2',
  ],
  [
    'produce',
    setting('topics[0].partitions[0].message', 5),
    'produceResponse.topics[0].partitions[0].message: expected a string, got 5',
  ],
  [
    'produce',
    setting('topics[0].partitions[0].leaderId', 1.5),
    'produceResponse.topics[0].partitions[0].leaderId: expected a node id, or 0 for none, got 1.5',
  ],
  [
    'fetch',
    setting('topics[0].partitions[0].records', undefined),
    'fetchResponse.topics[0].partitions[0].records: missing',
  ],
  [
    'fetch',
    setting('topics[0].partitions[0].records', 'abc'),
    'fetchResponse.topics[0].partitions[0].records: expected bytes, got "abc"',
  ],
  [
    'listOffsets',
    setting('topics[0].partitions[0].offset', -2),
    'listOffsetsResponse.topics[0].partitions[0].offset: expected an integer in -1..2^53-1, got -2',
  ],
  [
    'listOffsets',
    setting('topics[0].partitions[0].timestamp', -3),
    'listOffsetsResponse.topics[0].partitions[0].timestamp: expected -2, -1 or a time in ms, got -3',
  ],
  [
    'createTopics',
    setting('topics[0].message', 'm'.repeat(1025)),
    'createTopicsResponse.topics[0].message: 1025 chars exceed messageCharsMax 1024',
  ],
  [
    'createTopics',
    setting('topics[0].error', ''),
    'createTopicsResponse.topics[0].error: expected null or an error name like NOT_LEADER_OR_FOLLOWER, got ""',
  ],
  ['deleteTopics', setting('topics[0].name', undefined), 'deleteTopicsResponse.topics[0].name: missing'],
  ['createPartitions', setting('topics', 'a'), 'createPartitionsResponse.topics: expected an array, got "a"'],
  [
    'describeConfigs',
    setting(['topics', '0', 'configs', 'retention.ms'], 1000),
    'describeConfigsResponse.topics[0].configs["retention.ms"]: expected a string, got 1000',
  ],
  [
    'alterConfigs',
    setting('topics[0].configs', {}),
    'alterConfigsResponse.topics[0]: unexpected key "configs"',
  ],
  [
    'initProducerId',
    setting('producerId', '12a'),
    'initProducerIdResponse.producerId: expected a decimal string of an integer in -1..2^63-1, got "12a"',
  ],
  [
    'initProducerId',
    setting('producerId', '9223372036854775808'),
    'initProducerIdResponse.producerId: expected a decimal string of an integer in -1..2^63-1, got "9223372036854775808"',
  ],
  [
    'initProducerId',
    setting('producerId', '007'),
    'initProducerIdResponse.producerId: expected a decimal string of an integer in -1..2^63-1, got "007"',
  ],
  [
    'initProducerId',
    setting('producerId', 5),
    'initProducerIdResponse.producerId: expected a decimal string of an integer in -1..2^63-1, got 5',
  ],
  [
    'initProducerId',
    setting('producerEpoch', 40_000),
    'initProducerIdResponse.producerEpoch: expected an integer in -1..32767, got 40000',
  ],
  [
    'metadata',
    setting('topics[0].partitions[0].addingReplicas', [4, 4]),
    'metadataResponse.topics[0].partitions[0].addingReplicas: duplicate node id',
  ],
  [
    'alterPartitionReassignments',
    setting('topics[0].partitions[0].error', 'oops'),
    'alterPartitionReassignmentsResponse.topics[0].partitions[0].error: expected null or an error name like NOT_LEADER_OR_FOLLOWER, got "oops"',
  ],
  [
    'listPartitionReassignments',
    setting('topics[0].partitions[0].addingReplicas', undefined),
    'listPartitionReassignmentsResponse.topics[0].partitions[0].addingReplicas: missing',
  ],
  [
    'alterPartition',
    setting('topics[0].partitions[0].leaderId', 1),
    'alterPartitionResponse.topics[0].partitions[0]: unexpected key "leaderId"',
  ],
  ['decommissionNode', setting('error', undefined), 'decommissionNodeResponse.error: missing'],
  ['recommissionNode', setting('message', 7), 'recommissionNodeResponse.message: expected a string, got 7'],
  [
    'findCoordinator',
    setting('nodeId', -1),
    'findCoordinatorResponse.nodeId: expected a node id, or 0 for none, got -1',
  ],
  [
    'findCoordinator',
    setting('partition', -2),
    'findCoordinatorResponse.partition: expected a partition, or -1 for none, got -2',
  ],
  [
    'findCoordinator',
    setting('port', 65_536),
    'findCoordinatorResponse.port: expected an integer in 0..65535, got 65536',
  ],
  [
    'joinGroup',
    setting('generationId', -2),
    'joinGroupResponse.generationId: expected an integer in -1..2^31-1, got -2',
  ],
  [
    'joinGroup',
    setting('protocolName', 5),
    'joinGroupResponse.protocolName: expected null or a string, got 5',
  ],
  ['joinGroup', setting('members[1].metadata', undefined), 'joinGroupResponse.members[1].metadata: missing'],
  [
    'joinGroup',
    () => undefined,
    'joinGroupResponse.members: 2 entries exceed membersPerGroupMax 1',
    { membersPerGroupMax: 1 },
  ],
  ['syncGroup', setting('assignment', [1, 2]), 'syncGroupResponse.assignment: expected bytes, got array(2)'],
  [
    'syncGroup',
    setting('assignment', new Uint8Array(memberMetadataBytesMax + 1)),
    'syncGroupResponse.assignment: 1048577 bytes exceed memberMetadataBytesMax 1048576',
  ],
  [
    'heartbeat',
    setting('error', 'rebalance'),
    'heartbeatResponse.error: expected null or an error name like NOT_LEADER_OR_FOLLOWER, got "rebalance"',
  ],
  ['leaveGroup', setting('members[0].error', undefined), 'leaveGroupResponse.members[0].error: missing'],
  [
    'offsetCommit',
    setting('topics[0].partitions[0].offset', 3),
    'offsetCommitResponse.topics[0].partitions[0]: unexpected key "offset"',
  ],
  [
    'offsetFetch',
    setting('topics[0].partitions[0].offset', -2),
    'offsetFetchResponse.topics[0].partitions[0].offset: expected an integer in -1..2^53-1, got -2',
  ],
  [
    'offsetFetch',
    setting('topics[0].partitions[0].metadata', undefined),
    'offsetFetchResponse.topics[0].partitions[0].metadata: missing',
  ],
  [
    'describeGroups',
    setting('groups[0].state', 'Rebalancing'),
    'describeGroupsResponse.groups[0].state: expected one of Empty, PreparingRebalance, CompletingRebalance, Stable, Dead, got "Rebalancing"',
  ],
  [
    'describeGroups',
    setting('groups[0].offsets[0].lag', -2),
    'describeGroupsResponse.groups[0].offsets[0].lag: expected an integer in -1..2^53-1, got -2',
  ],
  [
    'describeGroups',
    setting('groups[0].offsets[0]', { topic: 'a', partition: 0, committed: 1, logEndOffset: 2 }),
    'describeGroupsResponse.groups[0].offsets[0].lag: missing',
  ],
  [
    'describeGroups',
    setting('groups[0].members[0].assignment', 'p0'),
    'describeGroupsResponse.groups[0].members[0].assignment: expected bytes, got "p0"',
  ],
  [
    'describeGroups',
    setting('groups[0].offsets[1]', { topic: 'a', partition: 1, committed: 1, logEndOffset: 2, lag: 1 }),
    'describeGroupsResponse.groups[0].offsets: 2 entries exceed offsetsPerGroupMax 1',
    { offsetsPerGroupMax: 1 },
  ],
  [
    'listGroups',
    setting('groups[0].state', 'stable'),
    'listGroupsResponse.groups[0].state: expected one of Empty, PreparingRebalance, CompletingRebalance, Stable, Dead, got "stable"',
  ],
  ['listGroups', setting('error', undefined), 'listGroupsResponse.error: missing'],
  [
    'deleteGroups',
    setting('results[0].groupId', undefined),
    'deleteGroupsResponse.results[0].groupId: missing',
  ],
]

/** A fresh copy of a base, so cases never see each other's edits. */
const copy = <T>(x: T): T => clone(x) as T

/** A deep copy that copies byte arrays by their own bytes (structuredClone copies a view's whole buffer). */
function clone(x: unknown): unknown {
  if (x instanceof Uint8Array) return x.slice()
  if (Array.isArray(x)) return x.map(clone)
  if (x !== null && typeof x === 'object') {
    return Object.fromEntries(Object.entries(x).map(([key, value]) => [key, clone(value)]))
  }
  return x
}

function runCase(side: 'request' | 'response', [api, edit, expected, limits]: Case): void {
  const body = copy((side === 'request' ? requestBases : responseBases)[api]) as Tree
  const envelope: Tree = side === 'request' ? { id: 9, api, body } : { id: 9, error: null, body }
  const replaced = edit(body, envelope)
  const bytes = rawPackr.pack(replaced === undefined ? envelope : replaced)
  const all = { ...defaultClientLimits, ...limits }
  rejectedWith(side === 'request' ? decodeRequest(bytes, all) : decodeResponse(bytes, api, all), expected)
}

describe('client codec refuses malformed envelopes with the field path', () => {
  it('accepts the valid base of every api, both ways', () => {
    for (const api of API_NAMES) {
      accepted(decodeRequest(rawPackr.pack({ id: 1, api, body: requestBases[api] })))
      accepted(decodeResponse(rawPackr.pack({ id: 1, error: null, body: responseBases[api] }), api))
    }
  })

  it('has a malformed case for every api, both ways', () => {
    const covers = (cases: Case[], api: ApiName, root: string) =>
      cases.some(
        ([a, , expected]) =>
          a === api && expected.startsWith(root) && /^[.:]/.test(expected.slice(root.length)),
      )
    for (const api of API_NAMES) {
      assert.ok(covers(requestCases, api, api), `no request case for ${api}`)
      assert.ok(covers(responseCases, api, `${api}Response`), `no response case for ${api}`)
    }
  })

  for (const c of requestCases) it(`request: ${c[2]}`, () => runCase('request', c))
  for (const c of responseCases) it(`response: ${c[2]}`, () => runCase('response', c))

  it('the brief example: a produce record as a string names its partition', () => {
    const body = copy(requestBases.produce) as unknown as Tree
    set(body, 'topics[0].partitions[2].records', 'not bytes')
    const result = decodeRequest(rawPackr.pack({ id: 1, api: 'produce', body }))
    rejectedWith(result, 'produce.topics[0].partitions[2].records: expected bytes, got "not bytes"')
  })
})

// ---- Limits, checked before the work they bound -----------------------------------------------------------

/** A view that counts element reads, to prove what the decoder looked at. */
function counting(bytes: Uint8Array): { view: Uint8Array; reads: () => number } {
  let reads = 0
  const view = new Proxy(bytes, {
    get(target, key) {
      if (typeof key === 'string' && /^\d+$/.test(key)) reads++
      const value = Reflect.get(target, key, target)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  return { view, reads: () => reads }
}

describe('client codec limits', () => {
  it('refuses an oversize frame by its length, before reading a byte', () => {
    const { view, reads } = counting(new Uint8Array(clientRequestBytesMax + 1))
    rejectedWith(
      decodeRequest(view),
      `request: ${clientRequestBytesMax + 1} bytes exceed ${clientRequestBytesMax}`,
    )
    assert.equal(reads(), 0)
    const response = counting(new Uint8Array(101))
    const limits = { ...defaultClientLimits, responseBytesMax: 100 }
    rejectedWith(decodeResponse(response.view, 'fetch', limits), 'response: 101 bytes exceed 100')
    assert.equal(response.reads(), 0)
  })

  it('accepts a frame of exactly requestBytesMax bytes and refuses one byte less of limit', () => {
    const body = {
      acks: 1,
      timeoutMs: 5,
      topics: [{ name: 't', partitions: [{ partition: 0, records: records(1000) }] }],
    }
    const bytes = encodeRequest({ id: 1, api: 'produce', body })
    accepted(decodeRequest(bytes, { ...defaultClientLimits, requestBytesMax: bytes.length }))
    rejectedWith(
      decodeRequest(bytes, { ...defaultClientLimits, requestBytesMax: bytes.length - 1 }),
      'request: ',
    )
  })

  it('refuses length headers that claim more than the frame holds, after reading only the header', () => {
    const hostile = [
      [0xdd, 0xff, 0xff, 0xff, 0xff, 0x00], // array32 of 2^32-1 items
      [0xdf, 0xff, 0xff, 0xff, 0xff, 0xa1, 0x61, 0x00], // map32 of 2^32-1 pairs
      [0xc6, 0xff, 0xff, 0xff, 0xff, 0x00], // bin32 of 4 GiB
      [0xdc, 0xff, 0xff, 0x01], // array16 of 65,535 items
    ]
    for (const bytes of hostile) {
      const { view, reads } = counting(Uint8Array.from(bytes))
      rejectedWith(decodeRequest(view), 'request: msgpack: ')
      assert.ok(reads() <= 5, `${reads()} reads of ${bytes.length}`)
    }
    const longString = rawPackr.pack({
      id: 1,
      api: 'metadata',
      body: { topics: ['x'.repeat(clientStringBytesMax + 1)] },
    })
    rejectedWith(decodeRequest(longString), 'request: msgpack: string of 12289 bytes')
  })

  it('refuses deep nesting without recursing, and accepts the deepest valid path', () => {
    rejectedWith(decodeRequest(new Uint8Array(200_000).fill(0x91)), 'request: msgpack: nesting deeper than 8')
    const response = { id: 1, error: null, body: responseBases.metadata }
    accepted(decodeResponse(encodeResponse(response, 'metadata'), 'metadata'))
  })

  it('refuses extension types and msgpackr records', () => {
    for (const value of [new Date(0), new Error('x'), /re/, new Set([1]), undefined]) {
      const packr = new Packr({ useRecords: false, moreTypes: true, structuredClone: true })
      const bytes = packr.pack({ id: 1, api: 'metadata', body: { topics: value } })
      rejectedWith(decodeRequest(bytes), 'request: msgpack: extension type')
    }
    const recordsOn = new Packr({ useRecords: true }).pack({ id: 1, api: 'initProducerId', body: {} })
    assert.equal(decodeRequest(recordsOn).ok, false)
  })

  it('never lets a __proto__ key reach an object', () => {
    const bytes = rawPackr.pack(
      JSON.parse('{"id": 1, "api": "initProducerId", "body": {"__proto__": {"x": 1}}}'),
    )
    rejectedWith(decodeRequest(bytes), 'initProducerId: unexpected key "__proto_"')
    assert.equal(({} as Record<string, unknown>).x, undefined)
  })

  it('refuses input that is not bytes, and an unknown api to decode a response for', () => {
    rejectedWith(decodeRequest('hello' as unknown as Uint8Array), 'request: expected bytes, got "hello"')
    rejectedWith(decodeRequest(null as unknown as Uint8Array), 'request: expected bytes, got null')
    const bytes = encodeResponse({ id: 1, error: null, body: { topics: [] } }, 'deleteTopics')
    rejectedWith(decodeResponse(bytes, 'nope' as ApiName), 'response: unknown api "nope"')
    accepted(decodeResponse(Buffer.from(bytes), 'deleteTopics'))
  })
})

// ---- Fuzzing ------------------------------------------------------------------------------------------

const anyApiArb = fc.constantFrom(...API_NAMES)
type Sample = { api: ApiName; bytes: Uint8Array }
const pool: Sample[] = [
  ...fc
    .sample(
      anyApiArb.chain((api) => requestArb(api)),
      { seed, numRuns: 200 },
    )
    .map((r) => ({ api: r.api, bytes: encodeRequest(r) })),
  ...fc
    .sample(
      anyApiArb.chain((api) => responseArb(api).map((r) => ({ api, r }))),
      { seed: seed + 1, numRuns: 200 },
    )
    .map(({ api, r }) => ({ api, bytes: encodeResponse(r, api) })),
]
const poolIndexArb = fc.nat(pool.length - 1)

const stats = { frames: 0, accepted: 0, rejected: 0 }

/**
 * The contract for any input, decoded as a request and as a response: a result, never an exception;
 * a reason is one bounded line; an accepted envelope re-encodes (the encoder's own check passes) to
 * an equal value.
 */
function checkDecode(bytes: Uint8Array, api: ApiName): void {
  stats.frames++
  const request = decodeRequest(bytes)
  const response = decodeResponse(bytes, api)
  for (const result of [request, response]) {
    assert.equal(typeof result.ok, 'boolean')
    if (result.ok) stats.accepted++
    else {
      stats.rejected++
      assert.equal(typeof result.reason, 'string')
      assert.ok(result.reason.length < 300 && !result.reason.includes('\n'), result.reason)
      assert.ok(!result.reason.includes('decoder threw'), result.reason)
    }
  }
  if (request.ok) {
    const again = accepted(decodeRequest(encodeRequest(request.value)))
    assert.deepStrictEqual(plain(again), plain(request.value))
  }
  if (response.ok) {
    const again = accepted(decodeResponse(encodeResponse(response.value, api), api))
    assert.deepStrictEqual(plain(again), plain(response.value))
  }
}

const tokenArb = fc.oneof(
  fc.integer({ min: 0xc0, max: 0xdf }),
  fc.constantFrom(0x00, 0x7f, 0x80, 0x8f, 0x90, 0x9f, 0xa0, 0xbf, 0xe0, 0xff),
)

type Mutation =
  | { kind: 'flip'; bits: number[] }
  | { kind: 'truncate'; at: number }
  | { kind: 'token'; at: number; token: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'splice'; other: number; at: number; otherAt: number }

const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), bits: fc.array(fc.nat(), { minLength: 1, maxLength: 6 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('token' as const), at: fc.nat(), token: tokenArb }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 9 }),
  }),
  fc.record({ kind: fc.constant('splice' as const), other: poolIndexArb, at: fc.nat(), otherAt: fc.nat() }),
)

function mutate(original: Uint8Array, mutation: Mutation): Uint8Array {
  const bytes = Uint8Array.from(original)
  if (bytes.length === 0) return bytes
  const at = (n: number) => n % (bytes.length + 1)
  switch (mutation.kind) {
    case 'flip':
      for (const bit of mutation.bits) {
        const i = (bit >>> 3) % bytes.length
        bytes[i] = bytes[i]! ^ (1 << (bit & 7))
      }
      return bytes
    case 'truncate':
      return bytes.subarray(0, Math.min(at(mutation.at), bytes.length - 1))
    case 'token':
      bytes[mutation.at % bytes.length] = mutation.token
      return bytes
    case 'insert': {
      const i = at(mutation.at)
      return new Uint8Array([...bytes.subarray(0, i), ...mutation.bytes, ...bytes.subarray(i)])
    }
    case 'splice': {
      const other = pool[mutation.other]!.bytes
      return new Uint8Array([
        ...bytes.subarray(0, at(mutation.at)),
        ...other.subarray(mutation.otherAt % other.length),
      ])
    }
  }
}

// Structural mutations: decode without validation, change one node of the tree, re-encode.
type Slot = { parent: Record<string, unknown> | unknown[]; key: string | number }

function slots(value: unknown, out: Slot[] = []): Slot[] {
  if (value instanceof Uint8Array || typeof value !== 'object' || value === null) return out
  const entries = Array.isArray(value) ? value.map((v, i) => [i, v] as const) : Object.entries(value)
  for (const [key, child] of entries) {
    out.push({ parent: value as Record<string, unknown>, key })
    slots(child, out)
  }
  return out
}

const replacementArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.constantFrom(-3, -2, -1, 0, 1, 1.5, 2 ** 31, 2 ** 32, 2 ** 53, -(2 ** 53), Number.NaN, Infinity),
  fc.constantFrom(null, true, false, '', [], {}, 'x'.repeat(250), 'NOT_LEADER_OR_FOLLOWER', '-1', '1'),
  fc.constantFrom(...API_NAMES, 'topics', 'partitions', 'records', 'configs', '__proto__', 'constructor'),
  fc.integer(),
  fc.string({ maxLength: 8 }),
  fc.uint8Array({ maxLength: 8 }),
  fc.array(fc.integer({ min: -1, max: 4 }), { maxLength: 4 }),
  fc.dictionary(fc.string({ maxLength: 6 }), fc.oneof(fc.integer(), fc.string({ maxLength: 4 })), {
    maxKeys: 3,
    noNullPrototype: true,
  }),
)

type Edit = {
  slot: number
  op: 'replace' | 'swap' | 'delete' | 'addKey'
  value: unknown
  other: number
  name: string
}
const editArb: fc.Arbitrary<Edit> = fc.record({
  slot: fc.nat(),
  op: fc.constantFrom('replace' as const, 'swap' as const, 'delete' as const, 'addKey' as const),
  value: replacementArb,
  other: fc.nat(),
  name: fc.oneof(
    fc.string({ maxLength: 8 }),
    fc.constantFrom('id', 'api', 'body', 'error', 'message', 'name'),
  ),
})

function applyEdits(original: Uint8Array, edits: Edit[]): Uint8Array {
  const tree = rawUnpackr.unpack(original) as Record<string, unknown>
  for (const edit of edits) {
    const all = slots(tree)
    if (all.length === 0) break
    const { parent, key } = all[edit.slot % all.length]!
    const target = parent as Record<string | number, unknown>
    if (edit.op === 'replace') target[key] = edit.value
    else if (edit.op === 'swap') {
      // A value of another field (often of another type) in this one's place.
      const other = all[edit.other % all.length]!
      target[key] = clone((other.parent as Record<string | number, unknown>)[other.key])
    } else if (edit.op === 'delete' && Array.isArray(parent)) parent.splice(key as number, 1)
    else if (edit.op === 'delete') delete target[key]
    else if (!Array.isArray(parent)) target[edit.name] = edit.value
  }
  return rawPackr.pack(tree)
}

describe('client codec fuzzing', () => {
  const started = performance.now()

  it('survives 16,000 byte-level mutations of valid frames', () => {
    fc.assert(
      fc.property(poolIndexArb, fc.array(mutationArb, { minLength: 1, maxLength: 3 }), (index, mutations) => {
        const sample = pool[index]!
        checkDecode(mutations.reduce(mutate, sample.bytes), sample.api)
      }),
      fcOptions(16_000),
    )
  })

  it('survives 10,000 structural mutations (wrong types swapped in, keys missing and extra)', () => {
    fc.assert(
      fc.property(poolIndexArb, fc.array(editArb, { minLength: 1, maxLength: 3 }), (index, edits) => {
        const sample = pool[index]!
        checkDecode(applyEdits(sample.bytes, edits), sample.api)
      }),
      fcOptions(10_000),
    )
  })

  it('survives 3,000 random byte strings and 3,000 random msgpack values', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), anyApiArb, (bytes, api) => checkDecode(bytes, api)),
      fcOptions(3_000),
    )
    const valueArb = fc.oneof(
      fc.anything({ maxDepth: 4, withTypedArray: false }),
      fc.record({ id: fc.nat(), api: anyApiArb, body: fc.anything({ maxDepth: 3 }) }),
      fc.record({ id: fc.nat(), error: fc.constantFrom(null, 'X'), body: fc.anything({ maxDepth: 3 }) }),
    )
    fc.assert(
      fc.property(valueArb, anyApiArb, (value, api) => {
        let bytes: Uint8Array
        try {
          bytes = rawPackr.pack(value)
        } catch {
          return // not every generated value is encodable; the decoder is not under test there
        }
        checkDecode(bytes, api)
      }),
      fcOptions(3_000),
    )
  })

  it('ran at least 30,000 frames, some mutants still valid, in under 20 s', () => {
    const seconds = (performance.now() - started) / 1000
    console.log(
      `client codec fuzz: ${stats.frames} frames, ${stats.accepted} decodes accepted, ${stats.rejected} refused, in ${seconds.toFixed(1)} s, seed ${seed}`,
    )
    assert.ok(stats.frames >= 30_000, `${stats.frames} frames`)
    assert.ok(stats.accepted > 0 && stats.rejected > 0)
    assert.ok(seconds < 20, `${seconds} s`)
  })
})
