/**
 * Deliberate defects, for proving that the simulation's checker can fail. Only the simulator
 * (src/sim, inside this package) switches them on: this module is not in the package's `exports`
 * map, so no node, configuration or other package can reach it.
 */
export const DEFECT_NAMES = [
  'commit-old-term',
  'vote-before-persist',
  'ack-before-fsync',
  'ignore-peer-down',
  'apply-config-early',
] as const
export type DefectName = (typeof DEFECT_NAMES)[number]

const active = new Set<DefectName>()

export function hasDefect(name: DefectName): boolean {
  return active.size > 0 && active.has(name)
}

/** Simulation only. */
export function setDefects(names: readonly DefectName[]): void {
  active.clear()
  for (const name of names) active.add(name)
}

export function isDefectName(name: string): name is DefectName {
  return (DEFECT_NAMES as readonly string[]).includes(name)
}
