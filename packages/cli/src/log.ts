import type { Logger } from '@cairn/transport'

/** One line per event on stderr: `time name level message {fields}`. */
export function stderrLogger(name: string): Logger {
  const line = (level: string, message: string, fields?: Record<string, unknown>) => {
    const extra = fields && Object.keys(fields).length > 0 ? ` ${JSON.stringify(fields)}` : ''
    process.stderr.write(`${new Date().toISOString()} ${name} ${level} ${message}${extra}\n`)
  }
  return {
    info: (m, f) => line('info', m, f),
    warn: (m, f) => line('warn', m, f),
    error: (m, f) => line('error', m, f),
  }
}
