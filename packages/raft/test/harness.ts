/**
 * A scripted cluster for unit tests, in the manner of etcd's interaction tests: nothing happens
 * until the test says so — tick, deliver, sync — and every message can be inspected or dropped.
 */
import {
  MemoryStorage,
  type NodeId,
  type RaftMessage,
  RaftNode,
  type RaftOptions,
  type Ready,
} from '../src/index.js'
import { Random } from '../src/sim/random.js'

export interface Member {
  id: NodeId
  raft: RaftNode
  storage: MemoryStorage
  applied: string[]
  up: boolean
}

export class TestCluster {
  readonly members = new Map<NodeId, Member>()
  /** Messages sent and not yet delivered. */
  inflight: RaftMessage[] = []
  now = 0
  private readonly random: Random

  constructor(
    ids: NodeId[],
    private readonly options: Partial<RaftOptions> = {},
    seed = 1,
  ) {
    this.random = new Random(seed)
    for (const id of ids) {
      const storage = new MemoryStorage({ voters: ids, learners: [] })
      this.members.set(id, { id, storage, raft: this.makeRaft(id, storage), applied: [], up: true })
    }
  }

  private makeRaft(id: NodeId, storage: MemoryStorage): RaftNode {
    const r = this.random.fork(id)
    return new RaftNode({
      id,
      group: 0,
      storage,
      now: () => this.now,
      random: () => r.next(),
      ...this.options,
    })
  }

  node(id: NodeId): Member {
    const m = this.members.get(id)
    if (!m) throw new Error(`no node ${id}`)
    return m
  }

  /** Adds a node with an empty log that knows the given membership. */
  addNode(id: NodeId, voters: NodeId[]): Member {
    const storage = new MemoryStorage({ voters, learners: [] })
    const m = { id, storage, raft: this.makeRaft(id, storage), applied: [], up: true }
    this.members.set(id, m)
    return m
  }

  /** Drains every node's Ready; `sync` makes writes durable first (as the driver does after fsync). */
  process(sync = true): void {
    for (const m of this.members.values()) {
      if (!m.up) continue
      for (let round = 0; round < 8; round++) {
        const rd = m.raft.ready()
        if (!rd) break
        this.take(m, rd, sync)
      }
    }
  }

  private take(m: Member, rd: Ready, sync: boolean): void {
    this.inflight.push(...rd.messages)
    if (rd.sync && sync) {
      m.storage.sync()
      m.raft.advance(rd.sync)
    }
    for (const e of rd.committed) m.applied.push(new TextDecoder().decode(e.data))
  }

  tick(id: NodeId, ticks = 1): void {
    for (let k = 0; k < ticks; k++) this.node(id).raft.tick()
    this.process()
  }

  tickAll(ticks = 1): void {
    for (let k = 0; k < ticks; k++) {
      for (const m of this.members.values()) if (m.up) m.raft.tick()
      this.process()
      this.deliverAll()
    }
  }

  /** Delivers in-flight messages (optionally only some) until none are left; bounded. */
  deliverAll(filter: (m: RaftMessage) => boolean = () => true, roundsMax = 100): void {
    for (let round = 0; round < roundsMax && this.inflight.length > 0; round++) {
      const batch = this.inflight
      this.inflight = []
      for (const msg of batch) {
        const to = this.members.get(msg.to)
        if (!to?.up || !filter(msg)) continue
        to.raft.step(msg)
      }
      this.process()
    }
  }

  /** Campaigns node `id` by ticking it past its election timeout, then lets the cluster settle. */
  elect(id: NodeId, filter?: (m: RaftMessage) => boolean): void {
    const m = this.node(id)
    for (let k = 0; k < 100 && m.raft.role !== 'leader'; k++) {
      m.raft.tick()
      this.process()
      this.deliverAll(filter)
    }
    if (m.raft.role !== 'leader') throw new Error(`node ${id} did not become leader`)
  }

  propose(id: NodeId, ...values: string[]) {
    const r = this.node(id).raft.propose(values.map((v) => new TextEncoder().encode(v)))
    this.process()
    return r
  }

  crash(id: NodeId): void {
    const m = this.node(id)
    m.up = false
    m.raft.stop()
    m.storage.crash()
    m.applied = []
    this.inflight = this.inflight.filter((x) => x.to !== id)
  }

  restart(id: NodeId): void {
    const m = this.node(id)
    m.raft = this.makeRaft(id, m.storage)
    m.up = true
    this.process()
  }

  leader(): Member | undefined {
    return [...this.members.values()].find((m) => m.up && m.raft.role === 'leader')
  }
}

export function values(member: Member): string[] {
  return member.applied.filter((v) => v.length > 0 && !v.startsWith('{'))
}
