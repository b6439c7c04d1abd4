#!/usr/bin/env node
/**
 * npm run sim -- --seeds N [--from S] [--nodes 3|5] [--groups G] [--workers W] [--time-limit-s T] [--bug NAME]
 * npm run sim -- --seed S --replay [--schedule FILE] [--bug NAME]
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { parseArgs } from 'node:util'
import { Worker } from 'node:worker_threads'
import { DEFECT_NAMES, type DefectName, isDefectName } from '../defects.js'
import type { Violation } from './cluster.js'
import { runSchedule, shrinkSeed, useDefects } from './run.js'
import { DEFAULT_SHAPE, drawSchedule, type Schedule, type ScheduleShape } from './schedule.js'

const USAGE = `usage: npm run sim -- --seeds N [--from S] [--nodes 3|5] [--groups G] [--workers W]
                      [--time-limit-s T] [--bug NAME] [--no-shrink]
       npm run sim -- --seed S --replay [--schedule FILE] [--nodes 3|5] [--groups G] [--bug NAME]

Runs whole Raft clusters in virtual time under a fault schedule drawn from each seed, checking
election safety, log matching, leader completeness, state machine safety, commit monotonicity,
acknowledged-write durability, ISR truthfulness and liveness after every step.
--bug switches on a deliberate defect to prove the checker catches it: ${DEFECT_NAMES.join(', ')}.`

interface SeedReport {
  seed: number
  violations: Violation[]
  virtualMs: number
  proposals: number
  acked: number
}

function fail(message: string): never {
  console.error(`sim: ${message}`)
  process.exit(2)
}

function intOption(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < 0) fail(`--${name} wants a non-negative integer, got '${value}'`)
  return n
}

function parse() {
  const { values } = parseArgs({
    options: {
      seeds: { type: 'string' },
      from: { type: 'string' },
      seed: { type: 'string' },
      replay: { type: 'boolean' },
      schedule: { type: 'string' },
      nodes: { type: 'string' },
      groups: { type: 'string' },
      workers: { type: 'string' },
      'time-limit-s': { type: 'string' },
      bug: { type: 'string', multiple: true },
      'no-shrink': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  })
  if (values.help) {
    console.log(USAGE)
    process.exit(0)
  }
  const nodes = intOption(values.nodes, 'nodes', DEFAULT_SHAPE.nodes)
  if (nodes !== 3 && nodes !== 5) fail('--nodes is 3 or 5')
  const groups = intOption(values.groups, 'groups', DEFAULT_SHAPE.groups)
  if (groups < 1 || groups > 64) fail('--groups is 1 to 64')
  const defects: DefectName[] = []
  for (const b of values.bug ?? []) {
    if (!isDefectName(b)) fail(`unknown --bug '${b}'; known: ${DEFECT_NAMES.join(', ')}`)
    defects.push(b)
  }
  return { values, shape: { ...DEFAULT_SHAPE, nodes, groups } as ScheduleShape, defects }
}

function printFailure(shape: ScheduleShape, seed: number, defects: DefectName[], shrink: boolean): void {
  useDefects(defects)
  const schedule = shrink ? shrinkSeed(shape, seed) : drawSchedule(shape, seed)
  const replay = runSchedule(schedule, seed, true)
  const file = `sim-seed-${seed}.schedule.json`
  writeFileSync(file, `${JSON.stringify(schedule, null, 2)}\n`)
  const bugArgs = defects.map((d) => ` --bug ${d}`).join('')
  console.log(`\nseed ${seed} violates an invariant. ${shrink ? 'Shrunk schedule' : 'Schedule'} (${file}):`)
  console.log(JSON.stringify(schedule))
  console.log(`transcript (last 60 of ${replay.transcript.length} lines):`)
  for (const line of replay.transcript.slice(-60)) console.log(`  ${line}`)
  for (const v of replay.violations)
    console.log(`violation: ${v.invariant} at ${v.time.toFixed(1)} ms: ${v.detail}`)
  console.log(
    `replay: npm run sim -- --seed ${seed} --replay --schedule ${file} --nodes ${shape.nodes} --groups ${shape.groups}${bugArgs}`,
  )
}

async function runMany(
  shape: ScheduleShape,
  from: number,
  count: number,
  workers: number,
  timeLimitMs: number,
  defects: DefectName[],
): Promise<{ reports: SeedReport[]; stoppedEarly: boolean }> {
  const started = Date.now()
  const reports: SeedReport[] = []
  let next = from
  const end = from + count
  let stop = false
  let lastProgress = started
  const workerUrl = new URL(import.meta.url.endsWith('.ts') ? './worker.ts' : './worker.js', import.meta.url)
  await Promise.all(
    Array.from({ length: workers }, () => {
      // Under tsx (tests from source) the worker needs the same loader.
      const execArgv = import.meta.url.endsWith('.ts') ? ['--import', 'tsx'] : []
      const worker = new Worker(workerUrl, { workerData: { shape, defects }, execArgv })
      return new Promise<void>((resolve, reject) => {
        const dispatch = () => {
          if (stop || next >= end || Date.now() - started > timeLimitMs) {
            worker.postMessage({ stop: true })
            return
          }
          worker.postMessage({ seed: next++ })
        }
        worker.on('message', (r: SeedReport) => {
          reports.push(r)
          if (r.violations.length > 0) stop = true
          const now = Date.now()
          if (now - lastProgress > 2000) {
            lastProgress = now
            const rate = reports.length / ((now - started) / 1000)
            process.stderr.write(`sim: ${reports.length}/${count} seeds, ${rate.toFixed(0)} seeds/s\n`)
          }
          dispatch()
        })
        worker.on('error', reject)
        worker.on('exit', () => resolve())
        dispatch()
      })
    }),
  )
  return { reports, stoppedEarly: reports.length < count }
}

async function main(): Promise<void> {
  const { values, shape, defects } = parse()
  const started = Date.now()
  if (values.replay) {
    if (values.seed === undefined) fail('--replay needs --seed S')
    const seed = intOption(values.seed, 'seed', 0)
    useDefects(defects)
    const schedule: Schedule = values.schedule
      ? JSON.parse(readFileSync(values.schedule, 'utf8'))
      : drawSchedule(shape, seed)
    const result = runSchedule(schedule, seed, true)
    for (const line of result.transcript) console.log(line)
    for (const v of result.violations) console.log(`violation: ${v.invariant}: ${v.detail}`)
    const wall = (Date.now() - started) / 1000
    console.log(
      `seeds: 1, violations: ${result.violations.length}, virtual-seconds: ${(result.virtualMs / 1000).toFixed(1)}, wall-seconds: ${wall.toFixed(1)}`,
    )
    // Not process.exit(): it would cut off output still queued for a pipe.
    process.exitCode = result.violations.length > 0 ? 1 : 0
    return
  }
  const count = intOption(values.seeds, 'seeds', 100)
  const from = intOption(values.from, 'from', 1)
  const workers = Math.max(1, intOption(values.workers, 'workers', Math.min(2, availableParallelism())))
  const timeLimitMs = intOption(values['time-limit-s'], 'time-limit-s', 24 * 3600) * 1000
  const { reports } = await runMany(shape, from, count, workers, timeLimitMs, defects)
  const failed = reports.filter((r) => r.violations.length > 0).sort((a, b) => a.seed - b.seed)
  const first = failed[0]
  if (first) printFailure(shape, first.seed, defects, !values['no-shrink'])
  const virtual = reports.reduce((s, r) => s + r.virtualMs, 0) / 1000
  const proposals = reports.reduce((s, r) => s + r.proposals, 0)
  const acked = reports.reduce((s, r) => s + r.acked, 0)
  const wall = (Date.now() - started) / 1000
  console.log(`proposals: ${proposals}, acked: ${acked}, first-violation-seed: ${first?.seed ?? 'none'}`)
  console.log(
    `seeds: ${reports.length}, violations: ${failed.length}, virtual-seconds: ${virtual.toFixed(1)}, wall-seconds: ${wall.toFixed(1)}`,
  )
  process.exitCode = failed.length > 0 ? 1 : 0
}

main().catch((err: unknown) => fail(err instanceof Error ? (err.stack ?? err.message) : String(err)))
