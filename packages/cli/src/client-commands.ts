/**
 * The client side of the cairn command: topics, produce, consume. Every command takes
 * --bootstrap host:port (default 127.0.0.1:9091) and prints one clear line on error.
 */
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { Cairn } from '@cairn/client'
import { fail, parseIntOption } from './args.js'

export const DEFAULT_BOOTSTRAP = '127.0.0.1:9091'

export const TOPIC_USAGE = `usage: cairn topic create NAME --partitions N --replication-factor R [--config k=v ...]
       cairn topic list
       cairn topic describe NAME
       cairn topic alter NAME [--partitions N] [--config k=v ...]
       cairn topic delete NAME
   (all: [--bootstrap host:port], default ${DEFAULT_BOOTSTRAP})

Partitions can be added, never removed. Keyed records map to partitions by murmur2(key) % count,
so after an increase a key may land in a different partition than before.`

export const PRODUCE_USAGE = `usage: cairn produce TOPIC [--acks 0|1|all] [--key K] [--file F] [--bootstrap host:port]

Sends one record per line of --file (default: standard input), all with key K if given.`

export const CONSUME_USAGE = `usage: cairn consume TOPIC [--from-beginning | --partition P --offset O] [--max-messages N]
                     [--timeout-ms T] [--format value|json] [--bootstrap host:port]

Prints each record (its value, or a JSON line with topic, partition, offset, key, value) until
--max-messages records or --timeout-ms without a new record.`

function bootstrapOf(value: string | undefined): string[] {
  return (value ?? DEFAULT_BOOTSTRAP).split(',').map((s) => s.trim())
}

function parseConfigs(items: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {}
  for (const item of items ?? []) {
    const eq = item.indexOf('=')
    if (eq <= 0) fail(`--config '${item}' is not key=value`)
    out[item.slice(0, eq)] = item.slice(eq + 1)
  }
  return out
}

async function withClient<T>(bootstrap: string | undefined, run: (c: Cairn) => Promise<T>): Promise<T> {
  const cairn = new Cairn({ bootstrap: bootstrapOf(bootstrap) })
  try {
    return await run(cairn)
  } finally {
    await cairn.close()
  }
}

export async function topicCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      partitions: { type: 'string' },
      'replication-factor': { type: 'string' },
      config: { type: 'string', multiple: true },
      bootstrap: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) return console.log(TOPIC_USAGE)
  const [action, name] = positionals
  const needName = () => name ?? fail(`cairn topic ${action} needs a topic NAME`)
  await withClient(values.bootstrap, async (cairn) => {
    const admin = cairn.admin()
    switch (action) {
      case 'create': {
        const topic = needName()
        const numPartitions = parseIntOption(values.partitions, 'partitions', 1, 1)
        const replicationFactor = parseIntOption(values['replication-factor'], 'replication-factor', 1, 1)
        await admin.createTopics([
          { topic, numPartitions, replicationFactor, configs: parseConfigs(values.config) },
        ])
        console.log(
          `created topic ${topic}: ${numPartitions} partitions, replication factor ${replicationFactor}`,
        )
        return
      }
      case 'list':
        for (const t of await admin.listTopics()) console.log(t)
        return
      case 'describe': {
        const topic = needName()
        const partitions = await admin.describeTopic(topic)
        const configs = await admin.describeConfigs(topic)
        console.log(
          `topic ${topic}  partitions ${partitions.length}  ${Object.entries(configs)
            .map(([k, v]) => `${k}=${v}`)
            .join(' ')}`,
        )
        for (const p of partitions) {
          console.log(
            `  partition ${p.partition}  leader ${p.leaderId || '-'}  replicas ${p.replicas.join(',')}  isr ${p.isr.join(',') || '-'}  high-watermark ${p.highWatermark}  log-start ${p.logStartOffset}`,
          )
        }
        return
      }
      case 'alter': {
        const topic = needName()
        if (values.partitions !== undefined) {
          await admin.createPartitions(topic, parseIntOption(values.partitions, 'partitions', 1, 1))
          console.log(`topic ${topic} now has ${values.partitions} partitions`)
        }
        const configs = parseConfigs(values.config)
        if (Object.keys(configs).length > 0) {
          await admin.alterConfigs(topic, configs)
          console.log(`altered ${Object.keys(configs).join(', ')} of ${topic}`)
        }
        if (values.partitions === undefined && Object.keys(configs).length === 0)
          fail('cairn topic alter needs --partitions or --config')
        return
      }
      case 'delete':
        await admin.deleteTopics([needName()])
        console.log(`deleted topic ${name}`)
        return
      default:
        fail(`unknown 'cairn topic ${action ?? ''}'; try 'cairn topic --help'`)
    }
  })
}

export async function produceCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      acks: { type: 'string' },
      key: { type: 'string' },
      file: { type: 'string' },
      bootstrap: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) return console.log(PRODUCE_USAGE)
  const topic = positionals[0] ?? fail('cairn produce needs a TOPIC')
  const acksText = values.acks ?? 'all'
  const acks =
    acksText === 'all' || acksText === '-1'
      ? -1
      : acksText === '1'
        ? 1
        : acksText === '0'
          ? 0
          : fail(`--acks is 0, 1 or all, not '${acksText}'`)
  await withClient(values.bootstrap, async (cairn) => {
    const producer = cairn.producer({ acks, 'enable.idempotence': acks === -1 })
    const input = values.file ? createReadStream(values.file) : process.stdin
    const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY })
    const encoder = new TextEncoder()
    const key = values.key === undefined ? null : encoder.encode(values.key)
    let sent = 0
    const pending: Promise<unknown>[] = []
    let lastReport = Date.now()
    for await (const line of lines) {
      pending.push(producer.send({ topic, messages: [{ key, value: encoder.encode(line) }] }))
      sent++
      if (pending.length >= 10_000) await Promise.all(pending.splice(0))
      if (Date.now() - lastReport > 2000) {
        lastReport = Date.now()
        process.stderr.write(`cairn: ${sent} records sent\n`)
      }
    }
    await Promise.all(pending)
    await producer.flush()
    process.stderr.write(`cairn: ${sent} records sent to ${topic} (acks=${acksText})\n`)
  })
}

export async function consumeCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'from-beginning': { type: 'boolean' },
      partition: { type: 'string' },
      offset: { type: 'string' },
      'max-messages': { type: 'string' },
      'timeout-ms': { type: 'string' },
      format: { type: 'string' },
      bootstrap: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) return console.log(CONSUME_USAGE)
  const topic = positionals[0] ?? fail('cairn consume needs a TOPIC')
  const format = values.format ?? 'value'
  if (format !== 'value' && format !== 'json') fail(`--format is value or json, not '${format}'`)
  const max = parseIntOption(values['max-messages'], 'max-messages', Number.MAX_SAFE_INTEGER, 1)
  const timeoutMs = parseIntOption(values['timeout-ms'], 'timeout-ms', Number.MAX_SAFE_INTEGER, 1)
  await withClient(values.bootstrap, async (cairn) => {
    const consumer = cairn.consumer({ autoOffsetReset: values['from-beginning'] ? 'earliest' : 'latest' })
    const partitions = await cairn.admin().describeTopic(topic)
    if (values.partition !== undefined) {
      const partition = parseIntOption(values.partition, 'partition', 0, 0)
      if (!partitions.some((p) => p.partition === partition))
        fail(`topic ${topic} has no partition ${partition}`)
      consumer.assign([{ topic, partition }])
      if (values.offset !== undefined)
        consumer.seek({ topic, partition }, parseIntOption(values.offset, 'offset', 0, 0))
    } else {
      consumer.assign(partitions.map((p) => ({ topic, partition: p.partition })))
      if (values['from-beginning'])
        for (const p of partitions) consumer.seek({ topic, partition: p.partition }, 'earliest')
    }
    const decoder = new TextDecoder()
    let count = 0
    let lastRecordAt = Date.now()
    while (count < max && Date.now() - lastRecordAt < timeoutMs) {
      const records = await consumer.poll()
      if (records.length > 0) lastRecordAt = Date.now()
      for (const r of records) {
        if (count >= max) break
        const value = r.value === null ? null : decoder.decode(r.value)
        if (format === 'value') console.log(value ?? '')
        else {
          const key = r.key === null ? null : decoder.decode(r.key)
          console.log(
            JSON.stringify({
              topic: r.topic,
              partition: r.partition,
              offset: r.offset,
              timestamp: r.timestamp,
              key,
              value,
            }),
          )
        }
        count++
      }
    }
    process.stderr.write(`cairn: ${count} records consumed from ${topic}\n`)
  })
}
