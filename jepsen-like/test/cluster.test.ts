/**
 * The harness's cluster: real node processes; under the clock nemesis their wall clocks move
 * (libfaketime) — seen here in the Date header of a node's /metrics answer.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { get } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { seededRandom } from '@cairn/client'
import { Cluster, cairnNodeFlags, faketimeShmFiles, LIBFAKETIME } from '../src/cluster.js'

const dir = mkdtempSync(join(tmpdir(), 'cairn-jepsen-cluster-'))
after(() => rmSync(dir, { recursive: true, force: true }))

/** The node's idea of now, from the Date header of GET /metrics (whole seconds). */
function nodeNow(port: number): Promise<number | undefined> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path: '/metrics', timeout: 1000 }, (res) => {
      res.resume()
      resolve(Date.parse(res.headers.date ?? ''))
    })
    req.on('error', () => resolve(undefined))
    req.on('timeout', () => req.destroy())
  })
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await probe()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 100))
  }
}

describe('the flags of the cairn binary', () => {
  it('reads them from its shebang, and refuses a file without one', () => {
    const bin = join(dir, 'bin.js')
    writeFileSync(bin, '#!/usr/bin/env -S node --max-semi-space-size=64 --initial-heap-size=256\nexport {}\n')
    assert.deepEqual(cairnNodeFlags(bin), ['--max-semi-space-size=64', '--initial-heap-size=256'])
    writeFileSync(bin, '#!/usr/bin/env -S node\n')
    assert.deepEqual(cairnNodeFlags(bin), [])
    writeFileSync(bin, '#!/bin/sh\n')
    assert.throws(
      () => cairnNodeFlags(bin),
      /a shebang '#!\/usr\/bin\/env -S node \[--flag\.\.\.\]' was expected/,
    )
  })
})

describe('cluster under the clock nemesis', () => {
  it('libfaketime is installed (apt-get install faketime; .ci/run does)', () => {
    assert.ok(existsSync(LIBFAKETIME), `${LIBFAKETIME} is missing: apt-get install faketime`)
  })

  it("moves one node's wall clock and puts it back", async () => {
    const cluster = await Cluster.create({
      size: 1,
      dir,
      random: seededRandom(5),
      proxies: false,
      clocks: true,
      logSegmentBytes: 16_384,
      inlineDataBytesMax: 0,
    })
    let shmFiles: string[] = []
    try {
      cluster.start(1)
      shmFiles = faketimeShmFiles(cluster.procs.get(1)!.pid!)
      // The node runs with the V8 flags of the cairn binary's shebang, as `cairn cluster up` starts it.
      const flags = cairnNodeFlags()
      assert.ok(flags.length > 0 && flags.every((f) => f.startsWith('--')), `flags: ${flags}`)
      const argv = readFileSync(`/proc/${cluster.procs.get(1)!.pid}/cmdline`, 'utf8').split('\0')
      for (const f of flags) assert.ok(argv.includes(f), `${f} in ${argv.join(' ')}`)
      assert.equal(
        argv[argv.indexOf('--log-segment-bytes') + 1],
        '16384',
        'the segment size reaches the node',
      )
      assert.equal(argv[argv.indexOf('--inline-data-bytes-max') + 1], '0', 'so does the inline data bound')
      const port = cluster.base
      const skewed = (expectMs: number) => async () => {
        const t = await nodeNow(port)
        return t !== undefined && Math.abs(t - Date.now() - expectMs) < 5000 ? t : undefined
      }
      await waitFor('the node, on time', skewed(0))
      cluster.setClock(1, 3_600_000)
      await waitFor('the node an hour ahead', skewed(3_600_000))
      cluster.setClock(1, -7_200_000)
      await waitFor('the node two hours behind', skewed(-7_200_000))
      cluster.resetClock(1)
      await waitFor('the node on time again', skewed(0))
      for (const f of shmFiles) assert.ok(existsSync(f), `libfaketime's ${f} while the node runs`)
    } finally {
      await cluster.stopAll()
    }
    // stopAll SIGKILLs the node, after which libfaketime cannot remove its files: the harness does.
    for (const f of shmFiles) assert.ok(!existsSync(f), `${f} is left after the node was killed`)
  })
})
