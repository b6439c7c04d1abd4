/**
 * A short real run in CI: three node processes, the kill nemesis, acks=all with idempotence.
 * The checker must find nothing forbidden, and the run must leave its history, schedule and
 * results behind. (Longer runs, `--time 3600`, are for by hand.)
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { parseHistory } from '../src/history.js'
import { run } from '../src/runner.js'

const out = mkdtempSync(join(tmpdir(), 'cairn-jepsen-'))
after(() => rmSync(out, { recursive: true, force: true }))

describe('jepsen-like run', () => {
  it('kills nodes under an acks=all workload and finds no forbidden anomaly', async (t) => {
    const seed = Number(process.env.SEED ?? Date.now() % 1_000_000)
    t.diagnostic(`seed ${seed}`)
    const result = await run({
      nodes: 3,
      timeS: 12,
      rate: 200,
      nemesis: ['kill', 'pause'],
      acks: 'all',
      idempotence: true,
      partitions: 4,
      seed,
      out,
    })
    t.diagnostic(result.summary)
    assert.match(result.summary, /^ops: \d+, ok: \d+, failed: \d+, indeterminate: \d+, anomalies: \d+/)
    assert.deepEqual(
      result.check.forbidden,
      [],
      `seed ${seed}: ${JSON.stringify(result.check.anomalies.slice(0, 5))}`,
    )
    assert.ok(result.check.stats.ok > 500, `seed ${seed}: too few acknowledged sends to mean anything`)
    for (const file of ['history.jsonl', 'schedule.json', 'results.json'])
      assert.ok(existsSync(join(out, file)), file)
    const ops = parseHistory(readFileSync(join(out, 'history.jsonl'), 'utf8'))
    assert.equal(ops.length, result.history.length, 'the history file holds every operation')
    const schedule = JSON.parse(readFileSync(join(out, 'schedule.json'), 'utf8'))
    assert.ok(schedule.schedule.length >= 2, 'the nemesis did something')
  })
})
