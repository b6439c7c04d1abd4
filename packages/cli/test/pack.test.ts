/**
 * @cairn/client on its own: `pnpm pack` the client and its workspace dependency (@cairn/protocol),
 * install both tarballs with npm into a scratch project outside the workspace, type-check a file
 * against the shipped declarations, then produce and consume 100 records through a running
 * `cairn cluster up` from a plain-`node` ES module that imports '@cairn/client'.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join, relative } from 'node:path'
import { after, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { exited, freePortRun, start, waitFor } from './helpers.js'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const PNPM = join(ROOT, 'scripts', 'pnpm.mjs')
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc')
const RECORDS = 100

const work = realpathSync(mkdtempSync(join(tmpdir(), 'cairn-pack-')))
after(() => rmSync(work, { recursive: true, force: true }))

interface Ran {
  code: number | null
  stdout: string
  stderr: string
}

/**
 * Runs a command to completion in its own process group, bounded: past `timeoutMs` the whole
 * group is killed (npx and pnpm under scripts/pnpm.mjs too). Never blocks the event loop, so the
 * cluster's output keeps draining meanwhile.
 */
function run(
  command: string,
  args: string[],
  options: { cwd: string; timeoutMs: number; env?: NodeJS.ProcessEnv },
): Promise<Ran> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => {
      stdout += d
    })
    child.stderr.on('data', (d) => {
      stderr += d
    })
    const timer = setTimeout(() => {
      try {
        process.kill(-child.pid!, 'SIGKILL')
      } catch {}
      reject(
        new Error(
          `${command} ${args.join(' ')} did not finish within ${options.timeoutMs} ms\n${stdout}\n${stderr}`,
        ),
      )
    }, options.timeoutMs)
    child.once('error', (err) => {
      clearTimeout(timer)
      reject(err)
    })
    child.once('close', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

async function runOk(...a: Parameters<typeof run>): Promise<string> {
  const r = await run(...a)
  assert.equal(r.code, 0, `${a[0]} ${a[1].join(' ')} failed (${r.code}):\n${r.stdout}\n${r.stderr}`)
  return r.stdout
}

/** One file of a .tgz (ustar, as npm and pnpm pack write it), as text. */
function fileInTarball(tgz: string, name: string): string {
  const tar = gunzipSync(readFileSync(tgz))
  for (let at = 0; at + 512 <= tar.length; ) {
    const header = tar.subarray(at, at + 512)
    const entry = header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '')
    if (entry === '') break
    const size = Number.parseInt(header.subarray(124, 136).toString('utf8').replace(/\0.*$/s, '').trim(), 8)
    if (entry === name) return tar.subarray(at + 512, at + 512 + size).toString('utf8')
    at += 512 + Math.ceil(size / 512) * 512
  }
  assert.fail(`${name} is not in ${tgz}`)
}

/** `pnpm pack` of one workspace package into `dest`; returns the tarball's path. */
async function pack(pkg: string, dest: string): Promise<string> {
  const before = new Set(readdirSync(dest))
  await runOk(process.execPath, [PNPM, 'pack', '--pack-destination', dest], {
    cwd: join(ROOT, 'packages', pkg),
    timeoutMs: 60_000,
  })
  const made = readdirSync(dest).filter((f) => !before.has(f) && f.endsWith('.tgz'))
  assert.equal(made.length, 1, `pnpm pack of packages/${pkg} made ${made.join(', ') || 'nothing'}`)
  return join(dest, made[0]!)
}

type Manifest = {
  name: string
  version: string
  types?: string
  exports?: Record<string, { types?: string; import?: string }>
  dependencies?: Record<string, string>
}

/** What a TypeScript user of the installed package writes; the @ts-expect-error proves it is typed. */
const CHECK_TS = `import { Cairn, type ConsumedRecord, type RecordMetadata } from '@cairn/client'

const cairn: Cairn = new Cairn({ bootstrap: ['127.0.0.1:9091'] })
export const sent: Promise<RecordMetadata[]> = cairn
  .producer({ acks: 'all' })
  .send({ topic: 't', messages: [{ key: 'k', value: 'v' }] })
export const polled: Promise<ConsumedRecord[]> = cairn.consumer({ autoOffsetReset: 'earliest' }).poll()
// @ts-expect-error bootstrap is a list of host:port strings
new Cairn({ bootstrap: 42 })
`

/** The scratch project's program, run with plain node: create, produce, consume, print a summary. */
const CLIENT_MJS = `import { Cairn } from '@cairn/client'

const [bootstrap, topic, count] = process.argv.slice(2)
const cairn = new Cairn({ bootstrap: [bootstrap] })
const admin = cairn.admin()

// The controller registers the nodes first: retry creation until it is ready (bounded).
let attempts = 0
for (const until = Date.now() + 30_000; ; ) {
  attempts++
  try {
    await admin.createTopics([{ topic, numPartitions: 3, replicationFactor: 3 }])
    break
  } catch (err) {
    if (attempts > 1 && err.code === 'TOPIC_ALREADY_EXISTS') break // an earlier attempt got through
    if (Date.now() > until) throw new Error(\`no topic after \${attempts} attempts: \${err.message}\`)
    await new Promise((r) => setTimeout(r, 200))
  }
}

const producer = cairn.producer({ acks: 'all' })
const messages = Array.from({ length: Number(count) }, (_, k) => ({ key: \`key-\${k}\`, value: \`value-\${k}\` }))
const produced = await producer.send({ topic, messages })
await producer.close()

const partitions = await admin.describeTopic(topic)
const consumer = cairn.consumer({ autoOffsetReset: 'earliest' })
consumer.assign(partitions.map((p) => ({ topic, partition: p.partition })))
for (const p of partitions) consumer.seek({ topic, partition: p.partition }, 'earliest')
const decoder = new TextDecoder()
const consumed = []
for (const until = Date.now() + 30_000; consumed.length < messages.length && Date.now() < until; ) {
  for (const r of await consumer.poll())
    consumed.push({
      partition: r.partition,
      offset: r.offset,
      key: r.key && decoder.decode(r.key),
      value: r.value && decoder.decode(r.value),
    })
}
await cairn.close()
console.log(
  JSON.stringify({
    attempts,
    partitions: partitions.length,
    produced: produced.map((m) => ({ partition: m.partition, offset: m.offset })),
    consumed,
  }),
)
`

describe('@cairn/client packed', () => {
  it('installs from its tarballs outside the workspace and talks to a cluster', {
    timeout: 300_000,
  }, async () => {
    assert.ok(relative(realpathSync(ROOT), work).startsWith('..'), `${work} is inside the workspace`)
    const tarballs = join(work, 'tarballs')
    const scratch = join(work, 'scratch')
    const data = join(work, 'data')
    for (const d of [tarballs, scratch, data]) mkdirSync(d)

    // 1. pnpm pack rewrites workspace:* to the real version.
    const protocolTgz = await pack('protocol', tarballs)
    const clientTgz = await pack('client', tarballs)
    const protocolPkg: Manifest = JSON.parse(fileInTarball(protocolTgz, 'package/package.json'))
    const clientJson = fileInTarball(clientTgz, 'package/package.json')
    const clientPkg: Manifest = JSON.parse(clientJson)
    assert.doesNotMatch(clientJson, /workspace:/, `the packed client still says workspace:\n${clientJson}`)
    assert.doesNotMatch(fileInTarball(protocolTgz, 'package/package.json'), /workspace:/)
    assert.equal(clientPkg.dependencies?.['@cairn/protocol'], protocolPkg.version)

    // 2. A scratch project installs both tarballs with npm (ws and msgpackr from the registry).
    writeFileSync(
      join(scratch, 'package.json'),
      `${JSON.stringify({ name: 'cairn-scratch', private: true, type: 'module' }, null, 2)}\n`,
    )
    const install = await run(
      'npm',
      ['install', '--no-audit', '--no-fund', '--offline=false', '--prefer-offline', protocolTgz, clientTgz],
      {
        cwd: scratch,
        timeoutMs: 120_000,
        env: {
          ...process.env,
          npm_config_cache: join(work, 'npm-cache'),
          npm_config_update_notifier: 'false',
        },
      },
    )
    assert.equal(
      install.code,
      0,
      `npm install failed (${install.code}):\n${install.stdout}\n${install.stderr}`,
    )
    const installed = join(scratch, 'node_modules', '@cairn', 'client')
    assert.ok(!lstatSync(installed).isSymbolicLink(), 'npm linked @cairn/client instead of unpacking it')
    for (const dep of ['@cairn/protocol', 'ws', 'msgpackr'])
      assert.ok(existsSync(join(scratch, 'node_modules', dep, 'package.json')), `${dep} is not installed`)

    // Types ship: a "types" condition (or field) pointing at dist/index.d.ts, and tsc accepts a user's file.
    const installedPkg: Manifest = JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'))
    const types = installedPkg.exports?.['.']?.types ?? installedPkg.types
    assert.equal(types, './dist/index.d.ts', 'the client names its declarations in "exports" or "types"')
    assert.ok(existsSync(join(installed, 'dist', 'index.d.ts')), 'dist/index.d.ts is not in the package')
    writeFileSync(join(scratch, 'check.ts'), CHECK_TS)
    writeFileSync(
      join(scratch, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          noEmit: true,
          strict: true,
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2023'],
          types: [],
          skipLibCheck: false,
        },
        files: ['check.ts'],
      }),
    )
    await runOk(process.execPath, [TSC, '-p', 'tsconfig.json'], { cwd: scratch, timeoutMs: 60_000 })

    // 3. A cluster, and the scratch program against it with plain node.
    writeFileSync(join(scratch, 'client.mjs'), CLIENT_MJS)
    const port = await freePortRun(3)
    const cluster = start([
      'cluster',
      'up',
      '--nodes',
      '3',
      '--data',
      data,
      '--port',
      String(port),
      '--lag-port',
      '0',
    ])
    let stopped = false
    try {
      await waitFor('the cluster to come up', () => cluster.output().includes('nodes up'), 30_000)
      const topic = `packed-${process.pid}`
      const r = await run(process.execPath, ['client.mjs', `127.0.0.1:${port}`, topic, String(RECORDS)], {
        cwd: scratch,
        timeoutMs: 75_000,
      })
      assert.equal(r.code, 0, `client.mjs failed (${r.code}):\n${r.stdout}\n${r.stderr}`)
      const summary: {
        partitions: number
        produced: { partition: number; offset: number }[]
        consumed: { partition: number; offset: number; key: string; value: string }[]
      } = JSON.parse(r.stdout.trim().split('\n').at(-1)!)

      const expected = Array.from({ length: RECORDS }, (_, k) => `value-${k}`)
      assert.equal(summary.partitions, 3)
      assert.equal(summary.produced.length, RECORDS)
      assert.deepEqual(summary.consumed.map((c) => c.value).sort(), [...expected].sort())
      for (const c of summary.consumed) assert.equal(c.key.replace('key-', ''), c.value.replace('value-', ''))
      const at = (x: { partition: number; offset: number }) => `${x.partition}@${x.offset}`
      assert.deepEqual(summary.consumed.map(at).sort(), summary.produced.map(at).sort())
      // 4. Ctrl-C stops the nodes.
      cluster.child.kill('SIGINT')
      stopped = true
      assert.equal(await exited(cluster.child, 20_000), 0, cluster.output())
    } finally {
      if (!stopped) cluster.child.kill('SIGINT')
      await exited(cluster.child, 20_000).catch(() => cluster.child.kill('SIGKILL'))
    }
  })
})
