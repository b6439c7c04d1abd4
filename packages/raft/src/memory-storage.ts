import type { Entry, HardState, LOADING, LogStart, LogWrite, Membership, RaftStorage } from './types.js'

interface LogState {
  hardState: HardState
  logStart: LogStart
  /** entries[k] has index logStart.index + 1 + k */
  entries: Entry[]
}

function applyWrite(state: LogState, write: LogWrite): void {
  if (write.hardState) state.hardState = { ...write.hardState }
  if (write.logStart) {
    const start = write.logStart
    const old = state.logStart
    const k = start.index - old.index - 1
    const same = start.index === old.index && start.term === old.term
    const keeps = same || (k >= 0 && k < state.entries.length && state.entries[k]!.term === start.term)
    // The entry at the new start is ours: retention drops the prefix. Otherwise (a leader's
    // log start beyond or against our log) nothing of the old log survives.
    state.entries = keeps ? state.entries.slice(Math.max(0, k + 1)) : []
    state.logStart = start
  }
  const entries = write.entries
  if (entries && entries.length > 0) {
    const first = entries[0]!.index
    const keep = first - state.logStart.index - 1
    if (keep < 0 || keep > state.entries.length) {
      throw new Error(
        `append at ${first} does not continue a log ending at ${state.logStart.index + state.entries.length}`,
      )
    }
    state.entries.length = keep
    for (const e of entries) state.entries.push(e)
  }
}

export function initialLogStart(membership: Membership): LogStart {
  return { index: 0, term: 0, payload: new Uint8Array(0), membership }
}

/**
 * RaftStorage in memory that models durability: every write is visible at once but stays
 * pending until {@link sync}; {@link crash} drops what is pending, as a power loss drops what
 * was never fsynced. A sync is atomic (LevelDB applies a synced batch whole or not at all).
 */
export class MemoryStorage implements RaftStorage {
  private working: LogState
  private durable: LogState
  private pending: LogWrite[] = []

  constructor(membership: Membership) {
    const empty = (): LogState => ({
      hardState: { term: 0, vote: 0, commit: 0 },
      logStart: initialLogStart(membership),
      entries: [],
    })
    this.working = empty()
    this.durable = empty()
  }

  initialState(): { hardState: HardState; logStart: LogStart; lastIndex: number } {
    return {
      hardState: { ...this.working.hardState },
      logStart: this.working.logStart,
      lastIndex: this.lastIndex(),
    }
  }

  lastIndex(): number {
    return this.working.logStart.index + this.working.entries.length
  }

  logStart(): LogStart {
    return this.working.logStart
  }

  term(index: number): number | undefined {
    const start = this.working.logStart
    if (index === start.index) return start.term
    return this.working.entries[index - start.index - 1]?.term
  }

  entries(lo: number, hi: number, bytesMax: number): Entry[] | typeof LOADING {
    const base = this.working.logStart.index + 1
    if (lo < base || hi > this.lastIndex() + 1) {
      throw new Error(`entries [${lo}, ${hi}) outside the log [${base}, ${this.lastIndex() + 1})`)
    }
    const out: Entry[] = []
    let bytes = 0
    for (let i = lo; i < hi; i++) {
      const e = this.working.entries[i - base]!
      bytes += e.data.byteLength
      if (out.length > 0 && bytes > bytesMax) break
      out.push(e)
    }
    return out
  }

  write(write: LogWrite): void {
    applyWrite(this.working, write)
    this.pending.push(write)
  }

  /** Makes the first `count` pending writes (by default all) durable, in order. */
  sync(count = this.pending.length): void {
    for (const w of this.pending.slice(0, count)) applyWrite(this.durable, w)
    this.pending = this.pending.slice(count)
  }

  hasPending(): boolean {
    return this.pending.length > 0
  }

  pendingCount(): number {
    return this.pending.length
  }

  /** Power loss: what was not synced is gone. */
  crash(): void {
    this.pending = []
    this.working = {
      hardState: { ...this.durable.hardState },
      logStart: this.durable.logStart,
      entries: [...this.durable.entries],
    }
  }

  /** The durable log, for checkers. */
  durableState(): Readonly<LogState> {
    return this.durable
  }
}
