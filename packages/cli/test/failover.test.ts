/**
 * The broker issue's proof over real processes: three `cairn node start` processes, a topic of 6
 * partitions with replication factor 3, producers sending keyed records with acks=all while one
 * node is SIGKILLed and restarted. Afterwards every acknowledged record is read back exactly once,
 * at the offset it was acknowledged with, in per-key order. acks=1 and acks=0 run too.
 */
import assert from 'node:assert/strict'
import { randomBytes } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { Cairn } from '@cairn/client'
import { exited, freePortRun, nodeStartArgs, start, waitFor } from './helpers.js'

const data = mkdtempSync(join(tmpdir(), 'cairn-failover-'))
const secretFile = join(data, 'secret')
writeFileSync(secretFile, randomBytes(24).toString('hex'))
const running = new Map<number, ReturnType<typeof start>>()
after(async () => {
  for (const n of running.values()) {
    n.child.kill('SIGKILL')
    await exited(n.child).catch(() => undefined)
  }
  rmSync(data, { recursive: true, force: true })
})

const SEED = Number(process.env.SEED ?? Date.now() % 100_000)
function rng(seed: number) {
  let s = seed
  return () => {
    s = (s * 16807) % 2147483647
    return s / 2147483647
  }
}

describe('acks=all across a SIGKILL', () => {
  it('loses no acknowledged record and duplicates none', async (t) => {
    t.diagnostic(`seed ${SEED}`)
    const random = rng(SEED + 1)
    const base = await freePortRun(3)
    const startNode = (id: number) =>
      running.set(id, start(nodeStartArgs(id, base, data, secretFile, ['--tick-ms', '50'])))
    for (const id of [1, 2, 3]) startNode(id)
    const cairn = new Cairn({ bootstrap: [1, 2, 3].map((id) => `127.0.0.1:${base + id - 1}`) })
    try {
      const admin = cairn.admin()
      await waitFor('the topic', async () => {
        try {
          await admin.createTopics([{ topic: 'proof', numPartitions: 6, replicationFactor: 3 }])
          return true
        } catch (err) {
          if ((err as { code?: string }).code === 'TOPIC_ALREADY_EXISTS') return true
          return undefined
        }
      })
      const producer = cairn.producer({ acks: 'all', 'linger.ms': 2, 'delivery.timeout.ms': 60_000 })
      const acked: { key: string; value: string; partition: number; offset: number }[] = []
      let failed = 0
      const sends: Promise<void>[] = []
      const keys = Array.from({ length: 12 }, (_, k) => `key-${k}`)
      let seq = 0
      const produceFor = async (ms: number) => {
        const until = Date.now() + ms
        while (Date.now() < until) {
          for (let k = 0; k < 20; k++) {
            const key = keys[Math.floor(random() * keys.length)]!
            const value = `${key}:${seq++}`
            sends.push(
              producer.send({ topic: 'proof', messages: [{ key, value }] }).then(
                ([meta]) => {
                  acked.push({ key, value, partition: meta!.partition, offset: meta!.offset })
                },
                () => {
                  failed++
                },
              ),
            )
          }
          await new Promise((r) => setTimeout(r, 10))
        }
      }
      await produceFor(1500)
      const victim = 1 + Math.floor(random() * 3)
      t.diagnostic(`SIGKILL node ${victim}`)
      running.get(victim)!.child.kill('SIGKILL')
      await exited(running.get(victim)!.child)
      await produceFor(3000)
      startNode(victim)
      await produceFor(1500)
      await Promise.all(sends)
      await producer.flush()
      t.diagnostic(`acked ${acked.length}, failed ${failed}`)
      assert.ok(acked.length > 500, `enough acknowledged records to mean something (${acked.length})`)

      // acks=1 and acks=0 paths, with every node up.
      const p1 = cairn.producer({ acks: 1, 'enable.idempotence': false })
      const [one] = await p1.send({ topic: 'proof', messages: [{ key: 'acks1', value: 'acks1' }] })
      assert.ok(one!.offset >= 0)
      const p0 = cairn.producer({ acks: 0, 'enable.idempotence': false })
      await p0.send({ topic: 'proof', messages: [{ key: 'acks0', value: 'acks0' }] })
      await p0.flush()

      // Read every partition from the start, until the high watermarks (bounded).
      const consumer = cairn.consumer({ autoOffsetReset: 'earliest' })
      consumer.assign(Array.from({ length: 6 }, (_, partition) => ({ topic: 'proof', partition })))
      const read = new Map<string, { partition: number; offset: number; key: string }>()
      const readOrder: { key: string; value: string }[] = []
      const ends = await admin.listOffsets('proof', 'latest')
      const target = ends.reduce((s, e) => s + e.offset, 0)
      let total = 0
      await waitFor(
        'every record up to the high watermarks',
        async () => {
          for (const r of await consumer.poll()) {
            total++
            const value = new TextDecoder().decode(r.value!)
            const key = new TextDecoder().decode(r.key!)
            assert.ok(
              !read.has(value),
              `duplicate: ${value} at ${r.partition}/${r.offset} and ${JSON.stringify(read.get(value))}`,
            )
            read.set(value, { partition: r.partition, offset: r.offset, key })
            readOrder.push({ key, value })
          }
          return total >= target ? true : undefined
        },
        60_000,
      )
      for (const a of acked) {
        const r = read.get(a.value)
        assert.ok(r, `acknowledged record ${a.value} (partition ${a.partition}, offset ${a.offset}) was lost`)
        assert.deepEqual(
          [r.partition, r.offset],
          [a.partition, a.offset],
          `${a.value} is not where it was acknowledged`,
        )
      }
      // Per-key order: a key's sequence numbers increase in the order they are read.
      const lastSeq = new Map<string, number>()
      for (const { key, value } of readOrder) {
        if (!key.startsWith('key-')) continue
        const n = Number(value.split(':')[1])
        assert.ok((lastSeq.get(key) ?? -1) < n, `key ${key}: ${n} read after ${lastSeq.get(key)}`)
        lastSeq.set(key, n)
      }
      assert.ok(read.has('acks1'), 'the acks=1 record is there')
    } finally {
      await cairn.close()
    }
  })
})
