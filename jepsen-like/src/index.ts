export * from './checker.js'
export * from './history.js'
export * from './nemesis.js'
export { type RunOptions, type RunResult, readSchedule, run } from './runner.js'
