#!/usr/bin/env node
// Prints the top functions of a V8 .cpuprofile (from `node --cpu-prof`) by self time and by total
// time (self + callees, counted once per sample). Usage: node scripts/profile-top.mjs FILE [N]
import { readFileSync } from 'node:fs'

const [file, nArg] = process.argv.slice(2)
if (!file) {
  console.error('usage: node scripts/profile-top.mjs FILE.cpuprofile [N]')
  process.exit(2)
}
const top = Number(nArg ?? 25)
const profile = JSON.parse(readFileSync(file, 'utf8'))
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const parent = new Map()
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const label = (n) => {
  const f = n.callFrame
  const where = f.url ? `${f.url.replace(/^.*\/(packages|node_modules)\//, '$1/')}:${f.lineNumber + 1}` : ''
  return `${f.functionName || '(anonymous)'} ${where}`.trim()
}
const self = new Map()
const total = new Map()
const counts = new Map()
for (const id of profile.samples) counts.set(id, (counts.get(id) ?? 0) + 1)
let samples = 0
for (const [id, k] of counts) {
  samples += k
  const l = label(byId.get(id))
  self.set(l, (self.get(l) ?? 0) + k)
  const seen = new Set()
  for (let cur = id; cur !== undefined; cur = parent.get(cur)) {
    const name = label(byId.get(cur))
    if (seen.has(name)) continue
    seen.add(name)
    total.set(name, (total.get(name) ?? 0) + k)
  }
}
const print = (title, m) => {
  console.log(`${title} (of ${samples} samples)`)
  for (const [l, k] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top))
    console.log(`${((100 * k) / samples).toFixed(1).padStart(6)}%  ${l}`)
}
print('self', self)
print('total', total)
