export * from './checker.js'
export * from './history.js'
export { drawSchedule, type NemesisEvent, type RunOptions, type RunResult, run } from './runner.js'
