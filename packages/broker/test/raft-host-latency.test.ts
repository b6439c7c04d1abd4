/**
 * What a RaftHost sends, and when, on the path of one acks=all write: a follower's acknowledgement
 * leaves from the callback that learns its flush landed (not a turn later), never before that
 * flush, and every turn's messages are handed to the network before the turn returns to the event
 * loop. A scripted leader (node 1) drives one follower host (node 2) over a recording transport
 * and a real LevelDB store whose flushes the test releases.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, describe, it } from 'node:test'
import { EntryKind, type NodeId, type RaftMessage } from '@cairn/raft'
import { LevelLogStore } from '@cairn/storage'
import type { MessageHandler, Transport, TransportStats } from '@cairn/transport'
import { RaftHost } from '../src/index.js'

const dir = mkdtempSync(join(tmpdir(), 'cairn-host-latency-'))
after(() => rmSync(dir, { recursive: true, force: true }))

const GROUP = 0
/** Microtask hops the test allows the host after a flush lands; no macrotask runs in between. */
const MICROTASKS_AFTER_FLUSH_MAX = 100

/** Records what the host sends, and whether it asked for it to leave before yielding. */
class RecordingTransport implements Transport {
  readonly nodeId: NodeId = 2
  readonly sent: RaftMessage[] = []
  /** Messages handed over by send() and not yet flushed. */
  unflushed = 0
  private handler: MessageHandler | null = null

  send(messages: readonly RaftMessage[]): void {
    this.sent.push(...messages)
    this.unflushed += messages.length
  }
  flush(): void {
    this.unflushed = 0
  }
  onMessages(handler: MessageHandler): () => void {
    this.handler = handler
    return () => {
      this.handler = null
    }
  }
  onPeerDown(): () => void {
    return () => {}
  }
  deliver(from: NodeId, messages: RaftMessage[]): void {
    this.handler?.(from, messages)
  }
  stats(): TransportStats {
    return {
      nodeId: this.nodeId,
      peers: [],
      handshakesRefused: 0,
      connectionsClosedBadInput: 0,
      droppedInvalid: 0,
      droppedUnknownPeer: 0,
    }
  }
  async close(): Promise<void> {}
}

/**
 * A store whose flushes the test completes: each flush's real write goes ahead, but the host hears
 * of it only when the test calls `release` (after `durable`).
 */
function holdFlushes(store: LevelLogStore) {
  const held: { durable: Promise<void>; release: () => void }[] = []
  const realFlush = store.flush.bind(store)
  store.flush = () => {
    const durable = realFlush()
    return new Promise<void>((resolve, reject) => {
      held.push({ durable, release: () => durable.then(resolve, reject) })
    })
  }
  return held
}

const nextMacrotask = () => new Promise((resolve) => setImmediate(resolve))

async function microtasks(count: number): Promise<void> {
  for (let i = 0; i < count; i++) await Promise.resolve()
}

describe('RaftHost: the acknowledgement path', () => {
  it("sends a follower's appendResponse from the flush's own callback, and not before it", async () => {
    const store = await LevelLogStore.open(join(dir, 'follower'))
    const transport = new RecordingTransport()
    const host = new RaftHost({ nodeId: 2, store, transport, tickMs: 60_000 })
    await host.openGroup(GROUP, { voters: [1, 2, 3], learners: [] })
    await nextMacrotask()
    await store.flush()
    const held = holdFlushes(store)
    try {
      const entry = { index: 1, term: 1, kind: EntryKind.normal, data: new TextEncoder().encode('r') }
      transport.deliver(1, [
        {
          type: 'append',
          group: GROUP,
          from: 1,
          to: 2,
          term: 1,
          prevIndex: 0,
          prevTerm: 0,
          entries: [entry],
          commit: 0,
        },
      ])
      await nextMacrotask() // the turn: the entry is written and its flush starts
      const acks = () =>
        transport.sent.filter((m) => m.type === 'appendResponse' && !m.reject && m.index >= 1)
      assert.ok(held.length > 0, 'the turn flushed the store')
      // Raft safety: no acknowledgement of entry 1 while its flush has not landed.
      await nextMacrotask()
      await nextMacrotask()
      assert.equal(acks().length, 0, 'acknowledged before durable')

      const flush = held.shift()!
      await flush.durable
      // The flush lands; from here only microtasks run: the answer must be out before any turn.
      flush.release()
      await microtasks(2) // release's own hops: durable.then(resolve)
      for (let i = 0; i < MICROTASKS_AFTER_FLUSH_MAX && acks().length === 0; i++) await microtasks(1)
      assert.equal(acks().length, 1, 'the appendResponse waited for another turn after the flush')
      assert.equal(transport.unflushed, 0, 'and it was flushed to the network at once')
    } finally {
      for (const h of held.splice(0)) h.release()
      await host.close()
      await store.close()
    }
  })
})
