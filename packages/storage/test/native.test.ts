import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { test } from 'node:test'
import { ClassicLevel } from 'classic-level'
import { levelDbBuild } from '../src/index.js'
import { tempDir } from './helpers.js'

test("classic-level's native binding loads: open, put with sync, get, reopen", async () => {
  const dir = tempDir()
  try {
    const db = new ClassicLevel<Uint8Array, Uint8Array>(dir.path, {
      keyEncoding: 'view',
      valueEncoding: 'view',
    })
    await db.open()
    await db.put(new Uint8Array([1, 2, 3]), new Uint8Array([4, 5, 6]), { sync: true })
    assert.deepEqual([...((await db.get(new Uint8Array([1, 2, 3]))) ?? [])], [4, 5, 6])
    await db.close()
    const reopened = new ClassicLevel<Uint8Array, Uint8Array>(dir.path, {
      keyEncoding: 'view',
      valueEncoding: 'view',
    })
    await reopened.open()
    assert.deepEqual([...((await reopened.get(new Uint8Array([1, 2, 3]))) ?? [])], [4, 5, 6])
    await reopened.close()
  } finally {
    dir.cleanup()
  }
})

/** Why the hardware CRC-32C build cannot be expected here, or undefined when it can. */
function noSourceBuildBecause(): string | undefined {
  if (process.env.CAIRN_LEVELDB_BUILD === 'prebuilt') return 'CAIRN_LEVELDB_BUILD=prebuilt'
  if (process.env.PREBUILDS_ONLY) return 'PREBUILDS_ONLY is set'
  if (process.platform !== 'linux' || process.arch !== 'x64') return `${process.platform}-${process.arch}`
  if (!/^flags\s*:.*\bsse4_2\b/m.test(readFileSync('/proc/cpuinfo', 'utf8'))) return 'no SSE 4.2'
  if (spawnSync(process.env.CXX ?? 'c++', ['--version'], { stdio: 'ignore' }).status !== 0)
    return 'no C++ compiler'
  return undefined
}

test('on Linux x86-64 with SSE 4.2 and a compiler, the install built LevelDB with the hardware CRC-32C, and it is the one loaded', (t) => {
  const why = noSourceBuildBecause()
  if (why !== undefined) return t.skip(`not expected here: ${why}`)
  const build = levelDbBuild()
  assert.deepEqual(
    { binary: build.binary, crc32c: build.crc32c },
    { binary: 'source', crc32c: 'sse4.2' },
    `${build.description}: run 'node packages/storage/scripts/build-leveldb.mjs'`,
  )
  assert.match(build.description, /SSE 4\.2/)
})

test('PREBUILDS_ONLY makes levelDbBuild() report the prebuilt binary, as classic-level then loads it', () => {
  const saved = process.env.PREBUILDS_ONLY
  process.env.PREBUILDS_ONLY = '1'
  try {
    assert.deepEqual(
      { ...levelDbBuild(), description: '' },
      { binary: 'prebuilt', crc32c: 'software', description: '' },
    )
  } finally {
    if (saved === undefined) delete process.env.PREBUILDS_ONLY
    else process.env.PREBUILDS_ONLY = saved
  }
})

test('levelDbBuild() reads a build folder: no binary, a binary without its marker, with it, with a damaged one', () => {
  const dir = tempDir()
  try {
    const describe = () => {
      const b = levelDbBuild(dir.path)
      return `${b.binary} ${b.crc32c}`
    }
    assert.equal(describe(), 'prebuilt software')
    writeFileSync(join(dir.path, 'classic_level.node'), '')
    assert.equal(describe(), 'source software')
    writeFileSync(join(dir.path, 'cairn-build.json'), JSON.stringify({ crc32c: 'sse4.2', leveldb: '1.20' }))
    assert.equal(describe(), 'source sse4.2')
    assert.equal(levelDbBuild(dir.path).description, 'LevelDB 1.20 built here with the SSE 4.2 CRC-32C')
    writeFileSync(join(dir.path, 'cairn-build.json'), '{"crc32c": "sse4.2"') // cut short
    assert.equal(describe(), 'source software', 'a damaged marker does not stop a node starting')
  } finally {
    dir.cleanup()
  }
})

/**
 * Writes (or reads back and checks) `KEYS` keys in a child process loading the prebuilt or the
 * built binary. Small memtables make LevelDB write tables as it goes; what is left in its log at
 * close is replayed at the next open, and replay checks every log record's CRC-32C, dropping
 * (without paranoid checks: silently) a record whose CRC disagrees.
 */
function level(binary: 'prebuilt' | 'source', mode: 'write' | 'read', dir: string): string {
  const classicLevel = createRequire(import.meta.url).resolve('classic-level')
  const script = `
    const { ClassicLevel } = require(${JSON.stringify(classicLevel)})
    const [dir, mode] = process.argv.slice(1)
    const value = (i) => Buffer.alloc(100 + (i % 900), i % 251)
    ;(async () => {
      const db = new ClassicLevel(dir, { keyEncoding: 'utf8', valueEncoding: 'buffer', writeBufferSize: 64 * 1024 })
      await db.open()
      let bad = 0
      for (let i = 0; i < ${KEYS}; i++) {
        if (mode === 'write') await db.put('k' + i, value(i), { sync: i % 50 === 0 })
        else if (!value(i).equals((await db.get('k' + i)) ?? Buffer.alloc(0))) bad++
      }
      await db.close()
      process.stdout.write(mode === 'write' ? 'wrote' : bad + ' of ${KEYS} keys missing or wrong')
    })().catch((err) => { console.error(String(err)); process.exit(1) })`
  const r = spawnSync(process.execPath, ['-e', script, dir, mode], {
    encoding: 'utf8',
    env: { ...process.env, PREBUILDS_ONLY: binary === 'prebuilt' ? '1' : '' },
  })
  assert.equal(r.status, 0, `${binary} ${mode}: ${r.stderr}`)
  return r.stdout
}
const KEYS = 3000

test('a database written by the prebuilt LevelDB reads back whole with the built one, and the other way round', (t) => {
  const why = noSourceBuildBecause()
  if (why !== undefined) return t.skip(`no built binary here: ${why}`)
  for (const [writer, reader] of [
    ['prebuilt', 'source'],
    ['source', 'prebuilt'],
  ] as const) {
    const dir = tempDir()
    try {
      level(writer, 'write', dir.path)
      assert.equal(
        level(reader, 'read', dir.path),
        `0 of ${KEYS} keys missing or wrong`,
        `written by ${writer}, read by ${reader}`,
      )
    } finally {
      dir.cleanup()
    }
  }
})
