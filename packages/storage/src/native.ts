import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

/** Which LevelDB binary classic-level loads in this process, and how it checksums. */
export interface LevelDbBuild {
  /** `source`: built on this machine by `scripts/build-leveldb.mjs`; `prebuilt`: classic-level's own. */
  readonly binary: 'source' | 'prebuilt'
  /** How LevelDB computes the CRC-32C of its log records and table blocks. */
  readonly crc32c: 'sse4.2' | 'software'
  /** One line for a node's startup log. */
  readonly description: string
}

/** Written beside the built binary by `scripts/build-leveldb.mjs` (the same name there). */
const MARKER = 'cairn-build.json'

/**
 * The LevelDB binary classic-level loads, found the way its loader (node-gyp-build) finds it: a
 * `.node` file in `build/Release` first, unless PREBUILDS_ONLY is set, then `prebuilds/`.
 * `release` is classic-level's `build/Release` unless given (tests).
 */
export function levelDbBuild(
  release = join(
    dirname(createRequire(import.meta.url).resolve('classic-level/package.json')),
    'build',
    'Release',
  ),
): LevelDbBuild {
  const built =
    !process.env.PREBUILDS_ONLY &&
    existsSync(release) &&
    readdirSync(release).some((f) => f.endsWith('.node'))
  if (built && existsSync(join(release, MARKER))) {
    const marker = readMarker(join(release, MARKER))
    if (marker.crc32c === 'sse4.2')
      return {
        binary: 'source',
        crc32c: 'sse4.2',
        description: `LevelDB ${String(marker.leveldb)} built here with the SSE 4.2 CRC-32C`,
      }
  }
  if (built)
    return { binary: 'source', crc32c: 'software', description: 'LevelDB built here (software CRC-32C)' }
  return {
    binary: 'prebuilt',
    crc32c: 'software',
    description:
      "classic-level's prebuilt LevelDB (software CRC-32C; packages/storage/scripts/build-leveldb.mjs builds the faster one)",
  }
}

/** The build's marker; an unreadable one says nothing (a node must not fail to start over it). */
function readMarker(file: string): { crc32c?: unknown; leveldb?: unknown } {
  try {
    const marker: unknown = JSON.parse(readFileSync(file, 'utf8'))
    return typeof marker === 'object' && marker !== null ? marker : {}
  } catch {
    return {}
  }
}
