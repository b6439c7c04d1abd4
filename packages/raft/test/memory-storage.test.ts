import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { type Entry, EntryKind, MemoryStorage } from '../src/index.js'

type Op =
  | { kind: 'append'; back: number; count: number }
  | { kind: 'sync' }
  | { kind: 'crash' }
  | { kind: 'compact' }

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    kind: fc.constant('append' as const),
    back: fc.integer({ min: 0, max: 3 }),
    count: fc.integer({ min: 1, max: 4 }),
  }),
  fc.constant({ kind: 'sync' as const }),
  fc.constant({ kind: 'crash' as const }),
  fc.constant({ kind: 'compact' as const }),
)

function entry(index: number, term: number): Entry {
  return { index, term, kind: EntryKind.normal, data: new TextEncoder().encode(`${index}/${term}`) }
}

describe('MemoryStorage', () => {
  it('after a crash holds exactly what was synced', () => {
    const seed = Number(process.env.SEED ?? 20261125)
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        const s = new MemoryStorage({ voters: [1], learners: [] })
        // The model replays only synced writes.
        const model = new MemoryStorage({ voters: [1], learners: [] })
        let unsynced: (() => void)[] = []
        let term = 1
        for (const o of ops) {
          if (o.kind === 'append') {
            const first = Math.max(s.logStart().index + 1, s.lastIndex() + 1 - o.back)
            term++
            const entries = Array.from({ length: o.count }, (_, k) => entry(first + k, term))
            s.write({ entries })
            unsynced.push(() => model.write({ entries }))
          } else if (o.kind === 'compact') {
            const index = s.lastIndex() - 1
            const t = s.term(index)
            if (index <= s.logStart().index || t === undefined) continue
            const logStart = {
              index,
              term: t,
              payload: new Uint8Array(0),
              membership: { voters: [1], learners: [] },
            }
            s.write({ logStart })
            unsynced.push(() => model.write({ logStart }))
          } else if (o.kind === 'sync') {
            s.sync()
            for (const w of unsynced) w()
            unsynced = []
          } else {
            s.crash()
            unsynced = []
          }
          if (o.kind === 'crash' || o.kind === 'sync') {
            assert.equal(s.lastIndex(), model.lastIndex())
            assert.equal(s.logStart().index, model.logStart().index)
            for (let i = s.logStart().index; i <= s.lastIndex(); i++) assert.equal(s.term(i), model.term(i))
          }
        }
      }),
      { seed, numRuns: 300 },
    )
  })
})
