/**
 * Property test: random sequences of appends (with suffix truncation), prefix deletions, hard
 * state and applied writes, flushes, reads and reopens, run against the store and against a plain
 * in-memory model. After every step and after every reopen, both must agree on lastIndex,
 * term(i), entries, hard state, log start and applied state.
 *
 * Replay a failure with CAIRN_SEED=<seed> (printed at start and in fast-check's report).
 */

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { type Entry, EntryKind, type HardState, type LogStart } from '@cairn/raft'
import fc from 'fast-check'
import { type AppliedState, type GroupLog, LevelLogStore, type LogStoreOptions } from '../src/index.js'
import { dataFor, readThroughLoads, tempDir } from './helpers.js'

const SEED = Number(process.env.CAIRN_SEED ?? Date.now() % 0x7fffffff)
const RUNS = Number(process.env.CAIRN_RUNS ?? 40)
const GROUP = 9

interface Model {
  entries: Map<number, Entry>
  last: number
  logStart: LogStart
  hard: HardState
  applied: AppliedState | undefined
  /** Highest term used so far: new entries take it (or a new higher one), so terms never go back. */
  maxTerm: number
}

type Op =
  | { type: 'append'; back: number; count: number; bump: boolean; salt: number; withHardState: boolean }
  | { type: 'prefix'; advance: number; salt: number; mismatch: boolean }
  | { type: 'hardState'; termStep: number; vote: number; commitStep: number }
  | { type: 'applied'; index: number; salt: number }
  | { type: 'read'; from: number; length: number; bytesMax: number }
  | { type: 'flush' }
  | { type: 'reopen' }

const opArbitrary: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 6,
    arbitrary: fc.record({
      type: fc.constant('append' as const),
      back: fc.nat(8),
      count: fc.integer({ min: 1, max: 6 }),
      bump: fc.boolean(),
      salt: fc.nat(1000),
      withHardState: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('prefix' as const),
      advance: fc.nat(40),
      salt: fc.nat(1000),
      mismatch: fc.boolean(),
    }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('hardState' as const),
      termStep: fc.nat(2),
      vote: fc.nat(3),
      commitStep: fc.nat(3),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record({ type: fc.constant('applied' as const), index: fc.nat(100), salt: fc.nat(99) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({
      type: fc.constant('read' as const),
      from: fc.nat(),
      length: fc.nat(20),
      bytesMax: fc.integer({ min: 1, max: 400 }),
    }),
  },
  { weight: 2, arbitrary: fc.constant({ type: 'flush' as const }) },
  { weight: 1, arbitrary: fc.constant({ type: 'reopen' as const }) },
)

const optionsArbitrary: fc.Arbitrary<LogStoreOptions> = fc.record({
  tailCacheBytesMax: fc.constantFrom(0, 300, 1 << 20),
  loadBytesMax: fc.constantFrom(1, 200, 1 << 20),
  loadWindowsMax: fc.constantFrom(1, 4),
  deleteBatchRowsMax: fc.constantFrom(1, 4096),
  // 1: every batch opens a new segment, so the group's rows spread over many runs.
  segmentBytes: fc.constantFrom(1, 300, 4 << 20),
  // 0: every entry's data in the segment's data file; 150: some of a batch's in rows, the rest there.
  inlineDataBytesMax: fc.constantFrom(0, 150, 64 * 1024),
})

function emptyModel(): Model {
  return {
    entries: new Map(),
    last: 0,
    logStart: { index: 0, term: 0, payload: new Uint8Array(), membership: { voters: [], learners: [] } },
    hard: { term: 0, vote: 0, commit: 0 },
    applied: undefined,
    maxTerm: 1,
  }
}

function modelTerm(model: Model, index: number): number | undefined {
  if (index === model.logStart.index) return model.logStart.term
  return model.entries.get(index)?.term
}

/** Turns an abstract op into a concrete, valid write for the model's current state. */
function appendWrite(
  model: Model,
  op: Extract<Op, { type: 'append' }>,
): { entries: Entry[]; hardState?: HardState } {
  const first = Math.max(model.logStart.index + 1, model.last + 1 - op.back)
  if (op.bump) model.maxTerm++
  const term = model.maxTerm
  const entries = Array.from({ length: op.count }, (_, i) => ({
    index: first + i,
    term,
    kind: (first + i) % 7 === 0 ? EntryKind.noop : EntryKind.normal,
    data: dataFor(GROUP, first + i, op.salt + term, 60),
  }))
  if (!op.withHardState) return { entries }
  return { entries, hardState: { ...model.hard, term: Math.max(model.hard.term, term) } }
}

function applyToModel(
  model: Model,
  write: { entries?: Entry[]; hardState?: HardState; logStart?: LogStart },
): void {
  if (write.hardState) model.hard = { ...write.hardState }
  if (write.logStart) {
    const start = write.logStart
    // The suffix survives only if the log holds the log start's entry (same index and term).
    const keeps = start.index < model.last && modelTerm(model, start.index) === start.term
    for (const index of model.entries.keys()) if (index <= start.index || !keeps) model.entries.delete(index)
    model.logStart = start
    model.last = keeps ? model.last : start.index
  }
  const entries = write.entries ?? []
  if (entries.length === 0) return
  for (let index = entries[0]!.index; index <= model.last; index++) model.entries.delete(index)
  for (const entry of entries) model.entries.set(entry.index, entry)
  model.last = entries.at(-1)!.index
}

function prefixWrite(model: Model, op: Extract<Op, { type: 'prefix' }>): { logStart: LogStart } {
  const span = model.last - model.logStart.index + 3 // up to two beyond the last entry: a snapshot
  const index = model.logStart.index + 1 + (op.advance % span)
  // A mismatching term is a leader's snapshot against our log; it must not be below any kept term.
  if (op.mismatch) model.maxTerm++
  const term = index <= model.last && !op.mismatch ? modelTerm(model, index)! : model.maxTerm
  const payload = dataFor(GROUP, index, op.salt, 20)
  return { logStart: { index, term, payload, membership: { voters: [1, 2, 3], learners: [op.salt % 5] } } }
}

function hardStateWrite(model: Model, op: Extract<Op, { type: 'hardState' }>): { hardState: HardState } {
  const term = model.hard.term + op.termStep
  const vote = op.termStep === 0 && model.hard.vote !== 0 ? model.hard.vote : op.vote
  return { hardState: { term, vote, commit: model.hard.commit + op.commitStep } }
}

async function checkAgainstModel(group: GroupLog, model: Model, bytesMax: number): Promise<void> {
  assert.equal(group.lastIndex(), model.last, 'lastIndex')
  assert.deepEqual(group.logStart(), model.logStart, 'logStart')
  assert.deepEqual(group.hardState(), model.hard, 'hardState')
  assert.deepEqual(group.applied(), model.applied, 'applied')
  assert.deepEqual(group.initialState(), {
    hardState: model.hard,
    logStart: model.logStart,
    lastIndex: model.last,
  })
  for (let index = Math.max(0, model.logStart.index - 1); index <= model.last + 1; index++) {
    assert.equal(group.term(index), modelTerm(model, index), `term(${index})`)
  }
  const got = await readThroughLoads(group, model.logStart.index + 1, model.last + 1, bytesMax)
  assert.deepEqual(
    got.map(comparable),
    [...model.entries.values()].sort((a, b) => a.index - b.index).map(comparable),
  )
}

function comparable(entry: Entry): [number, number, number, number[]] {
  return [entry.index, entry.term, entry.kind, [...entry.data]]
}

async function checkRead(group: GroupLog, model: Model, op: Extract<Op, { type: 'read' }>): Promise<void> {
  const size = model.last - model.logStart.index
  if (size === 0) return
  const lo = model.logStart.index + 1 + (op.from % size)
  const hi = Math.min(model.last + 1, lo + op.length)
  const got = await group.read(lo, hi, op.bytesMax)
  if (lo === hi) return assert.equal(got.length, 0)
  assert.ok(got.length >= 1, 'at least one entry')
  const bytes = got.reduce((sum, e) => sum + e.data.length, 0)
  assert.ok(got.length === 1 || bytes <= op.bytesMax, 'within bytesMax beyond the first entry')
  got.forEach((entry, i) => {
    assert.deepEqual(comparable(entry), comparable(model.entries.get(lo + i)!))
  })
}

async function run(options: LogStoreOptions, ops: Op[], readBytesMax: number): Promise<void> {
  const dir = tempDir('cairn-model-')
  let store = await LevelLogStore.open(dir.path, options)
  let group = await store.group(GROUP)
  const model = emptyModel()
  try {
    for (const op of ops) {
      if (op.type === 'reopen') {
        await store.close()
        store = await LevelLogStore.open(dir.path, options)
        group = await store.group(GROUP)
        await group.verify()
      } else if (op.type === 'flush') {
        await store.flush()
      } else if (op.type === 'read') {
        await checkRead(group, model, op)
      } else if (op.type === 'applied') {
        model.applied = { index: op.index, data: dataFor(GROUP, op.index, op.salt, 10) }
        group.writeApplied(model.applied)
      } else {
        const write =
          op.type === 'append'
            ? appendWrite(model, op)
            : op.type === 'prefix'
              ? prefixWrite(model, op)
              : hardStateWrite(model, op)
        group.write(write)
        applyToModel(model, write)
      }
      await checkAgainstModel(group, model, readBytesMax)
    }
    await store.close()
    store = await LevelLogStore.open(dir.path, options)
    group = await store.group(GROUP)
    await checkAgainstModel(group, model, readBytesMax)
    await group.verify()
  } finally {
    await store.close()
    dir.cleanup()
  }
}

test('the store agrees with an in-memory model of the log, across reopens', async () => {
  console.log(`model property seed: ${SEED} (replay with CAIRN_SEED=${SEED})`)
  await fc.assert(
    fc.asyncProperty(
      optionsArbitrary,
      fc.array(opArbitrary, { minLength: 1, maxLength: 40 }),
      fc.integer({ min: 1, max: 500 }),
      run,
    ),
    { seed: SEED, numRuns: RUNS },
  )
})

test('a truncation right above the log start leaves no term run behind it (found by seed 394630567)', async () => {
  const dir = tempDir('cairn-model-')
  const membership = { voters: [1], learners: [] }
  const at = (index: number, term: number): Entry => ({
    index,
    term,
    kind: EntryKind.normal,
    data: dataFor(GROUP, index, term, 20),
  })
  try {
    let store = await LevelLogStore.open(dir.path)
    let group = await store.group(GROUP)
    group.write({ entries: [1, 2, 3, 4, 5, 6, 7].map((i) => at(i, 1)) })
    group.write({ logStart: { index: 3, term: 1, payload: new Uint8Array(), membership } })
    // A new leader replaces 4..7: the run of term 1 now ends at the log start.
    group.write({ entries: [at(4, 2)] })
    await store.close()
    store = await LevelLogStore.open(dir.path)
    group = await store.group(GROUP)
    // A snapshot at the last entry: nothing of the log survives it.
    group.write({ logStart: { index: 4, term: 2, payload: new Uint8Array(), membership } })
    await group.settle()
    await store.close()
    store = await LevelLogStore.open(dir.path)
    group = await store.group(GROUP)
    assert.equal(group.damaged, null)
    assert.equal(group.lastIndex(), 4)
    await store.close()
  } finally {
    dir.cleanup()
  }
})
