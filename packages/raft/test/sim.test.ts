/**
 * The deterministic simulation, run as a user runs it (the built CLI), and proof that its
 * checker can fail: each deliberate defect must be caught within 2,000 seeds.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'

const CLI = fileURLToPath(new URL('../dist/sim/cli.js', import.meta.url))
const SUMMARY = /^seeds: (\d+), violations: (\d+), virtual-seconds: ([\d.]+), wall-seconds: ([\d.]+)$/

function sim(args: string[], cwd = process.cwd(), timeoutMs = 400_000) {
  const r = spawnSync(process.execPath, [CLI, ...args], {
    cwd,
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 256 << 20,
  })
  const lines = r.stdout.trim().split('\n')
  const last = lines[lines.length - 1] ?? ''
  const m = SUMMARY.exec(last)
  if (!m)
    assert.fail(
      `no summary line from 'sim ${args.join(' ')}':\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-3000)}`,
    )
  return { status: r.status, stdout: r.stdout, seeds: Number(m[1]), violations: Number(m[2]) }
}

describe('simulation', () => {
  it('runs 2,000 seeds with no violation', () => {
    const r = sim(['--seeds', '2000', '--time-limit-s', '300'])
    assert.equal(r.violations, 0, r.stdout.slice(-4000))
    assert.equal(r.seeds, 2000, 'all 2,000 seeds ran within the time limit')
    assert.equal(r.status, 0)
  })

  for (const bug of [
    'commit-old-term',
    'vote-before-persist',
    'ack-before-fsync',
    'ignore-peer-down',
    'apply-config-early',
  ]) {
    it(`catches the ${bug} defect within 2,000 seeds`, () => {
      const r = sim(['--seeds', '2000', '--bug', bug, '--no-shrink'])
      assert.ok(r.violations >= 1, `no violation found with --bug ${bug}`)
      assert.equal(r.status, 1, 'a violation makes the exit code non-zero')
      assert.match(r.stdout, /seed \d+ violates an invariant/)
      assert.match(r.stdout, /violation: [a-z-]+ at/)
    })
  }

  it('shrinks a failing schedule and replays it with one command', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-sim-'))
    const found = sim(['--seeds', '2000', '--bug', 'commit-old-term'], dir)
    assert.equal(found.status, 1)
    const replay = /replay: npm run sim -- (.+)$/m.exec(found.stdout)
    assert.ok(replay, 'the failure prints its replay command')
    assert.ok(
      readdirSync(dir).some((f) => f.endsWith('.schedule.json')),
      'the shrunk schedule is written',
    )
    const args = replay[1]!.split(' ')
    const again = sim(args, dir)
    assert.equal(again.status, 1, 'the replay fails the same way')
    assert.match(again.stdout, /VIOLATION/)
  })

  it('replays a seed identically', () => {
    const strip = (s: string) => s.replace(/wall-seconds: [\d.]+/, '')
    const a = sim(['--seed', '7', '--replay'])
    const b = sim(['--seed', '7', '--replay'])
    assert.equal(strip(a.stdout), strip(b.stdout))
    assert.ok(a.stdout.split('\n').length > 100, 'the transcript has a line per event')
  })
})
