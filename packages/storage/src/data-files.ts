/**
 * Entries' data in files of the node's own, one per segment of the key space (keys.ts), so that
 * LevelDB holds small rows only and each byte of a large batch is written once: into the segment's
 * file with `writev`, then made durable with `fdatasync`, before the LevelDB batch whose entry rows
 * point at it is written (group-commit.ts). A crash can leave bytes in a file that no row points
 * at; never a row that points at bytes not durable.
 *
 *   <store>/segments/<segment, 10 digits>.data
 *
 * A file is only ever appended to while its segment is the one being written, at positions the
 * group commit reserved in batch order (positional writes). After a restart the store writes a
 * new segment, so an older file is never written again. A file is removed once no group has a run
 * in its segment any more (retention, truncation), and at open if no directory row names its
 * segment (a crash between its creation and the first durable batch, or its removal).
 *
 * Reads are positional too, through a bounded set of open descriptors (`readFilesOpenMax`).
 */

import {
  closeSync,
  constants,
  fdatasync,
  fsync,
  mkdirSync,
  open,
  openSync,
  read,
  readdirSync,
  unlink,
  unlinkSync,
  writev,
} from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'

const writevAsync = promisify(writev)
const readAsync = promisify(read)
const fdatasyncAsync = promisify(fdatasync)
const fsyncAsync = promisify(fsync)
const openAsync = promisify(open)
const unlinkAsync = promisify(unlink)

const DATA_DIR = 'segments'
const SUFFIX = '.data'
/** Buffers handed to one `writev` call: Linux's IOV_MAX. */
const IOVECS_PER_WRITE_MAX = 1024

function dataFileName(segment: number): string {
  return `${String(segment).padStart(10, '0')}${SUFFIX}`
}

function segmentOfName(name: string): number | undefined {
  if (!name.endsWith(SUFFIX)) return undefined
  const digits = name.slice(0, -SUFFIX.length)
  if (!/^\d{10}$/.test(digits)) return undefined
  return Number(digits)
}

interface Reader {
  fd: number
  /** Reads in flight on `fd`: it is closed only when none is. */
  users: number
  /** The file was removed: close `fd` once the last read is done. */
  removed: boolean
}

export interface DataFileStats {
  /** `fdatasync`s of data files: one per batch that carried data outside LevelDB. */
  dataSyncs: number
  /** Entry data bytes written to data files. */
  dataBytesWritten: number
  /** Data files removed because no group had a run in their segment any more. */
  dataFilesRemoved: number
  /** Removals that failed: the file stays, garbage no row points at; the next open tries again. */
  dataFileRemoveFailures: number
}

export class DataFiles {
  readonly stats: DataFileStats = {
    dataSyncs: 0,
    dataBytesWritten: 0,
    dataFilesRemoved: 0,
    dataFileRemoveFailures: 0,
  }
  /** The file being appended to: the segment of the last batch that carried data. */
  private writer: { segment: number; fd: number } | null = null
  private readonly readers = new Map<number, Reader>()
  private closed = false

  private constructor(
    private readonly dir: string,
    private readonly readFilesOpenMax: number,
  ) {}

  /**
   * Opens (creating) `<store>/segments` and removes the files of segments no directory row names
   * (`keep` answers for each); returns the store's data files.
   */
  static open(storeDir: string, keep: (segment: number) => boolean, readFilesOpenMax: number): DataFiles {
    const dir = join(storeDir, DATA_DIR)
    mkdirSync(dir, { recursive: true })
    const files = new DataFiles(dir, readFilesOpenMax)
    for (const name of readdirSync(dir)) {
      const segment = segmentOfName(name)
      if (segment !== undefined && !keep(segment)) files.removeSync(segment)
    }
    return files
  }

  /** Descriptors open for reads now. */
  readersOpen(): number {
    return this.readers.size
  }

  /**
   * Writes `parts` back to back at `position` of `segment`'s file and makes them durable. The
   * first write into a segment creates its file (truncating a leftover of a crash: no row points
   * into it) and makes the directory entry durable as well.
   */
  async append(segment: number, position: number, parts: readonly Uint8Array[]): Promise<void> {
    this.assertOpen()
    const fd = await this.writerFor(segment)
    let bytes = 0
    for (let i = 0; i < parts.length; i += IOVECS_PER_WRITE_MAX) {
      const chunk = parts.slice(i, i + IOVECS_PER_WRITE_MAX)
      bytes += await writeAll(fd, chunk, position + bytes)
    }
    await fdatasyncAsync(fd)
    this.stats.dataSyncs++
    this.stats.dataBytesWritten += bytes
  }

  /** `length` bytes at `position` of `segment`'s file; fewer only if the file ends before. */
  async read(segment: number, position: number, length: number): Promise<Uint8Array> {
    this.assertOpen()
    const reader = this.readerFor(segment)
    reader.users++
    try {
      const buffer = Buffer.allocUnsafe(length)
      let got = 0
      while (got < length) {
        const { bytesRead } = await readAsync(reader.fd, buffer, got, length - got, position + got)
        if (bytesRead === 0) break
        got += bytesRead
      }
      return new Uint8Array(buffer.buffer, buffer.byteOffset, got)
    } finally {
      reader.users--
      this.release(segment, reader)
    }
  }

  /**
   * Removes `segment`'s file; reads in flight finish first (an unlinked file stays readable).
   * Never rejects: a file that cannot be removed is counted (`dataFileRemoveFailures`) and left
   * for the next open to try again; a node neither stops nor refuses to start over garbage.
   */
  async remove(segment: number): Promise<void> {
    if (this.closed) return
    if (this.writer?.segment === segment) {
      closeSync(this.writer.fd)
      this.writer = null
    }
    const reader = this.readers.get(segment)
    if (reader !== undefined) {
      reader.removed = true
      this.release(segment, reader)
    }
    await unlinkAsync(join(this.dir, dataFileName(segment))).then(
      () => {
        this.stats.dataFilesRemoved++
      },
      (error: unknown) => this.removeFailed(error),
    )
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    if (this.writer !== null) closeSync(this.writer.fd)
    this.writer = null
    for (const reader of this.readers.values()) if (reader.users === 0) closeSync(reader.fd)
    this.readers.clear()
  }

  private async writerFor(segment: number): Promise<number> {
    if (this.writer?.segment === segment) return this.writer.fd
    if (this.writer !== null) closeSync(this.writer.fd)
    this.writer = null
    const fd = await openAsync(
      join(this.dir, dataFileName(segment)),
      constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC,
      0o644,
    )
    this.writer = { segment, fd }
    // The new name must survive a crash as well as the bytes: fsync the directory once per file.
    const dirFd = await openAsync(this.dir, constants.O_RDONLY)
    try {
      await fsyncAsync(dirFd)
    } finally {
      closeSync(dirFd)
    }
    return fd
  }

  private readerFor(segment: number): Reader {
    let reader = this.readers.get(segment)
    if (reader !== undefined) {
      // Most recently used last: Map keeps insertion order.
      this.readers.delete(segment)
      this.readers.set(segment, reader)
      return reader
    }
    reader = { fd: openSync(join(this.dir, dataFileName(segment)), 'r'), users: 0, removed: false }
    this.readers.set(segment, reader)
    this.evictIdleReaders()
    return reader
  }

  private release(segment: number, reader: Reader): void {
    if (reader.users > 0) return
    if (reader.removed || this.closed) {
      if (this.readers.get(segment) === reader) this.readers.delete(segment)
      closeSync(reader.fd)
    }
  }

  /** Closes the least recently used idle descriptors beyond `readFilesOpenMax`. */
  private evictIdleReaders(): void {
    for (const [segment, reader] of this.readers) {
      if (this.readers.size <= this.readFilesOpenMax) return
      if (reader.users > 0) continue
      this.readers.delete(segment)
      closeSync(reader.fd)
    }
  }

  private removeSync(segment: number): void {
    try {
      unlinkSync(join(this.dir, dataFileName(segment)))
      this.stats.dataFilesRemoved++
    } catch (error) {
      this.removeFailed(error)
    }
  }

  /** A file already gone is what removal wanted; any other failure is counted and the file left. */
  private removeFailed(error: unknown): void {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') this.stats.dataFileRemoveFailures++
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('data files closed')
  }
}

async function writeAll(fd: number, parts: Uint8Array[], position: number): Promise<number> {
  let total = 0
  for (const part of parts) total += part.byteLength
  let written = 0
  let pending = parts
  while (written < total) {
    const { bytesWritten } = await writevAsync(fd, pending, position + written)
    if (bytesWritten <= 0) throw new Error(`writev wrote ${bytesWritten} bytes`)
    written += bytesWritten
    if (written < total) pending = skipBytes(pending, bytesWritten)
  }
  return total
}

/** `parts` without their first `bytes` bytes (after a short write). */
function skipBytes(parts: Uint8Array[], bytes: number): Uint8Array[] {
  let skip = bytes
  let i = 0
  while (i < parts.length && skip >= parts[i]!.byteLength) skip -= parts[i++]!.byteLength
  const rest = parts.slice(i)
  if (skip > 0 && rest.length > 0) rest[0] = rest[0]!.subarray(skip)
  return rest
}
