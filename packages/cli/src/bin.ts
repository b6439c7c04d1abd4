#!/usr/bin/env -S node --max-semi-space-size=64 --initial-heap-size=256
// The shebang passes NODE_V8_FLAGS (v8-flags.ts) to the CLI itself: `cairn bench` is a busy client.
import { main } from './main.js'

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err: unknown) => {
    console.error(`cairn: ${err instanceof Error ? err.message : String(err)}`)
    process.exitCode = 1
  },
)
