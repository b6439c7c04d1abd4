/**
 * AppendQueue against a model: a plain array that is filtered and scanned whole on every look,
 * which is what the producer did before. fast-check draws pushes (deadlines mostly ascending,
 * sometimes stepping back as a wall clock can), settles, appends, expiries, deadline queries and
 * prunes; after every step the queue's live sends, next deadline and expiries equal the model's.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import fc from 'fast-check'
import { AppendQueue, type QueuedSend } from '../src/append-queue.js'

class Send implements QueuedSend {
  settled = false
  fullyAppended = false
  constructor(
    readonly id: number,
    readonly deadlineMs: number,
  ) {}
}

type Op =
  | { kind: 'push'; stepMs: number }
  | { kind: 'settle' | 'append'; pick: number }
  | { kind: 'expire' | 'next'; atMs: number }
  | { kind: 'prune'; scanAll: boolean }
  | { kind: 'takeAll' }

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({ kind: fc.constant('push' as const), stepMs: fc.integer({ min: -50, max: 100 }) }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constantFrom('settle' as const, 'append' as const), pick: fc.nat() }),
  },
  {
    weight: 2,
    arbitrary: fc.record({ kind: fc.constantFrom('expire' as const, 'next' as const), atMs: fc.nat(3000) }),
  },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('prune' as const), scanAll: fc.boolean() }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'takeAll' as const }) },
)

const live = (s: Send) => !s.settled && !s.fullyAppended

describe('AppendQueue', () => {
  it('answers as a whole-queue scan does, with deadlines that may step back', () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 300 }), (ops) => {
        const queue = new AppendQueue<Send>()
        let model: Send[] = []
        let clockMs = 1000
        let nextId = 0
        for (const o of ops) {
          switch (o.kind) {
            case 'push': {
              clockMs = Math.max(0, clockMs + o.stepMs)
              const s = new Send(nextId++, clockMs)
              queue.push(s)
              model.push(s)
              break
            }
            case 'settle':
            case 'append': {
              const pending = model.filter(live)
              const s = pending[o.pick % Math.max(1, pending.length)]
              if (s && o.kind === 'settle') s.settled = true
              if (s && o.kind === 'append') s.fullyAppended = true
              break
            }
            case 'expire': {
              const expired: number[] = []
              queue.expireDue(o.atMs, (s) => {
                expired.push(s.id)
                s.settled = true
              })
              const due = model.filter((s) => !expired.includes(s.id) && live(s) && o.atMs >= s.deadlineMs)
              assert.deepEqual(due, [], `sends due at ${o.atMs} were not expired`)
              break
            }
            case 'next': {
              const want = Math.min(
                Number.POSITIVE_INFINITY,
                ...model.filter((s) => live(s) && s.deadlineMs > o.atMs).map((s) => s.deadlineMs),
              )
              assert.equal(queue.nextDeadlineAfter(o.atMs), want)
              break
            }
            case 'prune':
              queue.prune(o.scanAll)
              break
            case 'takeAll': {
              const taken = queue.takeAll()
              assert.deepEqual(
                taken.filter(live).map((s) => s.id),
                model.filter(live).map((s) => s.id),
              )
              model = []
              break
            }
          }
          const seen: number[] = []
          queue.forEachLive((s) => {
            seen.push(s.id)
            return true
          })
          assert.deepEqual(
            seen,
            model.filter(live).map((s) => s.id),
            'live sends, oldest first',
          )
          assert.ok(queue.length >= seen.length)
        }
      }),
      { seed: 20261126, numRuns: 300 },
    )
  })

  it('with 50,000 sends waiting and none due, expiry and the next deadline read one send', () => {
    const queue = new AppendQueue<QueuedSend>()
    let reads = 0
    for (let i = 0; i < 50_000; i++) {
      const deadline = 1000 + i
      queue.push({
        settled: false,
        fullyAppended: false,
        get deadlineMs() {
          reads++
          return deadline
        },
      })
    }
    reads = 0
    queue.expireDue(500, () => assert.fail('nothing is due'))
    assert.equal(queue.nextDeadlineAfter(500), 1000)
    assert.equal(reads, 2, 'one read by each')
  })

  it('finished sends at the front are dropped without a scan; the array is compacted', () => {
    const queue = new AppendQueue<Send>()
    const sends = Array.from({ length: 4096 }, (_, i) => new Send(i, 1000 + i))
    for (const s of sends) queue.push(s)
    for (const s of sends.slice(0, 3000)) s.fullyAppended = true
    queue.prune(false)
    assert.equal(queue.length, 1096)
    for (const s of sends.slice(3000)) s.settled = true
    queue.prune(false)
    assert.equal(queue.length, 0)
  })
})

describe('AppendQueue and memory', () => {
  it('does not keep a pruned send alive until its next compaction', async () => {
    setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as () => void
    const queue = new AppendQueue<Send>()
    // Made in a function of their own, so that only the queue and the WeakRefs point at the sends.
    const push = (count: number, settled: boolean) =>
      Array.from({ length: count }, (_, i) => {
        const send = new Send(i, 1000)
        send.settled = settled
        queue.push(send)
        return new WeakRef(send)
      })
    const done = push(8, true)
    const live = push(2, false)
    queue.prune(false)
    assert.equal(queue.length, 2)
    await new Promise((resolve) => setImmediate(resolve)) // WeakRef targets live until the job ends
    gc()
    assert.deepEqual(
      done.map((ref) => ref.deref() === undefined),
      done.map(() => true),
      'every pruned send collected',
    )
    assert.ok(live.every((ref) => ref.deref() !== undefined))
  })
})
