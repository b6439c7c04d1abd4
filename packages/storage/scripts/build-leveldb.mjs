#!/usr/bin/env node
// Builds classic-level's bundled LevelDB 1.20 from source with its SSE 4.2 CRC-32C, in place of
// the prebuilt binary, which checksums in software (a table lookup per byte). LevelDB checksums
// every byte it stores twice (its write-ahead log, then the table its memtable becomes), and at
// 1 KiB max rate that software CRC was 15 % of the whole machine (BENCHMARKS.md).
//
// Run by @cairn/storage's `postinstall`, so `npm start`, `npm run build` and `npm test` get it.
// It never fails an install: when it cannot build (not Linux on x86-64, no SSE 4.2, no C++
// compiler or node-gyp, a failed compile or self-check) it says why in one line and the prebuilt
// binary stays in use. node-gyp-build, which classic-level loads its binding with, takes
// `build/Release` before `prebuilds/`; PREBUILDS_ONLY=1 makes it take the prebuilt anyway.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'

const USAGE = `usage: node packages/storage/scripts/build-leveldb.mjs [--force] [--help]

Builds classic-level's LevelDB from source with the hardware (SSE 4.2) CRC-32C, so that the node
loads it instead of the prebuilt binary. Skips when already built (--force builds again).
CAIRN_LEVELDB_BUILD=prebuilt skips it and removes an earlier build: the prebuilt binary is used.`

/** The marker written beside the built binary; @cairn/storage's `levelDbBuild()` reads it. */
const MARKER = 'cairn-build.json'
/** Flags for the whole LevelDB build: `-msse4.2` for the CRC intrinsics, and the define that
 * compiles `port_posix_sse.cc`'s accelerated CRC-32C in (it checks CPUID once at run time). */
const CXXFLAGS = '-msse4.2 -DLEVELDB_PLATFORM_POSIX_SSE'
/** A bound on the compile (11 s on the 2-core machine). */
const BUILD_TIMEOUT_MS = 600_000

const args = process.argv.slice(2)
if (args.includes('--help')) {
  console.log(USAGE)
  process.exit(0)
}
const unknown = args.filter((a) => a !== '--force')
if (unknown.length > 0) {
  console.error(`build-leveldb: unknown argument '${unknown[0]}'\n${USAGE}`)
  process.exit(2)
}

const say = (line) => console.log(`@cairn/storage: ${line}`)
const require = createRequire(join(dirname(new URL(import.meta.url).pathname), '..', 'package.json'))
const classicDir = dirname(require.resolve('classic-level/package.json'))
const version = JSON.parse(readFileSync(join(classicDir, 'package.json'), 'utf8')).version
const buildDir = join(classicDir, 'build')
const markerFile = join(buildDir, 'Release', MARKER)
const wanted = { classicLevel: version, leveldb: '1.20', crc32c: 'sse4.2', cxxflags: CXXFLAGS }

if (process.env.CAIRN_LEVELDB_BUILD === 'prebuilt') {
  rmSync(buildDir, { recursive: true, force: true })
  say('CAIRN_LEVELDB_BUILD=prebuilt: using the prebuilt LevelDB (software CRC-32C)')
  process.exit(0)
}
const keepPrebuilt = (why) => {
  rmSync(buildDir, { recursive: true, force: true })
  say(`keeping the prebuilt LevelDB (software CRC-32C): ${why}`)
  process.exit(0)
}

if (process.platform !== 'linux' || process.arch !== 'x64')
  keepPrebuilt(`the hardware CRC-32C build is for Linux on x86-64, not ${process.platform}-${process.arch}`)
if (!/^flags\s*:.*\bsse4_2\b/m.test(readFileSync('/proc/cpuinfo', 'utf8')))
  keepPrebuilt('this CPU has no SSE 4.2 (no sse4_2 in /proc/cpuinfo)')

if (!args.includes('--force') && existsSync(markerFile)) {
  let have = {}
  try {
    have = JSON.parse(readFileSync(markerFile, 'utf8')) ?? {}
  } catch {} // an unreadable marker: build again
  if (Object.keys(wanted).every((k) => have[k] === wanted[k])) process.exit(0)
}

const nodeGyp = [
  process.env.npm_config_node_gyp,
  resolve(dirname(process.execPath), '../lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js'),
].find((p) => p && existsSync(p))
if (nodeGyp === undefined) keepPrebuilt("no node-gyp (npm's own, beside this Node.js) was found")
const compiler = spawnSync(process.env.CXX ?? 'c++', ['--version'], { stdio: 'ignore' })
if (compiler.status !== 0) keepPrebuilt(`no C++ compiler ('${process.env.CXX ?? 'c++'} --version' failed)`)
// Node's headers: npm's setting, or the ones installed with this Node.js (its tarballs and Debian's
// package both have them); otherwise node-gyp would download them.
const nodeDir = [process.env.npm_config_nodedir, resolve(dirname(process.execPath), '..')].find(
  (d) => d && existsSync(join(d, 'include', 'node', 'node_api.h')),
)
if (nodeDir === undefined)
  keepPrebuilt("Node.js's headers (include/node/node_api.h) are not installed beside it")

say(`building LevelDB ${wanted.leveldb} (classic-level ${version}) with the SSE 4.2 CRC-32C …`)
const started = Date.now()
const logFile = join(tmpdir(), `cairn-leveldb-build-${process.pid}.log`)
const build = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodeDir}`, '--jobs=max'], {
  cwd: classicDir,
  env: { ...process.env, CXXFLAGS: `${process.env.CXXFLAGS ?? ''} ${CXXFLAGS}`.trim() },
  encoding: 'utf8',
  timeout: BUILD_TIMEOUT_MS,
  maxBuffer: 64 * 1024 * 1024,
})
if (build.status !== 0) {
  writeFileSync(
    logFile,
    `${build.stdout ?? ''}${build.stderr ?? ''}${build.error ? String(build.error) : ''}`,
  )
  keepPrebuilt(
    `node-gyp rebuild failed (${build.error ? build.error.message : `exit ${build.status}`}); its output is in ${logFile}`,
  )
}

// Self-check in a fresh process, with the new binary: a synced write, a reopen that replays
// LevelDB's log (which verifies every record's CRC-32C), and LevelDB's own check of the
// accelerated CRC against a known value, which falls back to software if it disagrees.
const checkDir = mkdtempSync(join(tmpdir(), 'cairn-leveldb-check-'))
const check = spawnSync(
  process.execPath,
  [
    '--input-type=module',
    '-e',
    `import { ClassicLevel } from ${JSON.stringify(join(classicDir, 'index.js'))}
     const dir = process.argv[1], opts = { keyEncoding: 'utf8', valueEncoding: 'utf8' }
     const db = new ClassicLevel(dir, opts)
     await db.open()
     for (let i = 0; i < 1000; i++) await db.put('k' + i, 'v'.repeat(i), { sync: i % 100 === 0 })
     await db.close()
     const again = new ClassicLevel(dir, opts)
     await again.open()
     for (let i = 0; i < 1000; i++) if ((await again.get('k' + i)) !== 'v'.repeat(i)) throw new Error('k' + i + ' read back wrong')
     await again.close()`,
    checkDir,
  ],
  { encoding: 'utf8', timeout: 60_000, env: { ...process.env, PREBUILDS_ONLY: '' } },
)
rmSync(checkDir, { recursive: true, force: true })
if (check.status !== 0)
  keepPrebuilt(
    `the built binary failed its self-check: ${(check.stderr || check.stdout).trim().split('\n').at(-1)}`,
  )

writeFileSync(markerFile, `${JSON.stringify({ ...wanted, builtAt: new Date().toISOString() }, null, 2)}\n`)
say(`built in ${((Date.now() - started) / 1000).toFixed(0)} s: ${join(buildDir, 'Release')}`)
