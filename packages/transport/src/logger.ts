/** Where the transport says what it did to a connection and why. */
export interface Logger {
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
}

function line(message: string, fields?: Record<string, unknown>): string {
  return fields ? `${message} ${JSON.stringify(fields)}` : message
}

/** Warnings and errors to stderr; routine connection events are left out. */
export const consoleLogger: Logger = {
  info() {},
  warn: (message, fields) => console.warn(`cairn transport: ${line(message, fields)}`),
  error: (message, fields) => console.error(`cairn transport: ${line(message, fields)}`),
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {} }
