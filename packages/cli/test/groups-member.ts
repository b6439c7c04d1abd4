/**
 * One consumer-group member for the real-process tests (groups.test.ts), run as its own process
 * through the built client: `node --import tsx groups-member.ts '<json options>'`.
 *
 * Every record it processes is appended to `out` as `partition offset time-ms create-time-ms`, with a
 * synchronous write, before its handler returns — so a record is in the file before its offset
 * can be committed, and a SIGKILL loses nothing written. Group events go to stdout as JSON lines:
 * {"e":"joining"|"assigned"|"revoked"|"lost"|"error"|"stopped", "t": ms, ...}. SIGTERM stops
 * it cleanly (commit, leave).
 */
import { closeSync, openSync, writeSync } from 'node:fs'
import { Cairn } from '@cairn/client'

interface MemberOptions {
  bootstrap: string[]
  group: string
  topic: string
  out: string
  strategy: string
  sessionTimeoutMs: number
  heartbeatIntervalMs: number
  /** auto.offset.reset; default earliest. */
  reset?: 'earliest' | 'latest'
  /** auto.commit.interval.ms; default 200. */
  autoCommitIntervalMs?: number
}

const o = JSON.parse(process.argv[2] ?? '{}') as MemberOptions
const event = (e: string, fields: Record<string, unknown> = {}): void => {
  process.stdout.write(`${JSON.stringify({ e, t: Date.now(), ...fields })}\n`)
}
const fd = openSync(o.out, 'a')
const cairn = new Cairn({ bootstrap: o.bootstrap, requestTimeoutMs: 10_000 })
const consumer = cairn.consumer({
  groupId: o.group,
  'client.id': 'groups-test',
  'partition.assignment.strategy': o.strategy,
  'session.timeout.ms': o.sessionTimeoutMs,
  'heartbeat.interval.ms': o.heartbeatIntervalMs,
  'rebalance.timeout.ms': 10_000,
  'auto.offset.reset': o.reset ?? 'earliest',
  'auto.commit.interval.ms': o.autoCommitIntervalMs ?? 200,
  'fetch.max.wait.ms': 100,
  'retry.backoff.ms': 50,
  'retry.backoff.max.ms': 500,
  'default.api.timeout.ms': 15_000,
})
const names = (tps: { topic: string; partition: number }[]) => tps.map((tp) => tp.partition)
consumer.on('rebalancing', ({ memberId }) => event('joining', { member: memberId }))
consumer.on('group.join', (j) =>
  event('assigned', { generation: j.generationId, member: j.memberId, partitions: names(j.assignment) }),
)
consumer.on('error', ({ error }) => event('error', { message: error.message }))
consumer.subscribe(
  { topics: [o.topic] },
  {
    onPartitionsRevoked: (tps) => event('revoked', { partitions: names(tps) }),
    onPartitionsLost: (tps) => event('lost', { partitions: names(tps) }),
  },
)
process.once('SIGTERM', () => void consumer.stop())
try {
  await consumer.run({
    eachMessage: ({ message }) => {
      writeSync(fd, `${message.partition} ${message.offset} ${Date.now()} ${message.timestamp}\n`)
    },
  })
  event('stopped')
} catch (err) {
  event('error', { message: (err as Error).message, fatal: true })
  process.exitCode = 1
} finally {
  closeSync(fd)
  await cairn.close()
}
