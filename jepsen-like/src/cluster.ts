/**
 * The cluster under test: real `cairn node start` processes on 127.0.0.1, each with its own data
 * directory and log file in the run's directory. Optionally every node dials its peers through a
 * proxy per ordered pair (the partition nemesis), and runs under libfaketime with a clock file of
 * its own (the clock nemesis: only the wall clock moves; monotonic timers are left alone).
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { createWriteStream, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { LinkProxies } from './proxy.js'

const CAIRN_BIN = fileURLToPath(new URL('../../packages/cli/dist/bin.js', import.meta.url))

/**
 * The Node.js flags the `cairn` binary runs with, from its shebang (`#!/usr/bin/env -S node
 * FLAGS`): the V8 flags that `cairn cluster up` and `cairn bench` give their nodes too, so the
 * nodes under test run as a user's do.
 */
export function cairnNodeFlags(bin = CAIRN_BIN): string[] {
  const shebang = readFileSync(bin, 'utf8').split('\n', 1)[0] ?? ''
  const m = /^#!\/usr\/bin\/env -S node(?<flags>(?: +--[a-z0-9-]+(?:=\S+)?)*) *$/.exec(shebang)
  if (!m)
    throw new Error(`${bin}: a shebang '#!/usr/bin/env -S node [--flag...]' was expected, got '${shebang}'`)
  return m
    .groups!.flags!.trim()
    .split(/ +/)
    .filter((f) => f !== '')
}

/** Debian's faketime package; the multi-threaded build, since node runs threads. */
export const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1'

/**
 * The shared-memory objects libfaketime creates for process `pid`. It removes them when the process
 * exits cleanly, but not after a SIGKILL, which is how the harness stops nodes: the harness removes
 * them itself, or every run would leave two files per node process in /dev/shm.
 */
export function faketimeShmFiles(pid: number): string[] {
  return [`/dev/shm/faketime_shm_${pid}`, `/dev/shm/sem.faketime_sem_${pid}`]
}
const RAFT_PORT_OFFSET = 10_000
const PORT_ATTEMPTS_MAX = 50

export interface ClusterOptions {
  size: number
  dir: string
  random: () => number
  /** dial peers through per-link proxies */
  proxies: boolean
  /** run nodes under libfaketime */
  clocks: boolean
  unsafeTestBug?: string
  tickMs?: number
  /** the nodes' --log-segment-bytes (their log store's segment size) */
  logSegmentBytes?: number
  /** the nodes' --inline-data-bytes-max (0: every record's data in the log store's data files) */
  inlineDataBytesMax?: number
}

async function freePortRun(count: number, random: () => number): Promise<number> {
  const free = (port: number) =>
    new Promise<boolean>((resolve) => {
      const s = createServer()
      s.once('error', () => resolve(false))
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
    })
  for (let attempt = 0; attempt < PORT_ATTEMPTS_MAX; attempt++) {
    // Below Linux's ephemeral range (32768+), twins included: no outgoing connection takes them.
    const base = 12_000 + Math.floor(random() * 10_000)
    const ports = Array.from({ length: count }, (_, k) => [base + k, base + k + RAFT_PORT_OFFSET]).flat()
    if ((await Promise.all(ports.map(free))).every(Boolean)) return base
  }
  throw new Error(`no free ports on 127.0.0.1 in ${PORT_ATTEMPTS_MAX} attempts`)
}

export class Cluster {
  readonly procs = new Map<number, ChildProcess>()
  readonly ids: number[]
  proxies: LinkProxies | null = null
  private readonly secretFile: string
  private readonly strobes = new Map<number, NodeJS.Timeout>()

  private constructor(
    readonly o: ClusterOptions,
    readonly base: number,
  ) {
    this.ids = Array.from({ length: o.size }, (_, k) => k + 1)
    this.secretFile = join(o.dir, 'secret')
    writeFileSync(this.secretFile, randomBytes(24).toString('hex'))
  }

  static async create(o: ClusterOptions): Promise<Cluster> {
    if (o.clocks && !existsSync(LIBFAKETIME))
      throw new Error(`the clock nemesis needs libfaketime (${LIBFAKETIME}): apt-get install faketime`)
    const cluster = new Cluster(o, await freePortRun(o.size, o.random))
    if (o.proxies) {
      cluster.proxies = new LinkProxies({
        nodes: cluster.ids,
        target: (to) => ({ host: '127.0.0.1', port: cluster.base + to - 1 + RAFT_PORT_OFFSET }),
      })
      await cluster.proxies.start()
    }
    for (const id of cluster.ids) cluster.setClock(id, 0)
    return cluster
  }

  bootstrap(): string[] {
    return this.ids.map((id) => `127.0.0.1:${this.base + id - 1}`)
  }

  isUp(id: number): boolean {
    const c = this.procs.get(id)
    return c !== undefined && c.exitCode === null && c.signalCode === null
  }

  start(id: number): void {
    if (this.isUp(id)) return
    const peers = this.ids.map((k) => `${k}@127.0.0.1:${this.base + k - 1}`).join(',')
    const args = [
      CAIRN_BIN,
      'node',
      'start',
      '--id',
      String(id),
      '--data',
      join(this.o.dir, `node-${id}`),
      '--listen',
      `127.0.0.1:${this.base + id - 1}`,
      '--peers',
      peers,
      '--secret-file',
      this.secretFile,
      '--tick-ms',
      String(this.o.tickMs ?? 50),
      '--replica-lag-time-max-ms',
      '3000',
    ]
    if (this.proxies) {
      const raftPeers = this.ids
        .filter((k) => k !== id)
        .map((k) => {
          const a = this.proxies!.address(id, k)
          return `${k}@${a.host}:${a.port}`
        })
      args.push('--raft-peers', raftPeers.join(','))
    }
    if (this.o.logSegmentBytes !== undefined) args.push('--log-segment-bytes', String(this.o.logSegmentBytes))
    if (this.o.inlineDataBytesMax !== undefined)
      args.push('--inline-data-bytes-max', String(this.o.inlineDataBytesMax))
    const env: NodeJS.ProcessEnv = { ...process.env }
    if (this.o.unsafeTestBug) {
      args.push('--unsafe-test-bug', this.o.unsafeTestBug)
      env.CAIRN_ALLOW_TEST_BUGS = '1'
    }
    if (this.o.clocks) {
      env.LD_PRELOAD = LIBFAKETIME
      env.FAKETIME_TIMESTAMP_FILE = this.clockFile(id)
      env.FAKETIME_NO_CACHE = '1'
      env.FAKETIME_DONT_FAKE_MONOTONIC = '1'
    }
    const log = createWriteStream(join(this.o.dir, `node-${id}.log`), { flags: 'a' })
    const child = spawn(process.execPath, [...cairnNodeFlags(), ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env,
    })
    child.stdout?.pipe(log)
    child.stderr?.pipe(log)
    const pid = child.pid
    if (this.o.clocks && pid !== undefined)
      child.once('exit', () => {
        for (const file of faketimeShmFiles(pid)) rmSync(file, { force: true })
      })
    this.procs.set(id, child)
  }

  signal(id: number, signal: NodeJS.Signals): void {
    if (this.isUp(id)) this.procs.get(id)?.kill(signal)
  }

  private clockFile(id: number): string {
    return join(this.o.dir, `clock-${id}`)
  }

  /** The node's wall clock runs `offsetMs` ahead (or behind) from now on. */
  setClock(id: number, offsetMs: number): void {
    const seconds = offsetMs / 1000
    writeFileSync(this.clockFile(id), `${seconds >= 0 ? '+' : ''}${seconds}\n`)
  }

  strobeClock(id: number, offsetMs: number, periodMs: number): void {
    this.resetClock(id)
    let on = false
    this.strobes.set(
      id,
      setInterval(() => {
        on = !on
        this.setClock(id, on ? offsetMs : 0)
      }, periodMs),
    )
  }

  resetClock(id: number): void {
    clearInterval(this.strobes.get(id))
    this.strobes.delete(id)
    this.setClock(id, 0)
  }

  /** Heal every fault: network, clocks, paused and dead nodes. */
  healAll(): void {
    this.proxies?.heal()
    for (const id of this.ids) {
      this.resetClock(id)
      this.signal(id, 'SIGCONT')
      if (!this.isUp(id)) this.start(id)
    }
  }

  async stopAll(): Promise<void> {
    for (const id of this.ids) this.resetClock(id)
    await Promise.all(
      [...this.procs.values()].map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve()
            c.once('exit', () => resolve())
            c.kill('SIGCONT')
            c.kill('SIGKILL')
          }),
      ),
    )
    await this.proxies?.close()
  }
}
