/**
 * What the producer's and the consumer's configs share: Kafka's dotted names as the only keys, an
 * unknown key refused with the Kafka name it probably meant, and integers checked against Kafka's
 * ranges. Each config keeps its own table of names, defaults and cross-checks.
 */
import { ConfigError } from './errors.js'

/** 'linger.ms' → 'lingerms', 'lingerMs' → 'lingerms': how a camelCase or snake spelling is recognised. */
function squashed(name: string): string {
  return name.replace(/[._-]/g, '').toLowerCase()
}

/** The keys one kind of config takes. */
export class KafkaConfigNames {
  private readonly known: ReadonlySet<string>
  private readonly bySquashedName: ReadonlyMap<string, string>

  constructor(
    /** 'producer', 'consumer': how errors name the config. */
    private readonly kind: string,
    names: Iterable<string>,
    /** A name to show as the example in the error. */
    private readonly example: string,
  ) {
    this.known = new Set(names)
    this.bySquashedName = new Map([...this.known].map((k) => [squashed(k), k]))
  }

  has(key: string): boolean {
    return this.known.has(key)
  }

  /** Throws a ConfigError for the first key that is not one of the names. */
  check(config: object): void {
    for (const key of Object.keys(config)) {
      if (this.known.has(key)) continue
      const meant = this.bySquashedName.get(squashed(key))
      const hint = meant ? `; did you mean '${meant}'?` : ''
      throw new ConfigError(
        `Unknown ${this.kind} config '${key}': Cairn takes Kafka's names (e.g. '${this.example}')${hint}`,
      )
    }
  }
}

/**
 * An integer setting in min..max (Kafka's `atLeast`/`between`). With `fromString`, a decimal
 * string is read too, as Kafka reads a properties file.
 */
export function integerSetting(
  key: string,
  value: unknown,
  min: number,
  max: number,
  fromString = false,
): number {
  const n = fromString && typeof value === 'string' && /^-?\d+$/.test(value.trim()) ? Number(value) : value
  if (typeof n !== 'number' || !Number.isInteger(n) || n < min || n > max)
    throw new ConfigError(
      `Invalid value ${String(value)} for configuration ${key}: must be an integer in ${min}..${max}`,
    )
  return n
}
