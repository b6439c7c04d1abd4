import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { type Entry, EntryKind, LOADING } from '@cairn/raft'
import type { BatchOffsets, GroupLog } from '../src/index.js'

/** A fresh directory under the OS temp dir; `cleanup` removes it. */
export function tempDir(prefix = 'cairn-storage-'): { path: string; cleanup: () => void } {
  const path = mkdtempSync(join(tmpdir(), prefix))
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) }
}

/** Deterministic entry data for (group, index, salt): length and bytes vary with all three. */
export function dataFor(group: number, index: number, salt = 0, lengthMax = 200): Uint8Array {
  let x =
    (Math.imul(group + 1, 0x9e3779b1) ^
      Math.imul(index + 1, 0x85ebca6b) ^
      Math.imul(salt + 1, 0xc2b2ae35)) >>>
    0
  const next = () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return x >>> 0
  }
  const bytes = new Uint8Array(next() % (lengthMax + 1))
  for (let i = 0; i < bytes.length; i++) bytes[i] = next() & 0xff
  return bytes
}

export function entry(index: number, term: number, data: Uint8Array = dataFor(0, index, term)): Entry {
  return { index, term, kind: EntryKind.normal, data }
}

export function entries(first: number, count: number, term: number): Entry[] {
  return Array.from({ length: count }, (_, i) => entry(first + i, term))
}

/** Reads [lo, hi) through RaftStorage.entries, waiting on onLoaded whenever it answers LOADING. */
export async function readThroughLoads(
  group: GroupLog,
  lo: number,
  hi: number,
  bytesMax: number,
): Promise<Entry[]> {
  const out: Entry[] = []
  const loadsMax = 10 * (hi - lo) + 10
  for (let loads = 0; lo < hi; ) {
    const got = group.entries(lo, hi, bytesMax)
    if (got === LOADING) {
      if (++loads > loadsMax) throw new Error(`entries(${lo}, ${hi}) still loading after ${loadsMax} loads`)
      await nextLoad(group)
      continue
    }
    if (got.length === 0) throw new Error(`entries(${lo}, ${hi}) returned nothing`)
    out.push(...got)
    lo += got.length
  }
  return out
}

/** Resolves at the group's next onLoaded call. */
export function nextLoad(group: GroupLog, timeoutMs = 5000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('onLoaded not called')), timeoutMs)
    group.onLoaded = () => {
      clearTimeout(timer)
      group.onLoaded = null
      resolve()
    }
  })
}

/** A small seeded PRNG (xorshift32) for tests that draw outside fast-check. */
export function prng(seed: number): { next: () => number; int: (lo: number, hi: number) => number } {
  let x = seed >>> 0 || 0x2545f491
  const next = () => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 0x1_0000_0000
  }
  return { next, int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)) }
}

export function same(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((byte, i) => byte === b[i])
}

/** A record batch stand-in: its data is [baseOffset u32][lastOffset u32]. */
export function batch(index: number, term: number, baseOffset: number, count: number): Entry {
  const data = new Uint8Array(8)
  const view = new DataView(data.buffer)
  view.setUint32(0, baseOffset)
  view.setUint32(4, baseOffset + count - 1)
  return { index, term, kind: EntryKind.normal, data }
}

/** The offsets of a {@link batch} stand-in, as the broker's `offsetsOf` hook reports them. */
export function offsetsOf(entry: Entry): BatchOffsets {
  const view = new DataView(entry.data.buffer, entry.data.byteOffset, entry.data.byteLength)
  return { baseOffset: view.getUint32(0), lastOffset: view.getUint32(4) }
}

/**
 * A full garbage collection, after the current job: objects a WeakRef was made to in this job are
 * kept alive until it ends. Then `ref.deref() === undefined` means nothing else holds the object.
 */
export async function collectGarbage(): Promise<void> {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as () => void
  await new Promise((resolve) => setImmediate(resolve))
  gc()
}
