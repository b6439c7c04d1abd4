/**
 * ISR from Raft, over real processes: a follower stopped with SIGSTOP leaves the ISR after
 * replica.lag.time.max.ms and returns after SIGCONT; while it is out, a topic with
 * min.insync.replicas=3 refuses acks=all with NOT_ENOUGH_REPLICAS and appends nothing.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { Cairn } from '@cairn/client'
import { exited, freePortRun, nodeStartArgs, start, waitFor } from './helpers.js'

const data = mkdtempSync(join(tmpdir(), 'cairn-isr-'))
const secretFile = join(data, 'secret')
writeFileSync(secretFile, randomBytes(24).toString('hex'))
const running = new Map<number, ReturnType<typeof start>>()
after(async () => {
  for (const n of running.values()) {
    n.child.kill('SIGCONT')
    n.child.kill('SIGKILL')
    await exited(n.child).catch(() => undefined)
  }
  rmSync(data, { recursive: true, force: true })
})

describe('ISR from Raft match indexes', () => {
  it('drops a stopped follower after replica.lag.time.max.ms and takes it back', async () => {
    const base = await freePortRun(3)
    for (const id of [1, 2, 3]) {
      const extra = ['--tick-ms', '50', '--replica-lag-time-max-ms', '1000']
      running.set(id, start(nodeStartArgs(id, base, data, secretFile, extra)))
    }
    const cairn = new Cairn({
      bootstrap: [1, 2, 3].map((id) => `127.0.0.1:${base + id - 1}`),
      attemptsMax: 3,
    })
    try {
      const admin = cairn.admin()
      await waitFor('the topic', async () => {
        try {
          await admin.createTopics([
            {
              topic: 'strict',
              numPartitions: 1,
              replicationFactor: 3,
              configs: { 'min.insync.replicas': '3' },
            },
          ])
          return true
        } catch (err) {
          return (err as { code?: string }).code === 'TOPIC_ALREADY_EXISTS' ? true : undefined
        }
      })
      const isr = async () => (await admin.describeTopic('strict'))[0]!
      const full = await waitFor('a full ISR', async () => {
        const p = await isr()
        return p.isr.length === 3 ? p : undefined
      })
      const producer = cairn.producer({
        acks: 'all',
        'delivery.timeout.ms': 3000,
        'request.timeout.ms': 1000,
        'linger.ms': 0,
      })
      await producer.send({ topic: 'strict', messages: [{ value: 'before' }] })
      const follower = full.replicas.find((r) => r !== full.leaderId)!
      running.get(follower)!.child.kill('SIGSTOP')
      await waitFor(
        'the ISR to shrink',
        async () => ((await isr()).isr.includes(follower) ? undefined : true),
        20_000,
      )
      const endBefore = (await admin.listOffsets('strict', 'latest'))[0]!.offset
      await assert.rejects(
        producer.send({ topic: 'strict', messages: [{ value: 'refused' }] }),
        (err: { code?: string; message: string }) => /NOT_ENOUGH_REPLICAS/.test(`${err.code} ${err.message}`),
      )
      assert.equal(
        (await admin.listOffsets('strict', 'latest'))[0]!.offset,
        endBefore,
        'nothing was appended',
      )
      running.get(follower)!.child.kill('SIGCONT')
      await waitFor(
        'the ISR to grow back',
        async () => ((await isr()).isr.length === 3 ? true : undefined),
        20_000,
      )
      const [meta] = await cairn
        .producer({ acks: 'all' })
        .send({ topic: 'strict', messages: [{ value: 'after' }] })
      assert.equal(meta!.offset, endBefore)
    } finally {
      await cairn.close()
    }
  })
})
