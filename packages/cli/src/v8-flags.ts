/**
 * V8 flags every `cairn node start` process gets from the commands that start nodes (`cairn
 * cluster up`, `cairn bench`'s local cluster) and the `cairn` binary's own shebang, as Kafka's
 * start scripts pass the JVM its GC options.
 *
 * `--max-semi-space-size=64` (MiB; V8's default is 16): a broker allocates a buffer or an object
 * for every frame, batch and Raft message, and most die within a few milliseconds, but with a
 * small young generation many are still alive at a scavenge, get promoted and are then collected
 * by the much dearer mark-compact. Measured with `cairn bench produce --partitions 16
 * --record-size 100 --records 1000000`, 3 runs each (BENCHMARKS.md, 2026-11-26): 219k records/s
 * without it, 235k with 32, 244k with 64, 254k with 128. The young generation grows to this only
 * under allocation pressure; `cairn bench idle --partitions 3000` shows RSS up to 276 MB per node
 * (177–221 MB without), within its 400 MB bound.
 */
export const NODE_V8_FLAGS: readonly string[] = ['--max-semi-space-size=64']
