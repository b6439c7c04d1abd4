#!/usr/bin/env node
// Runs the pinned pnpm through npx: corepack cannot verify pnpm's signature against this
// registry, so the version is pinned here instead of in a `packageManager` field.
import { spawnSync } from 'node:child_process'

const PNPM_VERSION = '10.34.9'
const result = spawnSync('npx', ['-y', `pnpm@${PNPM_VERSION}`, ...process.argv.slice(2)], {
  env: { ...process.env, TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1' },
  stdio: 'inherit',
})
if (result.error) {
  console.error(`cairn: could not run pnpm@${PNPM_VERSION} through npx: ${result.error.message}`)
  process.exit(1)
}
process.exit(result.status ?? 1)
