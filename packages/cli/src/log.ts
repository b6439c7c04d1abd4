import type { ChildProcess } from 'node:child_process'
import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import type { Logger } from '@cairn/transport'
import { destination, pino } from 'pino'

/** Structured logs: one JSON object per line on stderr (pino), with the node's name. */
export function stderrLogger(name: string): Logger {
  const log = pino({ name, base: { pid: process.pid } }, destination({ fd: 2, sync: false }))
  return {
    info: (message, fields) => log.info(fields ?? {}, message),
    warn: (message, fields) => log.warn(fields ?? {}, message),
    error: (message, fields) => log.error(fields ?? {}, message),
  }
}

/** Bytes read from the end of a node's log for the reason it stopped. */
const LOG_TAIL_BYTES_MAX = 4096

/**
 * Why a node stopped, if it said: the last line of its log when that is the CLI's one-line error
 * (`cairn: …`), without the prefix.
 */
export function lastErrorLine(logFile: string): string | undefined {
  let text: string
  try {
    const fd = openSync(logFile, 'r')
    try {
      const size = fstatSync(fd).size
      const bytes = Buffer.alloc(Math.min(size, LOG_TAIL_BYTES_MAX))
      readSync(fd, bytes, 0, bytes.length, size - bytes.length)
      text = bytes.toString('utf8')
    } finally {
      closeSync(fd)
    }
  } catch {
    return undefined
  }
  const last = text.trimEnd().split('\n').at(-1) ?? ''
  return last.startsWith('cairn: ') ? last.slice('cairn: '.length) : undefined
}

/** How a child process ended: its signal (`SIGKILL`) or `code N`; null while it runs. */
export function exitStatus(child: ChildProcess): string | null {
  return child.signalCode ?? (child.exitCode === null ? null : `code ${child.exitCode}`)
}

/** ` (code 1): <its last error line>` or ` (code 1)`: how a node that exited is reported. */
export function exitReason(status: string, logFile: string): string {
  const reason = lastErrorLine(logFile)
  return reason === undefined ? ` (${status})` : ` (${status}): ${reason}`
}
