import { createRequire } from 'node:module'
import { ClassicLevel } from 'classic-level'

const require = createRequire(import.meta.url)
const binding = require(require.resolve('classic-level').replace(/index\.js$/, 'binding.js'))
const db = new ClassicLevel('/tmp/wb/db-' + process.pid, { keyEncoding: 'view', valueEncoding: 'view' })
await db.open()
const v = new Uint8Array(1024)
const N = 2000
for (const mode of ['write', 'native', 'write', 'native', 'nosync']) {
  let syncPart = 0,
    total = 0
  for (let i = 0; i < N; i++) {
    const b = db.batch()
    for (let j = 0; j < 5; j++) {
      const k = new Uint8Array(17)
      new DataView(k.buffer).setUint32(13, i * 5 + j)
      b.put(k, v)
    }
    const ctx = b[Object.getOwnPropertySymbols(b).find((s) => s.description === 'context')]
    const t0 = performance.now()
    const p =
      mode === 'native' ? binding.batch_write(ctx, { sync: true }) : b.write({ sync: mode !== 'nosync' })
    const t1 = performance.now()
    await p
    syncPart += t1 - t0
    total += performance.now() - t0
  }
  console.log(
    `${mode}: call ${((1000 * syncPart) / N).toFixed(1)} µs; whole ${((1000 * total) / N).toFixed(1)} µs`,
  )
}
await db.close()
