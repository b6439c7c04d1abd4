/**
 * The static report of a run, DIR/index.html: verdict, options, stats, anomaly counts with
 * examples, nemesis windows, and two plots — the latency of every completed operation and the
 * completions per second — drawn server-side (vega-lite → vega → SVG) and inlined. One file, no
 * script, nothing fetched: it opens anywhere, years later.
 *
 * Plots stay readable and fast on hour-long runs: past LATENCY_POINTS_MAX points the latency plot
 * keeps every fail and info, the slowest ok operations and every k-th of the other ok ones, and
 * says so under the plot. `reportFigures` is pure, so the runner can put the same numbers in
 * results.json.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import * as vega from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'
import {
  ANOMALY_NAMES,
  type Anomaly,
  type AnomalyName,
  type CheckOptions,
  type CheckResult,
  type CheckStats,
  isForbidden,
} from './checker.js'
import type { Op } from './history.js'

/** A fault window: ms since workload start, the clock of `Op.time`. */
export interface NemesisWindow {
  start: number
  end: number
  label: string
}

export interface ReportInput {
  /** the run's one-line summary */
  summary: string
  /** the run options (nodes, timeS, rate, nemesis, acks, idempotence, partitions, seed …) */
  options: Record<string, unknown>
  /** the whole history */
  ops: Op[]
  nemesis: NemesisWindow[]
  check: CheckResult
}

export type Outcome = 'ok' | 'fail' | 'info'
/** The workload's operations; `hw` and `final-read` are single observations with no latency. */
export type WorkloadF = 'send' | 'poll'

export interface LatencyPoint {
  f: WorkloadF
  type: Outcome
  /** invoke time, s since workload start */
  timeS: number
  /** completion time minus invoke time */
  latencyMs: number
}

/** Nearest-rank quantiles of every completion of one kind, drawn or not. */
export interface LatencyQuantiles {
  count: number
  p50Ms: number
  p99Ms: number
  maxMs: number
}

/** How the latency points were thinned; absent when every completion is drawn. */
export interface LatencySampling {
  /** every okStride-th ok point (per f) is drawn, besides the slowest */
  okStride: number
  /** ok points drawn because they are among the slowest (at most 1% of ok) */
  slowestOk: number
  /** every failInfoStride-th fail and info point (per f and outcome); 1 = all of them */
  failInfoStride: number
}

export interface LatencyFigure {
  /** completions paired with their invoke */
  completed: number
  /** invokes never completed: indeterminate, not drawn */
  pending: number
  quantiles: Record<WorkloadF, LatencyQuantiles | null>
  sampling: LatencySampling | null
  /** in history (completion) order */
  points: LatencyPoint[]
}

/** Completions whose completion time falls in [second, second + 1) s. */
export interface ThroughputBucket {
  second: number
  ok: number
  fail: number
  info: number
}

export interface ThroughputFigure {
  bucketS: 1
  /** seconds from workload start to its last send or poll: the length of each bucket list */
  durationS: number
  send: ThroughputBucket[]
  poll: ThroughputBucket[]
}

export interface ReportFigures {
  latency: LatencyFigure
  throughput: ThroughputFigure
}

/** Above this many points an SVG scatter gets slow to draw and heavy (~250 bytes a point). */
const LATENCY_POINTS_MAX = 20_000
/** The slowest ok operations kept when sampling: this fraction of ok, at most a quarter of the budget. */
const SLOWEST_OK_FRACTION = 0.01
/** log scale: a 0 ms completion (ms clock) is drawn at this floor */
const LATENCY_FLOOR_MS = 1
const EXAMPLES_PER_ANOMALY_MAX = 10
/** Nemesis labels stack in up to this many rows at the top of a plot before some go unlabelled. */
const NEMESIS_LABEL_ROWS = 3
const LABEL_FONT_PX = 9
/** a generous average glyph width at LABEL_FONT_PX, so estimated labels do not touch */
const LABEL_CHAR_PX = 5.5
const LABEL_ROW_PX = 11
const LABEL_GAP_PX = 2
/** Longer nemesis tables start folded. */
const NEMESIS_ROWS_OPEN_MAX = 50
const OPTION_CHARS_MAX = 300
const PLOT_WIDTH_PX = 900
const WORKLOAD_FS: readonly WorkloadF[] = ['send', 'poll']
const OUTCOMES: readonly Outcome[] = ['ok', 'fail', 'info']
const OUTCOME_COLORS = { domain: ['ok', 'fail', 'info'], range: ['#2ca02c', '#d62728', '#ff9f1c'] }

interface Completion {
  f: WorkloadF
  type: Outcome
  invokeMs: number
  latencyMs: number
}

interface Paired {
  completions: Completion[]
  pending: number
  /** time of the last send or poll op, invoke or completion */
  lastMs: number
}

/**
 * Sends are concurrent within a producer process, so a send's completion pairs with its invoke by
 * (process, value); a consumer polls one at a time, so a poll pairs by process. A completion with
 * no invoke is not drawn (the checker rejects such a history anyway).
 */
function pairCompletions(ops: readonly Op[]): Paired {
  const sendInvokes = new Map<string, number>()
  const pollInvokes = new Map<number, number>()
  const completions: Completion[] = []
  let lastMs = 0
  for (const op of ops) {
    if (op.f !== 'send' && op.f !== 'poll') continue
    lastMs = Math.max(lastMs, op.time)
    const key = op.f === 'send' ? `${op.process}\u0000${op.value}` : op.process
    const invokes: Map<string | number, number> = op.f === 'send' ? sendInvokes : pollInvokes
    if (op.type === 'invoke') {
      invokes.set(key, op.time)
      continue
    }
    const invokeMs = invokes.get(key)
    if (invokeMs === undefined) continue
    invokes.delete(key)
    completions.push({ f: op.f, type: op.type, invokeMs, latencyMs: op.time - invokeMs })
  }
  return { completions, pending: sendInvokes.size + pollInvokes.size, lastMs }
}

function quantiles(latencies: number[]): LatencyQuantiles | null {
  if (latencies.length === 0) return null
  const sorted = Float64Array.from(latencies).sort()
  const rank = (q: number) => sorted[Math.max(0, Math.ceil(q * sorted.length) - 1)]!
  return { count: sorted.length, p50Ms: rank(0.5), p99Ms: rank(0.99), maxMs: sorted[sorted.length - 1]! }
}

function toPoint(c: Completion): LatencyPoint {
  return { f: c.f, type: c.type, timeS: c.invokeMs / 1000, latencyMs: c.latencyMs }
}

/**
 * Deterministic thinning to about LATENCY_POINTS_MAX points. Failures and indeterminate
 * operations are what a reader looks for, so they keep at least half the budget (all of them
 * when they fit); the slowest ok operations are kept so spikes survive; every k-th other ok
 * operation, counted per f, shows the bulk.
 */
function sample(completions: readonly Completion[]): Pick<LatencyFigure, 'points' | 'sampling'> {
  if (completions.length <= LATENCY_POINTS_MAX) return { points: completions.map(toPoint), sampling: null }
  const okLatencies: number[] = []
  for (const c of completions) if (c.type === 'ok') okLatencies.push(c.latencyMs)
  const failInfo = completions.length - okLatencies.length
  const failInfoBudget = Math.max(LATENCY_POINTS_MAX / 2, LATENCY_POINTS_MAX - okLatencies.length)
  const failInfoStride = failInfo <= failInfoBudget ? 1 : Math.ceil(failInfo / failInfoBudget)
  const okBudget = LATENCY_POINTS_MAX - Math.ceil(failInfo / failInfoStride)

  const slowestMax = Math.floor(Math.min(okLatencies.length * SLOWEST_OK_FRACTION, okBudget / 4))
  const sorted = Float64Array.from(okLatencies).sort()
  // Strictly above the threshold, so ties never push the count past slowestMax.
  const threshold = slowestMax > 0 ? sorted[sorted.length - slowestMax - 1]! : Number.POSITIVE_INFINITY
  let slowestOk = 0
  for (const latency of okLatencies) if (latency > threshold) slowestOk++
  const okStride = Math.max(
    1,
    Math.ceil((okLatencies.length - slowestOk) / Math.max(1, okBudget - slowestOk)),
  )

  const seen = new Map<string, number>()
  const points: LatencyPoint[] = []
  for (const c of completions) {
    if (c.type === 'ok' && c.latencyMs > threshold) {
      points.push(toPoint(c))
      continue
    }
    const series = `${c.f} ${c.type}`
    const n = seen.get(series) ?? 0
    seen.set(series, n + 1)
    if (n % (c.type === 'ok' ? okStride : failInfoStride) === 0) points.push(toPoint(c))
  }
  return { points, sampling: { okStride, slowestOk, failInfoStride } }
}

function throughput(completions: readonly Completion[], lastMs: number, ops: number): ThroughputFigure {
  const durationS = ops === 0 ? 0 : Math.floor(lastMs / 1000) + 1
  const empty = () =>
    Array.from({ length: durationS }, (_, second): ThroughputBucket => ({ second, ok: 0, fail: 0, info: 0 }))
  const figure: ThroughputFigure = { bucketS: 1, durationS, send: empty(), poll: empty() }
  for (const c of completions) {
    const second = Math.min(durationS - 1, Math.max(0, Math.floor((c.invokeMs + c.latencyMs) / 1000)))
    figure[c.f][second]![c.type]++
  }
  return figure
}

/** The numbers both plots are drawn from; JSON-friendly, for results.json too. */
export function reportFigures(input: ReportInput): ReportFigures {
  const { completions, pending, lastMs } = pairCompletions(input.ops)
  const workloadOps = input.ops.reduce((n, op) => (op.f === 'send' || op.f === 'poll' ? n + 1 : n), 0)
  const byF: Record<WorkloadF, number[]> = { send: [], poll: [] }
  for (const c of completions) byF[c.f].push(c.latencyMs)
  return {
    latency: {
      completed: completions.length,
      pending,
      quantiles: { send: quantiles(byF.send), poll: quantiles(byF.poll) },
      ...sample(completions),
    },
    throughput: throughput(completions, lastMs, workloadOps),
  }
}

// ---- plots: vega-lite specs, rendered to SVG strings ----

type Layer = Record<string, unknown>

const LATENCY_X_TITLE = 'invoke time (s)'
const THROUGHPUT_X_TITLE = 'completion time (s)'

function xScale(durationS: number, title: string) {
  return { type: 'quantitative', title, scale: { domain: [0, Math.max(1, durationS)], nice: false } }
}

interface Band {
  startS: number
  endS: number
  label: string
  /** pixels from the top of the plot, negative: labels sit in a strip above the data; absent when
   * the label would overlap others */
  labelY?: number
}

/**
 * Labels go left to right into the first of NEMESIS_LABEL_ROWS rows where they do not overlap the
 * previous label; a window with no room stays unlabelled (the table names it). Widths are
 * estimated, since there is no font to measure on the server.
 */
function nemesisBands(windows: readonly NemesisWindow[], durationS: number): Band[] {
  const pxPerS = PLOT_WIDTH_PX / Math.max(1, durationS)
  const rowEndsPx: number[] = Array.from({ length: NEMESIS_LABEL_ROWS }, () => Number.NEGATIVE_INFINITY)
  const bands = windows
    .map((w): Band => ({ startS: w.start / 1000, endS: w.end / 1000, label: w.label }))
    .sort((a, b) => a.startS - b.startS)
  for (const band of bands) {
    const x = band.startS * pxPerS
    const row = rowEndsPx.findIndex((end) => end <= x)
    if (row < 0 || x >= PLOT_WIDTH_PX) continue
    rowEndsPx[row] = x + LABEL_GAP_PX + band.label.length * LABEL_CHAR_PX
    band.labelY = (row - NEMESIS_LABEL_ROWS) * LABEL_ROW_PX
  }
  return bands
}

/** Grey bands over the fault windows, labelled above the plot where there is room. */
function nemesisLayers(bands: readonly Band[], durationS: number, xTitle: string): Layer[] {
  if (bands.length === 0) return []
  const x = { field: 'startS', ...xScale(durationS, xTitle) }
  return [
    {
      data: { values: bands.map(({ startS, endS }) => ({ startS, endS })) },
      mark: { type: 'rect', color: '#7f7f7f', opacity: 0.18, clip: true },
      encoding: { x, x2: { field: 'endS' } },
    },
    {
      data: { values: bands.filter((b) => b.labelY !== undefined) },
      mark: { type: 'text', align: 'left', baseline: 'top', dx: 1, fontSize: LABEL_FONT_PX, color: '#444' },
      // scale null: labelY is in pixels
      encoding: { x, y: { field: 'labelY', type: 'quantitative', scale: null }, text: { field: 'label' } },
    },
  ]
}

/** One panel per kind of operation present (send first), at least one. */
function panelFs(present: (f: WorkloadF) => boolean): WorkloadF[] {
  const fs = WORKLOAD_FS.filter(present)
  return fs.length > 0 ? fs : ['send']
}

function topLevel(panels: Layer[]): TopLevelSpec {
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    background: 'white',
    vconcat: panels,
    resolve: { scale: { color: 'shared' } },
    config: { font: 'system-ui, sans-serif', view: { stroke: '#ccc' } },
  } as unknown as TopLevelSpec
}

/** ok drawn first so the rarer fail and info points sit on top. */
const PAINT_ORDER: Record<Outcome, number> = { ok: 0, info: 1, fail: 2 }

function latencySpec(figures: ReportFigures, bands: readonly Band[]): TopLevelSpec {
  const { durationS } = figures.throughput
  const fs = panelFs((f) => figures.latency.quantiles[f] !== null)
  const panels = fs.map((f) => {
    const values = figures.latency.points
      .filter((p) => p.f === f)
      .sort((a, b) => PAINT_ORDER[a.type] - PAINT_ORDER[b.type])
      .map((p) => ({ timeS: p.timeS, type: p.type, ms: Math.max(LATENCY_FLOOR_MS, p.latencyMs) }))
    return {
      width: PLOT_WIDTH_PX,
      height: 220,
      layer: [
        ...nemesisLayers(bands, durationS, LATENCY_X_TITLE),
        {
          data: { values },
          mark: { type: 'circle', size: 9, opacity: 0.55, clip: true },
          encoding: {
            x: { field: 'timeS', ...xScale(durationS, LATENCY_X_TITLE) },
            y: { field: 'ms', type: 'quantitative', title: `${f} latency (ms, log)`, scale: { type: 'log' } },
            color: { field: 'type', type: 'nominal', title: 'outcome', scale: OUTCOME_COLORS },
          },
        },
      ],
    }
  })
  return topLevel(panels)
}

function throughputSpec(figures: ReportFigures, bands: readonly Band[]): TopLevelSpec {
  const { durationS } = figures.throughput
  const fs = panelFs((f) => figures.throughput[f].some((b) => b.ok + b.fail + b.info > 0))
  const panels = fs.map((f) => {
    const values = OUTCOMES.flatMap((type) =>
      figures.throughput[f].map((b) => ({ second: b.second, type, count: b[type] })),
    )
    return {
      width: PLOT_WIDTH_PX,
      height: 160,
      layer: [
        ...nemesisLayers(bands, durationS, THROUGHPUT_X_TITLE),
        {
          data: { values },
          mark: { type: 'line', interpolate: 'step-after', strokeWidth: 1.2, clip: true },
          encoding: {
            x: { field: 'second', ...xScale(durationS, THROUGHPUT_X_TITLE) },
            y: { field: 'count', type: 'quantitative', title: `${f} completions / s` },
            color: { field: 'type', type: 'nominal', title: 'outcome', scale: OUTCOME_COLORS },
          },
        },
      ],
    }
  })
  return topLevel(panels)
}

/**
 * vega numbers clip paths from a counter shared by every view in the process; the prefix keeps
 * two SVGs in one document from ever sharing an id.
 */
async function renderSvg(spec: TopLevelSpec, idPrefix: string): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none', logLevel: vega.Error })
  try {
    const svg = await view.toSVG()
    return svg.replace(/(id="|url\(#)(clip\d+|gradient_\d+)/g, `$1${idPrefix}-$2`)
  } finally {
    view.finalize()
  }
}

// ---- HTML ----

const HTML_ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
}

function esc(text: string): string {
  return text.replace(/[&<>"']/g, (c) => HTML_ESCAPES[c]!)
}

function num(n: number): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: 1 })
}

function stringify(value: unknown): string {
  try {
    return typeof value === 'string' ? value : (JSON.stringify(value) ?? String(value))
  } catch {
    return String(value)
  }
}

function table(head: readonly string[], rows: readonly string[][], rowClasses?: readonly string[]): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join('')
  const trs = rows.map((cells, i) => {
    const cls = rowClasses?.[i] ? ` class="${rowClasses[i]}"` : ''
    return `<tr${cls}>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`
  })
  return `<table><thead><tr>${th}</tr></thead><tbody>${trs.join('\n')}</tbody></table>`
}

/** Functions (a progress callback) and absent values are not options a reader can act on. */
function optionsTable(options: Record<string, unknown>): string {
  const rows: string[][] = []
  for (const [name, value] of Object.entries(options)) {
    if (value === undefined || typeof value === 'function') continue
    const text =
      Array.isArray(value) && value.every((v) => typeof v !== 'object') ? value.join(', ') : stringify(value)
    const shown =
      text.length > OPTION_CHARS_MAX
        ? `${text.slice(0, OPTION_CHARS_MAX)}… (${num(text.length)} chars)`
        : text
    rows.push([`<code>${esc(name)}</code>`, esc(shown)])
  }
  return table(['option', 'value'], rows)
}

const STAT_NOTES: Record<keyof CheckStats, string> = {
  sends: 'send invocations',
  ok: 'sends acknowledged',
  failed: 'sends that failed',
  indeterminate: 'info completions plus sends never completed',
  polls: 'polls completed ok',
  valuesRead: 'records returned by ok polls and final reads',
  finalReads: 'partitions read in the final phase',
  unknownValuesRead: 'reads of a value no send carries',
}

function statsTable(stats: CheckStats): string {
  const rows = Object.entries(stats).map(([name, value]) => [
    `<code>${esc(name)}</code>`,
    esc(num(Number(value))),
    esc(STAT_NOTES[name as keyof CheckStats] ?? ''),
  ])
  return table(['stat', 'value', ''], rows)
}

/** The producer is idempotent only with acks=all (the runner judges so too). */
function checkMode(options: Record<string, unknown>): CheckOptions {
  const acks = String(options.acks) === '1' ? '1' : 'all'
  return { acks, idempotence: options.idempotence === true && acks === 'all' }
}

/** What the check says for names it found; what the mode says for the others. */
function isForbiddenHere(name: AnomalyName, check: CheckResult, mode: CheckOptions): boolean {
  if (check.counts[name] > 0) return check.forbidden.includes(name)
  return isForbidden(name, mode)
}

function anomalyTable(check: CheckResult, mode: CheckOptions): string {
  const rows: string[][] = []
  const classes: string[] = []
  for (const name of ANOMALY_NAMES) {
    const count = check.counts[name]
    const forbidden = isForbiddenHere(name, check, mode)
    const label = count > 0 ? `<a href="#anomaly-${esc(name)}">${esc(name)}</a>` : esc(name)
    const note = name === 'lost-write' ? ' <small>(lost-prefix + lost-middle + lost-postfix)</small>' : ''
    rows.push([label + note, esc(num(count)), forbidden ? 'forbidden' : 'allowed'])
    classes.push(count === 0 ? '' : forbidden ? 'bad' : 'warn')
  }
  return table(['anomaly', 'count', 'in this mode'], rows, classes)
}

function anomalyExamples(check: CheckResult, mode: CheckOptions): string {
  const examples = new Map<AnomalyName, Anomaly[]>()
  for (const a of check.anomalies) {
    const list = examples.get(a.name) ?? []
    if (list.length < EXAMPLES_PER_ANOMALY_MAX) list.push(a)
    examples.set(a.name, list)
  }
  const sections: string[] = []
  for (const name of ANOMALY_NAMES) {
    const count = check.counts[name]
    if (count === 0) continue
    const status = isForbiddenHere(name, check, mode) ? 'forbidden' : 'allowed'
    const heading = `<h3 id="anomaly-${esc(name)}">${esc(name)} <small>${esc(num(count))}, ${status}</small></h3>`
    if (name === 'lost-write') {
      sections.push(`${heading}<p>Listed under lost-prefix, lost-middle and lost-postfix.</p>`)
      continue
    }
    const list = examples.get(name) ?? []
    const shown = `<p>showing ${list.length} of ${esc(num(count))}</p>`
    const pres = list.map((a) => `<pre>${esc(JSON.stringify(a, null, 2))}</pre>`).join('\n')
    sections.push(heading + shown + pres)
  }
  return sections.length > 0 ? sections.join('\n') : '<p>None.</p>'
}

function nemesisTable(windows: readonly NemesisWindow[]): string {
  if (windows.length === 0) return '<p>No nemesis windows.</p>'
  const s = (ms: number) => esc((ms / 1000).toFixed(3))
  const rows = windows.map((w, i) => [String(i + 1), s(w.start), s(w.end), s(w.end - w.start), esc(w.label)])
  const body = table(['#', 'start (s)', 'end (s)', 'length (s)', 'label'], rows)
  const open = windows.length <= NEMESIS_ROWS_OPEN_MAX ? ' open' : ''
  return `<details${open}><summary>${windows.length} windows</summary>${body}</details>`
}

function quantilesTable(latency: LatencyFigure): string {
  const ms = (x: number) => esc(num(x))
  const rows = WORKLOAD_FS.flatMap((f) => {
    const q = latency.quantiles[f]
    return q === null ? [] : [[f, esc(num(q.count)), ms(q.p50Ms), ms(q.p99Ms), ms(q.maxMs)]]
  })
  return table(['f', 'completed', 'p50 ms', 'p99 ms', 'max ms'], rows)
}

function bandsNote(bands: readonly Band[]): string {
  if (bands.length === 0) return ''
  const unlabelled = bands.filter((b) => b.labelY === undefined).length
  const more =
    unlabelled > 0 ? ` (${num(unlabelled)} unlabelled for lack of room: see the nemesis table)` : ''
  return ` Grey bands: nemesis windows${more}.`
}

/** "every", "every 2nd", "every 3rd", "every 11th", "every 21st" … */
function every(stride: number): string {
  if (stride === 1) return 'every'
  const teen = stride % 100 >= 11 && stride % 100 <= 13
  const suffix = teen ? 'th' : (['th', 'st', 'nd', 'rd'][stride % 10] ?? 'th')
  return `every ${stride}${suffix}`
}

function latencyNote(latency: LatencyFigure, bands: readonly Band[]): string {
  const notes: string[] = []
  const s = latency.sampling
  if (s === null) notes.push(`Every completion is drawn (${num(latency.completed)}).`)
  else {
    notes.push(
      `Downsampled: ${num(latency.points.length)} of ${num(latency.completed)} completions drawn: ` +
        `${every(s.failInfoStride)} fail and info, the ${num(s.slowestOk)} slowest ok, ` +
        `and ${every(s.okStride)} of the remaining ok (counted separately for send and poll).`,
    )
  }
  if (latency.pending > 0) notes.push(`${num(latency.pending)} invokes never completed and are not drawn.`)
  notes.push(`Latencies under ${LATENCY_FLOOR_MS} ms are drawn at ${LATENCY_FLOOR_MS} ms.`)
  return `<p class="note">${esc(notes.join(' ') + bandsNote(bands))}</p>`
}

function throughputNote(figures: ReportFigures, bands: readonly Band[]): string {
  const notes = [`Completions per second, by the second they completed in.`]
  if (figures.latency.pending > 0) notes.push(`${num(figures.latency.pending)} invokes never completed.`)
  return `<p class="note">${esc(notes.join(' ') + bandsNote(bands))}</p>`
}

const CSS = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 1000px; padding: 0 1em; color: #222; }
h1 { font-size: 1.4em; margin-bottom: .2em; }
h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.verdict { display: inline-block; font-weight: bold; font-size: 1.3em; padding: .2em .6em; border-radius: 4px; color: white; }
.verdict.pass { background: #2ca02c; }
.verdict.fail { background: #d62728; }
.summary { font-family: ui-monospace, monospace; background: #f5f5f5; padding: .5em; overflow-wrap: anywhere; }
.tables { display: flex; gap: 2em; flex-wrap: wrap; align-items: flex-start; }
table { border-collapse: collapse; margin: .5em 0; }
th, td { border: 1px solid #ddd; padding: .2em .6em; text-align: left; vertical-align: top; }
th { background: #f5f5f5; }
tr.bad td { background: #fde0e0; }
tr.warn td { background: #fff1d6; }
pre { background: #f7f7f7; padding: .5em; overflow-x: auto; font-size: 12px; }
.note { color: #555; font-size: .9em; }
svg { max-width: 100%; height: auto; }
`

/** The whole report, one self-contained HTML document. */
export async function renderReport(input: ReportInput): Promise<string> {
  const figures = reportFigures(input)
  const bands = nemesisBands(input.nemesis, figures.throughput.durationS)
  const [latencySvg, throughputSvg] = await Promise.all([
    renderSvg(latencySpec(figures, bands), 'latency'),
    renderSvg(throughputSpec(figures, bands), 'throughput'),
  ])
  const mode = checkMode(input.options)
  const { check } = input
  const verdict = check.ok
    ? '<p class="verdict pass">PASS</p>'
    : `<p class="verdict fail">FAIL: forbidden anomalies: ${esc(check.forbidden.join(', '))}</p>`
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Cairn jepsen-like: ${check.ok ? 'PASS' : 'FAIL'}</title>
<style>${CSS}</style>
</head>
<body>
<h1>Cairn jepsen-like run</h1>
${verdict}
<p class="summary">${esc(input.summary)}</p>
<div class="tables">
<section><h2>Options</h2>${optionsTable(input.options)}</section>
<section><h2>Stats</h2>${statsTable(check.stats)}</section>
</div>
<h2>Anomalies</h2>
${anomalyTable(check, mode)}
<h2>Latency</h2>
${latencySvg}
${latencyNote(figures.latency, bands)}
${quantilesTable(figures.latency)}
<h2>Throughput</h2>
${throughputSvg}
${throughputNote(figures, bands)}
<h2>Nemesis</h2>
${nemesisTable(input.nemesis)}
<h2>Anomaly examples</h2>
${anomalyExamples(check, mode)}
</body>
</html>
`
}

/** Writes DIR/index.html; returns its path. */
export async function writeReport(dir: string, input: ReportInput): Promise<string> {
  const html = await renderReport(input)
  await mkdir(dir, { recursive: true })
  const path = join(dir, 'index.html')
  await writeFile(path, html)
  return path
}
