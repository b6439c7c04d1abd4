/**
 * cairn node start --id N --data DIR --listen HOST:PORT --peers 1@h:p,2@h:p,3@h:p --secret-file F
 *
 * Runs one node in the foreground until SIGINT or SIGTERM, then closes it cleanly. The Raft
 * transport listens on the client port + --raft-port-offset (10000 by default) on every node.
 */
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import {
  CairnNode,
  isUnsafeTestBug,
  type PeerAddress,
  UNSAFE_TEST_BUGS,
  type UnsafeTestBug,
} from '@cairn/broker'
import { fail, parseHostPort, parseIntOption, parsePeers } from './args.js'
import { stderrLogger } from './log.js'
import { NODE_ADMIN_USAGE, nodeAdminCommand } from './node-admin-command.js'

export const NODE_USAGE = `usage: cairn node start --id N --data DIR --listen HOST:PORT --peers ID@HOST:PORT,...
                        [--secret-file F] [--raft-port-offset 10000] [--tick-ms 100]
                        [--replica-lag-time-max-ms 30000] [--retention-check-interval-ms 300000]
                        [--offsets-topic-partitions 16] [--offsets-topic-replication-factor 3]
                        [--group-initial-rebalance-delay-ms 3000] [--log-segment-bytes 4194304]
                        [--inline-data-bytes-max 65536]
                        [--raft-peers ID@HOST:PORT,...] [--unsafe-test-bug NAME]

Runs one Cairn node in the foreground. --peers lists every node of the cluster (this one too) by
its client address; each node's Raft transport listens on its client port + --raft-port-offset.
--raft-peers makes this node dial some peers' Raft transports elsewhere (e.g. through a proxy).
The controller creates __consumer_offsets (the committed offsets of consumer groups) once every
node is registered, with --offsets-topic-partitions and --offsets-topic-replication-factor (capped
at the node count), as Kafka's offsets.topic.num.partitions and offsets.topic.replication.factor.
The nodes share a cluster secret: --secret-file, or the CAIRN_SECRET environment variable.
--log-segment-bytes (Kafka's log.segment.bytes, but node-wide): the node's log store starts a new
segment of its key space, and a new LevelDB table, after this many bytes (at least 1024).
--inline-data-bytes-max: the record data one group commit keeps in LevelDB; past it, a batch's
data goes once to the segment's data file (0: all of it; @cairn/storage's README).
--unsafe-test-bug (${UNSAFE_TEST_BUGS.join(', ')}) switches on a deliberate defect, for testing
the fault-injection harness only; it is refused unless CAIRN_ALLOW_TEST_BUGS=1.`

export const RAFT_PORT_OFFSET = 10_000
/** Smaller segments only make more tables; below this it is a mistake. */
const LOG_SEGMENT_BYTES_MIN = 1024

export async function nodeCommand(argv: string[]): Promise<void> {
  if (argv[0] === 'decommission' || argv[0] === 'recommission') return nodeAdminCommand(argv)
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      id: { type: 'string' },
      data: { type: 'string' },
      listen: { type: 'string' },
      peers: { type: 'string' },
      'secret-file': { type: 'string' },
      'raft-port-offset': { type: 'string' },
      'tick-ms': { type: 'string' },
      'replica-lag-time-max-ms': { type: 'string' },
      'retention-check-interval-ms': { type: 'string' },
      'offsets-topic-partitions': { type: 'string' },
      'offsets-topic-replication-factor': { type: 'string' },
      'group-initial-rebalance-delay-ms': { type: 'string' },
      'log-segment-bytes': { type: 'string' },
      'inline-data-bytes-max': { type: 'string' },
      'raft-peers': { type: 'string' },
      'unsafe-test-bug': { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help)
    return console.log(positionals[0] === 'start' ? NODE_USAGE : `${NODE_USAGE}\n\n${NODE_ADMIN_USAGE}`)
  if (positionals[0] !== 'start')
    fail(`unknown 'cairn node ${positionals[0] ?? ''}'; try 'cairn node --help'`)
  const nodeId = parseIntOption(values.id, 'id', 0, 1)
  const logSegmentBytes =
    values['log-segment-bytes'] === undefined
      ? undefined
      : parseIntOption(values['log-segment-bytes'], 'log-segment-bytes', 0, LOG_SEGMENT_BYTES_MIN)
  const inlineDataBytesMax =
    values['inline-data-bytes-max'] === undefined
      ? undefined
      : parseIntOption(values['inline-data-bytes-max'], 'inline-data-bytes-max', 0, 0)
  if (!values.data) fail('--data DIR is required')
  if (!values.listen) fail('--listen HOST:PORT is required')
  if (!values.peers) fail('--peers ID@HOST:PORT,... is required')
  const listen = parseHostPort(values.listen, '--listen')
  const offset = parseIntOption(values['raft-port-offset'], 'raft-port-offset', RAFT_PORT_OFFSET, 1)
  const addresses = parsePeers(values.peers)
  const mine = addresses.get(nodeId)
  if (!mine) fail(`--peers does not list node ${nodeId}`)
  if (mine.port !== listen.port)
    fail(`--listen port ${listen.port} differs from node ${nodeId}'s port ${mine.port} in --peers`)
  const secret = values['secret-file']
    ? readFileSync(values['secret-file'], 'utf8').trim()
    : process.env.CAIRN_SECRET
  if (!secret || secret.length < 16)
    fail('a cluster secret of at least 16 characters is needed: --secret-file F or CAIRN_SECRET')
  const peers = new Map<number, PeerAddress>(
    [...addresses].map(([id, a]) => [id, { host: a.host, port: a.port, raftPort: a.port + offset }]),
  )
  if (values['raft-peers']) {
    for (const [id, a] of parsePeers(values['raft-peers'])) {
      const peer = peers.get(id)
      if (!peer || id === nodeId) fail(`--raft-peers: node ${id} is not another node of --peers`)
      peers.set(id, { ...peer, raftHost: a.host, raftPort: a.port })
    }
  }
  const bugs: UnsafeTestBug[] = []
  for (const name of values['unsafe-test-bug'] ?? []) {
    if (!isUnsafeTestBug(name))
      fail(`--unsafe-test-bug '${name}' is not one of ${UNSAFE_TEST_BUGS.join(', ')}`)
    if (process.env.CAIRN_ALLOW_TEST_BUGS !== '1')
      fail(`--unsafe-test-bug ${name} loses data on purpose; it runs only with CAIRN_ALLOW_TEST_BUGS=1`)
    bugs.push(name)
  }
  const logger = stderrLogger(`node ${nodeId}`)
  for (const name of bugs)
    logger.warn(
      `UNSAFE TEST BUG ${name} IS ON: this node breaks its guarantees on purpose; never use it for data`,
    )
  const node = await CairnNode.start({
    nodeId,
    dataDir: values.data,
    peers,
    secret,
    listenHost: listen.host,
    tickMs: parseIntOption(values['tick-ms'], 'tick-ms', 100, 1),
    ...(logSegmentBytes !== undefined && { logSegmentBytes }),
    ...(inlineDataBytesMax !== undefined && { inlineDataBytesMax }),
    replicaLagTimeMs: parseIntOption(values['replica-lag-time-max-ms'], 'replica-lag-time-max-ms', 30_000, 1),
    retentionCheckIntervalMs: parseIntOption(
      values['retention-check-interval-ms'],
      'retention-check-interval-ms',
      300_000,
      1,
    ),
    offsetsTopicPartitions: parseIntOption(
      values['offsets-topic-partitions'],
      'offsets-topic-partitions',
      16,
      1,
    ),
    offsetsTopicReplicationFactor: parseIntOption(
      values['offsets-topic-replication-factor'],
      'offsets-topic-replication-factor',
      3,
      1,
    ),
    groupCoordinator: {
      groupInitialRebalanceDelayMs: parseIntOption(
        values['group-initial-rebalance-delay-ms'],
        'group-initial-rebalance-delay-ms',
        3000,
      ),
    },
    logger,
    unsafeTestBugs: bugs,
  })
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info(`${signal}: stopping`)
      node.close().then(resolve, (err: unknown) => {
        logger.error(`stopping: ${String(err)}`)
        resolve()
      })
    }
    process.once('SIGINT', () => stop('SIGINT'))
    process.once('SIGTERM', () => stop('SIGTERM'))
  })
}
