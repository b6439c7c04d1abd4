/**
 * The in-memory tail of one group's log: entries [start, end) with nothing missing in between.
 *
 * Invariant: every entry whose batch is not yet durable is in the tail. Entries leave the front
 * only once their batch is written (so a LevelDB read finds them) and only while the tail holds
 * more than its byte budget; they leave the back by suffix truncation.
 */

import { isWhole } from '@cairn/protocol'
import type { Entry } from '@cairn/raft'

/** What a record batch entry covers, as the broker's `offsetsOf` hook reports it. */
export interface BatchOffsets {
  baseOffset: number
  lastOffset: number
}

export interface CachedEntry {
  entry: Entry
  /** Sequence number of the group-commit batch that carries the entry's write. */
  batchSeq: number
  offsets: BatchOffsets | undefined
}

/** Charged per cached entry on top of its data, for the Entry and bookkeeping objects. */
export const CACHED_ENTRY_OVERHEAD_BYTES = 96
/**
 * An entry this small that is a view into a larger buffer is copied before it is kept, rather
 * than pin (and be charged) the whole buffer: a copy of a few KiB costs less than a frame kept.
 */
export const CACHED_VIEW_COPY_BYTES_MAX = 4096

/**
 * What to keep of an entry: itself, unless its data is a small view into a larger buffer (a
 * decoded frame's), then a copy. Larger views are kept as they are and the cache charges their
 * whole buffer.
 */
export function keptEntry(entry: Entry): Entry {
  const { data } = entry
  if (isWhole(data) || data.byteLength > CACHED_VIEW_COPY_BYTES_MAX) return entry
  return { ...entry, data: new Uint8Array(data) }
}
/** Compact the backing array once this many evicted slots precede the live ones. */
const COMPACT_SLOTS_MIN = 1024

export class TailCache {
  /** Live entries from `head` on; the slots before it are evicted and hold `undefined`, so that
   * an evicted entry's data is not kept alive until the next compaction. */
  private items: (CachedEntry | undefined)[] = []
  private head = 0
  private startIndex: number
  /**
   * Bytes charged: each entry's overhead, the data of each entry that owns its buffer, and once
   * each distinct buffer that entries are views into (a decoded frame holds several entries, of
   * this group and others; the cache keeps all of it alive while one of them stays).
   */
  bytes = 0
  /** Cached entries that are views into each shared buffer. */
  private readonly views = new Map<ArrayBufferLike, number>()

  constructor(start: number) {
    this.startIndex = start
  }

  /** First cached index; equals `end` when the tail is empty. */
  get start(): number {
    return this.startIndex
  }

  /** One past the last cached index. */
  get end(): number {
    return this.startIndex + this.items.length - this.head
  }

  get count(): number {
    return this.items.length - this.head
  }

  /** Empties the tail; the next pushed entry must be `start`. */
  reset(start: number): CachedEntry[] {
    const removed = this.items.slice(this.head) as CachedEntry[]
    this.items = []
    this.head = 0
    this.bytes = 0
    this.views.clear()
    this.startIndex = start
    return removed
  }

  push(cached: CachedEntry): void {
    if (cached.entry.index !== this.end) {
      throw new Error(`tail cache: pushed ${cached.entry.index}, expected ${this.end}`)
    }
    this.items.push(cached)
    this.charge(cached.entry.data, 1)
  }

  get(index: number): CachedEntry | undefined {
    if (index < this.startIndex || index >= this.end) return undefined
    return this.items[this.head + index - this.startIndex]
  }

  /** Removes entries at or after `index`; returns them. */
  truncateFrom(index: number): CachedEntry[] {
    if (index <= this.startIndex) return this.reset(index)
    if (index >= this.end) return []
    const removed = this.items.splice(this.head + index - this.startIndex) as CachedEntry[]
    for (const cached of removed) this.charge(cached.entry.data, -1)
    return removed
  }

  /** Removes entries at or before `index` (prefix deletion). */
  dropThrough(index: number): void {
    if (index >= this.end - 1) {
      this.reset(Math.max(index + 1, this.startIndex))
      return
    }
    while (this.startIndex <= index) this.shift()
  }

  /** Evicts from the front while over `bytesMax`, never an entry of a batch after `durableSeq`. */
  evict(bytesMax: number, durableSeq: number): void {
    while (this.bytes > bytesMax && this.count > 0 && this.items[this.head]!.batchSeq <= durableSeq)
      this.shift()
  }

  /** Entries [lo, hi) — at least one, then while the data stays within `bytesMax`. */
  slice(lo: number, hi: number, bytesMax: number): Entry[] {
    const out: Entry[] = []
    let bytes = 0
    for (let index = lo; index < hi; index++) {
      const cached = this.get(index)
      if (cached === undefined) break
      bytes += cached.entry.data.length
      if (out.length > 0 && bytes > bytesMax) break
      out.push(cached.entry)
    }
    return out
  }

  /** The first cached record batch whose last offset is >= `offset`. */
  offsetsAtOrAfter(offset: number): CachedEntry | undefined {
    let lo = this.head
    let hi = this.items.length
    // Entries without offsets (no-ops, config) sit between batches; a linear step skips them.
    while (lo < hi) {
      const mid = (lo + hi) >>> 1
      const found = this.nearestOffsets(mid, hi)
      if (found === undefined) hi = mid
      else if (found.cached.offsets!.lastOffset < offset) lo = found.at + 1
      else hi = mid
    }
    return this.nearestOffsets(lo, this.items.length)?.cached
  }

  private nearestOffsets(from: number, to: number): { cached: CachedEntry; at: number } | undefined {
    for (let at = from; at < to; at++) {
      const cached = this.items[at]!
      if (cached.offsets !== undefined) return { cached, at }
    }
    return undefined
  }

  /** Charges (+1) or releases (-1) one entry's data. */
  private charge(data: Uint8Array, sign: 1 | -1): void {
    this.bytes += sign * CACHED_ENTRY_OVERHEAD_BYTES
    if (isWhole(data)) {
      this.bytes += sign * data.byteLength
      return
    }
    const { buffer } = data
    const holders = (this.views.get(buffer) ?? 0) + sign
    if (holders === 0) this.views.delete(buffer)
    else this.views.set(buffer, holders)
    // The buffer is charged by its first holder and released with its last.
    if ((sign === 1 && holders === 1) || holders === 0) this.bytes += sign * buffer.byteLength
  }

  private shift(): void {
    const cached = this.items[this.head]!
    this.charge(cached.entry.data, -1)
    this.items[this.head] = undefined
    this.head++
    this.startIndex++
    if (this.head >= COMPACT_SLOTS_MIN && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head)
      this.head = 0
    }
  }
}
