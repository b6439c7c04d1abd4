#!/usr/bin/env node
// `npm test`: install, lint, build and typecheck every package, then run each package's tests
// in dependency order and end with one line: `tests: N passed, M failed`.
import { spawn, spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'

const ROOT = new URL('..', import.meta.url).pathname
const PACKAGES = [
  'packages/protocol',
  'packages/raft',
  'packages/storage',
  'packages/transport',
  'packages/broker',
  'packages/client',
  'packages/lag',
  'packages/cli',
  'jepsen-like',
]

function step(title, args) {
  console.log(`\n== ${title}`)
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts/pnpm.mjs'), ...args], {
    cwd: ROOT,
    stdio: 'inherit',
  })
  if (r.status !== 0) {
    console.error(`npm test: ${title} failed (exit ${r.status})`)
    process.exit(r.status ?? 1)
  }
}

function runTests(dir) {
  return new Promise((resolve) => {
    const child = spawn('npm', ['run', '--silent', 'test'], {
      cwd: dir,
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let out = ''
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk)
      out += chunk
    })
    child.on('close', (code) => {
      const count = (name) => Number(new RegExp(`^ℹ ${name} (\\d+)$`, 'm').exec(out)?.[1] ?? 0)
      resolve({
        code,
        passed: count('pass'),
        failed: count('fail') + (code !== 0 && count('fail') === 0 ? 1 : 0),
      })
    })
  })
}

step('install', ['install', '--frozen-lockfile'])
step('lint', ['exec', 'biome', 'check', '.'])
step('build and typecheck', ['exec', 'turbo', 'run', 'build', 'typecheck', '--output-logs=errors-only'])

let passed = 0
let failed = 0
for (const name of PACKAGES) {
  const dir = join(ROOT, name)
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'))
  console.log(`\n== ${pkg.name}`)
  const started = Date.now()
  const r = await runTests(dir)
  console.log(
    `== ${pkg.name}: ${r.passed} passed, ${r.failed} failed in ${((Date.now() - started) / 1000).toFixed(0)} s`,
  )
  passed += r.passed
  failed += r.failed
}
console.log(`\ntests: ${passed} passed, ${failed} failed`)
process.exit(failed > 0 ? 1 : 0)
