/**
 * The README's tour, over real processes: `cairn cluster up`, create a topic, produce, consume,
 * describe; errors as one line with a non-zero exit; Ctrl-C stops the nodes; the same data folder
 * brings the same data back.
 */
import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { lastErrorLine } from '../src/log.js'
import { cairn, cairnOk, exited, freePortRun, start, waitFor } from './helpers.js'

const data = mkdtempSync(join(tmpdir(), 'cairn-cluster-'))
after(() => rmSync(data, { recursive: true, force: true }))

describe('cairn cluster up', () => {
  it('runs the tour: topic, produce, consume, describe, stop, restart with the data', async () => {
    const port = await freePortRun(3)
    const lagPort = await freePortRun(1)
    const bootstrap = `127.0.0.1:${port}`
    let cluster = start([
      'cluster',
      'up',
      '--nodes',
      '3',
      '--data',
      data,
      '--port',
      String(port),
      '--lag-port',
      String(lagPort),
    ])
    try {
      await waitFor('the cluster to come up', () => cluster.output().includes('nodes up'))
      // The lag monitor watches it: its page address printed, Burrow's API answering.
      const page = await waitFor(
        'the lag monitor',
        () => /lag monitor: (http:\S+)/.exec(cluster.output())?.[1],
      )
      assert.equal(page, `http://127.0.0.1:${lagPort}`)
      const clusters = (await (await fetch(`${page}/v3/kafka`)).json()) as { clusters: string[] }
      assert.deepEqual(clusters.clusters, ['local'])
      assert.match(cluster.output(), /node 1 {2}127\.0\.0\.1:\d+ {2}pid \d+/)
      const file = JSON.parse(readFileSync(join(data, 'cluster.json'), 'utf8'))
      assert.equal(file.nodes.length, 3)
      assert.ok(existsSync(file.secretFile))

      // The controller registers the nodes first: retry creation until it is ready (bounded).
      await waitFor('the topic to be created', () =>
        cairn([
          'topic',
          'create',
          'tour',
          '--partitions',
          '6',
          '--replication-factor',
          '3',
          '--bootstrap',
          bootstrap,
        ]).status === 0
          ? true
          : undefined,
      )
      const dup = cairn([
        'topic',
        'create',
        'tour',
        '--partitions',
        '1',
        '--replication-factor',
        '1',
        '--bootstrap',
        bootstrap,
      ])
      assert.notEqual(dup.status, 0)
      assert.equal(dup.stderr.trim().split('\n').length, 1, `one line: ${dup.stderr}`)
      assert.match(dup.stderr, /TOPIC_ALREADY_EXISTS/)
      assert.match(cairnOk(['topic', 'list', '--bootstrap', bootstrap]), /^tour$/m)

      const lines = Array.from({ length: 200 }, (_, k) => `record-${k}`)
      cairnOk(
        ['produce', 'tour', '--acks', 'all', '--producer-property', 'linger.ms=2', '--bootstrap', bootstrap],
        `${lines.join('\n')}\n`,
      )
      // A topic nobody created: said at once, and the send fails after max.block.ms, not a minute.
      const nope = cairn(
        ['produce', 'nope', '--producer-property', 'max.block.ms=1500', '--bootstrap', bootstrap],
        'x\n',
      )
      assert.equal(nope.status, 1, nope.stderr)
      assert.match(
        nope.stderr,
        /^cairn: topic 'nope' is not known to the cluster \(UNKNOWN_TOPIC_OR_PARTITION\); sends wait for it up to max\.block\.ms \(1500 ms\)$/m,
      )
      assert.match(nope.stderr, /^cairn: Topic nope not present in metadata after 1500 ms\.$/m)
      const consumed = cairnOk([
        'consume',
        'tour',
        '--from-beginning',
        '--max-messages',
        '200',
        '--timeout-ms',
        '15000',
        '--bootstrap',
        bootstrap,
      ])
      assert.deepEqual(consumed.trim().split('\n').sort(), [...lines].sort())
      const described = cairnOk(['topic', 'describe', 'tour', '--bootstrap', bootstrap])
      assert.equal(described.match(/partition \d+ {2}leader \d/g)?.length, 6, described)
      assert.equal(cairn(['topic', 'alter', 'tour', '--partitions', '2', '--bootstrap', bootstrap]).status, 1)

      cluster.child.kill('SIGINT')
      assert.equal(await exited(cluster.child), 0)
      cluster = start([
        'cluster',
        'up',
        '--nodes',
        '3',
        '--data',
        data,
        '--port',
        String(port),
        '--lag-port',
        '0',
      ])
      await waitFor('the cluster to come back', () => cluster.output().includes('nodes up'))
      const again = await waitFor('the data after the restart', () => {
        const r = cairn([
          'consume',
          'tour',
          '--from-beginning',
          '--max-messages',
          '200',
          '--timeout-ms',
          '10000',
          '--bootstrap',
          bootstrap,
        ])
        return r.status === 0 && r.stdout.trim().split('\n').length === 200 ? r.stdout : undefined
      })
      assert.deepEqual(again.trim().split('\n').sort(), [...lines].sort())
    } finally {
      cluster.child.kill('SIGINT')
      await exited(cluster.child).catch(() => cluster.child.kill('SIGKILL'))
    }
  })

  it("a node that cannot start: cluster up says why, in one line, from the node's own error", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cairn-cluster-broken-'))
    try {
      // A file where node 1's log store should be: LevelDB cannot open it.
      mkdirSync(join(dir, 'node-1'))
      writeFileSync(join(dir, 'node-1', 'log'), 'not a database')
      const port = await freePortRun(1)
      const r = cairn([
        'cluster',
        'up',
        '--nodes',
        '1',
        '--data',
        dir,
        '--port',
        String(port),
        '--lag-port',
        '0',
      ])
      assert.equal(r.status, 2, r.stderr)
      const logFile = join(dir, 'node-1.log')
      assert.equal(
        r.stderr,
        `cairn: node 1 exited while starting (code 1): log store: cannot open ${join(dir, 'node-1', 'log')}: EEXIST: file already exists, mkdir '${join(dir, 'node-1', 'log')}'; see ${logFile}\n`,
      )
      assert.equal(lastErrorLine(join(dir, 'no-such.log')), undefined)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })

  it('answers --help everywhere and a bad flag with one line', () => {
    for (const args of [
      ['--help'],
      ['cluster', 'up', '--help'],
      ['node', 'start', '--help'],
      ['topic', '--help'],
      ['produce', '--help'],
      ['consume', '--help'],
    ]) {
      const r = cairn(args)
      assert.equal(r.status, 0, args.join(' '))
      assert.match(r.stdout, /usage: cairn/)
    }
    const bad = cairn(['topic', 'create', 'x', '--partitions', 'many'])
    assert.equal(bad.status, 2)
    assert.equal(bad.stderr.trim().split('\n').length, 1)
    assert.match(bad.stderr, /--partitions wants an integer/)
    // The error names the option that was given.
    const property = cairn(['consume', 'x', '--group', 'g', '--consumer-property', 'max.poll.records'])
    assert.equal(property.status, 2)
    assert.equal(property.stderr, "cairn: --consumer-property 'max.poll.records' is not key=value\n")
    // Producer settings the client refuses, with Kafka's words, before any connection.
    const linger = cairn(['produce', 'x', '--producer-property', 'linger.ms=soon'])
    assert.equal(linger.status, 2)
    assert.match(linger.stderr, /^cairn: Invalid value soon for configuration linger\.ms/)
    const unknown = cairn(['produce', 'x', '--producer-property', 'lingerms=5'])
    assert.equal(unknown.status, 2)
    assert.match(unknown.stderr, /^cairn: Unknown producer config 'lingerms'/)
    const segment = cairn(['node', 'start', '--log-segment-bytes', '10'])
    assert.equal(segment.status, 2)
    assert.equal(segment.stderr, "cairn: --log-segment-bytes wants an integer of at least 1024, got '10'\n")
    const config = cairn(['topic', 'create', 'x', '--config', 'retention.ms'])
    assert.equal(config.status, 2)
    assert.equal(config.stderr, "cairn: --config 'retention.ms' is not key=value\n")
  })
})
