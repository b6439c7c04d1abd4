/**
 * The monitor's configuration: TOML shaped like Burrow's, validated into one resolved object.
 * Every error is one line that names the file, the section and the key.
 *
 *   [general]          access-control-allow-origin, client-id
 *   [cluster.NAME]     servers (or bootstrap), offset-refresh (s, 10), source (auto | offsets-topic | admin)
 *   [evaluator]        intervals (10), allowed-lag (0), minimum-complete (0..1, 0)
 *   [storage]          intervals, min-distance (s, 1), expire-group (s, 604800), lookup-table-size (60)
 *   [http]             listen ("127.0.0.1:8000", ":8000" or a port)
 *   [notifier.NAME]    url, threshold (WARN), interval (s, 10), send-once (false), send-close (true),
 *                      retries (3), backoff (s, 1), timeout (s, 5), cluster, group-allowlist,
 *                      group-denylist, extras (a table of strings)
 *
 * Times are seconds, as in Burrow; fractions are allowed. `[evaluator.default]`, Burrow's named
 * form, is read like `[evaluator]` (the same for storage). The programmatic form is the same tree
 * with camelCase keys (`offsetRefresh`, `allowedLag`, ...), validated by the same code.
 */
import { readFileSync } from 'node:fs'
import { parse } from 'smol-toml'
import { type StatusName, statusCodes } from './status.js'

export class ConfigError extends Error {
  override readonly name = 'ConfigError'
}

export type SourceKind = 'auto' | 'offsets-topic' | 'admin'

export interface ClusterConfig {
  name: string
  servers: string[]
  offsetRefreshMs: number
  source: SourceKind
}

export interface NotifierConfig {
  name: string
  url: string
  threshold: StatusName
  intervalMs: number
  sendOnce: boolean
  sendClose: boolean
  retries: number
  backoffMs: number
  timeoutMs: number
  cluster: string | null
  groupAllowlist: RegExp | null
  groupDenylist: RegExp | null
  extras: Record<string, string>
}

export interface LagConfig {
  general: { accessControlAllowOrigin: string | null; clientId: string }
  clusters: ClusterConfig[]
  evaluator: { intervals: number; allowedLag: number; minimumComplete: number }
  storage: { intervals: number; minDistanceMs: number; expireGroupMs: number; lookupTableSize: number }
  http: { host: string; port: number }
  notifiers: NotifierConfig[]
}

/** Limits on what a config may ask for. */
export const configLimits = Object.freeze({
  intervalsMax: 1000,
  lookupTableSizeMax: 10_000,
  retriesMax: 20,
  clustersMax: 64,
  notifiersMax: 64,
})

type Table = Record<string, unknown>

const isTable = (v: unknown): v is Table =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date)

const kebab = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)

/** Setting names from camelCase to kebab-case; `extras` keeps its keys as they are. */
function kebabKeys(t: Table): Table {
  const out: Table = {}
  for (const [k, x] of Object.entries(t)) {
    const key = kebab(k)
    out[key] = key === 'extras' || !isTable(x) ? x : kebabKeys(x)
  }
  return out
}

/** The programmatic form to TOML's: section and setting names converted, cluster and notifier names kept. */
function kebabTree(root: unknown): unknown {
  if (!isTable(root)) return root
  const out: Table = {}
  for (const [section, v] of Object.entries(root)) {
    const key =
      ({ clusters: 'cluster', notifiers: 'notifier' } as Record<string, string>)[section] ?? kebab(section)
    if ((key === 'cluster' || key === 'notifier') && isTable(v))
      out[key] = Object.fromEntries(
        Object.entries(v).map(([name, t]) => [name, isTable(t) ? kebabKeys(t) : t]),
      )
    else out[key] = isTable(v) ? kebabKeys(v) : v
  }
  return out
}

class Reader {
  constructor(
    private readonly where: string,
    private readonly section: string,
    private readonly table: Table,
    allowed: string[],
  ) {
    for (const key of Object.keys(table))
      if (!allowed.includes(key)) this.fail(`unknown key '${key}' (known: ${allowed.join(', ')})`)
  }

  fail(message: string): never {
    throw new ConfigError(`${this.where}: [${this.section}] ${message}`)
  }

  raw(key: string): unknown {
    return this.table[key]
  }

  has(key: string): boolean {
    return this.table[key] !== undefined
  }

  string(key: string, fallback: string | null): string | null {
    const v = this.table[key]
    if (v === undefined) return fallback
    if (typeof v !== 'string' || v === '') this.fail(`${key} must be a non-empty string, got ${show(v)}`)
    return v
  }

  number(
    key: string,
    fallback: number,
    check: { min: number; max?: number; integer?: boolean; above?: boolean },
  ): number {
    const v = this.table[key]
    if (v === undefined) return fallback
    const { min, max = Number.MAX_SAFE_INTEGER, integer = false, above = false } = check
    const ok =
      typeof v === 'number' &&
      Number.isFinite(v) &&
      (above ? v > min : v >= min) &&
      v <= max &&
      (!integer || Number.isSafeInteger(v))
    if (!ok)
      this.fail(
        `${key} must be ${integer ? 'an integer' : 'a number'} ${above ? '>' : '≥'} ${min}${max < Number.MAX_SAFE_INTEGER ? ` and ≤ ${max}` : ''}, got ${show(v)}`,
      )
    return v as number
  }

  seconds(key: string, fallbackS: number): number {
    return Math.round(this.number(key, fallbackS, { min: 0, above: true }) * 1000)
  }

  boolean(key: string, fallback: boolean): boolean {
    const v = this.table[key]
    if (v === undefined) return fallback
    if (typeof v !== 'boolean') this.fail(`${key} must be true or false, got ${show(v)}`)
    return v
  }

  regex(key: string): RegExp | null {
    const s = this.string(key, null)
    if (s === null) return null
    try {
      return new RegExp(s)
    } catch (err) {
      this.fail(`${key} is not a valid regular expression: ${(err as Error).message}`)
    }
  }

  /** A list of strings, as an array or one comma-separated string. */
  list(key: string): string[] | undefined {
    const v = this.table[key]
    if (v === undefined) return undefined
    const items = typeof v === 'string' ? v.split(',').map((s) => s.trim()) : v
    if (!Array.isArray(items) || items.length === 0 || !items.every((s) => typeof s === 'string' && s !== ''))
      this.fail(`${key} must be a list of strings like ["127.0.0.1:9091"], got ${show(v)}`)
    return items as string[]
  }
}

function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v)
  if (v instanceof RegExp) return String(v)
  try {
    return JSON.stringify(v) ?? String(v)
  } catch {
    return String(v)
  }
}

/** `[storage]` or Burrow's `[storage.default]`: a table of keys, or one named table of them. */
function moduleSection(where: string, root: Table, name: string): { table: Table; label: string } {
  const v = root[name]
  if (v === undefined) return { table: {}, label: name }
  if (!isTable(v)) throw new ConfigError(`${where}: ${name} must be a table ([${name}])`)
  const entries = Object.entries(v)
  if (entries.length === 1 && isTable(entries[0]![1]))
    return { table: entries[0]![1], label: `${name}.${entries[0]![0]}` }
  return { table: v, label: name }
}

function namedSections(where: string, root: Table, name: string, max: number): [string, Table][] {
  const v = root[name]
  if (v === undefined) return []
  if (!isTable(v) || !Object.values(v).every(isTable))
    throw new ConfigError(`${where}: ${name} sections are named: [${name}.NAME]`)
  const entries = Object.entries(v) as [string, Table][]
  if (entries.length > max)
    throw new ConfigError(`${where}: at most ${max} [${name}.NAME] sections, got ${entries.length}`)
  return entries
}

const SERVER = /^[^\s:,]+:\d{1,5}$/

function readCluster(where: string, name: string, t: Table): ClusterConfig {
  const r: Reader = new Reader(where, `cluster.${name}`, t, [
    'servers',
    'bootstrap',
    'offset-refresh',
    'source',
    'class-name',
    'topic-refresh',
  ])
  if (r.has('servers') && r.has('bootstrap')) r.fail('set servers or bootstrap, not both')
  const servers = r.list('servers') ?? r.list('bootstrap')
  if (!servers) r.fail('needs servers: the bootstrap addresses, like servers = ["127.0.0.1:9091"]')
  for (const s of servers) if (!SERVER.test(s)) r.fail(`server '${s}' is not HOST:PORT`)
  const source = r.string('source', 'auto')
  if (source !== 'auto' && source !== 'offsets-topic' && source !== 'admin')
    r.fail(`source must be auto, offsets-topic or admin, got ${show(source)}`)
  r.seconds('topic-refresh', 60) // accepted for Burrow configs; every offset refresh lists topics
  return { name, servers, offsetRefreshMs: r.seconds('offset-refresh', 10), source }
}

function readThreshold(r: Reader): StatusName {
  const v = r.raw('threshold')
  if (v === undefined) return 'WARN'
  const byCode = Object.entries(statusCodes).find(([, code]) => code === v)?.[0]
  const name = typeof v === 'string' ? v.toUpperCase() : byCode
  if (name !== 'OK' && name !== 'WARN' && name !== 'ERR')
    r.fail(`threshold must be OK, WARN or ERR (or 1, 2, 3), got ${show(v)}`)
  return name
}

function readNotifier(where: string, name: string, t: Table, clusters: string[]): NotifierConfig {
  const r: Reader = new Reader(where, `notifier.${name}`, t, [
    'url',
    'threshold',
    'interval',
    'send-once',
    'send-close',
    'retries',
    'backoff',
    'timeout',
    'cluster',
    'group-allowlist',
    'group-denylist',
    'extras',
    'class-name',
  ])
  const url = r.string('url', null)
  if (url === null) r.fail('needs url: where to POST incidents, like url = "http://127.0.0.1:9000/hook"')
  let parsed: URL | null = null
  try {
    parsed = new URL(url)
  } catch {}
  if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:'))
    r.fail(`url must be an http:// or https:// URL, got ${show(url)}`)
  const cluster = r.string('cluster', null)
  if (cluster !== null && !clusters.includes(cluster))
    r.fail(`cluster '${cluster}' has no [cluster.${cluster}] section`)
  const extras = t.extras
  if (
    extras !== undefined &&
    (!isTable(extras) || !Object.values(extras).every((x) => typeof x === 'string'))
  )
    r.fail(`extras must be a table of strings, got ${show(extras)}`)
  return {
    name,
    url,
    threshold: readThreshold(r),
    intervalMs: r.seconds('interval', 10),
    sendOnce: r.boolean('send-once', false),
    sendClose: r.boolean('send-close', true),
    retries: r.number('retries', 3, { min: 0, max: configLimits.retriesMax, integer: true }),
    backoffMs: r.seconds('backoff', 1),
    timeoutMs: r.seconds('timeout', 5),
    cluster,
    groupAllowlist: r.regex('group-allowlist'),
    groupDenylist: r.regex('group-denylist'),
    extras: { ...((extras as Record<string, string> | undefined) ?? {}) },
  }
}

/** "host:port", ":port" or a port number → where the HTTP server listens. */
export function parseListen(value: unknown, fail: (m: string) => never): { host: string; port: number } {
  if (typeof value === 'number') value = `:${value}`
  const m = typeof value === 'string' ? /^(.*):(\d{1,5})$/.exec(value) : null
  const port = m ? Number(m[2]) : -1
  if (!m || port > 65535) fail(`listen must be "HOST:PORT", ":PORT" or a port number, got ${show(value)}`)
  const host = m[1] === '' ? '0.0.0.0' : m[1]!.replace(/^\[(.*)\]$/, '$1')
  return { host, port }
}

/** Validates a parsed config tree (TOML's, or the camelCase programmatic form). */
export function resolveConfig(tree: unknown, where = 'config'): LagConfig {
  const root = kebabTree(tree)
  if (!isTable(root)) throw new ConfigError(`${where}: the config must be a table`)
  const sections = ['general', 'cluster', 'evaluator', 'storage', 'http', 'notifier']
  for (const key of Object.keys(root))
    if (!sections.includes(key))
      throw new ConfigError(`${where}: unknown section [${key}] (known: ${sections.join(', ')})`)

  const general = new Reader(where, 'general', isTable(root.general) ? root.general : {}, [
    'access-control-allow-origin',
    'client-id',
  ])
  const clusters = namedSections(where, root, 'cluster', configLimits.clustersMax).map(([n, t]) =>
    readCluster(where, n, t),
  )
  if (clusters.length === 0)
    throw new ConfigError(`${where}: no cluster to watch: add a [cluster.NAME] section with servers`)

  const ev = moduleSection(where, root, 'evaluator')
  const evaluator = new Reader(where, ev.label, ev.table, [
    'intervals',
    'allowed-lag',
    'minimum-complete',
    'class-name',
  ])
  const st = moduleSection(where, root, 'storage')
  const storage = new Reader(where, st.label, st.table, [
    'intervals',
    'min-distance',
    'expire-group',
    'lookup-table-size',
    'class-name',
  ])
  const intervalsCheck = { min: 1, max: configLimits.intervalsMax, integer: true }
  const evIntervals = evaluator.number('intervals', 10, intervalsCheck)
  const stIntervals = storage.number('intervals', evIntervals, intervalsCheck)
  if (evaluator.has('intervals') && storage.has('intervals') && evIntervals !== stIntervals)
    throw new ConfigError(
      `${where}: intervals is ${evIntervals} in [${ev.label}] but ${stIntervals} in [${st.label}]; set it once`,
    )
  const intervals = evaluator.has('intervals') ? evIntervals : stIntervals

  const httpTable = isTable(root.http) ? root.http : {}
  const http = new Reader(where, 'http', httpTable, ['listen'])
  const listen = parseListen(httpTable.listen ?? '127.0.0.1:8000', (m) => http.fail(m))

  const names = clusters.map((c) => c.name)
  const notifiers = namedSections(where, root, 'notifier', configLimits.notifiersMax).map(([n, t]) =>
    readNotifier(where, n, t, names),
  )
  return {
    general: {
      accessControlAllowOrigin: general.string('access-control-allow-origin', null),
      clientId: general.string('client-id', 'cairn-lag')!,
    },
    clusters,
    evaluator: {
      intervals,
      allowedLag: evaluator.number('allowed-lag', 0, { min: 0, integer: true }),
      minimumComplete: evaluator.number('minimum-complete', 0, { min: 0, max: 1 }),
    },
    storage: {
      intervals,
      minDistanceMs: Math.round(storage.number('min-distance', 1, { min: 0 }) * 1000),
      expireGroupMs: storage.seconds('expire-group', 604_800),
      lookupTableSize: storage.number('lookup-table-size', 60, {
        min: 2,
        max: configLimits.lookupTableSizeMax,
        integer: true,
      }),
    },
    http: listen,
    notifiers,
  }
}

/** Parses and validates TOML text; `where` names it in errors (the file's path). */
export function parseConfig(text: string, where = 'config'): LagConfig {
  let tree: unknown
  try {
    tree = parse(text)
  } catch (err) {
    const e = err as Error & { line?: number; column?: number }
    const first = e.message.split('\n')[0]!.replace(/^Invalid TOML document: /, '')
    throw new ConfigError(`${where}:${e.line ?? '?'}:${e.column ?? '?'}: TOML syntax error: ${first}`)
  }
  return resolveConfig(tree, where)
}

export function loadConfig(path: string): LagConfig {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ConfigError(
      `cannot read config ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    )
  }
  return parseConfig(text, path)
}
