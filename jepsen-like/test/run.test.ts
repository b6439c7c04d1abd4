/**
 * Short real runs in CI, one per kind of fault: three (or five) node processes, acks=all with
 * idempotence, a schedule drawn from the seed. The checker must find nothing forbidden, and each
 * run must leave its history, schedule, results and report behind. (Longer runs, `--time 3600`,
 * are for by hand; see the README.)
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it, type TestContext } from 'node:test'
import { parseHistory } from '../src/history.js'
import type { Nemesis } from '../src/nemesis.js'
import { type RunOptions, run } from '../src/runner.js'

const root = mkdtempSync(join(tmpdir(), 'cairn-jepsen-'))
after(() => rmSync(root, { recursive: true, force: true }))
const SEED = Number(process.env.SEED ?? Date.now() % 1_000_000)

async function cleanRun(t: TestContext, nemesis: Nemesis[], extra: Partial<RunOptions> = {}) {
  const out = join(root, nemesis.join('-'))
  t.diagnostic(
    `seed ${SEED} (replay: SEED=${SEED} or npm run jepsen -- run --seed ${SEED} --nemesis ${nemesis.join(',')})`,
  )
  const result = await run({
    nodes: 3,
    timeS: 25,
    rate: 200,
    nemesis,
    acks: 'all',
    idempotence: true,
    partitions: 4,
    seed: SEED,
    out,
    ...extra,
  })
  t.diagnostic(result.summary)
  assert.match(
    result.summary,
    /^ops: \d+, ok: \d+, failed: \d+, indeterminate: \d+, anomalies: \d+.*, report: .*index\.html$/,
  )
  assert.deepEqual(
    result.check.forbidden,
    [],
    `seed ${SEED}: ${JSON.stringify(result.check.anomalies.slice(0, 5))}`,
  )
  assert.ok(result.check.stats.ok > 1000, `seed ${SEED}: too few acknowledged sends to mean anything`)
  for (const file of ['history.jsonl', 'schedule.json', 'results.json', 'index.html'])
    assert.ok(existsSync(join(out, file)), file)
  const ops = parseHistory(readFileSync(join(out, 'history.jsonl'), 'utf8'))
  assert.equal(ops.length, result.history.length, 'the history file holds every operation')
  assert.ok(result.applied.length >= 4, `the nemesis did something: ${result.applied.length} events`)
  const failed = result.applied.filter((a) => a.note && /refused|failed/.test(a.note))
  assert.deepEqual(failed, [], 'every nemesis event was carried out')
  return result
}

describe('jepsen-like runs', () => {
  it('kill and pause (leaders, the controller, minorities), every record in the data files', async (t) => {
    // inlineDataBytesMax 0: every batch's data goes to the log store's data files (written and
    // fdatasynced before the rows that point at it), so the kills land on that path too.
    await cleanRun(t, ['kill', 'pause'], { inlineDataBytesMax: 0 })
  })

  it('partition (isolate, halves, ring, one-way, slow links)', async (t) => {
    await cleanRun(t, ['partition'])
  })

  it('clock (skew and strobe)', async (t) => {
    await cleanRun(t, ['clock'])
  })

  it('membership (move replicas, decommission and recommission nodes; 5 nodes)', async (t) => {
    const result = await cleanRun(t, ['membership'], { nodes: 5 })
    const moved = result.applied.filter((a) => a.action === 'move-replica' && a.note?.includes('→'))
    const decommissioned = result.applied.filter((a) => a.action === 'decommission')
    assert.ok(moved.length + decommissioned.length >= 2, 'replicas moved')
  })

  it('scenarios (KIP-101, KIP-966, pause-kill, partition-kill)', async (t) => {
    await cleanRun(t, ['kip-101', 'kip-966', 'pause-kill', 'partition-kill'], { timeS: 30 })
  })
})
