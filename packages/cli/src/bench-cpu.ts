/**
 * What a bench run costs in CPU: the bench process's own (`process.cpuUsage`) and, when the bench
 * started the cluster itself on Linux, each node process's (utime + stime of /proc/PID/stat, all
 * its threads: LevelDB's and libuv's included). At a fixed rate the tail follows the machine's
 * load, so each run says how busy its processes were, and what a megabyte cost.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'

const CLOCK_TICKS_PER_S_DEFAULT = 100

export function clockTicksPerS(): number {
  try {
    const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim())
    return Number.isSafeInteger(n) && n > 0 ? n : CLOCK_TICKS_PER_S_DEFAULT
  } catch {
    return CLOCK_TICKS_PER_S_DEFAULT
  }
}

/** utime + stime of a process, in clock ticks. The command name may hold spaces and parentheses: split after the last ')'. */
export function cpuTicks(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // Fields from the 3rd (state); utime and stime are the 14th and 15th.
  const utime = Number(fields[14 - 3])
  const stime = Number(fields[15 - 3])
  if (!Number.isFinite(utime) || !Number.isFinite(stime)) throw new Error('unreadable /proc/PID/stat')
  return utime + stime
}

/** voluntary + nonvoluntary context switches in one /proc/PID/task/TID/status. */
export function threadContextSwitches(status: string): number {
  const voluntary = /^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status)
  const nonvoluntary = /^nonvoluntary_ctxt_switches:\s+(\d+)$/m.exec(status)
  if (!voluntary || !nonvoluntary) throw new Error('no ctxt_switches in /proc/PID/task/TID/status')
  return Number(voluntary[1]) + Number(nonvoluntary[1])
}

/**
 * Context switches of every thread of `pid` so far (a thread that exits takes its count with it);
 * null if the process is gone. Each is a thread that slept (a wait for the network, the disk, a
 * lock or work) or was preempted: what a write costs beyond its CPU when processes share cores.
 */
export function contextSwitches(pid: number): number | null {
  try {
    let total = 0
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        total += threadContextSwitches(readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8'))
      } catch {
        // The thread exited between the listing and the read.
      }
    }
    return total
  } catch {
    return null
  }
}

/** VmRSS in bytes. */
export function rssBytes(status: string): number {
  const m = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status)
  if (!m) throw new Error('no VmRSS in /proc/PID/status')
  return Number(m[1]) * 1024
}

/** CPU over a phase, in % of one core. */
export interface CpuUse {
  /** How long the phase lasted. */
  seconds: number
  bench: number
  /** Per node, in the cluster's order; null when the nodes are not this bench's processes (--bootstrap) or /proc is missing. */
  nodes: number[] | null
  /** Context switches of the bench and its nodes together over the phase; null when `nodes` is. */
  contextSwitches: number | null
}

function nodeTicks(pid: number): number | null {
  try {
    return cpuTicks(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return null // exited meanwhile: its share is unknown
  }
}

/** Starts measuring now; the function returned tells the use since. `nodePids` empty: the bench only. */
export function cpuMeter(nodePids: readonly number[]): () => CpuUse {
  const startMs = performance.now()
  const start = process.cpuUsage()
  const watchNodes = nodePids.length > 0 && existsSync('/proc/self/stat')
  const ticksPerS = watchNodes ? clockTicksPerS() : CLOCK_TICKS_PER_S_DEFAULT
  const first = watchNodes ? nodePids.map(nodeTicks) : []
  const pids = [process.pid, ...nodePids]
  const switchesAt = () => {
    let total = 0
    for (const pid of pids) {
      const n = contextSwitches(pid)
      if (n === null) return null
      total += n
    }
    return total
  }
  const firstSwitches = watchNodes ? switchesAt() : null
  return () => {
    const ms = performance.now() - startMs
    const percent = (cpuMs: number) => (ms > 0 ? (cpuMs / ms) * 100 : 0)
    const used = process.cpuUsage(start)
    const bench = percent((used.user + used.system) / 1000)
    const seconds = ms / 1000
    const unknown = { seconds, bench, nodes: null, contextSwitches: null }
    if (!watchNodes) return unknown
    const nodes: number[] = []
    for (const [k, pid] of nodePids.entries()) {
      const before = first[k]
      const now = nodeTicks(pid)
      if (before === null || before === undefined || now === null) return unknown
      nodes.push(percent(((now - before) / ticksPerS) * 1000))
    }
    const switches = switchesAt()
    const contextSwitches = firstSwitches === null || switches === null ? null : switches - firstSwitches
    return { seconds, bench, nodes, contextSwitches }
  }
}

/**
 * CPU milliseconds of the bench and every node together per MB of record values carried in the
 * phase; null without the nodes' figures or without data.
 */
export function cpuMsPerMb(use: CpuUse, megabytes: number): number | null {
  const cpuMs = totalCpuMs(use)
  return cpuMs === null || megabytes <= 0 ? null : cpuMs / megabytes
}

/** CPU milliseconds of the bench and every node together over the phase; null without the nodes'. */
function totalCpuMs(use: CpuUse): number | null {
  if (use.nodes === null) return null
  const percent = use.bench + use.nodes.reduce((a, b) => a + b, 0)
  return (percent / 100) * use.seconds * 1000
}

/**
 * What one produce request cost the bench and its nodes together: CPU milliseconds and context
 * switches. Without `linger.ms` a fixed-rate run sends about a request per event-loop turn
 * whatever the record rate, so this, more than the megabytes, is what fills the cores. Null
 * without the nodes' figures or without requests.
 */
export function costPerRequest(
  use: CpuUse,
  requests: number,
): { cpuMs: number; contextSwitches: number } | null {
  const cpuMs = totalCpuMs(use)
  if (cpuMs === null || use.contextSwitches === null || requests <= 0) return null
  return { cpuMs: cpuMs / requests, contextSwitches: use.contextSwitches / requests }
}

/** "41/44/43": each node's % of a core, or "-" without them. */
export function nodesCpuCell(use: CpuUse): string {
  return use.nodes === null ? '-' : use.nodes.map((p) => p.toFixed(0)).join('/')
}
