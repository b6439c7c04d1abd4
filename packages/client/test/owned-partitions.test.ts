import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { OwnedPartitions } from '../src/index.js'

const t0p0 = { topic: 't0', partition: 0 }
const t0p1 = { topic: 't0', partition: 1 }

describe('owned partitions', () => {
  it('commits the start position, then only offsets after finished records', () => {
    const owned = new OwnedPartitions()
    const { token } = owned.add(t0p0, 10, -1)
    assert.deepEqual(owned.toCommit(), [{ topic: 't0', partition: 0, offset: 10 }])
    owned.committed(owned.toCommit())
    assert.deepEqual(owned.toCommit(), [])
    assert.equal(owned.finished(t0p0, token, 10), true)
    assert.equal(owned.finished(t0p0, token, 11), true)
    assert.deepEqual(owned.toCommit(), [{ topic: 't0', partition: 0, offset: 12 }])
    // An offset already behind moves nothing.
    assert.equal(owned.finished(t0p0, token, 5), false)
    assert.deepEqual(owned.toCommit(), [{ topic: 't0', partition: 0, offset: 12 }])
  })

  it('does not count a handler that finishes under an earlier ownership', () => {
    const owned = new OwnedPartitions()
    const first = owned.add(t0p0, 0, -1)
    owned.remove([t0p0])
    const second = owned.add(t0p0, 3, 3)
    assert.notEqual(first.token, second.token)
    assert.equal(owned.finished(t0p0, first.token, 7), false)
    assert.equal(owned.deliverable(t0p0, first.token), false)
    assert.equal(owned.deliverable(t0p0, second.token), true)
    assert.deepEqual(owned.toCommit(), [])
  })

  it('stops delivery of a partition being revoked but still commits what finished', () => {
    const owned = new OwnedPartitions()
    const a = owned.add(t0p0, 0, -1)
    const b = owned.add(t0p1, 0, -1)
    owned.finished(t0p0, a.token, 4)
    owned.beginRevoke([t0p0])
    assert.equal(owned.deliverable(t0p0, a.token), false)
    assert.equal(owned.deliverable(t0p1, b.token), true)
    assert.deepEqual(owned.active(), [t0p1])
    assert.deepEqual(owned.all(), [t0p0, t0p1])
    // The handler in flight when revocation began finishes: still counted, then committed.
    owned.finished(t0p0, a.token, 5)
    assert.deepEqual(owned.toCommit([t0p0]), [{ topic: 't0', partition: 0, offset: 6 }])
    owned.remove([t0p0])
    assert.deepEqual(owned.all(), [t0p1])
  })

  it('pauses: not deliverable, still current, still committed', () => {
    const owned = new OwnedPartitions()
    const a = owned.add(t0p0, 0, -1)
    assert.deepEqual(owned.setPaused([t0p0, t0p1], true), [t0p0])
    assert.equal(owned.deliverable(t0p0, a.token), false)
    assert.equal(owned.current(t0p0, a.token), true)
    assert.equal(owned.fetchable(), false)
    owned.setPaused([t0p0], false)
    assert.equal(owned.fetchable(), true)
  })
})
