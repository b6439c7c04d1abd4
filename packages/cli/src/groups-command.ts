/**
 * cairn groups list | describe G | reset-offsets G --topic T ... | delete G — consumer groups, as
 * kafka-consumer-groups.sh shows and changes them.
 */
import { parseArgs } from 'node:util'
import type { GroupDescription, OffsetResetPlan, OffsetResetSpec } from '@cairn/client'
import { fail, parseIntOption } from './args.js'
import { DEFAULT_BOOTSTRAP, withClient } from './client-commands.js'

export const GROUPS_USAGE = `usage: cairn groups list [--json]
       cairn groups describe GROUP [--json]
       cairn groups reset-offsets GROUP --topic T (--to-earliest | --to-latest | --to-offset N |
                                  --by-duration PnDTnHnMnS) [--execute] [--json]
       cairn groups delete GROUP
   (all: [--bootstrap host:port], default ${DEFAULT_BOOTSTRAP})

describe prints, per partition, the member that owns it, the group's committed offset, the
log-end offset and the lag between them (as kafka-consumer-groups --describe does); '-' where
there is none. reset-offsets prints the new offset of every partition of T and changes nothing
unless --execute is given; it needs the group to have no members (stop its consumers first). An
offset beyond the log is clamped to its start or end; --by-duration PT10M goes back to the
first record of the last ten minutes. delete removes a group without members and its offsets.`

const ISO_DURATION = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/

/** Kafka's --by-duration format, ISO-8601 PnDTnHnMnS (e.g. PT10M, P1DT12H), in ms. */
export function parseIsoDuration(text: string): number {
  const m = ISO_DURATION.exec(text.trim().toUpperCase())
  if (!m || text.trim().toUpperCase() === 'P' || /T$/.test(text.trim().toUpperCase()))
    fail(`--by-duration wants an ISO-8601 duration like PT10M or P1DT2H, got '${text}'`)
  const [, d, h, min, s] = m
  const ms =
    Number(d ?? 0) * 86_400_000 +
    Number(h ?? 0) * 3_600_000 +
    Number(min ?? 0) * 60_000 +
    Number(s ?? 0) * 1000
  if (!Number.isSafeInteger(Math.round(ms))) fail(`--by-duration '${text}' is too long`)
  return Math.round(ms)
}

/** Rows as aligned columns, the header first, two spaces between columns. */
export function table(header: string[], rows: (string | number)[][]): string {
  const cells = [header, ...rows.map((r) => r.map(String))]
  const widths = header.map((_, c) => Math.max(...cells.map((r) => r[c]?.length ?? 0)))
  return cells
    .map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  '))
    .join('\n')
}

const dash = (x: number | string | null | undefined) =>
  x === null || x === undefined || x === -1 ? '-' : String(x)

function printDescription(d: GroupDescription): void {
  console.log(
    `GROUP ${d.groupId}  STATE ${d.state}  PROTOCOL ${d.protocol || '-'}  MEMBERS ${d.members.length}  COORDINATOR ${d.coordinatorId}`,
  )
  console.log()
  const rows: (string | number)[][] = d.partitions.map((p) => [
    p.topic,
    p.partition,
    dash(p.memberId),
    dash(p.committed),
    dash(p.logEndOffset),
    dash(p.lag),
  ])
  // Members that own nothing, as kafka-consumer-groups lists them too.
  for (const m of d.members)
    if (m.assignment.length === 0 && !d.partitions.some((p) => p.memberId === m.memberId))
      rows.push(['-', '-', m.memberId, '-', '-', '-'])
  console.log(table(['TOPIC', 'PARTITION', 'MEMBER', 'COMMITTED', 'LOG-END', 'LAG'], rows))
}

function printPlan(plan: OffsetResetPlan[]): void {
  console.log(
    table(
      ['TOPIC', 'PARTITION', 'CURRENT-OFFSET', 'NEW-OFFSET'],
      plan.map((p) => [p.topic, p.partition, dash(p.currentOffset), p.newOffset]),
    ),
  )
}

function resetSpecOf(values: {
  'to-earliest'?: boolean
  'to-latest'?: boolean
  'to-offset'?: string
  'by-duration'?: string
}): OffsetResetSpec {
  const given = [
    values['to-earliest'] && '--to-earliest',
    values['to-latest'] && '--to-latest',
    values['to-offset'] !== undefined && '--to-offset',
    values['by-duration'] !== undefined && '--by-duration',
  ].filter(Boolean)
  if (given.length !== 1)
    fail(
      given.length === 0
        ? 'cairn groups reset-offsets needs one of --to-earliest, --to-latest, --to-offset N, --by-duration D'
        : `${given.join(' and ')} exclude each other`,
    )
  if (values['to-earliest']) return 'earliest'
  if (values['to-latest']) return 'latest'
  if (values['to-offset'] !== undefined)
    return { offset: parseIntOption(values['to-offset'], 'to-offset', 0, 0) }
  return { byDurationMs: parseIsoDuration(values['by-duration']!) }
}

export async function groupsCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      json: { type: 'boolean' },
      topic: { type: 'string' },
      'to-earliest': { type: 'boolean' },
      'to-latest': { type: 'boolean' },
      'to-offset': { type: 'string' },
      'by-duration': { type: 'string' },
      execute: { type: 'boolean' },
      bootstrap: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) return console.log(GROUPS_USAGE)
  const [action, group] = positionals
  const needGroup = () => group ?? fail(`cairn groups ${action} needs a GROUP`)
  if (action === 'reset-offsets') {
    // Checked before connecting: a bad command line fails at once.
    needGroup()
    if (values.topic === undefined) fail('cairn groups reset-offsets needs --topic T')
    resetSpecOf(values)
  }
  await withClient(values.bootstrap, async (cairn) => {
    const admin = cairn.admin()
    switch (action) {
      case 'list': {
        const { groups, errors } = await admin.listGroups()
        for (const e of errors)
          process.stderr.write(`cairn: node ${e.nodeId} did not list its groups: ${e.error}\n`)
        if (values.json) return console.log(JSON.stringify(groups, null, 2))
        if (groups.length === 0) return console.log('no consumer groups')
        console.log(
          table(
            ['GROUP', 'STATE', 'COORDINATOR'],
            groups.map((g) => [g.groupId, g.state, g.coordinatorId]),
          ),
        )
        return
      }
      case 'describe': {
        const d = await admin.describeGroup(needGroup())
        if (d.state === 'Dead' && d.partitions.length === 0)
          throw new Error(`consumer group '${d.groupId}' does not exist`)
        if (values.json) return console.log(JSON.stringify(d, null, 2))
        printDescription(d)
        return
      }
      case 'reset-offsets': {
        const plan = await admin.resetOffsets(
          needGroup(),
          values.topic!,
          resetSpecOf(values),
          values.execute ?? false,
        )
        if (values.json) return console.log(JSON.stringify(plan, null, 2))
        printPlan(plan)
        process.stderr.write(
          values.execute
            ? `cairn: committed new offsets for ${plan.length} partitions of ${values.topic} in group ${group}\n`
            : 'cairn: dry run, nothing changed; add --execute to commit these offsets\n',
        )
        return
      }
      case 'delete': {
        const [r] = await admin.deleteGroups([needGroup()])
        if (r?.error) {
          const why =
            r.error === 'NON_EMPTY_GROUP'
              ? 'the group has members; stop its consumers first'
              : r.error === 'GROUP_ID_NOT_FOUND'
                ? 'no such group'
                : (r.message ?? '')
          throw new Error(`could not delete group '${group}': ${r.error}${why ? `: ${why}` : ''}`)
        }
        console.log(`deleted group ${group}`)
        return
      }
      default:
        fail(`unknown 'cairn groups ${action ?? ''}'; try 'cairn groups --help'`)
    }
  })
}
