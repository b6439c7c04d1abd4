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
 *
 * `--initial-heap-size=256` (MiB): V8 counts the bytes of ArrayBuffers allocated since the last
 * mark-compact against the old generation's limit, and that limit starts from the live heap, which
 * is small (15–25 MB). Every frame, batch and response a node handles is such a buffer, so at
 * 10 MB/s each node ran a mark-compact every ~170 ms (3–26 ms each, `--trace-gc`). Starting the
 * limit at 256 MiB makes it one every ~4 s. Measured (BENCHMARKS.md, 2026-11-26, evening): 1 KiB
 * max rate 42 → 51–53 MB/s, 100 B 260–271k → 304–324k records/s, 10,000 records/s of 1 KiB publish
 * p99 74–119 → 42–69 ms; idle RSS 303 MB per node.
 */
export const NODE_V8_FLAGS: readonly string[] = ['--max-semi-space-size=64', '--initial-heap-size=256']
