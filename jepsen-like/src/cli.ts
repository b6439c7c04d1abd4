#!/usr/bin/env node
/**
 * npm run jepsen -- run [--nodes 3|5] [--time 60] [--rate 500] [--nemesis kill,pause,...|all|none]
 *                       [--acks all|1] [--idempotence on|off] [--partitions 4] [--seed S]
 *                       [--schedule FILE] [--out DIR] [--unsafe-test-bug NAME]
 */
import { parseArgs } from 'node:util'
import { UNSAFE_TEST_BUGS } from '@cairn/broker'
import { FAULTS, NEMESES, type Nemesis, SCENARIOS } from './nemesis.js'
import { readSchedule, run } from './runner.js'

const USAGE = `usage: npm run jepsen -- run [--nodes 3|5] [--time 60] [--rate 500] [--nemesis LIST|all|none]
                            [--acks all|1] [--idempotence on|off] [--partitions 4] [--seed S]
                            [--schedule FILE] [--out DIR] [--unsafe-test-bug NAME]
                            [--log-segment-bytes N] [--inline-data-bytes-max N]

Runs real cairn nodes on 127.0.0.1 under a workload and a nemesis, heals, reads every partition
and checks the history for Jepsen's Kafka anomalies. Exits 1 when an anomaly the mode forbids
is found (with acks=all: every one; with acks=1, lost writes are expected and counted).

--nemesis   faults, comma-separated: ${FAULTS.join(', ')};
            or named scenarios: ${SCENARIOS.join(', ')}; all = every one (default kill,pause)
--seed      draws the schedule (fast-check); --schedule FILE replays DIR/schedule.json instead
--unsafe-test-bug  start the nodes with a deliberate defect (${UNSAFE_TEST_BUGS.join(', ')}),
            to see the checker catch it
--log-segment-bytes  the nodes' log segment size (default theirs, 4 MiB; at least 1024): small
            segments put every fault across changes of segment
--inline-data-bytes-max  the nodes' (default theirs, 64 KiB): 0 puts every record's data in the
            log store's data files, so every fault lands on that path
The run writes DIR/history.jsonl, schedule.json, results.json, index.html and node logs.`

function fail(message: string): never {
  console.error(`jepsen: ${message}`)
  process.exit(2)
}

function int(value: string | undefined, name: string, fallback: number, min: number): number {
  if (value === undefined) return fallback
  const n = Number(value)
  if (!Number.isSafeInteger(n) || n < min)
    fail(`--${name} wants an integer of at least ${min}, got '${value}'`)
  return n
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      nodes: { type: 'string' },
      time: { type: 'string' },
      rate: { type: 'string' },
      nemesis: { type: 'string' },
      acks: { type: 'string' },
      idempotence: { type: 'string' },
      partitions: { type: 'string' },
      seed: { type: 'string' },
      schedule: { type: 'string' },
      out: { type: 'string' },
      'unsafe-test-bug': { type: 'string' },
      'log-segment-bytes': { type: 'string' },
      'inline-data-bytes-max': { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) return console.log(USAGE)
  if (positionals[0] !== 'run') fail(`unknown command '${positionals[0] ?? ''}'; try --help`)
  const nodes = int(values.nodes, 'nodes', 3, 3)
  if (nodes !== 3 && nodes !== 5) fail('--nodes is 3 or 5')
  const nemesisText = values.nemesis ?? 'kill,pause'
  const nemesis: Nemesis[] =
    nemesisText === 'all' ? [...NEMESES] : nemesisText === 'none' ? [] : (nemesisText.split(',') as Nemesis[])
  for (const n of nemesis)
    if (!NEMESES.includes(n)) fail(`--nemesis '${n}' is not one of ${NEMESES.join(', ')}`)
  const bug = values['unsafe-test-bug']
  if (bug !== undefined && !(UNSAFE_TEST_BUGS as readonly string[]).includes(bug))
    fail(`--unsafe-test-bug '${bug}' is not one of ${UNSAFE_TEST_BUGS.join(', ')}`)
  const acks = values.acks ?? 'all'
  if (acks !== 'all' && acks !== '1') fail('--acks is all or 1')
  const idempotence = (values.idempotence ?? 'on') === 'on'
  const seed = int(values.seed, 'seed', Date.now() % 1_000_000, 0)
  const out = values.out ?? `jepsen-results/${new Date().toISOString().replace(/[:.]/g, '-')}`
  const result = await run({
    nodes,
    timeS: int(values.time, 'time', 60, 5),
    rate: int(values.rate, 'rate', 500, 1),
    nemesis,
    acks,
    idempotence,
    partitions: int(values.partitions, 'partitions', 4, 1),
    seed,
    out,
    ...(values.schedule !== undefined && { schedule: readSchedule(values.schedule, nodes) }),
    ...(bug !== undefined && { unsafeTestBug: bug }),
    ...(values['log-segment-bytes'] !== undefined && {
      logSegmentBytes: int(values['log-segment-bytes'], 'log-segment-bytes', 0, 1024),
    }),
    ...(values['inline-data-bytes-max'] !== undefined && {
      inlineDataBytesMax: int(values['inline-data-bytes-max'], 'inline-data-bytes-max', 0, 0),
    }),
    progress: (line) => process.stderr.write(`jepsen: ${line}\n`),
  })
  if (result.check.forbidden.length > 0) {
    for (const a of result.check.anomalies.slice(0, 10)) console.log(`  ${a.name}: ${a.detail}`)
    console.log(
      `seed ${seed}: forbidden anomalies ${result.check.forbidden.join(', ')}; replay with --seed ${seed} or --schedule ${out}/schedule.json`,
    )
  }
  console.log(result.summary)
  process.exitCode = result.check.ok ? 0 : 1
}

main().catch((err: unknown) => {
  console.error(`jepsen: ${err instanceof Error ? err.message : String(err)}`)
  process.exitCode = 2
})
