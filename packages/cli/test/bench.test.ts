/**
 * `cairn bench`, run for real and briefly: each run starts its own local 3-node cluster (real
 * `cairn node start` processes), measures, prints its summary and a final JSON line, and leaves
 * no process and no folder behind; Ctrl-C tears down the same way; bad options fail in one line.
 */
import assert from 'node:assert/strict'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { RoundRobinPartitioner } from '@cairn/client'
import { UsageError } from '../src/args.js'
import { parseBenchOptions } from '../src/bench-command.js'
import { benchProducerConfig } from '../src/bench-context.js'
import {
  costPerRequest,
  cpuMeter,
  cpuMsPerMb,
  nodesCpuCell,
  threadContextSwitches,
} from '../src/bench-cpu.js'
import { NODE_V8_FLAGS } from '../src/v8-flags.js'
import { BIN, cairn } from './helpers.js'

const RUN_MS_MAX = 90_000

interface Outcome {
  status: number | null
  stdout: string
  stderr: string
}

/** `cairn bench ...args` to completion (bounded); `onStderr` may act on what it prints meanwhile. */
function bench(
  args: string[],
  onStderr?: (text: string, pid: number) => void,
  env: NodeJS.ProcessEnv = process.env,
): Promise<Outcome> {
  const child = spawn(process.execPath, [BIN, 'bench', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env })
  let stdout = ''
  let stderr = ''
  child.stdout.on('data', (d) => {
    stdout += d
  })
  child.stderr.on('data', (d) => {
    stderr += d
    onStderr?.(stderr, child.pid!)
  })
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`cairn bench ${args.join(' ')} ran over ${RUN_MS_MAX} ms:\n${stderr}`))
    }, RUN_MS_MAX)
    child.once('exit', (status) => {
      clearTimeout(timer)
      // The pipes may hold the last output still: read them to their end.
      let open = 2
      const done = () => --open === 0 && resolve({ status, stdout, stderr })
      if (child.stdout.readableEnded) done()
      else child.stdout.once('end', done)
      if (child.stderr.readableEnded) done()
      else child.stderr.once('end', done)
    })
  })
}

function clusterDir(stderr: string): string {
  const m = /the cluster is up, its data and node logs in (\S+)/.exec(stderr)
  assert.ok(m, `the bench says where its cluster is:\n${stderr}`)
  return m[1]!
}

/** Processes whose command line mentions `dir`: the cluster's nodes, if any outlived the bench. */
function processesUsing(dir: string): number[] {
  const pids: number[] = []
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      if (readFileSync(`/proc/${entry}/cmdline`, 'utf8').includes(dir)) pids.push(Number(entry))
    } catch {
      // Gone meanwhile.
    }
  }
  return pids
}

/**
 * The run succeeded, tore its cluster down (its folder removed, or kept and named with
 * `keptLogs`), and its last line is the JSON summary.
 */
function finished(r: Outcome, { keptLogs = false } = {}): Record<string, unknown> {
  assert.equal(r.status, 0, `cairn bench failed (${r.status}):\n${r.stderr}`)
  const dir = clusterDir(r.stderr)
  assert.equal(existsSync(dir), keptLogs, `the cluster's folder ${dir} is ${keptLogs ? 'kept' : 'removed'}`)
  if (keptLogs) assert.ok(r.stderr.includes(`node logs are kept in ${dir}\n`), 'the bench says where')
  assert.deepEqual(processesUsing(dir), [], 'no node process outlives the bench')
  const lines = r.stdout.trim().split('\n')
  assert.match(lines[0]!, /^cairn bench /, 'the summary starts with what ran')
  return JSON.parse(lines.at(-1)!) as Record<string, unknown>
}

function assertNumbers(json: Record<string, unknown>, fields: string[]): void {
  for (const f of fields) assert.equal(typeof json[f], 'number', `${f} in ${JSON.stringify(json)}`)
}

const LATENCY_FIELDS = ['records_per_s', 'mb_per_s', 'p50_ms', 'p99_ms', 'p999_ms', 'max_ms']

/** A failover run's JSON: its latencies, `trials` trials each with a time, and no record failed. */
function assertFailover(json: Record<string, unknown>, trials: number, noErrors: string): void {
  assertNumbers(json, [...LATENCY_FIELDS, 'unavailable_p50_ms', 'unavailable_p99_ms', 'trials'])
  assert.equal(json.trials, trials)
  assert.equal(json.errors, 0, noErrors)
  const unavailable = json.unavailable_ms as number[]
  assert.equal(unavailable.length, trials)
  for (const ms of unavailable) assert.ok(ms > 0 && ms < 30_000, `unavailable ${ms} ms`)
}

/** The CPU of the run: the bench's, each of the three local nodes', and what a MB cost all of them. */
function assertCpu(json: Record<string, unknown>): void {
  assertNumbers(json, ['bench_cpu_percent', 'cpu_ms_per_mb'])
  const nodes = json.nodes_cpu_percent as number[]
  assert.equal(nodes.length, 3, `nodes_cpu_percent in ${JSON.stringify(json)}`)
  // Every node stored the records (RF 3): none can have been idle, nor busier than every core.
  for (const p of nodes) assert.ok(p > 0 && p <= 100 * availableParallelism() + 1, `node CPU ${p} %`)
  assert.ok((json.cpu_ms_per_mb as number) > 0)
}

/**
 * The produce requests of the run and what each cost the bench and the nodes: CPU and context
 * switches (each of the four processes sleeps and wakes at least once per request).
 */
function assertRequests(json: Record<string, unknown>): void {
  assertNumbers(json, [
    'produce_requests',
    'records_per_request',
    'cpu_ms_per_request',
    'context_switches_per_request',
  ])
  const requests = json.produce_requests as number
  const records = (json.whole_run as { records?: number } | undefined)?.records ?? (json.records as number)
  assert.ok(requests > 0 && requests <= records, `${requests} requests for ${records} records`)
  assert.ok(Math.abs((json.records_per_request as number) - records / requests) < 0.01, 'records per request')
  assert.ok((json.cpu_ms_per_request as number) > 0)
  assert.ok(
    (json.context_switches_per_request as number) >= 4,
    `${json.context_switches_per_request} switches`,
  )
}

describe('cairn bench', () => {
  it("the cairn binary's shebang gives the CLI the nodes' V8 flags", () => {
    const shebang = readFileSync(BIN, 'utf8').split('\n')[0]!
    assert.match(shebang, /^#!\/usr\/bin\/env -S node /)
    for (const f of NODE_V8_FLAGS) assert.ok(shebang.includes(f), `${f} in ${shebang}`)
  })

  it('refuses bad options with one clear line', async () => {
    const cases: [string[], RegExp][] = [
      [[], /needs a workload/],
      [['fly'], /unknown workload 'cairn bench fly'/],
      [['produce', 'extra'], /takes no argument 'extra'/],
      [['produce', '--records', '0'], /--records wants an integer from 1 to/],
      [['produce', '--record-size', '2000000'], /--record-size wants an integer from 8 to 1000000/],
      [['produce', '--in-flight', 'many'], /--in-flight wants an integer/],
      [['produce', '--producers', '65'], /--producers wants an integer from 1 to 64/],
      [['e2e', '--rate', '-5'], /--rate needs a value/],
      [['e2e', '--rate=-5'], /--rate wants an integer from 1 to/],
      [['produce', '--acks', '2'], /--acks is 0, 1 or all/],
      [['produce', '--partitioner', 'sticky'], /--partitioner is default or round-robin, not 'sticky'/],
      [['idle', '--partitioner', 'round-robin'], /--partitioner does not apply to 'cairn bench idle'/],
      [['produce', '--replication-factor', '4'], /more than the local cluster's 3 nodes/],
      [['produce', '--bootstrap', 'nohost'], /--bootstrap address 'nohost' is not HOST:PORT/],
      [['produce', '--topic', 'a b'], /--topic 'a b' is not a topic name/],
      [['produce', '--topic', '__consumer_offsets'], /--topic __consumer_offsets is internal/],
      [['produce', '--retry-backoff-ms', '500', '--retry-backoff-max-ms', '100'], /below --retry-backoff-ms/],
      [['failover', '--bootstrap', '127.0.0.1:9091'], /--bootstrap does not apply to 'cairn bench failover'/],
      [['failover', '--trials', '0'], /--trials wants an integer from 1 to 1000/],
      [['failover', '--settle-seconds', '3601'], /--settle-seconds wants an integer from 0 to 3600/],
      [['idle', '--rate', '5'], /--rate does not apply to 'cairn bench idle'/],
      [['idle', '--partitions', '10001'], /--partitions wants an integer from 1 to 10000/],
      [['consume', '--rate', '5'], /--rate does not apply to 'cairn bench consume'/],
      [['consume', '--warmup-records', '5'], /--warmup-records does not apply to 'cairn bench consume'/],
      [
        ['produce', '--records', '500', '--warmup-records', '500'],
        /leaves no record to measure: it must be below --records 500/,
      ],
      [['produce', '--speed', '5'], /unknown option '--speed'; try 'cairn bench --help'/],
      [
        ['produce', '--bootstrap', '127.0.0.1:9092', '--keep-logs'],
        /--keep-logs keeps a local cluster's logs/,
      ],
    ]
    for (const [args, message] of cases) {
      assert.throws(
        () => parseBenchOptions(args),
        (err: Error) => {
          assert.ok(err instanceof UsageError, `cairn bench ${args.join(' ')}: a usage error`)
          assert.match(err.message, message)
          assert.doesNotMatch(err.message, /\n/, 'one line')
          return true
        },
      )
    }
    // Through the command: exit code 2, one line on stderr, nothing else.
    const spawned = [cases[1]!, cases[7]!, cases[16]!]
    const outcomes = await Promise.all(spawned.map(([args]) => bench(args)))
    for (const [k, [args, message]] of spawned.entries()) {
      const r = outcomes[k]!
      assert.equal(r.status, 2, `cairn bench ${args.join(' ')}: exit code 2`)
      assert.equal(r.stdout, '')
      assert.match(r.stderr, new RegExp(`^cairn: .*${message.source}.*\n$`))
    }
    const help = cairn(['bench', '--help'])
    assert.equal(help.status, 0)
    assert.match(help.stdout, /cairn bench failover/)
    assert.equal(parseBenchOptions(['produce', '--help']), null)
    const defaults = parseBenchOptions(['idle'])!
    assert.deepEqual([defaults.partitions, defaults.seconds, defaults.bootstrap], [3000, 30, null])
    // At most what buffer.memory (32 MiB) holds, as a blocking Kafka send() allows; at most 100,000.
    const inFlight = (args: string[]) => parseBenchOptions(['produce', ...args])!.inFlightMax
    assert.equal(inFlight([]), 100_000, '100 B records')
    assert.equal(inFlight(['--record-size', '1024']), 32_768)
    assert.equal(inFlight(['--record-size', '1000000']), 33)
    assert.equal(inFlight(['--record-size', '1024', '--in-flight', '7']), 7, 'given, it is kept')
  })

  it("--partitioner round-robin gives the producer Kafka's RoundRobinPartitioner; the default gives none", () => {
    const rr = parseBenchOptions(['e2e', '--partitioner', 'round-robin'])!
    assert.equal(rr.partitioner, 'round-robin')
    assert.equal(benchProducerConfig(rr, 'all')['partitioner.class'], RoundRobinPartitioner)
    const plain = parseBenchOptions(['produce'])!
    assert.equal(plain.partitioner, 'default')
    assert.equal('partitioner.class' in benchProducerConfig(plain, 'all'), false)
  })

  it('produce at max rate: a summary and a JSON line with every figure', async () => {
    // Enough records that each node spends several of /proc's 10 ms CPU ticks on them: with 2,000
    // a follower's share could round to 0 (CI, 2026-11-27).
    const json = finished(await bench(['produce', '--records', '20000', '--record-size', '100', '--json']))
    assertNumbers(json, LATENCY_FIELDS)
    assert.equal(json.records, 20000)
    assert.equal(json.errors, 0)
    assert.ok((json.records_per_s as number) > 0)
    assert.ok((json.p50_ms as number) <= (json.p99_ms as number))
    assert.ok((json.p99_ms as number) <= (json.max_ms as number))
    assertCpu(json)
    assertRequests(json)
  })

  it('e2e at a fixed rate for ~3 s after a 1 s warm-up, round-robin: publish and end-to-end latencies of both', async () => {
    const r = await bench([
      'e2e',
      '--rate',
      '1000',
      '--records',
      '4000',
      '--warmup-records',
      '1000',
      '--partitions',
      '4',
      '--partitioner',
      'round-robin',
      '--json',
    ])
    const json = finished(r)
    assert.equal(json.partitioner, 'round-robin')
    assert.match(r.stdout, /partitioner=round-robin/)
    const e2eFields = ['e2e_p50_ms', 'e2e_p99_ms', 'e2e_p999_ms', 'e2e_max_ms']
    assertNumbers(json, [...LATENCY_FIELDS, ...e2eFields])
    assert.equal(json.warmup_records, 1000)
    // The figures are the steady state's: records 1000 to 3999, due from 1 s into the run.
    assert.equal(json.records, 3000)
    assert.equal(json.rate, 1000)
    // At a fixed rate the run lasts records / rate, however fast the cluster is.
    assert.ok((json.seconds as number) >= 2.9, `lasted ${json.seconds} s`)
    // A record is read after it is acknowledged... or at about the same time.
    assert.ok((json.e2e_max_ms as number) > 0)
    const whole = json.whole_run as Record<string, unknown>
    assertNumbers(whole, [...LATENCY_FIELDS, ...e2eFields])
    assert.equal(whole.records, 4000)
    assert.ok((whole.seconds as number) >= 3.9, `the whole run lasted ${whole.seconds} s`)
    assert.ok((whole.max_ms as number) >= (json.max_ms as number), 'the whole run holds the steady state')
    assert.match(r.stderr, /\[e2e\] .*records\/s .*p99/, 'a progress line')
    assert.match(r.stdout, /end-to-end \(whole run\)/)
    assert.match(r.stdout, /end-to-end \(after 1,000 warm-up\)/)
    assertRequests(json)
    // linger.ms 0 at 1,000 records/s over 4 partitions: a request for about every turn that sent.
    assert.ok((json.records_per_request as number) < 50, `${json.records_per_request} records per request`)
    assert.match(r.stdout, /produce requests +requests\/s +records each +CPU ms each +context switches each/)
  })

  it('consume: the catch-up rate of a backlog', async () => {
    const json = finished(await bench(['consume', '--records', '2000', '--partitions', '4', '--json']))
    assertNumbers(json, [...LATENCY_FIELDS, 'produced_records_per_s', 'catchup_ratio'])
    assertCpu(json)
    assert.equal(json.records, 2000)
    assert.ok((json.records_per_s as number) > 0)
  })

  it('failover: SIGKILL the leader twice, time until writes succeed again; --keep-logs keeps the elections', async () => {
    const r = await bench([
      'failover',
      '--trials',
      '2',
      '--partitions',
      '3',
      '--rate',
      '600',
      '--settle-seconds',
      '1',
      '--json',
      '--keep-logs',
    ])
    const dir = clusterDir(r.stderr)
    after(() => rmSync(dir, { recursive: true, force: true }))
    const json = finished(r, { keptLogs: true })
    // Each trial's survivors tell the elections in their logs: a campaign naming the killed node.
    for (const m of r.stderr.matchAll(/trial (\d)\/2: SIGKILL node (\d)/g)) {
      const killed = Number(m[2])
      const survivors = [1, 2, 3].filter((id) => id !== killed)
      const told = survivors.map((id) => readFileSync(join(dir, `node-${id}.log`), 'utf8')).join('')
      assert.match(told, new RegExp(`campaigning for term \\d+ \\(node ${killed} led\\)`), `trial ${m[1]}`)
      assert.match(told, /elected leader at term \d+ after \d+ ms of campaign/)
    }
    assertFailover(json, 2, 'acks=all records survive the failovers')
    assert.match(r.stderr, /trial 2\/2: SIGKILL node \d, leader of \d+ partitions: writes again after/)
  })

  it('failover --graceful: SIGTERM hands leadership off; no record fails', async () => {
    // Each trial stops a leader cleanly while the producer pipelines its batches: the retries that
    // follow the leadership to the new node must not be taken for lost producer state.
    const r = await bench([
      'failover',
      '--graceful',
      '--trials',
      '3',
      '--partitions',
      '6',
      '--rate',
      '1000',
      '--settle-seconds',
      '1',
      '--json',
    ])
    const json = finished(r)
    assert.equal(json.graceful, true)
    assertFailover(json, 3, `no record fails:\n${r.stderr}`)
    assert.match(r.stderr, /trial 3\/3: SIGTERM node \d, leader of \d+ partitions: writes again after/)
  })

  it('idle: CPU and RSS of each node with 50 idle partitions', async () => {
    const r = await bench(['idle', '--partitions', '50', '--seconds', '2', '--settle-seconds', '0', '--json'])
    const json = finished(r)
    const nodes = json.nodes as { node: number; cpu_percent: number; rss_mb: number }[]
    assert.deepEqual(
      nodes.map((n) => n.node),
      [1, 2, 3],
    )
    for (const n of nodes) {
      assert.ok(n.cpu_percent >= 0 && n.cpu_percent < 200, `node ${n.node}: ${n.cpu_percent}%`)
      assert.ok(n.rss_mb > 10, `node ${n.node}: ${n.rss_mb} MB`)
    }
    assertNumbers(json, ['cpu_percent_max', 'rss_mb_max'])
    assert.match(r.stderr, /created 50\/50 partitions|all 50 partitions have a leader/)
  })

  it('records that fail fail the run (exit 1), which keeps its cluster, logs and all, and exits', async () => {
    // Each node refuses every produce but its first (the warm-up's), for good: MESSAGE_TOO_LARGE.
    const preloadDir = mkdtempSync(join(tmpdir(), 'cairn-bench-refuse-'))
    const preload = join(preloadDir, 'refuse.mjs')
    const broker = new URL('../../broker/dist/', import.meta.url).href
    writeFileSync(
      preload,
      [
        `const { Partition } = await import('${broker}partition.js')`,
        `const { HostError } = await import('${broker}raft-host.js')`,
        'const produce = Partition.prototype.produce',
        'let calls = 0',
        'Partition.prototype.produce = function (...args) {',
        '  if (calls++ === 0) return produce.apply(this, args)',
        "  return Promise.reject(new HostError('MESSAGE_TOO_LARGE', 'refused by the test'))",
        '}',
      ].join('\n'),
    )
    try {
      const r = await bench(['produce', '--partitions', '1', '--records', '50'], undefined, {
        ...process.env,
        CAIRN_BENCH_NODE_ARGS: `--import ${pathToFileURL(preload).href}`,
      })
      assert.equal(r.status, 1, r.stderr)
      assert.match(
        r.stderr,
        /cairn: \d+ records failed; the first: .*MESSAGE_TOO_LARGE \(10\): refused by the test/,
      )
      const dir = clusterDir(r.stderr)
      assert.ok(r.stderr.includes(`node logs are kept in ${dir}\n`), r.stderr)
      assert.ok(existsSync(join(dir, 'node-1.log')), `${dir} is kept`)
      assert.deepEqual(processesUsing(dir), [], 'no node process outlives the bench')
      rmSync(dir, { recursive: true, force: true })
    } finally {
      rmSync(preloadDir, { recursive: true, force: true })
    }
  })

  it('scripts/bench-floor.mjs: three replica processes, fsynced, report MB/s and leave no file', async () => {
    const script = fileURLToPath(new URL('../../../scripts/bench-floor.mjs', import.meta.url))
    const before = readdirSync(tmpdir()).filter((f) => f.startsWith('cairn-floor-')).length
    const r = spawnSync(
      process.execPath,
      [script, '--mb', '16', '--batch-bytes', '65536', '--in-flight', '8'],
      {
        encoding: 'utf8',
        timeout: RUN_MS_MAX,
      },
    )
    assert.equal(r.status, 0, r.stderr)
    const json = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>
    assert.ok((json.mb_per_s as number) > 0, r.stdout)
    assert.equal(json.fsync, true)
    assert.ok((json.p99_ms as number) >= (json.p50_ms as number) && (json.p50_ms as number) > 0, r.stdout)
    assert.equal(readdirSync(tmpdir()).filter((f) => f.startsWith('cairn-floor-')).length, before)
    const bad = spawnSync(process.execPath, [script, '--in-flight', '0'], {
      encoding: 'utf8',
      timeout: RUN_MS_MAX,
    })
    assert.equal(bad.status, 1)
    assert.match(bad.stderr, /^bench-floor: .*must be positive/)
  })

  it('scripts/bench-floor.mjs --rate: batches at a fixed rate, in a file (by the pool or the main thread) or in LevelDB, timed from when due', async () => {
    const script = fileURLToPath(new URL('../../../scripts/bench-floor.mjs', import.meta.url))
    const before = readdirSync(tmpdir()).filter((f) => f.startsWith('cairn-floor-')).length
    // 2 MiB of 10 KiB batches (204) at 400 a second: about half a second whatever the store.
    for (const store of ['file', 'file-sync', 'leveldb', 'split', 'split-parallel']) {
      const r = spawnSync(
        process.execPath,
        [
          script,
          '--mb',
          '2',
          '--batch-bytes',
          '10240',
          '--in-flight',
          '1000',
          '--rate',
          '400',
          '--store',
          store,
        ],
        { encoding: 'utf8', timeout: RUN_MS_MAX },
      )
      assert.equal(r.status, 0, r.stderr)
      const json = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>
      assert.equal(json.store, store)
      assert.equal(json.rate, 400)
      assert.equal(json.memtable_bytes, store.startsWith('file') ? null : 8 * 1024 * 1024)
      // The last batch is due at 203 / 400 s: a run that does not wait for due times ends sooner.
      assert.ok((json.seconds as number) >= 0.5, r.stdout)
      assert.ok((json.p99_ms as number) >= (json.p50_ms as number) && (json.p50_ms as number) > 0, r.stdout)
    }
    assert.equal(readdirSync(tmpdir()).filter((f) => f.startsWith('cairn-floor-')).length, before)
    for (const [args, message] of [
      [
        ['--store', 'rocksdb'],
        /^bench-floor: --store must be file, file-sync, leveldb, split or split-parallel, not rocksdb/,
      ],
      [['--rate', 'fast'], /^bench-floor: --rate must be/],
      [['--memtable-bytes', '1000'], /^bench-floor: --memtable-bytes must be/],
    ] as const) {
      const bad = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', timeout: RUN_MS_MAX })
      assert.equal(bad.status, 1, bad.stderr)
      assert.match(bad.stderr, message)
    }
  })

  it('scripts/bench-floor.mjs --leaders 3 --transport ws: each replica leads a third, over WebSocket and msgpackr', async () => {
    const script = fileURLToPath(new URL('../../../scripts/bench-floor.mjs', import.meta.url))
    const before = readdirSync(tmpdir()).filter((f) => f.startsWith('cairn-floor-')).length
    // 2 MiB of 10 KiB batches: 204, at 400 a second.
    for (const transport of ['tcp', 'ws']) {
      for (const leaders of [1, 3]) {
        const r = spawnSync(
          process.execPath,
          [
            script,
            ...['--mb', '2', '--batch-bytes', '10240', '--in-flight', '1000', '--rate', '400'],
            ...['--leaders', String(leaders), '--transport', transport, '--store', 'split'],
          ],
          { encoding: 'utf8', timeout: RUN_MS_MAX },
        )
        assert.equal(r.status, 0, r.stderr)
        const json = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, unknown>
        assert.equal(json.transport, transport)
        assert.equal(json.leaders, leaders)
        // Every batch answered by the replica it was sent to, each leader a third of them.
        assert.deepEqual(json.batches_per_leader, leaders === 1 ? [204] : [68, 68, 68], r.stdout)
        assert.ok((json.seconds as number) >= 0.5, r.stdout)
        assert.ok((json.p99_ms as number) >= (json.p50_ms as number) && (json.p50_ms as number) > 0, r.stdout)
      }
    }
    assert.equal(readdirSync(tmpdir()).filter((f) => f.startsWith('cairn-floor-')).length, before)
    for (const [args, message] of [
      [['--leaders', '2'], /^bench-floor: --leaders must be 1 or 3, not 2/],
      [['--transport', 'quic'], /^bench-floor: --transport must be tcp or ws, not quic/],
    ] as const) {
      const bad = spawnSync(process.execPath, [script, ...args], { encoding: 'utf8', timeout: RUN_MS_MAX })
      assert.equal(bad.status, 1, bad.stderr)
      assert.match(bad.stderr, message)
    }
  })

  it('scripts/bench-leveldb-layout.mjs: entries keyed by a node-wide sequence only move down the levels', () => {
    const script = fileURLToPath(new URL('../../../scripts/bench-leveldb-layout.mjs', import.meta.url))
    const before = readdirSync(tmpdir()).filter((f) => f.startsWith('cairn-leveldb-layout-')).length
    const run = (layout: string, ...options: string[]) => {
      const r = spawnSync(
        process.execPath,
        [script, '--layout', layout, '--mb', '200', '--json', ...options],
        {
          encoding: 'utf8',
          timeout: RUN_MS_MAX,
        },
      )
      assert.equal(r.status, 0, r.stderr)
      return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Record<string, number | null>
    }
    const group = run('group')
    const entries = run('entries')
    // 200 MB is six 32 MiB memtables: level 0 reaches its compaction trigger (4 tables) in both.
    assert.ok(group.level0_tables! >= 5 && entries.level0_tables! >= 5, JSON.stringify({ group, entries }))
    assert.ok(group.compactions! > 0, 'group rows interleave: level-0 tables overlap and are merged')
    assert.equal(entries.compactions, 0, 'appends at the top of the key range: trivial moves only')
    assert.ok(entries.moves! > 0)
    const [entriesWritten, groupWritten] = [entries.write_amplification, group.write_amplification]
    // null where the kernel does not count the process's disk writes (tmpfs, some containers).
    if (typeof entriesWritten === 'number' && typeof groupWritten === 'number')
      assert.ok(entriesWritten < groupWritten, JSON.stringify({ group, entries }))
    // Group rows under an epoch as large as a memtable: a level-0 table overlaps its neighbours at
    // most, so nearly all of ~50 tables move down without a merge.
    const epoch = run('epoch', '--epoch-mib', '4', '--write-buffer-mib', '4')
    assert.ok(epoch.level0_tables! >= 40, JSON.stringify(epoch))
    assert.ok(epoch.compactions! * 10 < epoch.level0_tables!, JSON.stringify(epoch))
    assert.ok(epoch.moves! > 0, JSON.stringify(epoch))
    assert.equal(readdirSync(tmpdir()).filter((f) => f.startsWith('cairn-leveldb-layout-')).length, before)
    const bad = spawnSync(process.execPath, [script, '--layout', 'group', '--meta-every-turns', '5'], {
      encoding: 'utf8',
      timeout: RUN_MS_MAX,
    })
    assert.equal(bad.status, 2)
    assert.equal(bad.stderr, 'bench-leveldb-layout: --meta-every-turns applies to --layout sequence only\n')
    const badEpoch = spawnSync(process.execPath, [script, '--layout', 'entries', '--flush-at-epoch'], {
      encoding: 'utf8',
      timeout: RUN_MS_MAX,
    })
    assert.equal(badEpoch.status, 2)
    assert.equal(
      badEpoch.stderr,
      'bench-leveldb-layout: --epoch-mib and --flush-at-epoch apply to --layout epoch only\n',
    )
  })

  it('Ctrl-C stops the run and the cluster, and removes its folder', async () => {
    let interrupted = false
    let nodeCommands: string[] = []
    const r = await bench(['produce', '--rate', '500', '--records', '1000000'], (stderr, pid) => {
      if (interrupted || !/\[produce\]/.test(stderr)) return
      interrupted = true
      nodeCommands = processesUsing(clusterDir(stderr)).map((p) =>
        readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0').join(' '),
      )
      process.kill(pid, 'SIGINT')
    })
    assert.equal(nodeCommands.length, 3, 'three node processes ran')
    for (const c of nodeCommands) for (const f of NODE_V8_FLAGS) assert.ok(c.includes(f), `${f} in ${c}`)
    assert.equal(r.status, 130, r.stderr)
    assert.match(r.stderr, /interrupted/)
    const dir = clusterDir(r.stderr)
    assert.equal(existsSync(dir), false, `${dir} is removed`)
    assert.deepEqual(processesUsing(dir), [], 'no node process outlives the bench')
  })
})

describe('bench CPU figures', () => {
  it('measure the bench, and each node process given by pid', () => {
    const meter = cpuMeter([process.pid])
    const until = performance.now() + 50
    let spin = 0
    while (performance.now() < until) spin++
    const use = meter()
    assert.ok(spin > 0 && use.seconds >= 0.05, `${use.seconds} s`)
    assert.ok(use.bench > 10, `the bench spun for 50 ms at ${use.bench} % of a core`)
    assert.equal(use.nodes?.length, 1)
    // The same process twice: /proc counts in clock ticks (10 ms), so it sees most of the spin.
    assert.ok(use.nodes![0]! > 0, `the "node" (this process) at ${use.nodes![0]} %`)
    assert.equal(cpuMeter([])().nodes, null, 'no node processes (--bootstrap): no node figures')
  })

  it('per MB and per node', () => {
    const use = { seconds: 2, bench: 50, nodes: [40, 60, 50], contextSwitches: null }
    // 2 s at 200 % of a core is 4,000 ms of CPU, over 8 MB.
    assert.equal(cpuMsPerMb(use, 8), 500)
    assert.equal(cpuMsPerMb({ ...use, nodes: null }, 8), null)
    assert.equal(cpuMsPerMb(use, 0), null)
    assert.equal(nodesCpuCell(use), '40/60/50')
    assert.equal(nodesCpuCell({ ...use, nodes: null }), '-')
  })

  it('per produce request: CPU ms and context switches of the four processes together', () => {
    const use = { seconds: 2, bench: 50, nodes: [40, 60, 50], contextSwitches: 30_000 }
    // 4,000 ms of CPU and 30,000 switches over 1,000 requests.
    assert.deepEqual(costPerRequest(use, 1_000), { cpuMs: 4, contextSwitches: 30 })
    assert.equal(costPerRequest(use, 0), null)
    assert.equal(costPerRequest({ ...use, nodes: null }, 1_000), null)
    assert.equal(costPerRequest({ ...use, contextSwitches: null }, 1_000), null)
  })

  it("context switches: a thread's voluntary and nonvoluntary ones, and every thread of a process", () => {
    const status = 'Name:\tnode\nvoluntary_ctxt_switches:\t1234\nnonvoluntary_ctxt_switches:\t56\n'
    assert.equal(threadContextSwitches(status), 1290)
    assert.throws(() => threadContextSwitches('Name:\tnode\n'), /ctxt_switches/)
    const meter = cpuMeter([process.pid])
    const slept = new Int32Array(new SharedArrayBuffer(4))
    for (let k = 0; k < 20; k++) Atomics.wait(slept, 0, 0, 1)
    const use = meter()
    // This process twice over (as the bench and as the "node"), and it slept 20 times.
    assert.ok(use.contextSwitches !== null && use.contextSwitches >= 40, `${use.contextSwitches} switches`)
    assert.equal(cpuMeter([])().contextSwitches, null, 'no node processes: no figure')
  })
})
