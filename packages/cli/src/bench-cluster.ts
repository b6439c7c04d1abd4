/**
 * The local cluster `cairn bench` starts when it is not given --bootstrap: three real
 * `cairn node start` processes in a temporary folder, on free ports, as `cairn cluster up` runs
 * them. The bench signals them (failover) and reads their /proc entries (idle). stop() ends them
 * with SIGTERM, then SIGKILL after a bound; a process exit hook SIGKILLs any still running.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs'
import { connect, createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { fail } from './args.js'
import { exitReason, exitStatus } from './log.js'
import { RAFT_PORT_OFFSET } from './node-command.js'
import { NODE_V8_FLAGS } from './v8-flags.js'

export const LOCAL_NODES = 3
const HOST = '127.0.0.1'
/** Client ports from here, Raft ports at +10000: all below Linux's ephemeral range (32768). */
const PORT_BASE_MIN = 12_000
const PORT_BASE_SPAN = 10_000
const PORT_ATTEMPTS_MAX = 50
const START_ATTEMPTS_MAX = 3
const STARTUP_WAIT_MS_MAX = 30_000
const STOP_WAIT_MS_MAX = 15_000
const POLL_MS = 50

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, HOST, () => s.close(() => resolve(true)))
  })
}

async function freePortBase(): Promise<number> {
  for (let attempt = 0; attempt < PORT_ATTEMPTS_MAX; attempt++) {
    const base = PORT_BASE_MIN + Math.floor(Math.random() * PORT_BASE_SPAN)
    const ports = Array.from({ length: LOCAL_NODES }, (_, k) => [
      base + k,
      base + k + RAFT_PORT_OFFSET,
    ]).flat()
    if ((await Promise.all(ports.map(isFree))).every(Boolean)) return base
  }
  return fail(`no ${LOCAL_NODES} free port pairs found in ${PORT_ATTEMPTS_MAX} attempts`)
}

function reachable(port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: HOST, port })
    socket.once('connect', () => {
      socket.destroy()
      done(true)
    })
    socket.once('error', () => done(false))
  })
}

function hasExited(child: ChildProcess): boolean {
  return exitStatus(child) !== null
}

/** Resolves once `child` has exited, or false after `timeoutMs`. */
export function exitOf(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (hasExited(child)) return Promise.resolve(true)
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), timeoutMs)
    child.once('exit', () => {
      clearTimeout(timer)
      resolve(true)
    })
  })
}

export class LocalCluster {
  private readonly children = new Map<number, ChildProcess>()
  private readonly killOnExit = () => {
    for (const c of this.children.values()) if (!hasExited(c)) c.kill('SIGKILL')
  }
  private stopped = false

  private constructor(
    readonly dir: string,
    private readonly basePort: number,
    private readonly secretFile: string,
  ) {
    process.on('exit', this.killOnExit)
  }

  /** Starts the nodes and waits until each listens; retries on other ports if one fails to start. */
  static async start(): Promise<LocalCluster> {
    let lastError: unknown
    for (let attempt = 0; attempt < START_ATTEMPTS_MAX; attempt++) {
      const dir = mkdtempSync(join(tmpdir(), 'cairn-bench-'))
      const secretFile = join(dir, 'cluster.secret')
      writeFileSync(secretFile, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 })
      const cluster = new LocalCluster(dir, await freePortBase(), secretFile)
      try {
        for (const id of cluster.ids()) cluster.spawnNode(id)
        for (const id of cluster.ids()) await cluster.waitListening(id)
        return cluster
      } catch (err) {
        lastError = err
        // A port taken meanwhile is worth another try; the last try's logs are kept to read.
        const last = attempt === START_ATTEMPTS_MAX - 1
        await cluster.stop({ keepDir: last })
        if (last) throw new Error(`${(err as Error).message} (node logs kept in ${dir})`)
      }
    }
    throw lastError
  }

  ids(): number[] {
    return Array.from({ length: LOCAL_NODES }, (_, k) => k + 1)
  }

  address(id: number): string {
    return `${HOST}:${this.basePort + id - 1}`
  }

  get bootstrap(): string[] {
    return this.ids().map((id) => this.address(id))
  }

  pid(id: number): number {
    const pid = this.children.get(id)?.pid
    if (pid === undefined) throw new Error(`node ${id} has no process`)
    return pid
  }

  logFile(id: number): string {
    return join(this.dir, `node-${id}.log`)
  }

  private spawnNode(id: number): void {
    const peers = this.ids()
      .map((n) => `${n}@${this.address(n)}`)
      .join(',')
    const bin = fileURLToPath(new URL('./bin.js', import.meta.url))
    const out = openSync(this.logFile(id), 'a')
    const args = [
      ...['node', 'start', '--id', String(id), '--data', join(this.dir, `node-${id}`)],
      ...['--listen', this.address(id), '--peers', peers, '--secret-file', this.secretFile],
    ]
    // CAIRN_BENCH_NODE_ARGS comes last: V8 takes the last of a flag given twice.
    const child = spawn(process.execPath, [...NODE_V8_FLAGS, ...nodeArgsFromEnv(), bin, ...args], {
      stdio: ['ignore', out, out],
    })
    this.children.set(id, child)
  }

  private async waitListening(id: number): Promise<void> {
    const child = this.children.get(id)!
    const deadline = Date.now() + STARTUP_WAIT_MS_MAX
    while (!(await reachable(this.basePort + id - 1))) {
      const status = exitStatus(child)
      if (status !== null) fail(`node ${id} exited while starting${exitReason(status, this.logFile(id))}`)
      if (Date.now() > deadline) fail(`node ${id} did not listen within ${STARTUP_WAIT_MS_MAX} ms`)
      await new Promise((r) => setTimeout(r, POLL_MS))
    }
  }

  /** Sends `signal` to node `id`; returns once it has exited (false if not within the bound). */
  async signal(id: number, signal: 'SIGKILL' | 'SIGTERM'): Promise<boolean> {
    const child = this.children.get(id)
    if (!child || hasExited(child)) throw new Error(`node ${id} is not running`)
    child.kill(signal)
    return exitOf(child, STOP_WAIT_MS_MAX)
  }

  /** Starts node `id` again on its data folder, once it has exited; resolves when it listens. */
  async restart(id: number): Promise<void> {
    const child = this.children.get(id)
    if (child && !hasExited(child)) throw new Error(`node ${id} is still running`)
    this.spawnNode(id)
    await this.waitListening(id)
  }

  /** SIGTERM every node, SIGKILL what is left after the bound; removes the folder unless told. */
  async stop(options: { keepDir: boolean }): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    const running = [...this.children.values()].filter((c) => !hasExited(c))
    for (const c of running) c.kill('SIGTERM')
    const clean = await Promise.all(running.map((c) => exitOf(c, STOP_WAIT_MS_MAX)))
    for (const [k, c] of running.entries()) if (!clean[k]) c.kill('SIGKILL')
    await Promise.all(running.map((c) => exitOf(c, STOP_WAIT_MS_MAX)))
    process.off('exit', this.killOnExit)
    if (!options.keepDir) rmSync(this.dir, { recursive: true, force: true })
  }
}

/**
 * Extra Node.js arguments for every node process, from `CAIRN_BENCH_NODE_ARGS` (split on spaces),
 * e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the nodes under a benchmark; Node refuses
 * `--cpu-prof` in NODE_OPTIONS.
 */
function nodeArgsFromEnv(): string[] {
  const raw = process.env.CAIRN_BENCH_NODE_ARGS ?? ''
  return raw.split(' ').filter((a) => a.length > 0)
}
