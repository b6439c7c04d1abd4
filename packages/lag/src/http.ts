/**
 * The HTTP server: Burrow v3's paths and JSON shapes (so tools written for Burrow work), GET
 * /metrics for Prometheus, and the web page at `/` with what it needs — the vega and vega-lite
 * builds under /assets, a snapshot of everything at /ui/snapshot, and the same snapshot pushed
 * as server-sent events at /ui/events every `pageRefreshMs`, so the page updates without reloading.
 *
 * Every Burrow JSON body is `{ error, message, …, request: { url, host } }`; unknown paths and
 * methods answer the same shape with `error: true`.
 */
import { readFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { hostname } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { type GroupStatus, notFoundStatus } from './evaluator.js'
import { LagMetrics } from './metrics.js'
import type { LagMonitor } from './monitor.js'
import { pageHtml } from './page.js'

export interface ServerOptions {
  host: string
  port: number
  accessControlAllowOrigin?: string | null
  /** How often the page's event stream pushes a snapshot, ms (default 1000). */
  pageRefreshMs?: number
  /** Event-stream clients at once (default 64); more get 503. */
  eventClientsMax?: number
}

export interface LagServer {
  /** http://host:port */
  url: string
  server: Server
  metrics: LagMetrics
  close(): Promise<void>
}

/** What the page shows: every cluster, every group with all its partitions and its lag history. */
export interface PageSnapshot {
  now: number
  clusters: {
    name: string
    source: string
    lastError: string | null
    topics: number
    groups: (GroupStatus & { history: { p: string; t: number; lag: number }[] })[]
  }[]
}

export function pageSnapshot(monitor: LagMonitor): PageSnapshot {
  const now = monitor.time()
  return {
    now,
    clusters: monitor.clusterNames().map((name) => {
      const w = monitor.cluster(name)!
      return {
        name,
        source: w.health.source,
        lastError: w.health.lastError,
        topics: w.store.topicNames().length,
        groups: monitor.statuses(name).map((s) => ({
          ...s,
          history: (w.store.partitionInputs(s.group, now) ?? []).flatMap((p) =>
            p.offsets.flatMap((o) =>
              o && o.lag !== null ? [{ p: `${p.topic}-${p.partition}`, t: o.timestamp, lag: o.lag }] : [],
            ),
          ),
        })),
      }
    }),
  }
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message)
  }
}

function assetPaths(): Map<string, string> {
  const out = new Map<string, string>()
  const add = (name: string, pkg: string, file: string) => {
    try {
      out.set(name, join(dirname(fileURLToPath(import.meta.resolve(pkg))), file))
    } catch {
      // Not installed: the page works without charts.
    }
  }
  add('vega.min.js', 'vega', 'vega.min.js')
  add('vega-lite.min.js', 'vega-lite', 'vega-lite.min.js')
  return out
}

export async function startServer(monitor: LagMonitor, options: ServerOptions): Promise<LagServer> {
  const metrics = new LagMetrics(monitor)
  const host = hostname()
  const assets = assetPaths()
  const assetCache = new Map<string, Buffer>()
  const eventClients = new Set<{ res: ServerResponse; blocked: boolean }>()
  const eventClientsMax = options.eventClientsMax ?? 64
  const html = pageHtml()

  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer) => {
    const headers: Record<string, string> = { 'content-type': type }
    if (options.accessControlAllowOrigin)
      headers['access-control-allow-origin'] = options.accessControlAllowOrigin
    res.writeHead(status, headers)
    res.end(body)
  }

  const burrow = (
    req: IncomingMessage,
    res: ServerResponse,
    status: number,
    body: Record<string, unknown>,
  ) => {
    const url = new URL(req.url ?? '/', 'http://x').pathname
    send(
      res,
      status,
      'application/json',
      JSON.stringify({ error: status >= 400, ...body, request: { url, host } }),
    )
  }

  const clusterOf = (name: string) => {
    const w = monitor.cluster(name)
    if (!w) throw new HttpError(404, 'cluster not found')
    return w
  }

  /** Burrow's v3 routes; returns the status and the body's fields. */
  const v3 = (method: string, parts: string[]): [number, Record<string, unknown>] => {
    const [cluster, kind, name, sub, extra] = parts
    if (cluster === undefined) {
      if (method !== 'GET') throw new HttpError(405, 'method not allowed')
      return [200, { message: 'cluster list returned', clusters: monitor.clusterNames() }]
    }
    if (kind === 'consumer' && name !== undefined && !monitor.cluster(cluster))
      throw new HttpError(404, 'cluster or consumer not found', {
        ...((sub === 'status' || sub === 'lag') && { status: notFoundStatus(cluster, name) }),
      })
    const w = clusterOf(cluster)
    if (kind === undefined) {
      if (method !== 'GET') throw new HttpError(405, 'method not allowed')
      const c = w.config
      return [
        200,
        {
          message: 'cluster module detail returned',
          module: {
            'class-name': 'cairn',
            servers: c.servers,
            'offset-refresh': c.offsetRefreshMs / 1000,
            source: w.health.source,
            'last-error': w.health.lastError,
          },
        },
      ]
    }
    if (kind === 'topic') {
      if (method !== 'GET' || extra !== undefined)
        throw new HttpError(method === 'GET' ? 404 : 405, 'invalid request')
      if (name === undefined) return [200, { message: 'topic list returned', topics: w.store.topicNames() }]
      const offsets = w.store.logEndOffsets(name)
      if (!offsets) throw new HttpError(404, 'topic not found')
      if (sub === 'consumers') {
        const consumers = w.store
          .groupNames()
          .filter((g) => w.store.partitionInputs(g, 0)?.some((p) => p.topic === name))
        return [200, { message: 'consumers of topic returned', consumers }]
      }
      if (sub !== undefined) throw new HttpError(404, 'invalid request')
      return [200, { message: 'topic offsets returned', offsets }]
    }
    if (kind !== 'consumer' || extra !== undefined) throw new HttpError(404, 'invalid request')
    if (name === undefined) {
      if (method !== 'GET') throw new HttpError(405, 'method not allowed')
      return [200, { message: 'consumer list returned', consumers: w.store.groupNames() }]
    }
    if (method === 'DELETE' && sub === undefined) {
      if (!monitor.deleteGroup(cluster, name)) throw new HttpError(404, 'cluster or consumer not found')
      return [200, { message: 'consumer group removed' }]
    }
    if (method !== 'GET') throw new HttpError(405, 'method not allowed')
    if (sub === undefined) {
      const detail = w.store.groupDetail(name)
      if (!detail) throw new HttpError(404, 'cluster or consumer not found')
      const topics: Record<string, unknown[]> = {}
      for (const [topic, partitions] of detail)
        topics[topic] = Array.from(partitions, (p) => ({
          offsets: p?.offsets ?? [],
          owner: p?.owner ?? '',
          client_id: p?.clientId ?? '',
          'current-lag': p?.currentLag ?? 0,
        }))
      return [200, { message: 'consumer detail returned', topics }]
    }
    if (sub !== 'status' && sub !== 'lag') throw new HttpError(404, 'invalid request')
    const status = monitor.groupStatus(cluster, name)!
    if (status.status === 'NOTFOUND')
      throw new HttpError(404, 'cluster or consumer not found', { status: notFoundStatus(cluster, name) })
    const shown =
      sub === 'lag' ? status : { ...status, partitions: status.partitions.filter((p) => p.status !== 'OK') }
    return [200, { message: 'consumer status returned', status: shown }]
  }

  const eventStream = (req: IncomingMessage, res: ServerResponse) => {
    if (eventClients.size >= eventClientsMax) {
      send(res, 503, 'text/plain', 'too many event-stream clients\n')
      return
    }
    res.writeHead(200, {
      'content-type': 'text/event-stream',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
    })
    const client = { res, blocked: false }
    eventClients.add(client)
    res.on('drain', () => {
      client.blocked = false
    })
    req.on('close', () => eventClients.delete(client))
    client.blocked = !res.write(`retry: 2000\ndata: ${JSON.stringify(pageSnapshot(monitor))}\n\n`)
  }

  const pushTimer = setInterval(() => {
    if (eventClients.size === 0) return
    const frame = `data: ${JSON.stringify(pageSnapshot(monitor))}\n\n`
    for (const c of eventClients) if (!c.blocked) c.blocked = !c.res.write(frame)
  }, options.pageRefreshMs ?? 1000)
  pushTimer.unref()

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const method = req.method ?? 'GET'
    const path = new URL(req.url ?? '/', 'http://x').pathname
    let parts: string[]
    try {
      parts = path
        .split('/')
        .filter((p) => p !== '')
        .map((p) => decodeURIComponent(p))
    } catch {
      burrow(req, res, 400, { message: 'malformed path' })
      return
    }
    try {
      if (method === 'GET' && path === '/') return send(res, 200, 'text/html; charset=utf-8', html)
      if (method === 'GET' && path === '/burrow/admin') return send(res, 200, 'text/plain', 'GOOD')
      if (method === 'GET' && path === '/metrics')
        return send(res, 200, metrics.registry.contentType, await metrics.text())
      if (method === 'GET' && path === '/ui/snapshot')
        return send(res, 200, 'application/json', JSON.stringify(pageSnapshot(monitor)))
      if (method === 'GET' && path === '/ui/events') return eventStream(req, res)
      if (method === 'GET' && parts[0] === 'assets' && parts.length === 2) {
        const file = assets.get(parts[1]!)
        if (!file) throw new HttpError(404, 'asset not found')
        let body = assetCache.get(file)
        if (!body) {
          body = await readFile(file)
          assetCache.set(file, body)
        }
        return send(res, 200, 'text/javascript; charset=utf-8', body)
      }
      if (parts[0] === 'v3' && parts[1] === 'kafka') {
        const [status, body] = v3(method, parts.slice(2))
        return burrow(req, res, status, body)
      }
      throw new HttpError(404, 'invalid request type')
    } catch (err) {
      if (err instanceof HttpError)
        return burrow(req, res, err.status, { message: err.message, ...err.extra })
      burrow(req, res, 500, { message: `internal error: ${(err as Error).message}` })
    }
  }

  const server = createServer((req, res) => {
    void handle(req, res)
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, options.host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const address = server.address() as AddressInfo
  const shownHost = address.family === 'IPv6' ? `[${address.address}]` : address.address
  const urlHost = shownHost === '0.0.0.0' ? '127.0.0.1' : shownHost === '[::]' ? '[::1]' : shownHost
  return {
    url: `http://${urlHost}:${address.port}`,
    server,
    metrics,
    async close() {
      clearInterval(pushTimer)
      for (const c of eventClients) c.res.end()
      eventClients.clear()
      await new Promise<void>((resolve) => {
        server.close(() => resolve())
        server.closeAllConnections()
      })
    },
  }
}
