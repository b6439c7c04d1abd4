/**
 * Config: Burrow-like TOML sections, defaults, the programmatic camelCase form, and one clear
 * line for every mistake.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { ConfigError, loadConfig, parseConfig, resolveConfig } from '../src/index.js'

const full = `
[general]
access-control-allow-origin = "*"

[cluster.local]
servers = ["127.0.0.1:9091", "127.0.0.1:9092"]
offset-refresh = 0.5

[cluster.dr]
bootstrap = "10.0.0.1:9091, 10.0.0.2:9091"
source = "admin"

[evaluator]
intervals = 6
allowed-lag = 5
minimum-complete = 0.5

[storage]
min-distance = 0.2
expire-group = 3600

[http]
listen = ":8100"

[notifier.ops]
url = "http://127.0.0.1:9000/hook"
threshold = "ERR"
send-once = true
retries = 2
backoff = 0.05
group-denylist = "^console-"
extras = { team = "payments" }
`

function rejects(text: string, message: RegExp) {
  assert.throws(
    () => parseConfig(text, 'lag.toml'),
    (err: Error) => {
      assert.ok(err instanceof ConfigError, `${err}`)
      assert.match(err.message, message)
      assert.equal(err.message.split('\n').length, 1, `one line: ${err.message}`)
      assert.match(err.message, /^lag\.toml/)
      return true
    },
  )
}

describe('config', () => {
  it('reads every section', () => {
    const c = parseConfig(full)
    assert.equal(c.general.accessControlAllowOrigin, '*')
    assert.deepEqual(c.clusters, [
      { name: 'local', servers: ['127.0.0.1:9091', '127.0.0.1:9092'], offsetRefreshMs: 500, source: 'auto' },
      { name: 'dr', servers: ['10.0.0.1:9091', '10.0.0.2:9091'], offsetRefreshMs: 10_000, source: 'admin' },
    ])
    assert.deepEqual(c.evaluator, { intervals: 6, allowedLag: 5, minimumComplete: 0.5 })
    assert.deepEqual(c.storage, {
      intervals: 6,
      minDistanceMs: 200,
      expireGroupMs: 3_600_000,
      lookupTableSize: 60,
    })
    assert.deepEqual(c.http, { host: '0.0.0.0', port: 8100 })
    const [n] = c.notifiers
    assert.equal(n!.name, 'ops')
    assert.equal(n!.threshold, 'ERR')
    assert.equal(n!.sendOnce, true)
    assert.equal(n!.sendClose, true)
    assert.equal(n!.retries, 2)
    assert.equal(n!.backoffMs, 50)
    assert.ok(n!.groupDenylist!.test('console-42'))
    assert.deepEqual(n!.extras, { team: 'payments' })
  })

  it("fills in Burrow's defaults", () => {
    const c = parseConfig('[cluster.local]\nservers = ["127.0.0.1:9091"]\n')
    assert.deepEqual(c.evaluator, { intervals: 10, allowedLag: 0, minimumComplete: 0 })
    assert.deepEqual(c.storage, {
      intervals: 10,
      minDistanceMs: 1000,
      expireGroupMs: 604_800_000,
      lookupTableSize: 60,
    })
    assert.equal(c.clusters[0]!.offsetRefreshMs, 10_000)
    assert.deepEqual(c.http, { host: '127.0.0.1', port: 8000 })
    assert.deepEqual(c.notifiers, [])
  })

  it("reads Burrow's named module sections", () => {
    const c = parseConfig(
      '[cluster.a]\nservers=["h:1"]\n[storage.default]\nintervals = 4\nclass-name = "inmemory"\n',
    )
    assert.equal(c.storage.intervals, 4)
    assert.equal(c.evaluator.intervals, 4)
  })

  it('takes the programmatic camelCase form through the same checks', () => {
    const c = resolveConfig({
      cluster: { Local: { bootstrap: ['127.0.0.1:9091'], offsetRefresh: 1 } },
      evaluator: { allowedLag: 3 },
      notifier: { hook: { url: 'http://x:1/', sendOnce: true, extras: { someKey: 'v' } } },
      http: { listen: '127.0.0.1:0' },
    })
    assert.equal(c.clusters[0]!.name, 'Local')
    assert.equal(c.clusters[0]!.offsetRefreshMs, 1000)
    assert.equal(c.evaluator.allowedLag, 3)
    assert.equal(c.notifiers[0]!.sendOnce, true)
    assert.deepEqual(c.notifiers[0]!.extras, { someKey: 'v' })
    assert.deepEqual(c.http, { host: '127.0.0.1', port: 0 })
    assert.throws(
      () => resolveConfig({ cluster: { a: { bootstrap: ['h:1'], offsetRefresh: -1 } } }),
      /offset-refresh/,
    )
  })

  it('says what is wrong, in one line', () => {
    const ok = '[cluster.local]\nservers = ["127.0.0.1:9091"]\n'
    rejects('', /no cluster to watch/)
    rejects('[cluster.local]\n', /needs servers/)
    rejects('[cluster.local]\nservers = []\n', /servers must be a list of strings/)
    rejects('[cluster.local]\nservers = ["nohost"]\n', /server 'nohost' is not HOST:PORT/)
    rejects('[cluster.local]\nservers = ["h:1"]\nbootstrap = ["h:1"]\n', /not both/)
    rejects(`${ok}offset-refresh = 0\n`, /\[cluster\.local\] offset-refresh must be a number > 0, got 0/)
    rejects(`${ok}offset-refresh = "10s"\n`, /offset-refresh must be a number > 0, got "10s"/)
    rejects(`${ok}source = "zookeeper"\n`, /source must be auto, offsets-topic or admin/)
    rejects(`${ok}colour = "red"\n`, /\[cluster\.local\] unknown key 'colour'/)
    rejects(`${ok}[evaluator]\nintervals = 0\n`, /intervals must be an integer ≥ 1/)
    rejects(`${ok}[evaluator]\nintervals = 2.5\n`, /intervals must be an integer/)
    rejects(`${ok}[evaluator]\nminimum-complete = 1.5\n`, /minimum-complete must be a number ≥ 0 and ≤ 1/)
    rejects(
      `${ok}[evaluator]\nintervals = 5\n[storage]\nintervals = 6\n`,
      /intervals is 5 in \[evaluator\] but 6 in \[storage\]/,
    )
    rejects(`${ok}[storage]\nexpire-group = -1\n`, /expire-group/)
    rejects(`${ok}[http]\nlisten = "localhost"\n`, /listen must be "HOST:PORT"/)
    rejects(`${ok}[zookeeper]\nservers = []\n`, /unknown section \[zookeeper\]/)
    rejects(`${ok}[notifier.ops]\nthreshold = "WARN"\n`, /\[notifier\.ops\] needs url/)
    rejects(`${ok}[notifier.ops]\nurl = "ftp://x/"\n`, /url must be an http/)
    rejects(
      `${ok}[notifier.ops]\nurl = "http://x/"\nthreshold = "STOP"\n`,
      /threshold must be OK, WARN or ERR/,
    )
    rejects(
      `${ok}[notifier.ops]\nurl = "http://x/"\nretries = 100\n`,
      /retries must be an integer ≥ 0 and ≤ 20/,
    )
    rejects(
      `${ok}[notifier.ops]\nurl = "http://x/"\ngroup-allowlist = "("\n`,
      /group-allowlist is not a valid regular expression/,
    )
    rejects(
      `${ok}[notifier.ops]\nurl = "http://x/"\ncluster = "other"\n`,
      /cluster 'other' has no \[cluster\.other\] section/,
    )
    rejects(`${ok}[notifier]\nurl = "http://x/"\n`, /notifier sections are named/)
    rejects('[cluster.local\nservers = 1', /lag\.toml:1:\d+: TOML syntax error/)
  })

  it('thresholds by name or Burrow code', () => {
    const ok = '[cluster.local]\nservers = ["127.0.0.1:9091"]\n[notifier.n]\nurl = "http://x/"\n'
    assert.equal(parseConfig(`${ok}threshold = 3\n`).notifiers[0]!.threshold, 'ERR')
    assert.equal(parseConfig(`${ok}threshold = "warn"\n`).notifiers[0]!.threshold, 'WARN')
    assert.equal(parseConfig(ok).notifiers[0]!.threshold, 'WARN')
  })

  it('loads a file, and names a missing one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'lag-config-'))
    try {
      const path = join(dir, 'lag.toml')
      writeFileSync(path, full)
      assert.equal(loadConfig(path).clusters.length, 2)
      assert.throws(() => loadConfig(join(dir, 'nope.toml')), /cannot read config .*nope\.toml: ENOENT/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
