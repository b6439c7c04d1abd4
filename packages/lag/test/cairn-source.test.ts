/**
 * The parts of the Cairn sources that need no cluster: members' assignments decoded (garbage
 * refused quietly), and the admin fallback's change detection over a stand-in admin client.
 */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { type Admin, encodeAssignment } from '@cairn/client'
import { AdminSource, assignmentPartitions } from '../src/index.js'

describe('assignmentPartitions', () => {
  it("reads the consumer protocol's assignment, grouped by topic", () => {
    const bytes = encodeAssignment({
      partitions: [
        { topic: 'orders', partition: 0 },
        { topic: 'orders', partition: 2 },
        { topic: 'audit', partition: 1 },
      ],
    })
    assert.deepEqual(
      assignmentPartitions(bytes).sort((a, b) => a.topic.localeCompare(b.topic)),
      [
        { topic: 'audit', partitions: [1] },
        { topic: 'orders', partitions: [0, 2] },
      ],
    )
  })

  it('answers [] for empty or malformed bytes', () => {
    assert.deepEqual(assignmentPartitions(new Uint8Array()), [])
    assert.deepEqual(assignmentPartitions(new Uint8Array([0, 3, 0xff, 0xff, 0xff, 0xff])), [])
    assert.deepEqual(assignmentPartitions(new Uint8Array([1, 2, 3])), [])
  })
})

describe('AdminSource', () => {
  function fakeAdmin() {
    const state = {
      groups: new Map<string, { topic: string; partition: number; offset: number }[]>(),
      unreachable: false,
    }
    const admin = {
      async listGroups() {
        return {
          groups: [...state.groups.keys()].map((groupId) => ({
            groupId,
            protocolType: 'consumer',
            state: 'Stable',
            coordinatorId: 1,
          })),
          errors: state.unreachable ? [{ nodeId: 2, error: 'NETWORK_EXCEPTION' }] : [],
        }
      },
      async fetchOffsets(group: string) {
        return (state.groups.get(group) ?? []).map((o) => ({ ...o, metadata: '' }))
      },
      async describeGroup(group: string) {
        return {
          groupId: group,
          state: 'Stable',
          protocolType: 'consumer',
          protocol: 'range',
          coordinatorId: 1,
          members: [
            {
              memberId: 'm',
              clientId: 'c',
              clientHost: '/h',
              topics: ['t'],
              assignment: [{ topic: 't', partition: 0 }],
            },
          ],
          partitions: [],
        }
      },
    }
    return { state, admin: admin as unknown as Admin }
  }

  it('reports a commit when an offset changes, timestamped when seen, and deletions', async () => {
    const { state, admin } = fakeAdmin()
    let now = 1000
    const source = new AdminSource(admin, 100, () => now)
    state.groups.set('g', [
      { topic: 't', partition: 0, offset: 5 },
      { topic: 't', partition: 1, offset: 7 },
    ])
    assert.deepEqual(await source.readEvents(), [
      { type: 'commit', group: 'g', topic: 't', partition: 0, offset: 5, timestamp: 1000 },
      { type: 'commit', group: 'g', topic: 't', partition: 1, offset: 7, timestamp: 1000 },
    ])
    now += 50
    assert.deepEqual(await source.readEvents(), [], 'no poll before pollMs has passed')
    now += 50
    state.groups.set('g', [{ topic: 't', partition: 0, offset: 9 }])
    assert.deepEqual(await source.readEvents(), [
      { type: 'commit', group: 'g', topic: 't', partition: 0, offset: 9, timestamp: 1100 },
      { type: 'delete-offset', group: 'g', topic: 't', partition: 1 },
    ])
    // A node that does not answer may hold the group: nothing is deleted that round.
    state.groups.delete('g')
    state.unreachable = true
    now += 100
    assert.deepEqual(await source.readEvents(), [])
    state.unreachable = false
    now += 100
    assert.deepEqual(await source.readEvents(), [{ type: 'delete-group', group: 'g' }])
  })

  it('describes the groups with their owners', async () => {
    const { state, admin } = fakeAdmin()
    state.groups.set('g', [])
    assert.deepEqual(await new AdminSource(admin, 100).describeGroups(), [
      {
        group: 'g',
        state: 'Stable',
        members: [
          { memberId: 'm', clientId: 'c', clientHost: '/h', assignments: [{ topic: 't', partitions: [0] }] },
        ],
      },
    ])
  })
})
