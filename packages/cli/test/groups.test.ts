/**
 * Consumer groups over real processes: three `cairn node start` nodes, members as child
 * processes running test/groups-member.ts through the built client (or `cairn consume --group`),
 * records produced continuously with acks=all from this process.
 *
 * (a) 3 members on 12 partitions, one SIGKILLed and another started: every acknowledged record is
 *     processed, no offset is skipped, and no commit (sampled all along with describeGroup) ever
 *     passed a record that was not yet processed.
 * (b) the coordinator's node SIGKILLed mid-run: the group carries on with the new coordinator, its
 *     committed offsets intact, with the same guarantees.
 * (c) two groups on one topic each get every record.
 * (d) the CLI: groups list / describe (--json) / reset-offsets (dry run, --execute) / delete.
 * (e) rebalance latency: a 5th member joins 4 on 16 partitions, range and cooperative-sticky; with
 *     cooperative-sticky the partitions that stay are consumed throughout. Prints the figures.
 *
 * SEED=n replays the random choices (which member and when); CAIRN_REBALANCE_RUNS=n repeats (e).
 */
import assert from 'node:assert/strict'
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { after, before, describe, it } from 'node:test'
import { fileURLToPath } from 'node:url'
import { type Admin, Cairn, type GroupDescription } from '@cairn/client'
import { cairn, cairnOk, exited, freePortRun, nodeStartArgs, start, waitFor } from './helpers.js'

const SEED = Number(process.env.SEED ?? Date.now() % 100_000)
const REBALANCE_RUNS = Number(process.env.CAIRN_REBALANCE_RUNS ?? 1)
const MEMBER = fileURLToPath(new URL('./groups-member.ts', import.meta.url))
const data = mkdtempSync(join(tmpdir(), 'cairn-groups-'))
const secretFile = join(data, 'secret')
writeFileSync(secretFile, randomBytes(24).toString('hex'))

function rng(seed: number) {
  let s = seed % 2147483647 || 1
  return () => {
    s = (s * 16807) % 2147483647
    return s / 2147483647
  }
}
const random = rng(SEED)

const nodes = new Map<number, ReturnType<typeof start>>()
const children = new Set<ChildProcess>()
let base = 0
let bootstrap: string[] = []
let client: Cairn
let admin: Admin

/** group.initial.rebalance.delay.ms 0: a group forms at its first member's join, not 3 s later. */
const delayFlag = ['--group-initial-rebalance-delay-ms', '0']
const delaySupported = cairn(['node', 'start', '--help']).stdout.includes(delayFlag[0]!)
const startNode = (id: number) =>
  nodes.set(
    id,
    start(
      nodeStartArgs(id, base, data, secretFile, ['--tick-ms', '50', ...(delaySupported ? delayFlag : [])]),
    ),
  )

before(async () => {
  base = await freePortRun(3)
  bootstrap = [1, 2, 3].map((id) => `127.0.0.1:${base + id - 1}`)
  for (const id of [1, 2, 3]) startNode(id)
  client = new Cairn({ bootstrap, requestTimeoutMs: 10_000 })
  admin = client.admin()
})

after(async () => {
  await client?.close().catch(() => undefined)
  for (const c of [...children, ...[...nodes.values()].map((n) => n.child)]) {
    c.kill('SIGKILL')
    await exited(c).catch(() => undefined)
  }
  rmSync(data, { recursive: true, force: true })
})

// ---- Helpers -------------------------------------------------------------------------------------

async function createTopic(topic: string, partitions: number): Promise<void> {
  await waitFor(`topic ${topic}`, async () => {
    try {
      await admin.createTopics([{ topic, numPartitions: partitions, replicationFactor: 3 }])
    } catch (err) {
      if ((err as { code?: string }).code !== 'TOPIC_ALREADY_EXISTS') return undefined
    }
    const ps = await admin.describeTopic(topic).catch(() => [])
    return ps.length === partitions && ps.every((p) => p.leaderId > 0) ? true : undefined
  })
}

interface Member {
  name: string
  child: ChildProcess
  out: string
  events(): {
    e: string
    t: number
    partitions?: number[]
    member?: string
    generation?: number
    message?: string
    fatal?: boolean
  }[]
}

function startMember(
  name: string,
  group: string,
  topic: string,
  strategy: string,
  {
    heartbeatIntervalMs = 500,
    reset = 'earliest',
    autoCommitIntervalMs = 200,
  }: { heartbeatIntervalMs?: number; reset?: 'earliest' | 'latest'; autoCommitIntervalMs?: number } = {},
): Member {
  const out = join(data, `${name}.processed`)
  writeFileSync(out, '')
  const options = {
    bootstrap,
    group,
    topic,
    out,
    strategy,
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs,
    reset,
    autoCommitIntervalMs,
  }
  const child = spawn(process.execPath, ['--import', 'tsx', MEMBER, JSON.stringify(options)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.add(child)
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (d) => {
    stdout += d
  })
  child.stderr!.on('data', (d) => {
    stderr += d
  })
  child.once('exit', (code, signal) => {
    if (code !== 0 && signal === null) console.error(`member ${name} exited ${code}: ${stderr}`)
  })
  return {
    name,
    child,
    out,
    events: () =>
      stdout
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l)),
  }
}

async function stopMember(m: Member): Promise<void> {
  m.child.kill('SIGTERM')
  const code = await exited(m.child, 30_000)
  children.delete(m.child)
  assert.equal(code, 0, `member ${m.name} stopped cleanly`)
}

function lastAssignment(m: Member): number[] | null {
  const joins = m.events().filter((e) => e.e === 'assigned')
  return joins.length > 0 ? joins[joins.length - 1]!.partitions! : null
}

function memberIdOf(m: Member): string | undefined {
  return m
    .events()
    .filter((e) => e.e === 'assigned')
    .pop()?.member
}

/** partition → offset → earliest time processed, over the members' files. */
function processed(members: Member[]): Map<number, Map<number, number>> {
  const out = new Map<number, Map<number, number>>()
  for (const m of members) {
    if (!existsSync(m.out)) continue
    for (const line of readFileSync(m.out, 'utf8').split('\n')) {
      if (line === '') continue
      const [p, o, t] = line.split(' ').map(Number) as [number, number, number]
      const byOffset = out.get(p) ?? new Map<number, number>()
      byOffset.set(o, Math.min(byOffset.get(o) ?? Number.POSITIVE_INFINITY, t))
      out.set(p, byOffset)
    }
  }
  return out
}

/** Records with acks=all on every partition of `topic`, round after round, until stopped. */
function load(topic: string, partitions: number, intervalMs = 20) {
  const producer = client.producer({ acks: 'all', 'linger.ms': 2, 'delivery.timeout.ms': 60_000 })
  const acked: { partition: number; offset: number }[] = []
  const sends: Promise<void>[] = []
  let failed = 0
  let seq = 0
  const timer = setInterval(() => {
    for (let partition = 0; partition < partitions; partition++)
      sends.push(
        producer.send({ topic, messages: [{ partition, value: `${topic}:${seq++}` }] }).then(
          ([meta]) => void acked.push({ partition, offset: meta!.offset }),
          () => {
            failed++
          },
        ),
      )
  }, intervalMs)
  return {
    acked,
    async stop() {
      clearInterval(timer)
      await Promise.all(sends)
      await producer.flush()
      return { acked, failed }
    },
  }
}

async function describe_(group: string): Promise<GroupDescription | undefined> {
  return admin.describeGroup(group).catch(() => undefined)
}

/** The group Stable with `count` members whose assignments cover every partition of the topic once. */
async function waitStable(
  group: string,
  count: number,
  partitions: number,
  timeoutMs = 40_000,
  also?: (d: GroupDescription) => boolean,
) {
  return waitFor(
    `group ${group} stable with ${count} members on ${partitions} partitions`,
    async () => {
      const d = await describe_(group)
      if (d?.state !== 'Stable' || d.members.length !== count) return undefined
      const owned = d.members.flatMap((m) => m.assignment.map((tp) => tp.partition))
      if (owned.length !== partitions || new Set(owned).size !== partitions) return undefined
      return !also || also(d) ? d : undefined
    },
    timeoutMs,
  )
}

/** Describes the group every `everyMs`, keeping when each answer came and what was committed. */
function sampleCommits(group: string, everyMs = 200) {
  const samples: { t: number; coordinatorId: number; committed: Map<number, number> }[] = []
  let stopped = false
  const loop = (async () => {
    while (!stopped) {
      const d = await describe_(group)
      const t = Date.now()
      if (d)
        samples.push({
          t,
          coordinatorId: d.coordinatorId,
          committed: new Map(
            d.partitions.filter((p) => p.committed !== null).map((p) => [p.partition, p.committed!]),
          ),
        })
      await new Promise((r) => setTimeout(r, everyMs))
    }
  })()
  return {
    samples,
    async stop() {
      stopped = true
      await loop
    },
  }
}

/** Every partition's committed offset equals its log end. */
async function waitCaughtUp(group: string, topic: string, timeoutMs = 40_000): Promise<Map<number, number>> {
  const ends = new Map((await admin.listOffsets(topic, 'latest')).map((e) => [e.partition, e.offset]))
  await waitFor(
    `group ${group} to commit up to the log ends of ${topic}`,
    async () => {
      const d = await describe_(group)
      if (!d) return undefined
      const committed = new Map(d.partitions.map((p) => [p.partition, p.committed]))
      for (const [p, end] of ends) if (committed.get(p) !== end) return undefined
      return true
    },
    timeoutMs,
  )
  return ends
}

/** At-least-once, checked: every acked record processed; no offset skipped; no commit ever past an unprocessed record. */
function checkAtLeastOnce(
  label: string,
  members: Member[],
  acked: { partition: number; offset: number }[],
  ends: Map<number, number>,
  samples: { t: number; committed: Map<number, number> }[],
) {
  const seen = processed(members)
  for (const a of acked)
    assert.ok(
      seen.get(a.partition)?.has(a.offset),
      `${label}: acknowledged record ${a.partition}/${a.offset} never processed`,
    )
  let total = 0
  let copies = 0
  for (const [p, end] of ends) {
    const byOffset = seen.get(p) ?? new Map()
    for (let o = 0; o < end; o++)
      assert.ok(byOffset.has(o), `${label}: offset ${o} of partition ${p} skipped`)
    total += end
  }
  for (const m of members)
    copies += readFileSync(m.out, 'utf8')
      .split('\n')
      .filter((l) => l !== '').length
  let checked = 0
  for (const s of samples)
    for (const [p, c] of s.committed) {
      const byOffset = seen.get(p) ?? new Map<number, number>()
      for (let o = 0; o < c; o++) {
        const t = byOffset.get(o)
        assert.ok(
          t !== undefined && t <= s.t,
          `${label}: commit ${c} of partition ${p} (seen at ${s.t}) passed offset ${o}, ${t === undefined ? 'never processed' : `processed only at ${t}`}`,
        )
        checked++
      }
    }
  return { total, duplicates: copies - total, samples: samples.length, checked }
}

// ---- The proofs ---------------------------------------------------------------------------------

describe('consumer groups over real processes', { concurrency: false }, () => {
  it('(a) a member SIGKILLed and another started: every acked record processed, none skipped, no commit past an unprocessed record', async (t) => {
    t.diagnostic(`seed ${SEED}`)
    if (!delaySupported)
      t.diagnostic('cairn node start has no --group-initial-rebalance-delay-ms: groups form 3 s late')
    await createTopic('ga', 12)
    const work = load('ga', 12)
    const members = [1, 2, 3].map((k) => startMember(`ga-${k}`, 'ga-group', 'ga', 'range'))
    await waitStable('ga-group', 3, 12)
    const sampler = sampleCommits('ga-group')
    await waitFor('some commits', () => (sampler.samples.at(-1)?.committed.size ?? 0) === 12 || undefined)
    const victim = members[Math.floor(random() * 3)]!
    const victimId = memberIdOf(victim)
    t.diagnostic(`SIGKILL ${victim.name} (${victimId})`)
    victim.child.kill('SIGKILL')
    await exited(victim.child)
    children.delete(victim.child)
    const late = startMember('ga-4', 'ga-group', 'ga', 'range')
    members.push(late)
    await waitStable('ga-group', 3, 12, 40_000, (d) => d.members.every((m) => m.memberId !== victimId))
    await waitFor(
      'the new member to process records',
      () => readFileSync(late.out, 'utf8').length > 0 || undefined,
    )
    const { acked, failed } = await work.stop()
    const ends = await waitCaughtUp('ga-group', 'ga')
    await sampler.stop()
    for (const m of members.filter((m) => m !== victim)) await stopMember(m)
    const r = checkAtLeastOnce('(a)', members, acked, ends, sampler.samples)
    t.diagnostic(
      `acked ${acked.length} (failed ${failed}), offsets ${r.total}, reprocessed ${r.duplicates}, ${r.samples} commit samples, ${r.checked} offset checks`,
    )
    assert.ok(acked.length > 1000, `enough records to mean something (${acked.length})`)
    for (const m of members)
      assert.ok(!m.events().some((e) => e.fatal), `${m.name} failed: ${JSON.stringify(m.events())}`)
  })

  it('(b) the coordinator SIGKILLed mid-run: the group recovers on the new coordinator, committed offsets intact', async (t) => {
    await createTopic('gb', 6)
    const work = load('gb', 6)
    const members = [1, 2].map((k) => startMember(`gb-${k}`, 'gb-group', 'gb', 'cooperative-sticky'))
    await waitStable('gb-group', 2, 6)
    const sampler = sampleCommits('gb-group')
    await waitFor(
      'commits on every partition',
      () => (sampler.samples.at(-1)?.committed.size ?? 0) === 6 || undefined,
    )
    const before = sampler.samples.at(-1)!
    const coordinator = before.coordinatorId
    t.diagnostic(`SIGKILL node ${coordinator}, the coordinator of gb-group`)
    const killedAt = Date.now()
    nodes.get(coordinator)!.child.kill('SIGKILL')
    await exited(nodes.get(coordinator)!.child)
    // A new coordinator serves the group, and commits move past what was committed before.
    const recovered = await waitFor(
      'a new coordinator with commits beyond those before the kill',
      () =>
        sampler.samples.find(
          (s) =>
            s.t > killedAt &&
            s.coordinatorId !== coordinator &&
            [...before.committed].every(([p, c]) => (s.committed.get(p) ?? -1) >= c) &&
            [...before.committed].some(([p, c]) => (s.committed.get(p) ?? -1) > c),
        ),
      40_000,
    )
    t.diagnostic(`recovered on node ${recovered.coordinatorId} after ${recovered.t - killedAt} ms`)
    for (const s of sampler.samples.filter((x) => x.t > killedAt))
      for (const [p, c] of before.committed)
        assert.ok(
          (s.committed.get(p) ?? -1) >= c,
          `partition ${p}: committed ${s.committed.get(p)} after the kill, ${c} before`,
        )
    startNode(coordinator)
    const { acked, failed } = await work.stop()
    const ends = await waitCaughtUp('gb-group', 'gb')
    await sampler.stop()
    for (const m of members) await stopMember(m)
    const r = checkAtLeastOnce('(b)', members, acked, ends, sampler.samples)
    t.diagnostic(
      `acked ${acked.length} (failed ${failed}), reprocessed ${r.duplicates}, ${r.checked} offset checks`,
    )
    for (const m of members)
      assert.ok(!m.events().some((e) => e.fatal), `${m.name} failed: ${JSON.stringify(m.events())}`)
  })

  it('(c) two groups on one topic each receive every record; (d) the groups CLI', async () => {
    await createTopic('gc', 4)
    const work = load('gc', 4, 5)
    await waitFor('200 records acked', () => work.acked.length >= 200 || undefined)
    const { acked } = await work.stop()
    const total = acked.length
    const a = startMember('gc-a', 'gc-a', 'gc', 'range')
    const b = start([
      'consume',
      'gc',
      '--group',
      'gc-b',
      '--from-beginning',
      '--format',
      'json',
      '--max-messages',
      String(total),
      '--timeout-ms',
      '30000',
      '--bootstrap',
      bootstrap.join(','),
    ])
    children.add(b.child)
    assert.equal(await exited(b.child, 60_000), 0, b.output())
    const fromCli = b
      .output()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { partition: number; offset: number })
    const cliSeen = new Set(fromCli.map((r) => `${r.partition}/${r.offset}`))
    for (const x of acked)
      assert.ok(cliSeen.has(`${x.partition}/${x.offset}`), `group gc-b missed ${x.partition}/${x.offset}`)
    const ends = await waitCaughtUp('gc-a', 'gc')
    const aSeen = processed([a])
    for (const x of acked)
      assert.ok(aSeen.get(x.partition)?.has(x.offset), `group gc-a missed ${x.partition}/${x.offset}`)
    await waitCaughtUp('gc-b', 'gc')

    // (d) list, describe, --json
    const on = ['--bootstrap', bootstrap.join(',')]
    const list = cairnOk(['groups', 'list', ...on])
    assert.match(list, /^GROUP\s+STATE\s+COORDINATOR$/m)
    assert.match(list, /^gc-a\s+Stable\s+\d$/m)
    assert.match(list, /^gc-b\s+Empty\s+\d$/m)
    const listed = JSON.parse(cairnOk(['groups', 'list', '--json', ...on])) as {
      groupId: string
      state: string
    }[]
    assert.deepEqual(
      listed.filter((g) => g.groupId.startsWith('gc-')).map((g) => [g.groupId, g.state]),
      [
        ['gc-a', 'Stable'],
        ['gc-b', 'Empty'],
      ],
    )
    const described = cairnOk(['groups', 'describe', 'gc-a', ...on])
    assert.match(described, /^GROUP gc-a {2}STATE Stable {2}PROTOCOL range {2}MEMBERS 1 {2}COORDINATOR \d$/m)
    assert.match(described, /^TOPIC\s+PARTITION\s+MEMBER\s+COMMITTED\s+LOG-END\s+LAG$/m)
    for (const [p, end] of ends)
      assert.match(described, new RegExp(`^gc\\s+${p}\\s+groups-test-\\S+\\s+${end}\\s+${end}\\s+0$`, 'm'))
    const json = JSON.parse(cairnOk(['groups', 'describe', 'gc-b', '--json', ...on])) as GroupDescription
    assert.equal(json.state, 'Empty')
    assert.deepEqual(
      json.partitions.map((p) => [p.partition, p.memberId, p.committed, p.logEndOffset, p.lag]),
      [...ends].map(([p, end]) => [p, null, end, end, 0]),
    )
    const missing = cairn(['groups', 'describe', 'no-such-group', ...on])
    assert.equal(missing.status, 1)
    assert.equal(missing.stderr.trim(), "cairn: consumer group 'no-such-group' does not exist")

    // reset-offsets: refused while the group has members; a dry run changes nothing; --execute does.
    const active = cairn(['groups', 'reset-offsets', 'gc-a', '--topic', 'gc', '--to-earliest', ...on])
    assert.equal(active.status, 1)
    assert.equal(active.stderr.trim().split('\n').length, 1, active.stderr)
    assert.match(active.stderr, /NON_EMPTY_GROUP|inactive, but the current state is Stable/)
    const dry = cairn(['groups', 'reset-offsets', 'gc-b', '--topic', 'gc', '--to-earliest', ...on])
    assert.equal(dry.status, 0, dry.stderr)
    assert.match(dry.stdout, /^TOPIC\s+PARTITION\s+CURRENT-OFFSET\s+NEW-OFFSET$/m)
    for (const [p, end] of ends) assert.match(dry.stdout, new RegExp(`^gc\\s+${p}\\s+${end}\\s+0$`, 'm'))
    assert.match(dry.stderr, /dry run, nothing changed/)
    assert.deepEqual(
      (await admin.fetchOffsets('gc-b')).map((o) => o.offset),
      [...ends.values()],
      'a dry run changes nothing',
    )
    cairnOk(['groups', 'reset-offsets', 'gc-b', '--topic', 'gc', '--to-offset', '10', '--execute', ...on])
    assert.deepEqual(
      (await admin.fetchOffsets('gc-b')).map((o) => o.offset),
      [...ends.values()].map((end) => Math.min(10, end)),
    )
    const byDuration = cairnOk([
      'groups',
      'reset-offsets',
      'gc-b',
      '--topic',
      'gc',
      '--by-duration',
      'PT1H',
      '--json',
      ...on,
    ])
    assert.deepEqual(
      (JSON.parse(byDuration) as { newOffset: number }[]).map((x) => x.newOffset),
      [...ends.values()].map(() => 0),
    )
    // The group resumes where the reset put it.
    const resumed = cairnOk([
      'consume',
      'gc',
      '--group',
      'gc-b',
      '--format',
      'json',
      '--max-messages',
      '8',
      '--timeout-ms',
      '20000',
      ...on,
    ])
    for (const line of resumed.trim().split('\n'))
      assert.ok((JSON.parse(line) as { offset: number }).offset >= 10, line)

    // delete: refused while active, done when empty.
    const busy = cairn(['groups', 'delete', 'gc-a', ...on])
    assert.equal(busy.status, 1)
    assert.match(busy.stderr, /^cairn: could not delete group 'gc-a': NON_EMPTY_GROUP/)
    assert.match(cairnOk(['groups', 'delete', 'gc-b', ...on]), /^deleted group gc-b$/m)
    assert.doesNotMatch(cairnOk(['groups', 'list', ...on]), /^gc-b\s/m)
    const again = cairn(['groups', 'delete', 'gc-b', ...on])
    assert.match(again.stderr, /GROUP_ID_NOT_FOUND/)
    await stopMember(a)
  })

  it('(e) rebalance latency: a 5th member joins 4 on 16 partitions', async (t) => {
    await createTopic('ge', 16)
    const work = load('ge', 16, 20)
    const figures: string[] = []
    try {
      for (let run = 0; run < REBALANCE_RUNS; run++)
        for (const strategy of ['range', 'cooperative-sticky']) {
          const f = await measureRebalance(`ge-${strategy}-${run}`, strategy)
          figures.push(
            `${strategy.padEnd(18)} rebalance ${pad(f.latencyMs)} ms; a record produced meanwhile waited at most ${pad(f.unmovedWaitMs)} ms on the ${f.unmoved} partitions that stayed, ${pad(f.movedWaitMs)} ms on the ${f.moved} that moved (steady state ${f.steadyWaitMs} ms)`,
          )
          if (strategy === 'cooperative-sticky') {
            // The partitions that stay are consumed throughout: none waits for the rebalance.
            assert.equal(f.unmoved, 13)
            assert.equal(
              f.consumedDuring,
              f.busy,
              `only ${f.consumedDuring} of the ${f.busy} partitions that stayed and had records were consumed during the rebalance`,
            )
          }
        }
    } finally {
      await work.stop()
    }
    for (const line of figures) {
      t.diagnostic(line)
      console.log(`rebalance latency: ${line}`)
    }
  })
})

/**
 * Heartbeats every 100 ms (how soon a member notices a rebalance); a new group starts at the log
 * end; auto-commit at Kafka's 5 s.
 */
const latencyMember = { heartbeatIntervalMs: 100, reset: 'latest', autoCommitIntervalMs: 5000 } as const

/** Four members, then a fifth: how long until everyone holds their new assignment, and what paused. */
async function measureRebalance(group: string, strategy: string) {
  const members = [1, 2, 3, 4].map((k) => startMember(`${group}-${k}`, group, 'ge', strategy, latencyMember))
  try {
    await waitSpread(members)
    // Steady state: every partition caught up (within 10 records of its end) and flowing.
    await waitFor('every partition caught up', async () => {
      const ends = await admin.listOffsets('ge', 'latest')
      const seen = processed(members)
      const now = Date.now()
      const ok = ends.every(({ partition, offset }) => {
        const byOffset = seen.get(partition)
        return (
          byOffset &&
          Math.max(...byOffset.keys()) >= offset - 10 &&
          now - Math.max(...byOffset.values()) < 200
        )
      })
      return ok || undefined
    })
    const before = new Map<number, string>()
    for (const m of members) for (const p of lastAssignment(m)!) before.set(p, m.name)
    const startedAt = Date.now()
    const fifth = startMember(`${group}-5`, group, 'ge', strategy, latencyMember)
    members.push(fifth)
    await waitSpread(members)
    // From the new member's JoinGroup with its id (the first, without, is answered MEMBER_ID_REQUIRED).
    const t0 = fifth.events().find((e) => e.e === 'joining' && e.member !== '')!.t
    if (process.env.CAIRN_GROUPS_DEBUG)
      for (const m of members)
        for (const e of m.events().filter((x) => x.t >= t0 - 50))
          console.log(`${m.name} +${e.t - t0} ms ${e.e} ${e.partitions?.join(',') ?? ''} ${e.message ?? ''}`)
    // When each member whose assignment changed first held its final one.
    let end = t0
    const after = new Map<number, string>()
    for (const m of members) {
      const final = lastAssignment(m)!
      for (const p of final) after.set(p, m.name)
      const previous = [...before].filter(([, name]) => name === m.name).map(([p]) => p)
      if (previous.length === final.length && previous.every((p) => final.includes(p))) continue
      const first = m.events().find((e) => e.e === 'assigned' && e.t >= t0 && sameSet(e.partitions!, final))!
      end = Math.max(end, first.t)
    }
    // What the rebalance delayed is in the files once every partition has processed a record
    // created after it.
    const records = () =>
      members.flatMap((m) =>
        readFileSync(m.out, 'utf8')
          .split('\n')
          .filter((line) => line !== '')
          .map((line) => {
            const [p, , processedAt, createdAt] = line.split(' ').map(Number) as [
              number,
              number,
              number,
              number,
            ]
            return { p, processedAt, createdAt }
          }),
      )
    const seen = await waitFor('every partition to process a record created after the rebalance', () => {
      const rs = records()
      const after = new Set(rs.filter((r) => r.createdAt > end).map((r) => r.p))
      return after.size === 16 ? rs : undefined
    })
    const unmoved = new Set([...after].filter(([p, name]) => before.get(p) === name).map(([p]) => p))
    const waitedMax = (keep: (r: { p: number; createdAt: number }) => boolean) =>
      Math.max(0, ...seen.filter(keep).map((r) => r.processedAt - r.createdAt))
    const during = (r: { createdAt: number }) => r.createdAt >= t0 && r.createdAt <= end
    // Partitions that stayed and had records created during the rebalance: did they process any before it ended?
    const busy = [...unmoved].filter((p) =>
      seen.some((r) => r.p === p && r.createdAt >= t0 && r.createdAt <= end - 50),
    )
    const consumedDuring = busy.filter((p) =>
      seen.some((r) => r.p === p && r.processedAt > t0 && r.processedAt < end),
    ).length
    return {
      latencyMs: end - t0,
      /** Longest a record created during the rebalance waited to be processed, on partitions that stayed. */
      unmovedWaitMs: waitedMax((r) => unmoved.has(r.p) && during(r)),
      movedWaitMs: waitedMax((r) => !unmoved.has(r.p) && during(r)),
      /** The same in the second before the fifth member started. */
      steadyWaitMs: waitedMax((r) => r.createdAt >= startedAt - 1000 && r.createdAt < startedAt),
      busy: busy.length,
      consumedDuring,
      moved: 16 - unmoved.size,
      unmoved: unmoved.size,
    }
  } finally {
    await Promise.all(members.map((m) => stopMember(m).catch(() => undefined)))
  }
}

const pad = (ms: number) => String(ms).padStart(4)

/** Each member's last assignment, as it reported it: 16 partitions, each once, evenly spread. */
function waitSpread(members: Member[]) {
  const fair = [Math.floor(16 / members.length), Math.ceil(16 / members.length)]
  return waitFor(
    `${members.length} members holding 16 partitions evenly`,
    () => {
      const a = members.map((m) => lastAssignment(m) ?? [])
      const flat = a.flat()
      return (
        (a.every((x) => fair.includes(x.length)) && flat.length === 16 && new Set(flat).size === 16) ||
        undefined
      )
    },
    40_000,
  )
}

function sameSet(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x))
}
