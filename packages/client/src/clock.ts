/**
 * Time, injected: the producer reads the clock and sets timers only through a {@link Clock}, so a
 * test drives linger, backoff and timeouts in virtual time with {@link VirtualClock}.
 */

export type TimerHandle = unknown

export interface Clock {
  /** Milliseconds; only differences matter. */
  now(): number
  setTimer(delayMs: number, fn: () => void): TimerHandle
  clearTimer(handle: TimerHandle): void
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (delayMs, fn) => setTimeout(fn, delayMs),
  clearTimer: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
}

export { seededRandom } from '@cairn/protocol'

interface VirtualTimer {
  atMs: number
  /** Timers due at the same time fire in the order they were set. */
  order: number
  fn: () => void
}

/** Let every queued promise continuation run (one macrotask turn drains the microtask queue). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve))
}

/**
 * Virtual time for tests. Nothing moves until `advance`, which fires due timers in time order and
 * lets promise continuations run after each one, so a chain timer → sender → response → timer
 * plays out inside one `advance` exactly as it would in real time, only instantly.
 */
export class VirtualClock implements Clock {
  private nowMs: number
  private nextOrder = 0
  private readonly timers = new Set<VirtualTimer>()

  constructor(startMs = 1_700_000_000_000) {
    this.nowMs = startMs
  }

  now(): number {
    return this.nowMs
  }

  setTimer(delayMs: number, fn: () => void): TimerHandle {
    const timer = { atMs: this.nowMs + Math.max(0, delayMs), order: this.nextOrder++, fn }
    this.timers.add(timer)
    return timer
  }

  clearTimer(handle: TimerHandle): void {
    this.timers.delete(handle as VirtualTimer)
  }

  /** Timers not yet fired. */
  get pendingTimers(): number {
    return this.timers.size
  }

  /** Move time forward by `ms`, firing every timer that falls due on the way. */
  async advance(ms: number): Promise<void> {
    const targetMs = this.nowMs + ms
    await settle()
    for (;;) {
      const next = this.earliest()
      if (next === undefined || next.atMs > targetMs) break
      this.timers.delete(next)
      this.nowMs = Math.max(this.nowMs, next.atMs)
      next.fn()
      await settle()
    }
    this.nowMs = targetMs
    await settle()
  }

  /** Advance in steps of `stepMs` until `done()` holds or `limitMs` of virtual time has passed. */
  async runUntil(done: () => boolean, limitMs: number, stepMs = 1): Promise<boolean> {
    const endMs = this.nowMs + limitMs
    await settle()
    while (!done()) {
      if (this.nowMs >= endMs) return false
      await this.advance(Math.min(stepMs, endMs - this.nowMs))
    }
    return true
  }

  private earliest(): VirtualTimer | undefined {
    let best: VirtualTimer | undefined
    for (const t of this.timers) {
      if (best === undefined || t.atMs < best.atMs || (t.atMs === best.atMs && t.order < best.order)) best = t
    }
    return best
  }
}
