/**
 * The client side of the cairn command: topics, produce, consume. Every command takes
 * --bootstrap host:port (default 127.0.0.1:9091) and prints one clear line on error.
 */
import { createReadStream } from 'node:fs'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import {
  type Admin,
  Cairn,
  type ConsumedRecord,
  type GroupConsumerConfig,
  type ProducerConfig,
  producerConfigDefaults,
} from '@cairn/client'
import { fail, parseIntOption } from './args.js'

export const DEFAULT_BOOTSTRAP = '127.0.0.1:9091'
/** How long `--wait` waits for a reassignment or a decommission, unless --timeout-ms says otherwise. */
export const REASSIGN_WAIT_MS = 120_000
const REASSIGN_POLL_MS = 250

export const TOPIC_USAGE = `usage: cairn topic create NAME --partitions N --replication-factor R [--config k=v ...]
       cairn topic list
       cairn topic describe NAME
       cairn topic alter NAME [--partitions N] [--config k=v ...]
       cairn topic delete NAME
       cairn topic reassign NAME --partition P (--replicas ID,ID,... | --cancel) [--wait] [--timeout-ms T]
       cairn topic reassignments
   (all: [--bootstrap host:port], default ${DEFAULT_BOOTSTRAP})

Partitions can be added, never removed. Keyed records map to partitions by murmur2(key) % count,
so after an increase a key may land in a different partition than before.

reassign moves partition P to the nodes --replicas lists (the first is its preferred leader), one
replica at a time, while writes go on; --cancel sends it back to where it started. With --wait it
prints the progress and returns once the move is done, or fails after --timeout-ms (default
${REASSIGN_WAIT_MS} ms; the move goes on). reassignments lists the moves in progress.`

export const PRODUCE_USAGE = `usage: cairn produce TOPIC [--acks 0|1|all] [--key K] [--file F] [--producer-property k=v ...]
                     [--bootstrap host:port]

Sends one record per line of --file (default: standard input), all with key K if given.
--producer-property sets any of Kafka's producer settings (linger.ms=5, batch.size=65536,
max.block.ms=10000, ...), as kafka-console-producer's does. A topic the cluster does not know is
said at once; sends wait for it up to max.block.ms (60000 ms), then fail.`

export const CONSUME_USAGE = `usage: cairn consume TOPIC [--from-beginning | --partition P --offset O] [--max-messages N]
                     [--timeout-ms T] [--format value|json] [--bootstrap host:port]
       cairn consume TOPIC --group G [--from-beginning] [--consumer-property k=v ...] [--max-messages N]
                     [--timeout-ms T] [--format value|json] [--bootstrap host:port]

Prints each record (its value, or a JSON line with topic, partition, offset, key, value) until
--max-messages records or --timeout-ms without a new record (or Ctrl-C).

With --group G it joins consumer group G: the group shares the topic's partitions among its
members, and each record printed is committed (auto-commit, and on exit), so the next run of the
group goes on where this one stopped. --from-beginning starts partitions the group has no offset
for at the earliest record (auto.offset.reset=earliest; default latest). --consumer-property sets
any consumer config by its Kafka name, e.g. partition.assignment.strategy=cooperative-sticky,
session.timeout.ms=10000.`

function bootstrapOf(value: string | undefined): string[] {
  return (value ?? DEFAULT_BOOTSTRAP).split(',').map((s) => s.trim())
}

/** `key=value` items of the repeatable option `--${flag}`. */
function parseConfigs(items: string[] | undefined, flag: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const item of items ?? []) {
    const eq = item.indexOf('=')
    if (eq <= 0) fail(`--${flag} '${item}' is not key=value`)
    out[item.slice(0, eq)] = item.slice(eq + 1)
  }
  return out
}

/**
 * `--producer-property` items as producer settings: numbers and booleans where Kafka's setting is
 * one (by its default's type). A value that does not parse stays a string, and the producer
 * refuses it with Kafka's message, as it does an unknown name.
 */
function producerProperties(items: string[] | undefined): ProducerConfig {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(parseConfigs(items, 'producer-property'))) {
    const kind = typeof (producerConfigDefaults as Record<string, unknown>)[key]
    if (kind === 'number' && /^-?\d+$/.test(value)) out[key] = Number(value)
    else if (kind === 'boolean' && (value === 'true' || value === 'false')) out[key] = value === 'true'
    else out[key] = value
  }
  return out as ProducerConfig
}

/** `1,2,4` → [1, 2, 4]; duplicates are the broker's to refuse (INVALID_REPLICA_ASSIGNMENT). */
function parseReplicas(value: string): number[] {
  const ids = value.split(',').map((s) => Number(s.trim()))
  if (value.trim() === '' || !ids.every((id) => Number.isSafeInteger(id) && id >= 1))
    fail(`--replicas wants node ids like 1,2,4, got '${value}'`)
  return ids
}

/** Polls until the partition's reassignment is done, printing each change; bounded by `timeoutMs`. */
async function waitForReassignment(admin: Admin, topic: string, partition: number, timeoutMs: number) {
  const deadline = Date.now() + timeoutMs
  let last = ''
  for (;;) {
    const [ongoing] = await admin.listPartitionReassignments([{ topic, partitions: [partition] }])
    const p = (await admin.describeTopic(topic)).find((x) => x.partition === partition)
    if (!ongoing) {
      console.log(`reassignment of ${topic}-${partition} done: replicas ${p?.replicas.join(',') ?? '?'}`)
      return
    }
    const line = `  replicas ${ongoing.replicas.join(',')}  adding ${ongoing.addingReplicas.join(',') || '-'}  removing ${ongoing.removingReplicas.join(',') || '-'}  leader ${p?.leaderId || '-'}  isr ${p?.isr.join(',') || '-'}`
    if (line !== last) console.log(line)
    last = line
    if (Date.now() > deadline) {
      throw new Error(
        `${topic}-${partition} is still being reassigned after ${timeoutMs} ms (the move goes on); see 'cairn topic reassignments'`,
      )
    }
    await new Promise((resolve) => setTimeout(resolve, REASSIGN_POLL_MS))
  }
}

export async function withClient<T>(
  bootstrap: string | undefined,
  run: (c: Cairn) => Promise<T>,
): Promise<T> {
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
      partition: { type: 'string' },
      replicas: { type: 'string' },
      cancel: { type: 'boolean' },
      wait: { type: 'boolean' },
      'timeout-ms': { type: 'string' },
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
          { topic, numPartitions, replicationFactor, configs: parseConfigs(values.config, 'config') },
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
          const moving =
            p.addingReplicas || p.removingReplicas
              ? `  adding ${p.addingReplicas?.join(',') || '-'}  removing ${p.removingReplicas?.join(',') || '-'}`
              : ''
          console.log(
            `  partition ${p.partition}  leader ${p.leaderId || '-'}  replicas ${p.replicas.join(',')}${moving}  isr ${p.isr.join(',') || '-'}  high-watermark ${p.highWatermark}  log-start ${p.logStartOffset}`,
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
        const configs = parseConfigs(values.config, 'config')
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
      case 'reassign': {
        const topic = needName()
        if (values.partition === undefined) fail('cairn topic reassign needs --partition P')
        const partition = parseIntOption(values.partition, 'partition', 0, 0)
        if (values.cancel && values.replicas !== undefined) fail('--replicas and --cancel exclude each other')
        if (!values.cancel && values.replicas === undefined)
          fail('cairn topic reassign needs --replicas ID,ID,... (or --cancel)')
        const replicas = values.cancel ? null : parseReplicas(values.replicas!)
        const timeoutMs = parseIntOption(values['timeout-ms'], 'timeout-ms', REASSIGN_WAIT_MS, 1)
        await admin.alterPartitionReassignments([{ topic, partition, replicas }])
        console.log(
          replicas
            ? `reassigning ${topic}-${partition} to replicas ${replicas.join(',')}`
            : `cancelling the reassignment of ${topic}-${partition}`,
        )
        if (values.wait) await waitForReassignment(admin, topic, partition, timeoutMs)
        return
      }
      case 'reassignments': {
        const ongoing = await admin.listPartitionReassignments()
        if (ongoing.length === 0) console.log('no reassignment in progress')
        for (const r of ongoing) {
          console.log(
            `${r.topic}-${r.partition}  replicas ${r.replicas.join(',')}  adding ${r.addingReplicas.join(',') || '-'}  removing ${r.removingReplicas.join(',') || '-'}`,
          )
        }
        return
      }
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
      'producer-property': { type: 'string', multiple: true },
      bootstrap: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) return console.log(PRODUCE_USAGE)
  const topic = positionals[0] ?? fail('cairn produce needs a TOPIC')
  const properties = producerProperties(values['producer-property'])
  // --acks wins; else the acks property; else all.
  const acksText = values.acks ?? (properties.acks === undefined ? 'all' : String(properties.acks))
  const acks =
    acksText === 'all' || acksText === '-1'
      ? -1
      : acksText === '1'
        ? 1
        : acksText === '0'
          ? 0
          : fail(`--acks is 0, 1 or all, not '${acksText}'`)
  await withClient(values.bootstrap, async (cairn) => {
    const producer = cairn.producer({
      ...properties,
      acks,
      'enable.idempotence': properties['enable.idempotence'] ?? acks === -1,
    })
    const maxBlockMs = producer.config.maxBlockMs
    // Sends to a topic nobody created wait up to max.block.ms: say so now, not after a minute.
    cairn
      .admin()
      .describeTopic(topic)
      .catch((err: { code?: string }) => {
        if (err.code === 'UNKNOWN_TOPIC_OR_PARTITION')
          process.stderr.write(
            `cairn: topic '${topic}' is not known to the cluster (UNKNOWN_TOPIC_OR_PARTITION); sends wait for it up to max.block.ms (${maxBlockMs} ms)\n`,
          )
      })
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
      group: { type: 'string' },
      'consumer-property': { type: 'string', multiple: true },
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
  const print = recordPrinter(format)
  if (values.group !== undefined) {
    if (values.partition !== undefined || values.offset !== undefined)
      fail('--group and --partition/--offset exclude each other: the group assigns the partitions')
    if (values.group === '') fail('--group needs a group id')
    const properties = parseConfigs(values['consumer-property'], 'consumer-property')
    return consumeAsGroup(values.bootstrap, topic, values.group, properties, {
      fromBeginning: values['from-beginning'] ?? false,
      max,
      timeoutMs,
      print,
    })
  }
  if (values['consumer-property'] !== undefined) fail('--consumer-property needs --group')
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
    let count = 0
    let lastRecordAt = Date.now()
    while (count < max && Date.now() - lastRecordAt < timeoutMs) {
      const records = await consumer.poll()
      if (records.length > 0) lastRecordAt = Date.now()
      for (const r of records) {
        if (count >= max) break
        print(r)
        count++
      }
    }
    process.stderr.write(`cairn: ${count} records consumed from ${topic}\n`)
  })
}

/** Prints a record as its value, or as a JSON line with where it is. */
function recordPrinter(format: 'value' | 'json'): (r: ConsumedRecord) => void {
  const decoder = new TextDecoder()
  return (r) => {
    const value = r.value === null ? null : decoder.decode(r.value)
    if (format === 'value') return console.log(value ?? '')
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
}

/**
 * Consumes as a member of `groupId` until `max` records, `timeoutMs` without one, or SIGINT /
 * SIGTERM; a record counts as processed once printed, and what was processed is committed when
 * the member leaves.
 */
async function consumeAsGroup(
  bootstrap: string | undefined,
  topic: string,
  groupId: string,
  properties: Record<string, string>,
  o: { fromBeginning: boolean; max: number; timeoutMs: number; print: (r: ConsumedRecord) => void },
): Promise<void> {
  await withClient(bootstrap, async (cairn) => {
    const consumer = cairn.consumer({
      'client.id': 'cairn-cli',
      'auto.offset.reset': o.fromBeginning ? 'earliest' : 'latest',
      ...properties,
      groupId,
    } as GroupConsumerConfig & { groupId: string })
    consumer.subscribe({ topics: [topic] })
    let count = 0
    let lastRecordAt = Date.now()
    const stop = () => void consumer.stop()
    const idle = setInterval(
      () => {
        if (Date.now() - lastRecordAt >= o.timeoutMs) stop()
      },
      Math.min(o.timeoutMs, 100),
    )
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    try {
      await consumer.run({
        eachMessage: ({ message }) => {
          o.print(message)
          count++
          lastRecordAt = Date.now()
          if (count >= o.max) stop()
        },
      })
    } finally {
      clearInterval(idle)
      process.off('SIGINT', stop)
      process.off('SIGTERM', stop)
    }
    process.stderr.write(`cairn: ${count} records consumed from ${topic} in group ${groupId}\n`)
  })
}
