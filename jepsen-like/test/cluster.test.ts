/**
 * The harness's cluster: real node processes; under the clock nemesis their wall clocks move
 * (libfaketime) — seen here in the Date header of a node's /metrics answer.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdtempSync, rmSync } from 'node:fs'
import { get } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { seededRandom } from '@cairn/client'
import { Cluster, LIBFAKETIME } from '../src/cluster.js'

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
    })
    try {
      cluster.start(1)
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
    } finally {
      await cluster.stopAll()
    }
  })
})
