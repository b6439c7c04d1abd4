import assert from 'node:assert/strict'
import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { createServer } from 'node:net'
import { fileURLToPath } from 'node:url'

export const BIN = fileURLToPath(new URL('../dist/bin.js', import.meta.url))

/** `cairn ...args` to completion, bounded; returns its exit code and output. */
export function cairn(args: string[], input?: string, timeoutMs = 60_000) {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    input,
    encoding: 'utf8',
    timeout: timeoutMs,
    maxBuffer: 64 << 20,
  })
  return { status: r.status, stdout: r.stdout, stderr: r.stderr }
}

export function cairnOk(args: string[], input?: string, timeoutMs?: number): string {
  const r = cairn(args, input, timeoutMs)
  assert.equal(r.status, 0, `cairn ${args.join(' ')} failed (${r.status}):\n${r.stderr}`)
  return r.stdout
}

/** `count` consecutive free ports whose +10000 twins are free too. */
export async function freePortRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Below Linux's ephemeral range (32768+), twins included: no outgoing connection takes them.
    const base = 12_000 + Math.floor(Math.random() * 10_000)
    const ports = Array.from({ length: count }, (_, k) => [base + k, base + k + 10_000]).flat()
    if ((await Promise.all(ports.map(isFree))).every(Boolean)) return base
  }
  throw new Error('no free port run found in 50 attempts')
}

function isFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer()
    s.once('error', () => resolve(false))
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
  })
}

/** Starts a long-running `cairn ...args`, collecting its output. */
export function start(args: string[]): { child: ChildProcess; output: () => string } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout?.on('data', (d) => {
    out += d
  })
  child.stderr?.on('data', (d) => {
    out += d
  })
  return { child, output: () => out }
}

export async function waitFor<T>(
  what: string,
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined && v !== false) return v
    if (Date.now() > deadline) assert.fail(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

export function exited(child: ChildProcess, timeoutMs = 30_000): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.exitCode)
  return new Promise((resolve, reject) => {
    const t = setTimeout(
      () => reject(new Error(`process ${child.pid} did not exit within ${timeoutMs} ms`)),
      timeoutMs,
    )
    child.once('exit', (code) => {
      clearTimeout(t)
      resolve(code)
    })
  })
}

/** Arguments of `cairn node start` for node `id` of a 3-node cluster on ports from `base`. */
export function nodeStartArgs(
  id: number,
  base: number,
  data: string,
  secretFile: string,
  extra: string[] = [],
): string[] {
  const peers = [1, 2, 3].map((n) => `${n}@127.0.0.1:${base + n - 1}`).join(',')
  const dir = `${data}/node-${id}`
  return [
    'node',
    'start',
    '--id',
    String(id),
    '--data',
    dir,
    '--listen',
    `127.0.0.1:${base + id - 1}`,
    '--peers',
    peers,
    '--secret-file',
    secretFile,
    ...extra,
  ]
}
