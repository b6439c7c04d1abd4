/** Reconnect delays, and the seeded generator that makes their jitter reproducible. */

/** A small, fast PRNG (mulberry32): the same seed gives the same sequence in [0, 1). */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0
  return () => {
    state = (state + 0x6d2b79f5) >>> 0
    let t = state
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * Delay before reconnect attempt `attempt` (0 = first retry): exponential from `minMs`, capped at
 * `maxMs`, then scaled into 50..100% so that nodes restarted together do not redial in lockstep.
 */
export function reconnectDelayMs(
  attempt: number,
  minMs: number,
  maxMs: number,
  random: () => number,
): number {
  const exponential = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30))
  return Math.round(exponential * (0.5 + random() / 2))
}
