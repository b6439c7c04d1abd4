/**
 * Runs of older entries read back from LevelDB for a replica that is catching up, kept so the
 * call after `onLoaded` (and the next few) are answered from memory. At most `windowsMax` runs,
 * the most recently loaded first; each run holds contiguous entries.
 */

import type { Entry } from '@cairn/raft'

interface Window {
  start: number
  entries: Entry[]
}

export class LoadWindows {
  private windows: Window[] = []

  constructor(private readonly windowsMax: number) {}

  add(start: number, entries: Entry[]): void {
    if (entries.length === 0) return
    this.windows = this.windows.filter((w) => !overlaps(w, start, entries.length))
    this.windows.unshift({ start, entries })
    this.windows.length = Math.min(this.windows.length, this.windowsMax)
  }

  /** Entries from `lo` below `hi`, at least one then within `bytesMax`; undefined if `lo` is not held. */
  slice(lo: number, hi: number, bytesMax: number): { entries: Entry[]; bytes: number } | undefined {
    const window = this.windows.find((w) => w.start <= lo && lo < w.start + w.entries.length)
    if (window === undefined) return undefined
    const entries: Entry[] = []
    let bytes = 0
    for (let i = lo - window.start; i < window.entries.length && window.start + i < hi; i++) {
      const entry = window.entries[i]!
      if (entries.length > 0 && bytes + entry.data.length > bytesMax) break
      bytes += entry.data.length
      entries.push(entry)
    }
    return { entries, bytes }
  }

  /** Forgets entries at or after `index` (suffix truncation). */
  truncateFrom(index: number): void {
    this.windows = this.windows
      .map((w) => ({ start: w.start, entries: w.entries.slice(0, Math.max(0, index - w.start)) }))
      .filter((w) => w.entries.length > 0)
  }

  /** Forgets entries at or before `index` (prefix deletion). */
  dropThrough(index: number): void {
    this.windows = this.windows
      .map((w) => {
        const drop = Math.max(0, index + 1 - w.start)
        return { start: w.start + drop, entries: w.entries.slice(drop) }
      })
      .filter((w) => w.entries.length > 0)
  }

  clear(): void {
    this.windows = []
  }
}

function overlaps(w: Window, start: number, count: number): boolean {
  return w.start < start + count && start < w.start + w.entries.length
}
