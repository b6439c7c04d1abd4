/** fast-check generators for every Raft message kind, valid by construction. */
import fc from 'fast-check'
import type {
  AppendRequest,
  Entry,
  EntryKind,
  Frame,
  LogStart,
  Membership,
  NodeId,
  RaftMessage,
} from '../src/index.js'

const small = <T>(small: fc.Arbitrary<T>, large: fc.Arbitrary<T>) =>
  fc.oneof({ weight: 3, arbitrary: small }, { weight: 1, arbitrary: large })

export const nodeIdArb: fc.Arbitrary<NodeId> = small(
  fc.integer({ min: 1, max: 9 }),
  fc.integer({ min: 1, max: Number.MAX_SAFE_INTEGER }),
)
export const uintArb: fc.Arbitrary<number> = small(fc.nat(1_000), fc.maxSafeNat())
export const groupArb: fc.Arbitrary<number> = small(fc.nat(3_000), fc.integer({ min: 0, max: 0xffff_ffff }))
const bytesArb = fc.uint8Array({ maxLength: 48 })

const envelope = (from: NodeId, to: NodeId) => ({
  group: groupArb,
  from: fc.constant(from),
  to: fc.constant(to),
  term: uintArb,
})

export const membershipArb: fc.Arbitrary<Membership> = fc
  .uniqueArray(nodeIdArb, { maxLength: 9 })
  .chain((ids) =>
    fc.nat(ids.length).map((split) => ({ voters: ids.slice(0, split), learners: ids.slice(split) })),
  )

export const logStartArb: fc.Arbitrary<LogStart> = fc.record({
  index: uintArb,
  term: uintArb,
  payload: bytesArb,
  membership: membershipArb,
})

/** An append whose entries follow prevIndex and whose terms climb from prevTerm to at most term. */
function appendArb(from: NodeId, to: NodeId): fc.Arbitrary<AppendRequest> {
  return fc
    .record({
      group: groupArb,
      prevIndex: small(fc.nat(1_000), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER - 100 })),
      prevTerm: fc.nat(50),
      termAbove: fc.nat(50),
      commit: uintArb,
      entries: fc.array(
        fc.record({ termStep: fc.nat(2), kind: fc.constantFrom<EntryKind>(0, 1, 2), data: bytesArb }),
        { maxLength: 6 },
      ),
    })
    .map((r) => {
      let entryTerm = r.prevTerm
      const entries: Entry[] = r.entries.map((e, i) => {
        entryTerm += e.termStep
        return { index: r.prevIndex + 1 + i, term: entryTerm, kind: e.kind, data: e.data }
      })
      const term = entryTerm + r.termAbove
      return {
        type: 'append',
        group: r.group,
        from,
        to,
        term,
        prevIndex: r.prevIndex,
        prevTerm: r.prevTerm,
        entries,
        commit: r.commit,
      }
    })
}

export function messageArb(from: NodeId, to: NodeId): fc.Arbitrary<RaftMessage> {
  const env = envelope(from, to)
  return fc.oneof(
    fc.record({
      type: fc.constantFrom('preVote' as const, 'vote' as const),
      ...env,
      lastIndex: uintArb,
      lastTerm: uintArb,
      transfer: fc.boolean(),
    }),
    fc.record({
      type: fc.constantFrom('preVoteResponse' as const, 'voteResponse' as const),
      ...env,
      granted: fc.boolean(),
    }),
    appendArb(from, to),
    fc.record({
      type: fc.constant('appendResponse' as const),
      ...env,
      index: uintArb,
      reject: fc.boolean(),
      hintIndex: uintArb,
      hintTerm: uintArb,
    }),
    fc.record({ type: fc.constant('heartbeat' as const), ...env, commit: uintArb }),
    fc.record({ type: fc.constant('heartbeatResponse' as const), ...env }),
    fc.record({ type: fc.constant('snapshot' as const), ...env, logStart: logStartArb }),
    fc.record({ type: fc.constant('timeoutNow' as const), ...env }),
    fc.record({ type: fc.constant('quiesce' as const), ...env, commit: uintArb }),
  )
}

export const anyMessageArb: fc.Arbitrary<RaftMessage> = fc
  .tuple(nodeIdArb, nodeIdArb)
  .chain(([from, to]) => messageArb(from, to))

export const frameArb: fc.Arbitrary<Frame> = fc.tuple(nodeIdArb, nodeIdArb).chain(([from, to]) =>
  fc.record({
    from: fc.constant(from),
    to: fc.constant(to),
    messages: fc.array(messageArb(from, to), { maxLength: 12 }),
  }),
)

/** What decodeFrame gives back for a frame: heartbeats, then responses (each stable-sorted by group), then the rest. */
export function canonicalOrder(messages: readonly RaftMessage[]): RaftMessage[] {
  const byGroup = (a: RaftMessage, b: RaftMessage) => a.group - b.group
  const heartbeats = messages.filter((m) => m.type === 'heartbeat').sort(byGroup)
  const responses = messages.filter((m) => m.type === 'heartbeatResponse').sort(byGroup)
  const rest = messages.filter((m) => m.type !== 'heartbeat' && m.type !== 'heartbeatResponse')
  return [...heartbeats, ...responses, ...rest]
}

/** Byte arrays as plain arrays, so Buffer (decoded) and Uint8Array (generated) compare equal. */
export function plain(x: unknown): unknown {
  if (x instanceof Uint8Array) return { bytes: Array.from(x) }
  if (Array.isArray(x)) return x.map(plain)
  if (typeof x === 'object' && x !== null) {
    return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, plain(v)]))
  }
  return x
}
