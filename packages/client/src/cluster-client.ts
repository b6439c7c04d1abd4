/**
 * The client's view of a cluster: connections to its nodes, the metadata (which node leads each
 * partition), and requests routed to where they belong — admin requests to the controller, produce
 * and fetch to the partition's leader — with bounded retries of retriable errors after a metadata
 * refresh.
 */
import type {
  ApiName,
  ApiRequest,
  ApiResponse,
  BrokerAddress,
  MetadataResponse,
  PartitionMetadata,
  TopicMetadata,
} from '@cairn/protocol'
import { Connection, RequestError } from './connection.js'
import { CairnError, NetworkError } from './errors.js'

export interface ClusterClientOptions {
  /** host:port of one or more nodes. */
  bootstrap: string[]
  requestTimeoutMs?: number
  /** Attempts of an admin or metadata request across nodes and retriable errors. */
  attemptsMax?: number
  retryBackoffMs?: number
}

export interface PartitionInfo extends PartitionMetadata {
  topic: string
}

/** How long a metadata refresh waits for each node. */
export const METADATA_WAIT_MS = 2000
/**
 * How long a leader named in a produce answer (KIP-951) outranks metadata answers of an older
 * epoch: a refresh under way when leadership moved can still bring the old leader back.
 */
export const LEADER_HINT_TTL_MS = 2000

interface LeaderHint {
  topic: string
  partition: number
  leaderId: number
  leaderEpoch: number
  atMs: number
}

/** Errors after which the metadata is stale and the request may succeed elsewhere or later. */
const RETRIABLE = new Set([
  'NOT_LEADER_OR_FOLLOWER',
  'LEADER_NOT_AVAILABLE',
  'NOT_CONTROLLER',
  'REQUEST_TIMED_OUT',
  'NETWORK_EXCEPTION',
  'NOT_ENOUGH_REPLICAS',
  'UNKNOWN_TOPIC_OR_PARTITION',
])

export function isRetriableCode(code: string | null | undefined): boolean {
  return code !== null && code !== undefined && RETRIABLE.has(code)
}

export class ClusterClient {
  private readonly connections = new Map<string, Promise<Connection>>()
  private brokers = new Map<number, string>()
  private topics = new Map<string, TopicMetadata>()
  /** By topic and partition; at most one per cached partition, dropped once metadata catches up. */
  private readonly leaderHints = new Map<string, LeaderHint>()
  controllerId = 0
  private closed = false

  constructor(private readonly options: ClusterClientOptions) {
    if (options.bootstrap.length === 0)
      throw new CairnError('CONFIG', 'bootstrap needs at least one host:port')
  }

  async close(): Promise<void> {
    this.closed = true
    for (const c of this.connections.values())
      c.then(
        (conn) => conn.close(),
        () => undefined,
      )
    this.connections.clear()
  }

  /** A connection to `address`, opened once and reopened after it closes. */
  async connection(address: string): Promise<Connection> {
    if (this.closed) throw new CairnError('CLOSED', 'the client is closed')
    let c = this.connections.get(address)
    if (c) {
      const conn = await c.catch(() => undefined)
      if (conn?.open) return conn
      this.connections.delete(address)
    }
    c = Connection.open(address, this.options.requestTimeoutMs)
    this.connections.set(address, c)
    c.catch(() => this.connections.delete(address))
    return c
  }

  addressOf(nodeId: number): string | undefined {
    return this.brokers.get(nodeId)
  }

  /** The nodes' addresses from the last metadata, and the bootstrap ones. */
  knownAddresses(): string[] {
    return [...new Set([...this.brokers.values(), ...this.options.bootstrap])]
  }

  /**
   * Refreshes the metadata from every reachable node and merges it: a partition's leader is the
   * one a node reports about itself (the node that leads knows it), its ISR comes from the leader.
   */
  async refreshMetadata(topics: string[] | null = null): Promise<MetadataResponse> {
    const answers: MetadataResponse[] = []
    const errors: string[] = []
    const asked = new Set<string>()
    // Two rounds at most: the nodes known, then those their answers name that were not asked (a
    // first refresh knows only the bootstrap nodes, which need not host every partition).
    for (let round = 0; round < 2; round++) {
      const addresses = this.knownAddresses().filter((a) => !asked.has(a))
      if (addresses.length === 0) break
      for (const a of addresses) asked.add(a)
      answers.push(...(await this.askMetadata(addresses, topics, errors)))
      if (answers.length === 0) break
      const brokers = mergeMetadata(answers).brokers
      this.brokers = new Map(brokers.map((b: BrokerAddress) => [b.nodeId, `${b.host}:${b.port}`]))
    }
    if (answers.length === 0) {
      throw new NetworkError(`no node answered metadata (${[...asked].join(', ')}): ${errors[0] ?? ''}`)
    }
    const merged = mergeMetadata(answers)
    if (merged.controllerId) this.controllerId = merged.controllerId
    this.keepNewerHints(merged)
    for (const t of merged.topics) this.topics.set(t.name, t)
    return merged
  }

  /** A hinted leader of a newer epoch than the refresh's answer stays, until the hint is old. */
  private keepNewerHints(merged: MetadataResponse): void {
    const now = Date.now()
    for (const [key, h] of this.leaderHints) {
      // Old hints go at any refresh, whether or not it covers their topic (it may be gone).
      if (now - h.atMs > LEADER_HINT_TTL_MS) {
        this.leaderHints.delete(key)
        continue
      }
      const t = merged.topics.find((x) => x.name === h.topic)
      if (!t) continue
      const k = t.partitions.findIndex((x) => x.partition === h.partition)
      const p = t.partitions[k]
      const caughtUp =
        p === undefined ||
        p.leaderEpoch > h.leaderEpoch ||
        (p.leaderEpoch === h.leaderEpoch && p.leaderId !== 0)
      if (caughtUp) this.leaderHints.delete(key)
      else t.partitions[k] = { ...p, leaderId: h.leaderId, leaderEpoch: h.leaderEpoch }
    }
  }

  /** Metadata from each of `addresses`; a node that does not answer soon (stopped, partitioned) holds up none. */
  private async askMetadata(
    addresses: string[],
    topics: string[] | null,
    errors: string[],
  ): Promise<MetadataResponse[]> {
    const answers: MetadataResponse[] = []
    await Promise.all(
      addresses.map(async (address) => {
        let timer: NodeJS.Timeout | undefined
        try {
          const conn = await this.connection(address)
          const late = new Promise<never>((_, reject) => {
            timer = setTimeout(
              () => reject(new NetworkError(`${address}: no metadata within ${METADATA_WAIT_MS} ms`)),
              METADATA_WAIT_MS,
            )
          })
          answers.push(await Promise.race([conn.request('metadata', { topics }), late]))
        } catch (err) {
          errors.push(err instanceof Error ? err.message : String(err))
        } finally {
          clearTimeout(timer)
        }
      }),
    )
    return answers
  }

  topic(name: string): TopicMetadata | undefined {
    return this.topics.get(name)
  }

  async partitions(topic: string): Promise<PartitionInfo[]> {
    let t = this.topics.get(topic)
    if (!t || t.error) t = (await this.refreshMetadata([topic])).topics.find((x) => x.name === topic)
    if (!t || t.error)
      throw new CairnError(
        t?.error ?? 'UNKNOWN_TOPIC_OR_PARTITION',
        `topic '${topic}': ${t?.error ?? 'unknown'}`,
      )
    return t.partitions.map((p) => ({ ...p, topic }))
  }

  leaderOf(topic: string, partition: number): number {
    const partitions = this.topics.get(topic)?.partitions
    if (partitions === undefined) return 0
    // Metadata lists a topic's partitions in order, so the index is the fast path; the search
    // stays for an answer that does not.
    const p = partitions[partition]
    if (p !== undefined && p.partition === partition) return p.leaderId
    return partitions.find((x) => x.partition === partition)?.leaderId ?? 0
  }

  /**
   * A node named `leaderId` as the leader of `topic`-`partition` (a NOT_LEADER_OR_FOLLOWER answer's
   * hint, KIP-951), in epoch `leaderEpoch` (0: not said): the cache routes the partition there,
   * and metadata answers of an older epoch do not undo it for {@link LEADER_HINT_TTL_MS}. True if
   * the cache routes it there now; false if that node's address is unknown, the partition is not
   * cached, or the cache knows a newer leader.
   */
  noteLeader(topic: string, partition: number, leaderId: number, leaderEpoch = 0): boolean {
    if (!this.brokers.has(leaderId)) return false
    const partitions = this.topics.get(topic)?.partitions
    const k = partitions?.findIndex((p) => p.partition === partition) ?? -1
    const p = partitions?.[k]
    if (!partitions || !p) return false
    if (leaderEpoch > 0 && leaderEpoch < p.leaderEpoch) return p.leaderId === leaderId
    // Replaced, not changed in place: an answer already handed out keeps what it said.
    if (p.leaderId !== leaderId || leaderEpoch > p.leaderEpoch)
      partitions[k] = { ...p, leaderId, leaderEpoch: Math.max(leaderEpoch, p.leaderEpoch) }
    if (leaderEpoch > 0)
      this.leaderHints.set(`${topic}\u0000${partition}`, {
        topic,
        partition,
        leaderId,
        leaderEpoch,
        atMs: Date.now(),
      })
    return true
  }

  /** Sends to the controller, following NOT_CONTROLLER and connection failures; bounded. */
  async admin<A extends ApiName>(
    api: A,
    body: ApiRequest<A>,
    failed: (r: ApiResponse<A>) => string | null,
  ): Promise<ApiResponse<A>> {
    return this.withRetries(api, async () => {
      if (!this.controllerId) await this.refreshMetadata([])
      const address = this.addressOf(this.controllerId) ?? this.options.bootstrap[0]!
      const r = await (await this.connection(address)).request(api, body)
      const code = failed(r)
      if (code === 'NOT_CONTROLLER') {
        this.controllerId = 0
        throw new RequestError(code, `${api}: node at ${address} is not the controller`)
      }
      return r
    })
  }

  /** The ids and addresses of the nodes, as the last metadata named them. */
  nodes(): { nodeId: number; address: string }[] {
    return [...this.brokers].map(([nodeId, address]) => ({ nodeId, address }))
  }

  /** Sends to the node `nodeId` (the leader of what the request is about). */
  async toNode<A extends ApiName>(nodeId: number, api: A, body: ApiRequest<A>): Promise<ApiResponse<A>> {
    const address = this.addressOf(nodeId)
    if (!address) throw new CairnError('LEADER_NOT_AVAILABLE', `node ${nodeId} has no known address`)
    return (await this.connection(address)).request(api, body)
  }

  async withRetries<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    const attempts = this.options.attemptsMax ?? 20
    const backoff = this.options.retryBackoffMs ?? 100
    let last: unknown
    for (let k = 0; k < attempts; k++) {
      try {
        return await attempt()
      } catch (err) {
        last = err
        const code = (err as { code?: string }).code
        if (!isRetriableCode(code)) throw err
        await new Promise((r) => setTimeout(r, Math.min(1000, backoff * 2 ** Math.min(k, 4))))
        await this.refreshMetadata().catch(() => undefined)
      }
    }
    const message = last instanceof Error ? last.message : String(last)
    throw new CairnError(
      (last as { code?: string }).code ?? 'UNKNOWN',
      `${what} failed after ${attempts} attempts: ${message}`,
    )
  }
}

export function mergeMetadata(answers: MetadataResponse[]): MetadataResponse {
  const first = answers[0]!
  const topics = new Map<string, TopicMetadata>()
  for (const a of answers) {
    for (const t of a.topics) {
      const known = topics.get(t.name)
      if (!known || (known.error && !t.error)) {
        topics.set(t.name, { ...t, partitions: t.partitions.map((p) => ({ ...p })) })
        continue
      }
      for (const p of t.partitions) {
        const k = known.partitions.findIndex((x) => x.partition === p.partition)
        if (k < 0) known.partitions.push({ ...p })
        // The node that leads a partition is the authority on it, and of two that both claim to
        // (one handing off or cut off, the other just elected) the newer epoch; otherwise the
        // newest term wins. Replaced whole: a field one answer has (addingReplicas) must not outlive it.
        else {
          const old = known.partitions[k]!
          const leads = p.isr.length > 0
          const oldLeads = old.isr.length > 0
          if (
            (leads && (!oldLeads || p.leaderEpoch > old.leaderEpoch)) ||
            (!oldLeads && p.leaderEpoch > old.leaderEpoch)
          )
            known.partitions[k] = { ...p }
        }
      }
    }
  }
  const controller = answers.map((a) => a.controllerId).find((id) => id > 0) ?? 0
  const brokers = answers.reduce(
    (most, a) => (a.brokers.length > most.length ? a.brokers : most),
    first.brokers,
  )
  return { clusterId: first.clusterId, controllerId: controller, brokers, topics: [...topics.values()] }
}
