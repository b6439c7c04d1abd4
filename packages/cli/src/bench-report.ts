/**
 * What `cairn bench` shows: latency histograms (HdrHistogram, microseconds, 3 significant digits),
 * the progress line on stderr once a second, the summary table and the final JSON line.
 */
import { build, type Histogram } from 'hdr-histogram-js'

/** Latencies above an hour are recorded as an hour: a bench that slow has other problems. */
export const LATENCY_US_MAX = 3_600_000_000
export const PROGRESS_INTERVAL_MS = 1000

export function latencyHistogram(): Histogram {
  return build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: LATENCY_US_MAX,
    numberOfSignificantValueDigits: 3,
    autoResize: false,
  })
}

/** Records a latency given in (fractional) milliseconds. */
export function recordMs(h: Histogram, ms: number): void {
  h.recordValue(Math.min(LATENCY_US_MAX, Math.max(0, Math.round(ms * 1000))))
}

export interface LatencySummary {
  p50Ms: number
  p99Ms: number
  p999Ms: number
  maxMs: number
}

export function summarize(h: Histogram): LatencySummary {
  if (h.totalCount === 0) return { p50Ms: 0, p99Ms: 0, p999Ms: 0, maxMs: 0 }
  // A percentile is its bucket's highest equivalent value, which can pass the exact maximum.
  const maxMs = h.maxValue / 1000
  const at = (p: number) => Math.min(maxMs, h.getValueAtPercentile(p) / 1000)
  return { p50Ms: at(50), p99Ms: at(99), p999Ms: at(99.9), maxMs }
}

export const MB = 1_000_000

export function ms(value: number): string {
  return value < 10 ? value.toFixed(3) : value < 1000 ? value.toFixed(1) : value.toFixed(0)
}

export function int(value: number): string {
  return Math.round(value).toLocaleString('en-US')
}

export function mbps(value: number): string {
  return value < 10 ? value.toFixed(2) : value.toFixed(1)
}

/** Rounds to 3 decimals for the JSON line. */
export function round3(value: number): number {
  return Math.round(value * 1000) / 1000
}

export interface ProgressSample {
  records: number
  bytes: number
  latency: Histogram | null
  /** Said after the figures: the trial under way, a phase. */
  note?: string
}

/**
 * Writes `label  elapsed  records  records/s  MB/s  p99` to stderr every second (rates over the last
 * second, p99 over the run so far). Returns the function that stops it.
 */
export function startProgress(label: string, sample: () => ProgressSample): () => void {
  const startedMs = performance.now()
  let last = { atMs: startedMs, records: 0, bytes: 0 }
  const timer = setInterval(() => {
    const now = performance.now()
    const s = sample()
    const seconds = Math.max(1e-3, (now - last.atMs) / 1000)
    const p99 =
      s.latency && s.latency.totalCount > 0 ? `${ms(s.latency.getValueAtPercentile(99) / 1000)} ms` : '-'
    const line = [
      `[${label}]`,
      `${((now - startedMs) / 1000).toFixed(0).padStart(4)} s`,
      `records ${int(s.records).padStart(11)}`,
      `records/s ${int((s.records - last.records) / seconds).padStart(9)}`,
      `MB/s ${mbps((s.bytes - last.bytes) / MB / seconds).padStart(6)}`,
      `p99 ${p99}`,
      s.note ?? '',
    ]
    process.stderr.write(`${line.join('  ').trimEnd()}\n`)
    last = { atMs: now, records: s.records, bytes: s.bytes }
  }, PROGRESS_INTERVAL_MS)
  timer.unref()
  return () => clearInterval(timer)
}

/** A table with aligned columns; the first row is the header. */
export function table(rows: string[][]): string {
  const widths: number[] = []
  for (const row of rows) {
    for (const [k, cell] of row.entries()) widths[k] = Math.max(widths[k] ?? 0, cell.length)
  }
  const line = (row: string[]) =>
    row.map((cell, k) => (k === 0 ? cell.padEnd(widths[k]!) : cell.padStart(widths[k]!))).join('  ')
  const [header, ...body] = rows
  return [line(header!), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(line)].join('\n')
}

export function latencyRow(what: string, s: LatencySummary): string[] {
  return [what, ms(s.p50Ms), ms(s.p99Ms), ms(s.p999Ms), ms(s.maxMs)]
}

export const LATENCY_HEADER = ['latency (ms)', 'p50', 'p99', 'p99.9', 'max']

export function latencyJson(prefix: string, s: LatencySummary): Record<string, number> {
  return {
    [`${prefix}p50_ms`]: round3(s.p50Ms),
    [`${prefix}p99_ms`]: round3(s.p99Ms),
    [`${prefix}p999_ms`]: round3(s.p999Ms),
    [`${prefix}max_ms`]: round3(s.maxMs),
  }
}
