/**
 * The HTML report: small hand-written histories whose figures can be counted by hand, an anomalous
 * one whose examples must show, hostile strings that must come out escaped, and a 100k-op history
 * that must render in seconds.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { type CheckOptions, check } from '../src/checker.js'
import type { Op } from '../src/history.js'
import {
  type NemesisWindow,
  type ReportInput,
  renderReport,
  reportFigures,
  writeReport,
} from '../src/report.js'

const STRICT: CheckOptions = { acks: 'all', idempotence: true }
const OPTIONS = { nodes: 3, timeS: 3, rate: 10, nemesis: ['kill'], acks: 'all', idempotence: true, seed: 7 }

/** Asserts `html` contains `part`, without dumping a 100 kB document on failure. */
function contains(html: string, part: string | RegExp, what = ''): void {
  const found = typeof part === 'string' ? html.includes(part) : part.test(html)
  assert.ok(found, `expected the report to contain ${String(part)} ${what}`)
}

function input(
  ops: Op[],
  nemesis: NemesisWindow[] = [],
  options: Record<string, unknown> = OPTIONS,
): ReportInput {
  const result = check(ops, STRICT)
  return { summary: `ops: ${result.stats.sends}, the summary line`, options, ops, nemesis, check: result }
}

/**
 * Two sends of process 1 in flight at once (v2 and v5, completed out of order), an indeterminate
 * send, a poll, a send never completed, and the final phase; times in ms.
 */
const TINY: Op[] = [
  { process: 1, type: 'invoke', f: 'send', time: 100, key: 'k', value: 'p1-1' },
  { process: 100, type: 'invoke', f: 'poll', time: 200 },
  { process: 1, type: 'ok', f: 'send', time: 300, key: 'k', value: 'p1-1', partition: 0, offset: 0 },
  { process: 100, type: 'ok', f: 'poll', time: 1200, reads: [{ partition: 0, offset: 0, value: 'p1-1' }] },
  { process: 1, type: 'invoke', f: 'send', time: 1500, key: 'k', value: 'p1-2' },
  { process: 1, type: 'invoke', f: 'send', time: 1550, key: 'k', value: 'p1-5' },
  { process: 2, type: 'invoke', f: 'send', time: 1600, key: 'k', value: 'p2-3' },
  { process: 1, type: 'ok', f: 'send', time: 1700, key: 'k', value: 'p1-5', partition: 0, offset: 1 },
  { process: 2, type: 'info', f: 'send', time: 2100, key: 'k', value: 'p2-3', error: 'TIMEOUT' },
  { process: 1, type: 'fail', f: 'send', time: 2500, key: 'k', value: 'p1-2', error: 'NOT_LEADER' },
  { process: 1, type: 'invoke', f: 'send', time: 2600, key: 'k', value: 'p1-6' },
  { process: 0, type: 'ok', f: 'hw', time: 9000, partition: 0, highWatermark: 2 },
  {
    process: 0,
    type: 'ok',
    f: 'final-read',
    time: 9100,
    partition: 0,
    reads: [
      { offset: 0, value: 'p1-1' },
      { offset: 1, value: 'p1-5' },
    ],
  },
]

const WINDOWS: NemesisWindow[] = [
  { start: 500, end: 1400, label: 'kill node 2' },
  { start: 1800, end: 2400, label: 'pause node 3' },
]

/** Three acknowledged sends; the final read skips the middle one: a lost write (lost-middle). */
function lostWrite(): Op[] {
  const ops: Op[] = []
  ;['p1-0', 'p1-1', 'p1-2'].forEach((value, offset) => {
    ops.push({ process: 1, type: 'invoke', f: 'send', time: offset * 10, key: 'k', value })
    ops.push({
      process: 1,
      type: 'ok',
      f: 'send',
      time: offset * 10 + 5,
      key: 'k',
      value,
      partition: 0,
      offset,
    })
  })
  const reads = [
    { offset: 0, value: 'p1-0' },
    { offset: 2, value: 'p1-2' },
  ]
  ops.push({ process: 0, type: 'ok', f: 'final-read', time: 100, partition: 0, reads })
  return ops
}

function mulberry32(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * 4 producers with sends in flight concurrently and 2 consumers over `seconds` s: about 1% of sends
 * fail and 1% are indeterminate, latencies spike inside the nemesis windows. Acknowledged sends are
 * never read, so every one is an `unseen` anomaly: a large list the examples must cut short.
 */
function synthetic(opsTarget: number, seconds: number, windows: NemesisWindow[]): Op[] {
  const random = mulberry32(42)
  const events: Op[] = []
  const inWindow = (t: number) => windows.some((w) => t >= w.start && t < w.end)
  const durationMs = seconds * 1000
  const polls = Math.floor(opsTarget / 10)
  const sends = Math.floor((opsTarget - polls) / 2)
  for (let n = 0; n < sends; n++) {
    const process = 1 + (n % 4)
    const value = `p${process}-${n}`
    const time = Math.floor((n / sends) * durationMs)
    const latency = Math.floor(1 + random() * 20 + (inWindow(time) ? random() * 3000 : 0))
    const roll = random()
    const type = roll < 0.01 ? 'fail' : roll < 0.02 ? 'info' : 'ok'
    events.push({ process, type: 'invoke', f: 'send', time, key: 'k', value })
    events.push(
      type === 'ok'
        ? { process, type, f: 'send', time: time + latency, key: 'k', value, partition: n % 4, offset: n }
        : { process, type, f: 'send', time: time + latency, key: 'k', value, error: 'X' },
    )
  }
  for (let c = 0; c < 2; c++) {
    for (let n = 0, time = 0; n < polls / 4; n++) {
      const process = 100 + c
      const latency = Math.floor(1 + random() * 40)
      events.push({ process, type: 'invoke', f: 'poll', time })
      events.push({ process, type: 'ok', f: 'poll', time: time + latency, reads: [] })
      time += latency + 1
    }
  }
  // The history is in the order the harness observed ops: by time, invokes before completions.
  return events
    .map((op, i) => ({ op, i }))
    .sort((a, b) => a.op.time - b.op.time || a.i - b.i)
    .map(({ op }) => op)
}

describe('reportFigures', () => {
  it('counts completions per second and pairs sends by (process, value), polls by process', () => {
    const figures = reportFigures(input(TINY, WINDOWS))
    assert.deepEqual(figures.throughput, {
      bucketS: 1,
      durationS: 3,
      send: [
        { second: 0, ok: 1, fail: 0, info: 0 },
        { second: 1, ok: 1, fail: 0, info: 0 },
        { second: 2, ok: 0, fail: 1, info: 1 },
      ],
      poll: [
        { second: 0, ok: 0, fail: 0, info: 0 },
        { second: 1, ok: 1, fail: 0, info: 0 },
        { second: 2, ok: 0, fail: 0, info: 0 },
      ],
    })
    assert.deepEqual(figures.latency.points, [
      { f: 'send', type: 'ok', timeS: 0.1, latencyMs: 200 },
      { f: 'poll', type: 'ok', timeS: 0.2, latencyMs: 1000 },
      { f: 'send', type: 'ok', timeS: 1.55, latencyMs: 150 },
      { f: 'send', type: 'info', timeS: 1.6, latencyMs: 500 },
      { f: 'send', type: 'fail', timeS: 1.5, latencyMs: 1000 },
    ])
    assert.equal(figures.latency.completed, 5)
    assert.equal(figures.latency.pending, 1, 'p1-6 never completed')
    assert.equal(figures.latency.sampling, null)
    assert.deepEqual(figures.latency.quantiles.send, { count: 4, p50Ms: 200, p99Ms: 1000, maxMs: 1000 })
    assert.deepEqual(figures.latency.quantiles.poll, { count: 1, p50Ms: 1000, p99Ms: 1000, maxMs: 1000 })
    assert.deepEqual(JSON.parse(JSON.stringify(figures)), figures, 'JSON-friendly for results.json')
  })

  it('an empty history has no buckets and no points', () => {
    const figures = reportFigures(input([]))
    assert.equal(figures.throughput.durationS, 0)
    assert.deepEqual(figures.throughput.send, [])
    assert.deepEqual(figures.latency.points, [])
    assert.equal(figures.latency.quantiles.send, null)
  })
})

describe('renderReport', () => {
  it('shows the summary, PASS, both plots, the nemesis windows, options and stats', async () => {
    const html = await renderReport(input(TINY, WINDOWS))
    contains(html, /^<!doctype html>/)
    contains(html, 'ops: 5, the summary line')
    contains(html, '<p class="verdict pass">PASS</p>')
    assert.equal(html.match(/<svg/g)?.length, 2, 'a latency plot and a throughput plot')
    for (const label of ['kill node 2', 'pause node 3']) {
      contains(html, `<td>${label}</td>`, `${label} in the nemesis table`)
      contains(html, `>${label}</text>`, `${label} on the plots`)
    }
    contains(html, '<td><code>rate</code></td><td>10</td>', 'options table')
    contains(html, '<td><code>sends</code></td><td>5</td>', 'stats table')
    contains(html, 'invoke time (s)', 'latency axis')
    contains(html, 'completions / s', 'throughput axis')
    contains(html, '1 invokes never completed')
    assert.doesNotMatch(html, /<script|src="http|href="http/, 'self-contained, no script')
  })

  it('shows FAIL, the forbidden anomalies and their examples for a lost write', async () => {
    const html = await renderReport(input(lostWrite()))
    contains(html, 'FAIL: forbidden anomalies: lost-write, lost-middle')
    contains(
      html,
      /<tr class="bad"><td><a href="#anomaly-lost-middle">lost-middle<\/a><\/td><td>1<\/td><td>forbidden<\/td>/,
    )
    contains(html, '<tr><td>duplicate</td><td>0</td><td>forbidden</td></tr>')
    contains(html, '<h3 id="anomaly-lost-middle">')
    contains(html, '&quot;name&quot;: &quot;lost-middle&quot;', 'the example as escaped JSON')
    contains(html, '&quot;value&quot;: &quot;p1-1&quot;')
  })

  it('marks losses allowed with acks=1', async () => {
    const ops = lostWrite()
    const result = check(ops, { acks: '1', idempotence: false })
    const html = await renderReport({ summary: 's', options: { acks: '1' }, ops, nemesis: [], check: result })
    contains(html, '<p class="verdict pass">PASS</p>')
    contains(
      html,
      /<tr class="warn"><td><a href="#anomaly-lost-middle">lost-middle<\/a><\/td><td>1<\/td><td>allowed<\/td>/,
    )
    contains(html, /<td>duplicate<\/td><td>0<\/td><td>allowed<\/td>/)
  })

  it('escapes every user-derived string', async () => {
    const evil = '<script>alert("x")</script>'
    const ops: Op[] = [
      { process: 1, type: 'invoke', f: 'send', time: 0, key: 'k', value: evil },
      { process: 1, type: 'ok', f: 'send', time: 5, key: 'k', value: evil, partition: 0, offset: 0 },
      { process: 0, type: 'ok', f: 'final-read', time: 9, partition: 0, reads: [{ offset: 1, value: evil }] },
    ]
    const result = check(ops, STRICT)
    assert.ok(result.anomalies.length > 0, 'the evil value shows up in anomaly examples')
    const html = await renderReport({
      summary: `summary ${evil}`,
      options: { out: evil, progress: () => undefined, nested: { evil } },
      ops,
      nemesis: [{ start: 1, end: 4, label: evil }],
      check: result,
    })
    assert.doesNotMatch(html, /<script/)
    contains(html, 'summary &lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;')
    contains(html, '<td>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;</td>', 'nemesis table')
    assert.ok(!html.includes('progress'), 'functions are not options')
  })

  it('renders a 100k-op history in seconds, downsampled and said so', async (t) => {
    const windows = [
      { start: 20_000, end: 23_000, label: 'kill node 1' },
      { start: 40_000, end: 42_500, label: 'pause node 2' },
    ]
    const ops = synthetic(100_000, 60, windows)
    assert.ok(ops.length >= 99_000)
    const started = performance.now()
    const inp = input(ops, windows)
    const checked = performance.now()
    const html = await renderReport(inp)
    const figures = reportFigures(inp)
    const ms = performance.now() - started
    t.diagnostic(
      `check ${Math.round(checked - started)} ms, total ${Math.round(ms)} ms, ${html.length} chars`,
    )
    assert.ok(ms < 15_000, `took ${ms} ms`)

    const { latency, throughput } = figures
    assert.equal(latency.completed, ops.length / 2)
    assert.ok(latency.sampling !== null)
    assert.equal(latency.sampling.failInfoStride, 1, 'every fail and info kept')
    assert.ok(latency.points.length <= 20_000 && latency.points.length > 15_000, `${latency.points.length}`)
    const drawn = (type: string) => latency.points.filter((p) => p.type === type).length
    const sends = throughput.send.reduce((n, b) => n + b.fail + b.info, 0)
    assert.equal(drawn('fail') + drawn('info'), sends)
    const maxSend = latency.quantiles.send?.maxMs
    assert.ok(
      latency.points.some((p) => p.f === 'send' && p.latencyMs === maxSend),
      'the slowest survive sampling',
    )
    assert.equal(throughput.durationS, 61)
    contains(html, /Downsampled: [\d,]+ of 50,000 completions drawn/)
    contains(html, /showing 10 of [\d,]+<\/p>/, 'examples cut at 10')
    assert.equal(html.match(/<svg/g)?.length, 2)
  })
})

describe('writeReport', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cairn-report-'))
  after(() => rmSync(dir, { recursive: true, force: true }))

  it('writes index.html into the directory', async () => {
    const path = await writeReport(join(dir, 'run-1'), input(TINY, WINDOWS))
    assert.equal(path, join(dir, 'run-1', 'index.html'))
    const html = readFileSync(path, 'utf8')
    contains(html, /^<!doctype html>/)
    contains(html, 'PASS')
  })
})
