/** Reconnect delays, and the seeded generator that makes their jitter reproducible. */

export { seededRandom } from '@cairn/protocol'

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
