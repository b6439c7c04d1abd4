/**
 * scripts/trace-hops.mjs and scripts/trace-report.mjs: following each write through the bench and
 * its three nodes. The report is checked against a trace whose answer is known (the slow writes
 * wait on their leader's flush), then against a real, brief bench run: every process leaves a
 * trace, and every hop of a write is found in them.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { BIN } from './helpers.js'

const RUN_MS_MAX = 90_000
const HOPS = fileURLToPath(new URL('../../../scripts/trace-hops.mjs', import.meta.url))
const REPORT = fileURLToPath(new URL('../../../scripts/trace-report.mjs', import.meta.url))

interface Summary {
  count: number
  mean: number
  p50: number
  p99: number
}
interface Breakdown {
  total: Summary
  parts: Record<string, { all: Summary; slowest: Summary }>
}
interface Report {
  processes: string[]
  requests: Breakdown
  proposals: Breakdown
  flushes: Breakdown
  gc: { process: string; count: number }[]
}

const dirs: string[] = []
after(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'cairn-trace-test-'))
  dirs.push(d)
  return d
}

function report(dir: string, ...args: string[]): Report {
  const r = spawnSync(process.execPath, [REPORT, dir, '--json', ...args], {
    encoding: 'utf8',
    timeout: RUN_MS_MAX,
  })
  assert.equal(r.status, 0, r.stderr)
  return JSON.parse(r.stdout) as Report
}

const near = (actual: number, expected: number, what: string) =>
  assert.ok(Math.abs(actual - expected) < 0.01, `${what}: ${actual}, expected ${expected}`)

/** Each [part, over which rows, which figure, expected ms] of a breakdown, within 0.01. */
function expectParts(b: Breakdown, expected: [string, 'all' | 'slowest', 'mean' | 'p50', number][]): void {
  for (const [part, rows, figure, value] of expected) {
    const summary = b.parts[part]?.[rows]
    assert.ok(summary !== undefined, `no part '${part}' in the report`)
    near(summary[figure], value, `${part}, ${rows} ${figure}`)
  }
}

/**
 * 100 writes of group 7, led by node 1, 10 ms apart. Each is proposed at t; the leader's flush
 * lands at t + 1.1; node 2 receives it at t + 0.3, has it durable at t + 1.3, and its ack reaches
 * the leader at t + 1.6; node 3 at t + 0.5, 1.8, 2.2. Every 20th write's leader batch waits 8 ms
 * for the batch before it (the next write comes after: batches are durable in order), and node 3
 * is as late: the quorum (leader and node 2) is then the leader's flush, at t + 9.1.
 */
function syntheticTrace(dir: string): void {
  const client: string[] = ['P 100 /x/cli/dist/bin.js_bench_produce']
  const nodes: string[][] = [1, 2, 3].map((id) => [`P ${100 + id} /x/cli/dist/bin.js_node_start_--id_${id}`])
  const [leader, n2, n3] = nodes as [string[], string[], string[]]
  const base = 1_800_000_000_000
  for (let k = 1; k <= 100; k++) {
    const t = base + 10 * k
    const slow = k % 20 === 0
    const wait = slow ? 8 : 0
    const at = (ms: number) => (t + ms).toFixed(3)
    const answered = slow ? 9.3 : 1.8
    client.push(`C sent 5000 ${k} produce ${at(-0.5)}`, `C answered 5000 ${k} produce ${at(answered + 0.3)}`)
    leader.push(`S received 5000 ${k} produce ${at(-0.2)}`)
    leader.push(`R proposed 7 ${k} 0 ${at(0)}`)
    leader.push(`B ${k} 2048 0 ${at(0.1)} ${at(0.1 + wait)} ${at(0.1 + wait)} ${at(1 + wait)}`)
    leader.push(`R durable 7 ${k} 0 ${at(1.1 + wait)}`)
    n2.push(`R appended 7 ${k} 0 ${at(0.3)}`, `R durable 7 ${k} 0 ${at(1.3)}`)
    n3.push(`R appended 7 ${k} 0 ${at(0.5)}`, `R durable 7 ${k} 0 ${at(1.8 + wait)}`)
    leader.push(`R acked 7 ${k} 2 ${at(1.6)}`, `R acked 7 ${k} 3 ${at(2.2 + wait)}`)
    const committed = slow ? 9.2 : 1.7
    leader.push(`R committed 7 ${k} 0 ${at(committed)}`, `R answered 7 ${k} 0 ${at(answered)}`)
    leader.push(`S answered 5000 ${k} produce ${at(answered + 0.1)}`)
  }
  leader.push(`G 1 ${(base + 500).toFixed(3)} 4.000`)
  writeFileSync(join(dir, '100.trace'), `${client.join('\n')}\n`)
  for (const [k, lines] of nodes.entries())
    writeFileSync(join(dir, `${101 + k}.trace`), `${lines.join('\n')}\n`)
}

describe('tracing each write hop by hop', () => {
  it('trace-report: the slowest writes of a known trace are put down to their leader flush’s wait', () => {
    const dir = tempDir()
    syntheticTrace(dir)
    const r = report(dir, '--skip-ms', '0', '--slowest', '0.05')
    assert.deepEqual(r.processes, ['bench (100)', 'node 1', 'node 2', 'node 3'])
    assert.equal(r.requests.total.count, 100)
    assert.equal(r.proposals.total.count, 100)
    near(r.proposals.total.p50, 1.8, 'proposed → answered, median')
    near(r.proposals.total.p99, 9.3, 'proposed → answered, p99')
    expectParts(r.requests, [
      ['client → node', 'all', 'p50', 0.3],
      ['node: received → answered', 'slowest', 'mean', 9.6],
      ['node: received → answered', 'all', 'p50', 2.1],
      ['node → client', 'all', 'p50', 0.2],
    ])
    expectParts(r.proposals, [
      ["leader's flush", 'all', 'p50', 1.1],
      ["leader's flush", 'slowest', 'mean', 9.1],
      // The first follower to acknowledge is node 2, in every write.
      ['first follower: proposed → received', 'slowest', 'mean', 0.3],
      ['first follower: received → durable', 'slowest', 'mean', 1.0],
      ['first follower: durable → ack at leader', 'slowest', 'mean', 0.3],
      ['second follower: received → durable', 'slowest', 'mean', 9.3],
      // The quorum is the leader and node 2: durable at 1.6 (node 2's ack), or 9.1 (the leader's flush).
      ['quorum durable → committed', 'all', 'p50', 0.1],
      ['quorum durable → committed', 'slowest', 'mean', 0.1],
      ['committed → answered', 'all', 'p50', 0.1],
    ])
    expectParts(r.flushes, [
      ['waiting for the batch in flight', 'slowest', 'mean', 8],
      ['waiting for the batch in flight', 'all', 'p50', 0],
      ['proposed → flush asked', 'all', 'p50', 0.1],
      ['LevelDB batch written with sync', 'all', 'p50', 0.9],
      ['durable → Raft told', 'all', 'p50', 0.1],
      ['batch KiB', 'all', 'p50', 2],
    ])
    assert.deepEqual(
      r.gc.map((g) => [g.process, g.count]),
      [
        ['bench (100)', 0],
        ['node 1', 1],
        ['node 2', 0],
        ['node 3', 0],
      ],
    )
  })

  it('trace-report: no traces, or a bad option, is one clear line and exit 1', () => {
    const empty = spawnSync(process.execPath, [REPORT, tempDir()], { encoding: 'utf8', timeout: RUN_MS_MAX })
    assert.equal(empty.status, 1)
    assert.match(empty.stderr, /^trace-report: no \.trace files in .* \(was CAIRN_TRACE_DIR set to it\?\)\n$/)
    const bad = spawnSync(process.execPath, [REPORT, tempDir(), '--slowest', '2'], {
      encoding: 'utf8',
      timeout: RUN_MS_MAX,
    })
    assert.equal(bad.status, 1)
    assert.match(bad.stderr, /^trace-report: --slowest must be between 0 and 1, got 2\n/)
  })

  it('a real bench run: the bench and its three nodes publish every hop of every write', () => {
    const dir = tempDir()
    const run = spawnSync(
      process.execPath,
      [BIN, 'bench', 'produce', '--partitions', '4', '--rate', '1000', '--records', '2000', '--json'],
      {
        encoding: 'utf8',
        timeout: RUN_MS_MAX,
        env: { ...process.env, CAIRN_TRACE_DIR: dir, NODE_OPTIONS: `--import ${HOPS}` },
      },
    )
    assert.equal(run.status, 0, run.stderr)
    const r = report(dir, '--skip-ms', '0')
    for (const name of ['node 1', 'node 2', 'node 3'])
      assert.ok(r.processes.includes(name), r.processes.join())
    assert.ok(
      r.processes.some((p) => p.startsWith('bench (')),
      r.processes.join(),
    )
    // 2,000 records at 1,000 a second: a request about every millisecond, each found on both ends.
    assert.ok(r.requests.total.count >= 200, `${r.requests.total.count} requests`)
    assert.ok(r.proposals.total.count >= 200, `${r.proposals.total.count} proposals`)
    // A commit needs the leader's flush and one follower's ack: every proposal has them.
    for (const part of [
      "leader's flush",
      'first follower: received → durable',
      'first follower: durable → ack at leader',
      'quorum durable → committed',
    ])
      assert.equal(r.proposals.parts[part]?.all.count, r.proposals.total.count, part)
    // The second follower's ack may come after the nodes stopped, for the last few.
    const second = r.proposals.parts['second follower: durable → ack at leader']?.all.count ?? 0
    assert.ok(second >= 0.9 * r.proposals.total.count, `${second} second acks`)
    const flushes = r.flushes.parts['LevelDB batch written with sync']
    assert.ok(flushes !== undefined && flushes.all.count > 0.9 * r.proposals.total.count, 'batches found')
    assert.ok(r.requests.total.p50 > 0 && r.proposals.total.p50 > 0)
  })
})
