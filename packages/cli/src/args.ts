/** Small helpers for the command line: parse HOST:PORT and peer lists, fail with one clear line. */

export class UsageError extends Error {}

export function fail(message: string): never {
  throw new UsageError(message)
}

export function parseHostPort(value: string, what: string): { host: string; port: number } {
  const m = /^(.+):(\d{1,5})$/.exec(value)
  const port = m ? Number(m[2]) : Number.NaN
  if (!m || port < 1 || port > 65535) fail(`${what} '${value}' is not HOST:PORT`)
  return { host: m[1]!, port }
}

/** `1@127.0.0.1:9091,2@127.0.0.1:9092` → node id → address. */
export function parsePeers(value: string): Map<number, { host: string; port: number }> {
  const peers = new Map<number, { host: string; port: number }>()
  for (const item of value.split(',')) {
    const m = /^(\d+)@(.+)$/.exec(item.trim())
    if (!m) fail(`peer '${item}' is not ID@HOST:PORT`)
    const id = Number(m[1])
    if (!Number.isSafeInteger(id) || id < 1) fail(`peer id '${m[1]}' is not a positive integer`)
    if (peers.has(id)) fail(`peer id ${id} appears twice`)
    peers.set(id, parseHostPort(m[2]!, `peer ${id}'s address`))
  }
  return peers
}

export function parseIntOption(value: string | undefined, name: string, fallback: number, min = 0): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < min)
    fail(`--${name} wants an integer of at least ${min}, got '${value}'`)
  return n
}
