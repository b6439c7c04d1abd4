/** The outcome of decoding or validating untrusted input: a value, or why it was refused. */
export type Result<T> = { ok: true; value: T } | { ok: false; reason: string }

export function ok<T>(value: T): Result<T> {
  return { ok: true, value }
}

export function fail<T = never>(reason: string): Result<T> {
  return { ok: false, reason }
}
