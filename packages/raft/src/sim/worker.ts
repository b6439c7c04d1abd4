import { parentPort, workerData } from 'node:worker_threads'
import type { DefectName } from '../defects.js'
import { runSeed, useDefects } from './run.js'
import type { ScheduleShape } from './schedule.js'

const { shape, defects } = workerData as { shape: ScheduleShape; defects: DefectName[] }
useDefects(defects)

parentPort?.on('message', (msg: { seed: number } | { stop: true }) => {
  if ('stop' in msg) {
    process.exit(0)
  }
  const { result } = runSeed(shape, msg.seed)
  parentPort?.postMessage({
    seed: msg.seed,
    violations: result.violations,
    virtualMs: result.virtualMs,
    proposals: result.proposals,
    acked: result.acked,
  })
})
