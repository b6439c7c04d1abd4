/**
 * cairn cluster up [--nodes 3] [--data ./.cairn-data] [--port 9091]
 *
 * A local cluster in the foreground: one `cairn node start` process per node, on consecutive
 * ports from --port, each with its data folder under --data and its log in <data>/node-N.log.
 * Writes <data>/cluster.json for tools; Ctrl-C stops every node cleanly. Run it again on the
 * same folder and the same data comes back.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { type RunningMonitor, startMonitor } from '@cairn/lag'
import { fail, parseIntOption } from './args.js'
import { exitReason, exitStatus } from './log.js'
import { NODE_V8_FLAGS } from './v8-flags.js'

export const CLUSTER_USAGE = `usage: cairn cluster up [--nodes 3] [--data ./.cairn-data] [--port 9091] [--host 127.0.0.1]
                       [--offsets-topic-partitions 16] [--offsets-topic-replication-factor 3]
                       [--group-initial-rebalance-delay-ms 3000] [--lag-port 8000]

Starts a local cluster of --nodes Cairn nodes on consecutive client ports from --port (their Raft
transports on the same ports + 10000), data under --data, and stays in the foreground; Ctrl-C
stops every node cleanly. Restarting on the same --data brings the same data back. The
__consumer_offsets and group options go to every node (see cairn node start --help).
The consumer-lag monitor (@cairn/lag) watches the cluster on --lag-port (0: none) and prints its
page's address.`

/** Options of `cairn node start` that `cairn cluster up` passes to every node as given. */
const NODE_OPTIONS = [
  'offsets-topic-partitions',
  'offsets-topic-replication-factor',
  'group-initial-rebalance-delay-ms',
] as const

export const NODES_MAX = 9
const STARTUP_WAIT_MS_MAX = 30_000
const STOP_WAIT_MS_MAX = 15_000

export interface ClusterFile {
  nodes: { id: number; address: string; pid: number; data: string; log: string }[]
  secretFile: string
}

function secretFile(data: string): string {
  const file = join(data, 'cluster.secret')
  if (!existsSync(file)) writeFileSync(file, `${randomBytes(24).toString('hex')}\n`, { mode: 0o600 })
  return file
}

function reachable(host: string, port: number): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host, port })
    socket.once('connect', () => {
      socket.destroy()
      done(true)
    })
    socket.once('error', () => done(false))
  })
}

/** Waits for `port` to listen; fails, with the node's reason, as soon as any node has exited. */
async function waitUntilReachable(
  host: string,
  port: number,
  children: ReadonlyMap<number, ChildProcess>,
  logFileOf: (id: number) => string,
): Promise<void> {
  const deadline = Date.now() + STARTUP_WAIT_MS_MAX
  while (!(await reachable(host, port))) {
    for (const [id, child] of children) {
      const status = exitStatus(child)
      if (status !== null)
        fail(`node ${id} exited while starting${exitReason(status, logFileOf(id))}; see ${logFileOf(id)}`)
    }
    if (Date.now() > deadline) fail(`node on port ${port} did not listen within ${STARTUP_WAIT_MS_MAX} ms`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

export async function clusterCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      nodes: { type: 'string' },
      data: { type: 'string' },
      port: { type: 'string' },
      host: { type: 'string' },
      'lag-port': { type: 'string' },
      ...Object.fromEntries(NODE_OPTIONS.map((name) => [name, { type: 'string' as const }])),
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) return console.log(CLUSTER_USAGE)
  const nodeOptions: string[] = []
  for (const name of NODE_OPTIONS) {
    const value = (values as Record<string, string | boolean | undefined>)[name]
    if (typeof value === 'string') nodeOptions.push(`--${name}`, String(parseIntOption(value, name, 0)))
  }
  if (positionals[0] !== 'up')
    fail(`unknown 'cairn cluster ${positionals[0] ?? ''}'; try 'cairn cluster up --help'`)
  const count = parseIntOption(values.nodes, 'nodes', 3, 1)
  if (count > NODES_MAX) fail(`--nodes is at most ${NODES_MAX} for a local cluster`)
  const base = parseIntOption(values.port, 'port', 9091, 1)
  const host = values.host ?? '127.0.0.1'
  const data = resolve(values.data ?? './.cairn-data')
  mkdirSync(data, { recursive: true })
  const secret = secretFile(data)
  const ids = Array.from({ length: count }, (_, k) => k + 1)
  const peers = ids.map((id) => `${id}@${host}:${base + id - 1}`).join(',')
  const bin = fileURLToPath(new URL('./bin.js', import.meta.url))
  const children = new Map<number, ChildProcess>()
  const file: ClusterFile = { nodes: [], secretFile: secret }
  for (const id of ids) {
    const dir = join(data, `node-${id}`)
    const log = join(data, `node-${id}.log`)
    const out = openSync(log, 'a')
    const args = [
      ...NODE_V8_FLAGS,
      bin,
      'node',
      'start',
      '--id',
      String(id),
      '--data',
      dir,
      '--listen',
      `${host}:${base + id - 1}`,
      ...nodeOptions,
    ]
    const child = spawn(process.execPath, [...args, '--peers', peers, '--secret-file', secret], {
      stdio: ['ignore', out, out],
    })
    children.set(id, child)
    file.nodes.push({ id, address: `${host}:${base + id - 1}`, pid: child.pid ?? 0, data: dir, log })
  }
  let stopping = false
  let started = false
  const logFileOf = (id: number) => join(data, `node-${id}.log`)
  for (const [id, child] of children) {
    child.once('exit', (code, signal) => {
      // While starting, waitUntilReachable reports it, once.
      if (started && !stopping)
        console.error(
          `cairn: node ${id} exited${exitReason(signal ?? `code ${code}`, logFileOf(id))}; see ${logFileOf(id)}`,
        )
    })
  }
  for (const id of ids) await waitUntilReachable(host, base + id - 1, children, logFileOf)
  started = true
  writeFileSync(join(data, 'cluster.json'), `${JSON.stringify(file, null, 2)}\n`)
  console.log(`cairn: ${count} nodes up, data in ${data}`)
  for (const n of file.nodes) console.log(`  node ${n.id}  ${n.address}  pid ${n.pid}  log ${n.log}`)
  console.log(`try:  npx cairn topic create orders --partitions 6 --replication-factor ${Math.min(3, count)}`)
  console.log(
    `      echo hello | npx cairn produce orders && npx cairn consume orders --from-beginning --max-messages 1`,
  )
  const lagPort = parseIntOption(values['lag-port'], 'lag-port', 8000, 0)
  let lag: RunningMonitor | null = null
  if (lagPort > 0) {
    try {
      lag = await startMonitor({
        clusters: { local: { servers: file.nodes.map((n) => n.address) } },
        http: { listen: `${host}:${lagPort}` },
      })
      console.log(`lag monitor: ${lag.url}  (Burrow API: ${lag.url}/v3/kafka)`)
    } catch (err) {
      console.error(
        `cairn: the lag monitor did not start on port ${lagPort}: ${String(err)}; --lag-port 0 skips it`,
      )
    }
  }
  console.log('Ctrl-C stops the cluster.')
  await new Promise<void>((done) => {
    const stop = () => {
      if (stopping) return
      stopping = true
      console.log('cairn: stopping the nodes')
      void lag?.close()
      const exits = [...children.values()].map(
        (c) => new Promise<void>((r) => (exitStatus(c) !== null ? r() : c.once('exit', () => r()))),
      )
      for (const c of children.values()) c.kill('SIGTERM')
      const force = setTimeout(() => {
        for (const c of children.values()) c.kill('SIGKILL')
      }, STOP_WAIT_MS_MAX)
      Promise.all(exits).then(() => {
        clearTimeout(force)
        done()
      })
    }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
}

export function readClusterFile(data: string): ClusterFile {
  return JSON.parse(readFileSync(join(data, 'cluster.json'), 'utf8')) as ClusterFile
}
