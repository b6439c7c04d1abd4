// Records every hop of every write in this process, for scripts/trace-report.mjs: load it into
// the bench and its nodes with
//
//   CAIRN_TRACE_DIR=/tmp/trace NODE_OPTIONS="--import $PWD/scripts/trace-hops.mjs" \
//     npx cairn bench produce --partitions 16 --record-size 1024 --rate 10000 --records 200000
//   node scripts/trace-report.mjs /tmp/trace
//
// It subscribes to the diagnostics channels Cairn publishes on (the client's and the node's
// requests, each Raft hop, each store batch) and to V8's garbage collections, stamps each event
// with this machine's clock (performance.timeOrigin + performance.now(), so the processes' times
// compare), and appends one line per event to CAIRN_TRACE_DIR/<pid>.trace every half second
// and at exit. Without a subscriber Cairn builds none of these events.
import { subscribe } from 'node:diagnostics_channel'
import { appendFileSync, mkdirSync } from 'node:fs'
import { PerformanceObserver, performance } from 'node:perf_hooks'

// biome-ignore lint/suspicious/noUndeclaredEnvVars: read at run time by this preload; no turbo task depends on it
const dir = process.env.CAIRN_TRACE_DIR
if (!dir) {
  console.error('trace-hops: set CAIRN_TRACE_DIR to the folder the traces go to')
  process.exit(2)
}
mkdirSync(dir, { recursive: true })
const file = `${dir}/${process.pid}.trace`
const WRITE_EVERY_MS = 500
const origin = performance.timeOrigin
const at = (ms) => (origin + ms).toFixed(3)
const now = () => at(performance.now())

let lines = [`P ${process.pid} ${process.argv.slice(1).join(' ').replace(/\s+/g, '_')}`]
subscribe('cairn:client:request', (m) => lines.push(`C ${m.event} ${m.port} ${m.id} ${m.api} ${now()}`))
subscribe('cairn:broker:request', (m) => lines.push(`S ${m.event} ${m.port} ${m.id} ${m.api} ${now()}`))
subscribe('cairn:raft', (m) => lines.push(`R ${m.event} ${m.group} ${m.index} ${m.from ?? 0} ${now()}`))
subscribe('cairn:store:batch', (m) =>
  lines.push(
    `B ${m.seq} ${m.bytes} ${m.dataBytes} ${at(m.askedMs)} ${at(m.startedMs)} ${at(m.dataWrittenMs)} ${at(m.durableMs)}`,
  ),
)
new PerformanceObserver((list) => {
  for (const e of list.getEntries())
    lines.push(`G ${e.detail?.kind ?? 0} ${at(e.startTime)} ${e.duration.toFixed(3)}`)
}).observe({ entryTypes: ['gc'] })

function write() {
  if (lines.length === 0) return
  appendFileSync(file, `${lines.join('\n')}\n`)
  lines = []
}
setInterval(write, WRITE_EVERY_MS).unref()
process.on('exit', write)
