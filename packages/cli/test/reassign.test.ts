/**
 * Moving replicas over real processes: on a four-node `cairn cluster up`, `cairn topic reassign
 * --wait` moves a partition and returns once it is done, `cairn topic describe` shows the new
 * replicas and the records are all still there; `cairn node decommission --wait` empties a node;
 * bad requests fail with one line.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { cairn, cairnOk, exited, freePortRun, start, waitFor } from './helpers.js'

const data = mkdtempSync(join(tmpdir(), 'cairn-reassign-'))
after(() => rmSync(data, { recursive: true, force: true }))

/** The replicas `cairn topic describe` shows for each partition. */
function replicasOf(described: string): number[][] {
  return [...described.matchAll(/partition \d+ {2}leader \S+ {2}replicas (\S+)/g)].map((m) =>
    m[1]!.split(',').map(Number),
  )
}

describe('cairn topic reassign and cairn node decommission', () => {
  it('moves a partition with --wait, describes it, and empties a decommissioned node', async () => {
    const port = await freePortRun(4)
    const bootstrap = ['--bootstrap', `127.0.0.1:${port}`]
    const cluster = start([
      'cluster',
      'up',
      '--nodes',
      '4',
      '--data',
      data,
      '--port',
      String(port),
      '--lag-port',
      '0',
    ])
    try {
      await waitFor('the cluster to come up', () => cluster.output().includes('nodes up'))
      await waitFor('the topic to be created', () =>
        cairn(['topic', 'create', 'moves', '--partitions', '1', '--replication-factor', '3', ...bootstrap])
          .status === 0
          ? true
          : undefined,
      )
      const lines = Array.from({ length: 100 }, (_, k) => `record-${k}`)
      cairnOk(['produce', 'moves', '--acks', 'all', ...bootstrap], `${lines.join('\n')}\n`)

      const [replicas] = replicasOf(cairnOk(['topic', 'describe', 'moves', ...bootstrap]))
      const spare = [1, 2, 3, 4].find((id) => !replicas!.includes(id))!
      const target = [...replicas!.slice(0, 2), spare]
      const moved = cairnOk([
        'topic',
        'reassign',
        'moves',
        '--partition',
        '0',
        '--replicas',
        target.join(','),
        '--wait',
        '--timeout-ms',
        '30000',
        ...bootstrap,
      ])
      assert.match(moved, new RegExp(`reassignment of moves-0 done: replicas ${target.join(',')}`), moved)
      const described = cairnOk(['topic', 'describe', 'moves', ...bootstrap])
      assert.deepEqual(replicasOf(described), [target], described)
      assert.doesNotMatch(described, /adding|removing/)
      assert.match(cairnOk(['topic', 'reassignments', ...bootstrap]), /no reassignment in progress/)
      const consumed = cairnOk([
        'consume',
        'moves',
        '--from-beginning',
        '--max-messages',
        '100',
        '--timeout-ms',
        '15000',
        ...bootstrap,
      ])
      assert.deepEqual(consumed.trim().split('\n'), lines)

      const bad = cairn([
        'topic',
        'reassign',
        'moves',
        '--partition',
        '0',
        '--replicas',
        '1,1,2',
        ...bootstrap,
      ])
      assert.equal(bad.status, 1)
      assert.equal(bad.stderr.trim().split('\n').length, 1, `one line: ${bad.stderr}`)
      assert.match(bad.stderr, /INVALID_REPLICA_ASSIGNMENT/)

      // Node `spare` now holds a replica; decommissioning it moves that replica off again.
      const drained = cairnOk([
        'node',
        'decommission',
        String(spare),
        '--wait',
        '--timeout-ms',
        '30000',
        ...bootstrap,
      ])
      assert.match(drained, new RegExp(`node ${spare} hosts no partition replica`), drained)
      const after = replicasOf(cairnOk(['topic', 'describe', 'moves', ...bootstrap]))
      assert.ok(!after[0]!.includes(spare), `replicas ${after[0]} avoid node ${spare}`)
      assert.match(cairnOk(['node', 'recommission', String(spare), ...bootstrap]), /recommissioned/)
      const unknown = cairn(['node', 'decommission', '9', ...bootstrap])
      assert.equal(unknown.status, 1)
      assert.match(unknown.stderr, /BROKER_ID_NOT_REGISTERED/)
    } finally {
      cluster.child.kill('SIGINT')
      await exited(cluster.child).catch(() => cluster.child.kill('SIGKILL'))
    }
  })

  it('answers --help for the new commands and a bad option with one line', () => {
    for (const args of [
      ['node', 'decommission', '--help'],
      ['node', 'recommission', '--help'],
      ['node', '--help'],
    ]) {
      const r = cairn(args)
      assert.equal(r.status, 0, args.join(' '))
      assert.match(r.stdout, /usage: cairn node decommission ID/)
    }
    assert.match(cairnOk(['topic', '--help']), /cairn topic reassign NAME --partition P/)
    assert.match(cairnOk(['node', 'start', '--help']), /usage: cairn node start/)
    for (const [args, message] of [
      [['topic', 'reassign', 'x', '--replicas', '1,2'], /needs --partition P/],
      [['topic', 'reassign', 'x', '--partition', '0', '--replicas', '1,a'], /--replicas wants node ids/],
      [['topic', 'reassign', 'x', '--partition', '0', '--replicas', '1', '--cancel'], /exclude each other/],
      [['node', 'decommission', 'two'], /node ID 'two' is not a positive integer/],
    ] as const) {
      const r = cairn([...args])
      assert.equal(r.status, 2, args.join(' '))
      assert.equal(r.stderr.trim().split('\n').length, 1)
      assert.match(r.stderr, message)
    }
  })
})
