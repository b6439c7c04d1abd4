import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import type { MetadataResponse, PartitionMetadata } from '@cairn/protocol'
import { ClusterClient, type Connection } from '../src/index.js'

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
