/**
 * One seed per test run for every random choice. Set CAIRN_SEED to replay a failure; fast-check
 * prints the seed (and the shrunk counterexample path) in every property failure.
 */
export const seed: number = process.env.CAIRN_SEED
  ? Number(process.env.CAIRN_SEED)
  : Math.floor(Math.random() * 0x7fffffff)

export function fcOptions(numRuns: number): { seed: number; numRuns: number } {
  return { seed, numRuns }
}

process.on('exit', (code) => {
  if (code !== 0) console.error(`test seed: CAIRN_SEED=${seed}`)
})
