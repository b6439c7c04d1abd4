import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { MetadataResponse, PartitionMetadata } from '@cairn/protocol'
import { ClusterClient, type Connection, LEADER_HINT_TTL_MS, mergeMetadata } from '../src/index.js'

function partition(p: number, leaderId: number): PartitionMetadata {
  return {
    partition: p,
    error: null,
    leaderId,
    leaderEpoch: 1,
    replicas: [1, 2, 3],
    isr: [1, 2, 3],
    highWatermark: 0,
    logStartOffset: 0,
  } as PartitionMetadata
}

/** A client whose one node answers metadata with `answer`. */
function clientAnswering(answer: MetadataResponse): ClusterClient {
  const conn = { request: async () => answer, close: () => undefined } as unknown as Connection
  const client = new ClusterClient({ bootstrap: ['n1:1'] })
  client.connection = async () => conn
  return client
}

describe('leaderOf', () => {
  it('finds each partition leader, whether metadata lists partitions in order or not', async () => {
    const client = clientAnswering({
      clusterId: 'c',
      controllerId: 1,
      brokers: [{ nodeId: 1, host: 'n1', port: 1 }],
      topics: [
        { name: 'ordered', error: null, partitions: [partition(0, 1), partition(1, 2), partition(2, 3)] },
        { name: 'shuffled', error: null, partitions: [partition(2, 3), partition(0, 1), partition(1, 2)] },
        { name: 'sparse', error: null, partitions: [partition(1, 2)] },
      ],
    } as MetadataResponse)
    await client.refreshMetadata()
    for (const topic of ['ordered', 'shuffled'])
      assert.deepEqual(
        [0, 1, 2].map((p) => client.leaderOf(topic, p)),
        [1, 2, 3],
        topic,
      )
    assert.deepEqual(
      [0, 1, 2].map((p) => client.leaderOf('sparse', p)),
      [0, 2, 0],
    )
    assert.equal(client.leaderOf('unknown', 0), 0)
  })
})

describe('noteLeader: the leader a NOT_LEADER_OR_FOLLOWER answer names (KIP-951)', () => {
  const answering = (leaderId: number, leaderEpoch: number) => {
    let answer = { leaderId, leaderEpoch }
    const conn = {
      request: async () =>
        ({
          clusterId: 'c',
          controllerId: 1,
          brokers: [1, 2, 3].map((nodeId) => ({ nodeId, host: `n${nodeId}`, port: 1 })),
          topics: [
            {
              name: 't',
              error: null,
              partitions: [{ ...partition(0, answer.leaderId), leaderEpoch: answer.leaderEpoch }],
            },
          ],
        }) as MetadataResponse,
      close: () => undefined,
    } as unknown as Connection
    const client = new ClusterClient({ bootstrap: ['n1:1'] })
    client.connection = async () => conn
    return { client, answer: (id: number, epoch: number) => (answer = { leaderId: id, leaderEpoch: epoch }) }
  }

  it('routes there at once and outlasts metadata answers of an older epoch, until metadata catches up', async () => {
    const { client, answer } = answering(1, 4)
    await client.refreshMetadata()
    assert.equal(client.noteLeader('t', 0, 2, 5), true)
    assert.equal(client.leaderOf('t', 0), 2)
    await client.refreshMetadata() // an answer from before the move: leader 1, epoch 4
    assert.equal(client.leaderOf('t', 0), 2, 'the hint of epoch 5 stays')
    answer(3, 6)
    await client.refreshMetadata()
    assert.equal(client.leaderOf('t', 0), 3, 'a newer epoch wins over the hint')
    assert.equal(client.noteLeader('t', 0, 2, 5), false, 'an older hint changes nothing')
    assert.equal(client.leaderOf('t', 0), 3)
    assert.equal(client.noteLeader('t', 0, 9, 7), false, 'a node without a known address')
    assert.equal(client.noteLeader('t', 5, 2, 7), false, 'a partition not in the cache')
  })

  it(`gives a hint up after ${LEADER_HINT_TTL_MS} ms if metadata never confirms it`, async (t) => {
    t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 })
    const { client } = answering(1, 4)
    await client.refreshMetadata()
    client.noteLeader('t', 0, 2, 5)
    t.mock.timers.tick(LEADER_HINT_TTL_MS + 1)
    await client.refreshMetadata()
    assert.equal(client.leaderOf('t', 0), 1)
  })
})

describe('mergeMetadata', () => {
  const answer = (leaderId: number, leaderEpoch: number, leads: boolean): MetadataResponse =>
    ({
      clusterId: 'c',
      controllerId: 1,
      brokers: [{ nodeId: leaderId, host: `n${leaderId}`, port: 1 }],
      topics: [
        {
          name: 't',
          error: null,
          partitions: [{ ...partition(0, leaderId), leaderEpoch, isr: leads ? [1, 2, 3] : [] }],
        },
      ],
    }) as MetadataResponse

  it('of two nodes that both claim to lead (a hand-off under way), believes the newer epoch, in any order', () => {
    const old = answer(1, 4, true)
    const elected = answer(2, 5, true)
    for (const answers of [
      [old, elected],
      [elected, old],
    ]) {
      const merged = mergeMetadata(answers)
      assert.equal(merged.topics[0]!.partitions[0]!.leaderId, 2)
      assert.equal(merged.topics[0]!.partitions[0]!.leaderEpoch, 5)
    }
  })

  it("believes the leader's own claim over a follower's newer-looking report, and a newer report over an older one", () => {
    assert.equal(
      mergeMetadata([answer(3, 9, false), answer(2, 5, true)]).topics[0]!.partitions[0]!.leaderId,
      2,
    )
    assert.equal(
      mergeMetadata([answer(2, 5, true), answer(3, 9, false)]).topics[0]!.partitions[0]!.leaderId,
      2,
    )
    assert.equal(
      mergeMetadata([answer(3, 4, false), answer(1, 6, false)]).topics[0]!.partitions[0]!.leaderId,
      1,
    )
  })
})
