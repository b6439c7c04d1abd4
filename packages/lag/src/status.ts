/**
 * Burrow's status constants. Partitions are OK, WARN, STOP, STALL or REWIND; a group is the worst
 * of its partitions, with STOP, STALL and REWIND reported as ERR; NOTFOUND is a group nobody knows.
 * The JSON carries the names; Prometheus carries the codes.
 */

export const statusCodes = Object.freeze({
  NOTFOUND: 0,
  OK: 1,
  WARN: 2,
  ERR: 3,
  STOP: 4,
  STALL: 5,
  REWIND: 6,
})

export type StatusName = keyof typeof statusCodes
export type PartitionStatusName = 'OK' | 'WARN' | 'STOP' | 'STALL' | 'REWIND'
export type GroupStatusName = 'NOTFOUND' | 'OK' | 'WARN' | 'ERR'

export const statusNames = Object.freeze(
  Object.keys(statusCodes).sort(
    (a, b) => statusCodes[a as StatusName] - statusCodes[b as StatusName],
  ) as StatusName[],
)

export function statusCode(name: StatusName): number {
  return statusCodes[name]
}

export function isStatusName(value: unknown): value is StatusName {
  return typeof value === 'string' && Object.hasOwn(statusCodes, value)
}

/** A partition's status as its group sees it: the worst wins, and anything past ERR is ERR. */
export function groupStatusOf(partitionStatuses: Iterable<PartitionStatusName>): GroupStatusName {
  let worst: GroupStatusName = 'OK'
  for (const s of partitionStatuses) {
    const capped: GroupStatusName = statusCodes[s] > statusCodes.ERR ? 'ERR' : (s as 'OK' | 'WARN')
    if (statusCodes[capped] > statusCodes[worst]) worst = capped
  }
  return worst
}
