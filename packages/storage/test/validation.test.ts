import assert from 'node:assert/strict'
import { test } from 'node:test'
import { InvalidWriteError, LevelLogStore } from '../src/index.js'
import { entries, entry, tempDir } from './helpers.js'

test('writes that would break the log are rejected before anything changes', async () => {
  const dir = tempDir()
  const store = await LevelLogStore.open(dir.path)
  try {
    const group = await store.group(1)
    group.write({ hardState: { term: 3, vote: 2, commit: 2 }, entries: entries(1, 5, 2) })
    const before = { last: group.lastIndex(), hard: group.hardState() }
    const rejected: [string, () => void][] = [
      ['gap', () => group.write({ entries: entries(7, 1, 2) })],
      ['not contiguous', () => group.write({ entries: [entry(6, 2), entry(8, 2)] })],
      ['term goes back within the write', () => group.write({ entries: [entry(6, 3), entry(7, 2)] })],
      ['term below the previous entry', () => group.write({ entries: [entry(6, 1)] })],
      ['term zero', () => group.write({ entries: [entry(6, 0)] })],
      ['index zero', () => group.write({ entries: [entry(0, 2)] })],
      ['unknown kind', () => group.write({ entries: [{ ...entry(6, 2), kind: 7 as 0 }] })],
      ['hard state term goes back', () => group.write({ hardState: { term: 2, vote: 0, commit: 2 } })],
      ['vote changes within a term', () => group.write({ hardState: { term: 3, vote: 1, commit: 2 } })],
      ['commit goes back', () => group.write({ hardState: { term: 3, vote: 2, commit: 1 } })],
      [
        'combined write with a bad part',
        () => group.write({ hardState: { term: 9, vote: 0, commit: 2 }, entries: entries(9, 1, 9) }),
      ],
    ]
    for (const [what, write] of rejected) assert.throws(write, InvalidWriteError, what)
    assert.equal(group.lastIndex(), before.last)
    assert.deepEqual(group.hardState(), before.hard)

    const logStart = {
      index: 3,
      term: 2,
      payload: new Uint8Array(),
      membership: { voters: [1], learners: [] },
    }
    group.write({ logStart })
    assert.throws(
      () => group.write({ entries: entries(3, 1, 2) }),
      InvalidWriteError,
      'at or below the log start',
    )
    assert.throws(
      () => group.write({ logStart: { ...logStart, index: 2 } }),
      InvalidWriteError,
      'log start back',
    )
    assert.throws(() => group.entries(3, 4, 100), RangeError, 'read at the log start')
    assert.throws(() => group.entries(4, 7, 100), RangeError, 'read beyond the last index')
  } finally {
    await store.close()
    dir.cleanup()
  }
})

test('group ids must fit in 32 bits', async () => {
  const dir = tempDir()
  const store = await LevelLogStore.open(dir.path)
  try {
    assert.throws(() => store.group(2 ** 32), RangeError)
    assert.throws(() => store.group(-1), RangeError)
    assert.throws(() => store.group(1.5), RangeError)
    assert.equal((await store.group(2 ** 32 - 1)).id, 2 ** 32 - 1)
    assert.equal(await store.group(5), await store.group(5), 'one GroupLog per id')
  } finally {
    await store.close()
    dir.cleanup()
  }
})

test('a log start that matches the log keeps what follows; one that does not discards it', async () => {
  const dir = tempDir()
  const store = await LevelLogStore.open(dir.path)
  try {
    const group = await store.group(1)
    group.write({ entries: [...entries(1, 3, 1), ...entries(4, 3, 2)] })
    const membership = { voters: [1], learners: [] }
    const at = (index: number, term: number) => ({ index, term, payload: new Uint8Array(), membership })
    group.write({ logStart: at(2, 1) }) // retention: entry 2 has term 1, 3..6 stay
    assert.equal(group.lastIndex(), 6)
    assert.equal(group.term(5), 2)
    group.write({ logStart: at(4, 3) }) // a leader's snapshot against our log: nothing survives
    assert.equal(group.lastIndex(), 4)
    assert.equal(group.term(4), 3)
    assert.equal(group.term(5), undefined)
    assert.throws(
      () => group.write({ entries: entries(5, 1, 2) }),
      InvalidWriteError,
      'term below the log start',
    )
    group.write({ entries: entries(5, 2, 3) })
    group.write({ logStart: at(9, 3) }) // beyond the log: keeps nothing
    assert.equal(group.lastIndex(), 9)
    await group.verify()
    await store.close()
    const reopened = await LevelLogStore.open(dir.path)
    const again = await reopened.group(1)
    assert.deepEqual(again.initialState().lastIndex, 9)
    assert.equal(again.term(9), 3)
    await again.verify()
    await reopened.close()
  } finally {
    await store.close()
    dir.cleanup()
  }
})
