/**
 * Offset-index rows read from LevelDB, kept for repeated lookups (consumers re-fetching the same
 * region). Sorted by last offset; bounded by `rowsMax`, dropping the lowest offsets first since
 * those are the first to fall to retention.
 */

import type { OffsetRow } from './codec.js'

export class OffsetRowCache {
  private rows: OffsetRow[] = []

  constructor(private readonly rowsMax: number) {}

  /** The cached row whose batch holds `offset`, if it is still current. */
  find(offset: number, isCurrent: (row: OffsetRow) => boolean): OffsetRow | undefined {
    const at = this.firstAtOrAfter(offset)
    const row = this.rows[at]
    if (row === undefined || row.baseOffset > offset) return undefined
    if (isCurrent(row)) return row
    this.rows.splice(at, 1)
    return undefined
  }

  add(row: OffsetRow): void {
    if (this.rowsMax === 0) return
    const at = this.firstAtOrAfter(row.lastOffset)
    const replace = this.rows[at]?.lastOffset === row.lastOffset ? 1 : 0
    this.rows.splice(at, replace, row)
    if (this.rows.length > this.rowsMax) this.rows.shift()
  }

  private firstAtOrAfter(offset: number): number {
    let lo = 0
    let hi = this.rows.length
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      if (this.rows[mid]!.lastOffset < offset) lo = mid + 1
      else hi = mid
    }
    return lo
  }
}
