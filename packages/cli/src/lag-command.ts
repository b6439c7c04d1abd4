/**
 * `cairn lag serve`: runs @cairn/lag, the Burrow-like consumer-lag monitor, in the foreground until
 * SIGINT or SIGTERM: Burrow's v3 HTTP API, /metrics and a live page at `/`.
 */
import { parseArgs } from 'node:util'
import { ConfigError, type LagConfig, loadConfig, parseListen, resolveConfig, startMonitor } from '@cairn/lag'
import { fail } from './args.js'

const DEFAULT_BOOTSTRAP = '127.0.0.1:9091'
const DEFAULT_LISTEN = '127.0.0.1:8000'

export const LAG_USAGE = `usage: cairn lag serve --config FILE [--listen host:port]
       cairn lag serve [--bootstrap host:port,...] [--listen host:port]

Watches consumer groups as Burrow does: a window of each group's commits per partition, a status
per group (OK, WARN, ERR; per partition STOP, STALL, REWIND), the lag in records and in time.
Serves Burrow's v3 API (/v3/kafka/...), Prometheus metrics (/metrics) and a live page (/).
--config reads a Burrow-like TOML file ([cluster.NAME] servers, [evaluator], [storage], [http],
[notifier.NAME]; see the @cairn/lag README); without it, one cluster "local" at --bootstrap
(default ${DEFAULT_BOOTSTRAP}). --listen (default ${DEFAULT_LISTEN}) overrides [http] listen.`

function configOf(values: { config?: string; bootstrap?: string; listen?: string }): LagConfig {
  try {
    if (values.config) {
      if (values.bootstrap) fail('--bootstrap goes with no --config; put the servers in [cluster.NAME]')
      const config = loadConfig(values.config)
      if (values.listen) config.http = parseListen(values.listen, (m) => fail(`--listen: ${m}`))
      return config
    }
    return resolveConfig(
      {
        clusters: { local: { bootstrap: values.bootstrap ?? DEFAULT_BOOTSTRAP } },
        http: { listen: values.listen ?? DEFAULT_LISTEN },
      },
      'cairn lag serve',
    )
  } catch (err) {
    if (err instanceof ConfigError) fail(err.message)
    throw err
  }
}

export async function lagCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      config: { type: 'string' },
      bootstrap: { type: 'string' },
      listen: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
    allowPositionals: true,
    strict: true,
  })
  if (values.help) return console.log(LAG_USAGE)
  if (positionals[0] !== 'serve' || positionals.length > 1)
    fail(`lag wants 'serve', got '${positionals.join(' ')}'; try 'cairn lag --help'`)
  const config = configOf(values)
  const running = await startMonitor(config)
  console.log(
    `cairn lag: watching ${config.clusters.map((c) => `${c.name} (${c.servers.join(',')})`).join(', ')}`,
  )
  console.log(`cairn lag: page ${running.url}/  api ${running.url}/v3/kafka  metrics ${running.url}/metrics`)
  console.log('Ctrl-C stops the monitor.')
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'))
    process.once('SIGTERM', () => resolve('SIGTERM'))
  })
  console.log(`cairn lag: ${signal}, stopping`)
  await running.close()
}
