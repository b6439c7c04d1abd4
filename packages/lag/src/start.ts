/**
 * One call to run a monitor: `startMonitor({ clusters: { local: { bootstrap: '127.0.0.1:9091' } },
 * http: { listen: '127.0.0.1:8000' } })` watches the clusters and serves the API, /metrics and the
 * page; it resolves once the server listens, with its url and a close().
 */

import { createCairnSource } from './cairn-source.js'
import { type LagConfig, resolveConfig } from './config.js'
import { type LagServer, startServer } from './http.js'
import { LagMonitor, type MonitorRuntime } from './monitor.js'

export interface StartOptions extends MonitorRuntime {
  /** How often the page's event stream pushes a snapshot, ms (default 1000). */
  pageRefreshMs?: number
}

export interface RunningMonitor {
  /** The page; the API is under it (`${url}/v3/kafka`). */
  url: string
  monitor: LagMonitor
  server: LagServer
  close(): Promise<void>
}

const isResolved = (c: unknown): c is LagConfig => Array.isArray((c as LagConfig | undefined)?.clusters)

/**
 * Starts watching every cluster and serving HTTP. `config` is a resolved config (`loadConfig`), or
 * its programmatic form: the TOML tree with camelCase keys, `clusters` and `notifiers` as maps.
 */
export async function startMonitor(
  config: LagConfig | Record<string, unknown>,
  options: StartOptions = {},
): Promise<RunningMonitor> {
  const resolved = isResolved(config) ? config : resolveConfig(config, 'startMonitor')
  const monitor = new LagMonitor(resolved, { createSource: createCairnSource, ...options })
  let server: LagServer
  try {
    server = await startServer(monitor, {
      ...resolved.http,
      accessControlAllowOrigin: resolved.general.accessControlAllowOrigin,
      pageRefreshMs: options.pageRefreshMs,
    })
  } catch (err) {
    await monitor.close()
    throw err
  }
  monitor.start()
  return {
    url: server.url,
    monitor,
    server,
    async close() {
      await server.close()
      await monitor.close()
    },
  }
}
