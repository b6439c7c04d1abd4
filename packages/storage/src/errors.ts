import type { GroupId } from '@cairn/raft'

/**
 * A stored value failed its checksum or could not be decoded. The group that holds it is
 * `damaged`: its reads and writes throw this error from then on. Other groups are unaffected.
 */
export class CorruptLogError extends Error {
  override readonly name = 'CorruptLogError'
  constructor(
    readonly group: GroupId,
    readonly detail: string,
  ) {
    super(`group ${group}: corrupt log: ${detail}`)
  }
}

/** A write that breaks the log's invariants (non-contiguous entries, a gap, a term going back). */
export class InvalidWriteError extends Error {
  override readonly name = 'InvalidWriteError'
  constructor(
    readonly group: GroupId,
    detail: string,
  ) {
    super(`group ${group}: invalid write: ${detail}`)
  }
}

/** The store is closed, or a batch failed to write and the store stopped (fail-stop). */
export class StoreClosedError extends Error {
  override readonly name = 'StoreClosedError'
  constructor(detail: string, options?: { cause?: unknown }) {
    super(`log store: ${detail}`, options)
  }
}

/** The database was written in a layout this version does not read; nothing in it was changed. */
export class StoreFormatError extends Error {
  override readonly name = 'StoreFormatError'
  constructor(
    readonly path: string,
    detail: string,
  ) {
    super(`log store at ${path}: ${detail}`)
  }
}
