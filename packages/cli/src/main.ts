import { UsageError } from './args.js'
import { benchCommand } from './bench-command.js'
import {
  CONSUME_USAGE,
  consumeCommand,
  PRODUCE_USAGE,
  produceCommand,
  TOPIC_USAGE,
  topicCommand,
} from './client-commands.js'
import { CLUSTER_USAGE, clusterCommand } from './cluster-command.js'
import { GROUPS_USAGE, groupsCommand } from './groups-command.js'
import { lagCommand } from './lag-command.js'
import { NODE_ADMIN_USAGE } from './node-admin-command.js'
import { NODE_USAGE, nodeCommand } from './node-command.js'

export const USAGE = `usage: cairn <command> [options]     (every command takes --help)

  cluster up      a local multi-node cluster in the foreground
  node            start (one node) | decommission | recommission
  topic           create | list | describe | alter | delete | reassign | reassignments
  produce         send lines as records
  consume         print records (--group G: as a member of consumer group G)
  groups          list | describe | reset-offsets | delete consumer groups
  lag             serve: the consumer-lag monitor (Burrow's API, /metrics, a live page)
  bench           produce | consume | e2e | failover | idle: throughput, latency, failover time, idle cost

${CLUSTER_USAGE}

${NODE_USAGE}

${NODE_ADMIN_USAGE}

${TOPIC_USAGE}

${PRODUCE_USAGE}

${CONSUME_USAGE}

${GROUPS_USAGE}`

/** Runs one command; errors print one line and give a non-zero exit code. */
export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  try {
    switch (command) {
      case 'cluster':
        await clusterCommand(rest)
        return 0
      case 'node':
        await nodeCommand(rest)
        return 0
      case 'topic':
        await topicCommand(rest)
        return 0
      case 'produce':
        await produceCommand(rest)
        return 0
      case 'consume':
        await consumeCommand(rest)
        return 0
      case 'groups':
        await groupsCommand(rest)
        return 0
      case 'lag':
        await lagCommand(rest)
        return 0
      case 'bench':
        return await benchCommand(rest)
      case undefined:
      case '--help':
      case '-h':
      case 'help':
        console.log(USAGE)
        return command === undefined ? 2 : 0
      default:
        console.error(`cairn: unknown command '${command}'; try 'cairn --help'`)
        return 2
    }
  } catch (err) {
    const code = (err as { code?: string }).code
    if (
      err instanceof UsageError ||
      code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' ||
      code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' ||
      // A setting the client refuses (--consumer-property session.timeout.ms=x, say).
      code === 'CONFIG'
    ) {
      console.error(`cairn: ${(err as Error).message}`)
      return 2
    }
    throw err
  }
}
