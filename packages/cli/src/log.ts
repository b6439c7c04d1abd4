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
