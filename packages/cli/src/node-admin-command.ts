/**
 * cairn node decommission ID [--wait] | cairn node recommission ID
 *
 * Node administration through the controller: a decommissioned node gets no new replicas, and
 * each of its replicas moves to the least-loaded node that does not hold one; a recommissioned
 * node takes new replicas again (nothing moves back by itself).
 */
import { parseArgs } from 'node:util'
import { fail, parseIntOption } from './args.js'
import { DEFAULT_BOOTSTRAP, REASSIGN_WAIT_MS, withClient } from './client-commands.js'

export const NODE_ADMIN_USAGE = `usage: cairn node decommission ID [--wait] [--timeout-ms T] [--bootstrap host:port]
       cairn node recommission ID [--bootstrap host:port]
   (--bootstrap default ${DEFAULT_BOOTSTRAP})

decommission moves every partition replica off node ID, each to the least-loaded node that does
not hold one, while writes go on, and places no new replica on it. With --wait it prints the
progress and returns once the node hosts no replica, or fails after --timeout-ms (default
${REASSIGN_WAIT_MS} ms; the moves go on). recommission lets new replicas go to the node again;
nothing moves back by itself (use 'cairn topic reassign').`

const POLL_MS = 250

export async function nodeAdminCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      wait: { type: 'boolean' },
      'timeout-ms': { type: 'string' },
      bootstrap: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) return console.log(NODE_ADMIN_USAGE)
  const [action, id] = positionals
  if (id === undefined) fail(`cairn node ${action} needs a node ID`)
  const nodeId = Number(id)
  if (!Number.isSafeInteger(nodeId) || nodeId < 1) fail(`node ID '${id}' is not a positive integer`)
  if (positionals.length > 2)
    fail(`cairn node ${action} takes one node ID, got '${positionals.slice(1).join(' ')}'`)
  if (action === 'recommission' && values.wait) fail('--wait is for decommission only')
  const timeoutMs = parseIntOption(values['timeout-ms'], 'timeout-ms', REASSIGN_WAIT_MS, 1)
  await withClient(values.bootstrap, async (cairn) => {
    const admin = cairn.admin()
    if (action === 'recommission') {
      await admin.recommissionNode(nodeId)
      console.log(`node ${nodeId} is recommissioned: new replicas may go to it again`)
      return
    }
    await admin.decommissionNode(nodeId)
    console.log(`node ${nodeId} is decommissioned: its replicas are moving to other nodes`)
    if (!values.wait) return
    const deadline = Date.now() + timeoutMs
    let last = -1
    for (;;) {
      const left = await admin.partitionsOnNode(nodeId)
      if (left.length === 0) {
        console.log(`node ${nodeId} hosts no partition replica`)
        return
      }
      if (left.length !== last) console.log(`  node ${nodeId} still hosts ${left.length} partition replicas`)
      last = left.length
      if (Date.now() > deadline) {
        throw new Error(
          `node ${nodeId} still hosts ${left.length} partition replicas after ${timeoutMs} ms (the moves go on); see 'cairn topic reassignments'`,
        )
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS))
    }
  })
}
