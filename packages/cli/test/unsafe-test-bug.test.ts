/**
 * `cairn node start --unsafe-test-bug NAME` exists only to prove the fault-injection harness can
 * fail: it is refused unless CAIRN_ALLOW_TEST_BUGS=1, and a node running one says so loudly.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { cairn, exited, freePortRun, start, waitFor } from './helpers.js'

const dir = mkdtempSync(join(tmpdir(), 'cairn-unsafe-'))
after(() => rmSync(dir, { recursive: true, force: true }))
const secretFile = join(dir, 'secret')
writeFileSync(secretFile, 'a-test-secret-of-enough-length')

function args(port: number, bug: string): string[] {
  return [
    'node',
    'start',
    '--id',
    '1',
    '--data',
    join(dir, 'node-1'),
    '--listen',
    `127.0.0.1:${port}`,
    '--peers',
    `1@127.0.0.1:${port}`,
    '--secret-file',
    secretFile,
    '--unsafe-test-bug',
    bug,
  ]
}

describe('cairn node start --unsafe-test-bug', () => {
  it('is refused without CAIRN_ALLOW_TEST_BUGS=1', async () => {
    delete process.env.CAIRN_ALLOW_TEST_BUGS
    const port = await freePortRun(1)
    const r = cairn(args(port, 'ack-before-commit'))
    assert.notEqual(r.status, 0)
    assert.match(
      r.stderr,
      /ack-before-commit loses data on purpose; it runs only with CAIRN_ALLOW_TEST_BUGS=1/,
    )
    assert.equal(r.stderr.trim().split('\n').length, 1, 'one clear line')
  })

  it('names the known defects when given an unknown one', async () => {
    process.env.CAIRN_ALLOW_TEST_BUGS = '1'
    try {
      const r = cairn(args(await freePortRun(1), 'lose-everything'))
      assert.notEqual(r.status, 0)
      assert.match(r.stderr, /'lose-everything' is not one of ack-before-commit, serve-uncommitted/)
    } finally {
      delete process.env.CAIRN_ALLOW_TEST_BUGS
    }
  })

  it('with CAIRN_ALLOW_TEST_BUGS=1 the node starts and warns loudly', async () => {
    process.env.CAIRN_ALLOW_TEST_BUGS = '1'
    const node = start(args(await freePortRun(1), 'serve-uncommitted'))
    delete process.env.CAIRN_ALLOW_TEST_BUGS
    try {
      await waitFor(
        'the warning',
        () => (/UNSAFE TEST BUG serve-uncommitted IS ON/.test(node.output()) ? true : undefined),
        20_000,
      )
    } finally {
      node.child.kill('SIGKILL')
      await exited(node.child)
    }
  })
})
