import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import fc from 'fast-check'
import { type AnomalyName, type CheckOptions, type CheckResult, check } from '../src/checker.js'
import { type FinalReadOp, type Op, type PollOp, parseHistory } from '../src/history.js'

const STRICT: CheckOptions = { acks: 'all', idempotence: true }

/** Writes histories the way the harness would, one clock tick per op. */
class History {
  readonly ops: Op[] = []
  private time = 0

  invokeSend(process: number, value: string, partition?: number): this {
    this.ops.push({ process, type: 'invoke', f: 'send', time: this.time++, key: 'k', value, partition })
    return this
  }

  completeSend(
    process: number,
    value: string,
    type: 'ok' | 'fail' | 'info',
    partition?: number,
    offset?: number,
  ): this {
    this.ops.push({ process, type, f: 'send', time: this.time++, key: 'k', value, partition, offset })
    return this
  }

  /** An acknowledged send of `value` to `partition` at `offset`. */
  send(process: number, value: string, partition: number, offset: number): this {
    return this.invokeSend(process, value).completeSend(process, value, 'ok', partition, offset)
  }

  invokePoll(process: number, seek?: number): this {
    const op: PollOp = { process, type: 'invoke', f: 'poll', time: this.time++ }
    if (seek !== undefined) op.seek = seek
    this.ops.push(op)
    return this
  }

  /** reads as [partition, offset, value] */
  completePoll(process: number, reads: [number, number, string][], type: 'ok' | 'info' = 'ok'): this {
    this.ops.push({
      process,
      type,
      f: 'poll',
      time: this.time++,
      reads: reads.map(([partition, offset, value]) => ({ partition, offset, value })),
    })
    return this
  }

  poll(process: number, reads: [number, number, string][]): this {
    return this.invokePoll(process).completePoll(process, reads)
  }

  /** The whole partition: plain values sit at offsets 0, 1, 2…; [offset, value] pairs say where. */
  final(partition: number, reads: (string | [number, string])[]): this {
    const records = reads.map((r, i) =>
      typeof r === 'string' ? { offset: i, value: r } : { offset: r[0], value: r[1] },
    )
    this.ops.push({ process: 0, type: 'ok', f: 'final-read', time: this.time++, partition, reads: records })
    return this
  }

  hw(partition: number, highWatermark: number, process = 0): this {
    this.ops.push({ process, type: 'ok', f: 'hw', time: this.time++, partition, highWatermark })
    return this
  }
}

/** Asserts the checker found exactly the anomalies named, returns them. */
function expectOnly(result: CheckResult, ...names: AnomalyName[]) {
  assert.deepEqual(
    result.anomalies.map((a) => a.name),
    names,
    result.anomalies.map((a) => a.detail).join('\n'),
  )
  return result.anomalies
}

describe('check: one minimal history per anomaly', () => {
  it('a clean concurrent history has no anomaly', () => {
    const h = new History()
      .invokeSend(1, 'p1-0')
      .invokeSend(2, 'p2-0')
      .invokePoll(100)
      .completeSend(2, 'p2-0', 'ok', 0, 0)
      .hw(0, 1)
      .completeSend(1, 'p1-0', 'ok', 1, 0)
      .invokeSend(1, 'p1-1')
      .completePoll(100, [[0, 0, 'p2-0']])
      .invokeSend(2, 'p2-1')
      .completeSend(2, 'p2-1', 'fail', undefined, undefined)
      .completeSend(1, 'p1-1', 'ok', 0, 1)
      .hw(0, 2)
      .hw(1, 1)
      .poll(100, [
        [0, 1, 'p1-1'],
        [1, 0, 'p1-0'],
      ])
      .final(0, ['p2-0', 'p1-1'])
      .final(1, ['p1-0'])
    const result = check(h.ops, STRICT)
    expectOnly(result)
    assert.equal(result.ok, true)
    assert.deepEqual(result.forbidden, [])
    assert.deepEqual(
      { ...result.stats },
      {
        sends: 4,
        ok: 3,
        failed: 1,
        indeterminate: 0,
        polls: 2,
        valuesRead: 6,
        finalReads: 2,
        unknownValuesRead: 0,
      },
    )
  })

  it('inconsistent-offsets: one offset holds two values', () => {
    const h = new History()
      .send(1, 'a', 0, 0)
      .send(1, 'b', 0, 1)
      .invokeSend(2, 'x')
      .completeSend(2, 'x', 'info')
      .poll(100, [[0, 1, 'x']])
      .final(0, ['a', 'b'])
    const [a] = expectOnly(check(h.ops, STRICT), 'inconsistent-offsets')
    assert.equal(a!.partition, 0)
    assert.deepEqual(a!.offsets, [1])
    assert.match(a!.detail, /b, x/)
  })

  it('duplicate: one value at two offsets of a partition', () => {
    const h = new History().send(1, 'a', 0, 0).final(0, ['a', 'a'])
    const result = check(h.ops, STRICT)
    const [a] = expectOnly(result, 'duplicate')
    assert.equal(a!.value, 'a')
    assert.equal(a!.partition, 0)
    assert.deepEqual(a!.offsets, [0, 1])
    assert.deepEqual(result.forbidden, ['duplicate'])
  })

  it('duplicate: one value in two partitions', () => {
    const h = new History().send(1, 'a', 0, 0).final(0, ['a']).final(1, ['a'])
    const [a] = expectOnly(check(h.ops, STRICT), 'duplicate')
    assert.equal(a!.value, 'a')
    assert.match(a!.detail, /partitions 0, 1/)
  })

  it('lost-prefix: an acknowledged value below every value read', () => {
    const h = new History()
      .send(1, 'a', 0, 0)
      .send(1, 'b', 0, 1)
      .send(1, 'c', 0, 2)
      .final(0, [
        [1, 'b'],
        [2, 'c'],
      ])
    const result = check(h.ops, STRICT)
    const [a] = expectOnly(result, 'lost-prefix')
    assert.equal(a!.value, 'a')
    assert.equal(a!.partition, 0)
    assert.deepEqual(a!.offsets, [0])
    assert.equal(result.counts['lost-write'], 1)
    assert.equal(result.counts['lost-prefix'], 1)
    assert.deepEqual(result.forbidden, ['lost-write', 'lost-prefix'])
  })

  it('lost-middle: an acknowledged value between values read', () => {
    const h = new History()
      .send(1, 'a', 0, 0)
      .send(1, 'b', 0, 1)
      .send(1, 'c', 0, 2)
      .final(0, [
        [0, 'a'],
        [2, 'c'],
      ])
    const result = check(h.ops, STRICT)
    const [a] = expectOnly(result, 'lost-middle')
    assert.equal(a!.value, 'b')
    assert.equal(result.counts['lost-write'], 1)
  })

  it('lost-postfix: acknowledged values above the last acknowledged value read, below the highest read', () => {
    // Reads reach offset 3 only through x, whose send is indeterminate.
    const h = new History()
      .send(1, 'a', 0, 0)
      .send(1, 'b', 0, 1)
      .send(1, 'c', 0, 2)
      .invokeSend(2, 'x')
      .completeSend(2, 'x', 'info')
      .final(0, [
        [0, 'a'],
        [3, 'x'],
      ])
    const result = check(h.ops, STRICT)
    const lost = expectOnly(result, 'lost-postfix', 'lost-postfix')
    assert.deepEqual(
      lost.map((a) => a.value),
      ['b', 'c'],
    )
    assert.equal(result.counts['lost-write'], 2)
  })

  it('unseen: acknowledged, at or above the highest offset read, never read', () => {
    const h = new History().send(1, 'a', 0, 0).send(1, 'b', 0, 1).final(0, ['a'])
    const result = check(h.ops, STRICT)
    const [a] = expectOnly(result, 'unseen')
    assert.equal(a!.value, 'b')
    assert.equal(a!.partition, 0)
    assert.equal(result.counts['lost-write'], 0)
    assert.equal(result.ok, false)
  })

  it('aborted-read: a read returns a value whose send failed', () => {
    const h = new History()
      .invokeSend(1, 'a')
      .completeSend(1, 'a', 'fail')
      .poll(100, [[0, 0, 'a']])
      .final(0, ['a'])
    const [a] = expectOnly(check(h.ops, STRICT), 'aborted-read')
    assert.equal(a!.value, 'a')
    assert.equal(a!.partition, 0)
  })

  it('nonmonotonic-send: a later send of one producer lands lower', () => {
    const h = new History().send(1, 'a', 0, 1).send(1, 'b', 0, 0).final(0, ['b', 'a'])
    const [a] = expectOnly(check(h.ops, STRICT), 'nonmonotonic-send')
    assert.equal(a!.value, 'b')
    assert.deepEqual(a!.offsets, [1, 0])
  })

  it('nonmonotonic-send follows invoke order when one producer pipelines sends', () => {
    const inOrder = new History()
      .invokeSend(1, 'a')
      .invokeSend(1, 'b')
      .completeSend(1, 'b', 'ok', 0, 1)
      .completeSend(1, 'a', 'ok', 0, 0)
      .final(0, ['a', 'b'])
    expectOnly(check(inOrder.ops, STRICT))
    const reordered = new History()
      .invokeSend(1, 'a')
      .invokeSend(1, 'b')
      .completeSend(1, 'a', 'ok', 0, 1)
      .completeSend(1, 'b', 'ok', 0, 0)
      .final(0, ['b', 'a'])
    expectOnly(check(reordered.ops, STRICT), 'nonmonotonic-send')
  })

  it('poll-skip: a consumer jumps over offsets that hold values', () => {
    const h = new History()
    const values = ['a', 'b', 'c', 'd', 'e']
    values.forEach((v, i) => {
      h.send(1, v, 0, i)
    })
    h.poll(100, [
      [0, 0, 'a'],
      [0, 1, 'b'],
    ])
      .poll(100, [[0, 4, 'e']])
      .final(0, values)
    const [a] = expectOnly(check(h.ops, STRICT), 'poll-skip')
    assert.equal(a!.partition, 0)
    assert.equal(a!.value, 'e')
    assert.deepEqual(a!.offsets, [1, 4])
  })

  it('poll-skip is not reported over offsets that hold nothing known', () => {
    const h = new History()
      .send(1, 'a', 0, 0)
      .send(1, 'b', 0, 5)
      .poll(100, [[0, 0, 'a']])
      .poll(100, [[0, 5, 'b']])
    expectOnly(check(h.ops, STRICT))
  })

  it('nonmonotonic-poll: a consumer reads again at or before its last offset', () => {
    const h = new History().send(1, 'a', 0, 0).send(1, 'b', 0, 1).send(1, 'c', 0, 2)
    h.poll(100, [
      [0, 0, 'a'],
      [0, 1, 'b'],
    ])
      .poll(100, [
        [0, 1, 'b'],
        [0, 2, 'c'],
      ])
      .final(0, ['a', 'b', 'c'])
    const [a] = expectOnly(check(h.ops, STRICT), 'nonmonotonic-poll')
    assert.equal(a!.partition, 0)
    assert.equal(a!.value, 'b')
    assert.deepEqual(a!.offsets, [1, 1])
  })

  it('a seek on the poll invoke resets the position; other consumers and partitions are independent', () => {
    const h = new History().send(1, 'a', 0, 0).send(1, 'b', 0, 1).send(1, 'c', 1, 0)
    h.poll(100, [
      [0, 0, 'a'],
      [0, 1, 'b'],
    ])
      .invokePoll(100, 0)
      .completePoll(100, [[0, 0, 'a']])
      .poll(100, [[1, 0, 'c']])
      .poll(101, [[0, 0, 'a']])
      .final(0, ['a', 'b'])
      .final(1, ['c'])
    expectOnly(check(h.ops, STRICT))
  })

  it('an indeterminate poll forgets the position: the consumer may have consumed unseen records', () => {
    const h = new History().send(1, 'a', 0, 0).send(1, 'b', 0, 1).send(1, 'c', 0, 2)
    h.poll(100, [[0, 0, 'a']])
      .invokePoll(100)
      .completePoll(100, [], 'info')
      .poll(100, [[0, 2, 'c']])
      .final(0, ['a', 'b', 'c'])
    expectOnly(check(h.ops, STRICT))
  })

  it('hw-regression: the high watermark of a partition goes backwards', () => {
    const h = new History().hw(0, 5).hw(1, 2).hw(0, 3).hw(0, 6)
    const [a] = expectOnly(check(h.ops, STRICT), 'hw-regression')
    assert.equal(a!.partition, 0)
    assert.deepEqual(a!.offsets, [5, 3])
  })

  it('hw-regression: per consumer, and the final phase against everything seen', () => {
    // Two consumers' concurrent polls may finish in either order: no anomaly between them.
    expectOnly(check(new History().hw(0, 7, 101).hw(0, 5, 102).hw(0, 8, 101).hw(0, 9).ops, STRICT))
    const own = expectOnly(check(new History().hw(0, 7, 101).hw(0, 6, 101).ops, STRICT), 'hw-regression')
    assert.deepEqual(own[0]!.offsets, [7, 6])
    const final = expectOnly(check(new History().hw(0, 7, 101).hw(0, 6).ops, STRICT), 'hw-regression')
    assert.deepEqual(final[0]!.offsets, [7, 6])
  })
})

describe('check: indeterminate sends', () => {
  it('an indeterminate send that appears once is fine', () => {
    const h = new History().invokeSend(1, 'x').completeSend(1, 'x', 'info').final(0, ['x'])
    const result = check(h.ops, STRICT)
    expectOnly(result)
    assert.equal(result.stats.indeterminate, 1)
  })

  it('an indeterminate send that never appears is neither lost nor unseen', () => {
    const h = new History()
      .send(1, 'a', 0, 0)
      .invokeSend(1, 'x')
      .completeSend(1, 'x', 'info')
      .invokeSend(2, 'never-completed')
      .send(1, 'b', 0, 1)
      .final(0, ['a', 'b'])
    const result = check(h.ops, STRICT)
    expectOnly(result)
    assert.equal(result.stats.indeterminate, 2)
  })

  it('an indeterminate send that appears twice is a duplicate', () => {
    const h = new History().invokeSend(1, 'x').completeSend(1, 'x', 'info').final(0, ['x', 'x'])
    const [a] = expectOnly(check(h.ops, STRICT), 'duplicate')
    assert.equal(a!.value, 'x')
  })
})

describe('check: what each mode forbids', () => {
  const lossAndDuplicate = () =>
    new History()
      .send(1, 'a', 0, 0)
      .send(1, 'b', 0, 1)
      .send(1, 'c', 0, 2)
      .send(1, 'd', 1, 0)
      .final(0, [
        [0, 'a'],
        [2, 'c'],
      ])
      .final(1, ['d', 'd'])

  it('acks=1 allows lost writes but not duplicates (idempotent producer)', () => {
    const result = check(lossAndDuplicate().ops, { acks: '1', idempotence: true })
    assert.equal(result.counts['lost-middle'], 1)
    assert.equal(result.counts['lost-write'], 1)
    assert.equal(result.counts.duplicate, 1)
    assert.deepEqual(result.forbidden, ['duplicate'])
    assert.equal(result.ok, false)
  })

  it('acks=1 allows unseen writes and a lost write alone passes', () => {
    const h = new History()
      .send(1, 'a', 0, 0)
      .send(1, 'b', 0, 1)
      .send(1, 'c', 0, 2)
      .final(0, [
        [0, 'a'],
        [2, 'c'],
      ])
    h.send(1, 'z', 0, 3)
    const result = check(h.ops, { acks: '1', idempotence: false })
    assert.deepEqual(
      result.anomalies.map((a) => a.name),
      ['lost-middle', 'unseen'],
    )
    assert.equal(result.ok, true)
  })

  it('acks=1 still forbids inconsistent offsets, aborted reads and poll anomalies', () => {
    const h = new History()
      .invokeSend(1, 'a')
      .completeSend(1, 'a', 'fail')
      .send(1, 'b', 1, 0)
      .send(1, 'c', 1, 1)
      .invokeSend(2, 'x')
      .completeSend(2, 'x', 'info')
      .poll(100, [[1, 1, 'c']])
      .poll(100, [[1, 1, 'x']])
      .final(0, ['a'])
      .final(1, ['b', 'c'])
      .hw(1, 2)
      .hw(1, 1)
    const result = check(h.ops, { acks: '1', idempotence: false })
    assert.deepEqual(result.forbidden, [
      'inconsistent-offsets',
      'nonmonotonic-poll',
      'aborted-read',
      'hw-regression',
    ])
  })

  it('duplicates are allowed without idempotence, losses are not under acks=all', () => {
    const result = check(lossAndDuplicate().ops, { acks: 'all', idempotence: false })
    assert.equal(result.counts.duplicate, 1)
    assert.deepEqual(result.forbidden, ['lost-write', 'lost-middle'])
    const dupOnly = new History().send(1, 'd', 1, 0).final(1, ['d', 'd'])
    const clean = check(dupOnly.ops, { acks: 'all', idempotence: false })
    assert.equal(clean.counts.duplicate, 1)
    assert.equal(clean.ok, true)
  })
})

describe('parseHistory', () => {
  it('round-trips a history', () => {
    const h = new History()
      .send(1, 'a', 0, 0)
      .invokePoll(100, 0)
      .completePoll(100, [[0, 0, 'a']])
      .final(0, ['a'])
      .hw(0, 1)
    const jsonl = `${h.ops.map((op) => JSON.stringify(op)).join('\n')}\n\n`
    assert.deepEqual(parseHistory(jsonl), JSON.parse(JSON.stringify(h.ops)))
  })

  it('names the line of a bad op', () => {
    const good = JSON.stringify({ process: 1, type: 'invoke', f: 'send', time: 0, key: 'k', value: 'a' })
    assert.throws(() => parseHistory(`${good}\n{oops`), /history line 2: invalid JSON/)
    assert.throws(
      () =>
        parseHistory(
          `${good}\n\n${JSON.stringify({ process: 1, type: 'ok', f: 'send', time: 1, key: 'k' })}`,
        ),
      /history line 3: "value" must be a string/,
    )
    assert.throws(
      () =>
        parseHistory(
          JSON.stringify({
            process: 0,
            type: 'ok',
            f: 'final-read',
            time: 1,
            partition: 0,
            reads: [{ offset: -1, value: 'a' }],
          }),
        ),
      /history line 1: reads\[0\] must be \{ offset, value \}/,
    )
    assert.throws(
      () => parseHistory(JSON.stringify({ process: 0, type: 'ok', f: 'scan', time: 1 })),
      /unknown "f"/,
    )
    assert.throws(
      () =>
        parseHistory(
          JSON.stringify({ process: 0, type: 'info', f: 'hw', time: 1, partition: 0, highWatermark: 1 }),
        ),
      /"type" must be "ok"/,
    )
  })
})

// ---- property: a correct log model never shows an anomaly; one mutated read always does ----

/** mulberry32: small, seeded, good enough to drive a model. */
function rng(seed: number): (n: number) => number {
  let a = seed >>> 0
  return (n) => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n)
  }
}

interface InFlightSend {
  value: string
  partition: number
  outcome: 'ok' | 'fail' | 'info'
}

/**
 * Producers pipeline up to 3 sends (completed in order, as an idempotent producer does), each
 * acknowledged, failed or indeterminate (which may or may not append); consumers own the partitions
 * p % consumers and poll a few records from each, sometimes seeking, sometimes timing out.
 */
function modelHistory(seed: number, steps: number): Op[] {
  const random = rng(seed)
  const partitions = 1 + random(4)
  const producerCount = 1 + random(3)
  const consumerCount = 1 + random(3)
  const log: string[][] = Array.from({ length: partitions }, () => [])
  const ops: Op[] = []
  let time = 0
  const producers = Array.from({ length: producerCount }, () => ({ inFlight: [] as InFlightSend[], sent: 0 }))
  const consumers = Array.from({ length: consumerCount }, (_, c) => ({
    mine: log.map((_, p) => p).filter((p) => p % consumerCount === c),
    position: new Map<number, number>(),
    polling: false,
  }))

  for (let step = 0; step < steps; step++) {
    const who = random(producerCount + consumerCount + 1)
    if (who < producerCount) {
      const process = who + 1
      const producer = producers[who]!
      if (producer.inFlight.length < 3 && (producer.inFlight.length === 0 || random(2) === 0)) {
        const value = `p${process}-${producer.sent++}`
        const roll = random(20)
        const outcome = roll < 15 ? 'ok' : roll < 17 ? 'fail' : 'info'
        producer.inFlight.push({ value, partition: random(partitions), outcome })
        ops.push({ process, type: 'invoke', f: 'send', time: time++, key: 'k', value })
      } else {
        const { value, partition, outcome } = producer.inFlight.shift()!
        const partitionLog = log[partition]!
        if (outcome === 'ok') {
          ops.push({
            process,
            type: 'ok',
            f: 'send',
            time: time++,
            key: 'k',
            value,
            partition,
            offset: partitionLog.length,
          })
          partitionLog.push(value)
        } else {
          if (outcome === 'info' && random(2) === 0) partitionLog.push(value)
          ops.push({ process, type: outcome, f: 'send', time: time++, key: 'k', value, error: 'TIMEOUT' })
        }
      }
    } else if (who < producerCount + consumerCount) {
      const process = 100 + who - producerCount
      const consumer = consumers[who - producerCount]!
      if (!consumer.polling) {
        consumer.polling = true
        const op: PollOp = { process, type: 'invoke', f: 'poll', time: time++ }
        if (random(20) === 0 && consumer.mine.length > 0) {
          const partition = consumer.mine[random(consumer.mine.length)]!
          op.seek = random(log[partition]!.length + 1)
          consumer.position.set(partition, op.seek)
        }
        ops.push(op)
        continue
      }
      consumer.polling = false
      const timedOut = random(20) === 0
      const reads: { partition: number; offset: number; value: string }[] = []
      for (const partition of consumer.mine) {
        const from = consumer.position.get(partition) ?? 0
        const records = log[partition]!.slice(from, from + random(4))
        records.forEach((value, i) => {
          reads.push({ partition, offset: from + i, value })
        })
        consumer.position.set(partition, from + records.length)
      }
      // A timed-out poll consumed records nobody saw.
      ops.push(
        timedOut
          ? { process, type: 'info', f: 'poll', time: time++, error: 'TIMEOUT' }
          : { process, type: 'ok', f: 'poll', time: time++, reads },
      )
    } else {
      const partition = random(partitions)
      ops.push({
        process: 0,
        type: 'ok',
        f: 'hw',
        time: time++,
        partition,
        highWatermark: log[partition]!.length,
      })
    }
  }
  // Sends still in flight stay without completion (indeterminate); some took effect.
  for (const producer of producers) {
    for (const { value, partition } of producer.inFlight) if (random(2) === 0) log[partition]!.push(value)
  }
  log.forEach((values, partition) => {
    const reads = values.map((value, offset) => ({ offset, value }))
    ops.push({ process: 0, type: 'ok', f: 'final-read', time: time++, partition, reads })
  })
  return ops
}

const clone = (ops: Op[]): Op[] => structuredClone(ops)
const finals = (ops: Op[]) => ops.filter((op): op is FinalReadOp => op.f === 'final-read')
const ackedValues = (ops: Op[]) =>
  new Set(ops.flatMap((op) => (op.f === 'send' && op.type === 'ok' ? [op.value] : [])))

const seedArb = fc.integer({ min: 0, max: 0x7fffffff })

function withSeed(seed: number, body: () => void): void {
  try {
    body()
  } catch (err) {
    console.error(`failing seed: ${seed} (replay: modelHistory(${seed}, ...))`)
    throw err
  }
}

describe('check: property over a correct log model', () => {
  it('histories from a correct log are clean', () => {
    fc.assert(
      fc.property(seedArb, fc.integer({ min: 10, max: 400 }), (seed, steps) =>
        withSeed(seed, () => {
          const result = check(modelHistory(seed, steps), STRICT)
          assert.deepEqual(result.anomalies, [], `seed ${seed}`)
          assert.equal(result.ok, true)
        }),
      ),
      { numRuns: 300 },
    )
  })

  it('dropping an acknowledged value from every read is a lost write', () => {
    let applied = 0
    fc.assert(
      fc.property(seedArb, (seed) =>
        withSeed(seed, () => {
          const ops = clone(modelHistory(seed, 300))
          const acked = ackedValues(ops)
          const target = finals(ops).find((f) => f.reads.slice(0, -1).some((r) => acked.has(r.value)))
          if (target === undefined) return
          const dropped = target.reads.slice(0, -1).find((r) => acked.has(r.value))!
          target.reads = target.reads.filter((r) => r.value !== dropped.value)
          for (const op of ops)
            if (op.f === 'poll' && op.reads) op.reads = op.reads.filter((r) => r.value !== dropped.value)
          applied++
          const result = check(ops, STRICT)
          const lost = result.anomalies.find((a) => a.value === dropped.value)
          assert.ok(lost?.name.startsWith('lost-'), `seed ${seed}: ${JSON.stringify(result.anomalies)}`)
          assert.equal(lost?.partition, target.partition)
          assert.ok(result.counts['lost-write'] >= 1)
          assert.equal(result.ok, false)
        }),
      ),
      { numRuns: 100 },
    )
    assert.ok(applied > 50, `mutation applied in only ${applied} runs`)
  })

  it('dropping a value from the middle of one poll is a poll-skip', () => {
    let applied = 0
    fc.assert(
      fc.property(seedArb, (seed) =>
        withSeed(seed, () => {
          const ops = clone(modelHistory(seed, 300))
          const polls = ops.filter((op): op is PollOp => op.f === 'poll' && op.type === 'ok')
          const target = polls.find((p) => {
            const [a, , c] = p.reads ?? []
            return a !== undefined && c !== undefined && a.partition === c.partition
          })
          if (target === undefined) return
          const [before, , after] = target.reads!
          target.reads!.splice(1, 1)
          applied++
          const result = check(ops, STRICT)
          const skip = result.anomalies.find((a) => a.name === 'poll-skip')
          assert.ok(skip, `seed ${seed}: ${JSON.stringify(result.anomalies)}`)
          assert.equal(skip.partition, before!.partition)
          assert.deepEqual(skip.offsets, [before!.offset, after!.offset])
        }),
      ),
      { numRuns: 100 },
    )
    assert.ok(applied > 50, `mutation applied in only ${applied} runs`)
  })

  it('duplicating a value in a read is a duplicate', () => {
    let applied = 0
    fc.assert(
      fc.property(seedArb, fc.nat(), (seed, pick) =>
        withSeed(seed, () => {
          const ops = clone(modelHistory(seed, 300))
          const target = finals(ops).find((f) => f.reads.length > 0)
          if (target === undefined) return
          const copied = target.reads[pick % target.reads.length]!
          target.reads.push({ offset: target.reads.length, value: copied.value })
          applied++
          const result = check(ops, STRICT)
          const dup = result.anomalies.find((a) => a.name === 'duplicate')
          assert.ok(dup, `seed ${seed}: ${JSON.stringify(result.anomalies)}`)
          assert.equal(dup.value, copied.value)
          assert.equal(dup.partition, target.partition)
          assert.deepEqual(result.forbidden, ['duplicate'])
        }),
      ),
      { numRuns: 100 },
    )
    assert.ok(applied > 50, `mutation applied in only ${applied} runs`)
  })

  it('swapping the values at two offsets of a read is inconsistent-offsets', () => {
    let applied = 0
    fc.assert(
      fc.property(seedArb, (seed) =>
        withSeed(seed, () => {
          const ops = clone(modelHistory(seed, 300))
          const acked = ackedValues(ops)
          const target = finals(ops).find((f) => f.reads.filter((r) => acked.has(r.value)).length >= 2)
          if (target === undefined) return
          const [i, j] = target.reads.flatMap((r, k) => (acked.has(r.value) ? [k] : []))
          const a = target.reads[i!]!
          const b = target.reads[j!]!
          ;[a.value, b.value] = [b.value, a.value]
          applied++
          const result = check(ops, STRICT)
          const hits = result.anomalies.filter((x) => x.name === 'inconsistent-offsets')
          assert.deepEqual(
            hits.map((x) => [x.partition, x.offsets]),
            [
              [target.partition, [a.offset]],
              [target.partition, [b.offset]],
            ],
            `seed ${seed}: ${JSON.stringify(result.anomalies)}`,
          )
        }),
      ),
      { numRuns: 100 },
    )
    assert.ok(applied > 50, `mutation applied in only ${applied} runs`)
  })

  it('checks a history of 300k ops in well under a few seconds', () => {
    const ops = modelHistory(42, 300_000)
    const started = performance.now()
    const result = check(ops, STRICT)
    const elapsedMs = performance.now() - started
    assert.deepEqual(result.anomalies, [])
    assert.ok(elapsedMs < 5000, `check took ${Math.round(elapsedMs)} ms`)
    assert.ok(result.stats.polls > 10_000 && result.stats.valuesRead > 100_000, JSON.stringify(result.stats))
  })
})
