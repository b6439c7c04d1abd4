/**
 * RecordBatch v2 micro benchmark, one thread:
 *
 *   encode    1,000-record batches, 100-byte values, null keys, no headers: records/s
 *   broker    16 KiB batches: validateProducedBatch (header, size, CRC) + setBaseOffset: MB/s
 *   consumer  the same 16 KiB batches through decodeRecords: records/s and MB/s
 *   crc32c    the CRC alone over the same bytes, the broker's floor
 *
 *   node --import tsx bench/record-batch.ts [secondsPerRun] [runs]
 *
 * Each run is timed after a 0.5 s warm-up of the same loop; every figure of every run is printed.
 */
import {
  crc32c,
  decodeRecords,
  encodeRecordBatch,
  type ProducerRecord,
  setBaseOffset,
  validateProducedBatch,
} from '../src/index.js'

const secondsPerRun = Number(process.argv[2] ?? 3)
const runs = Number(process.argv[3] ?? 3)
const valueBytes = 100
const recordsPerEncodedBatch = 1_000
const brokerBatchBytesMax = 16 * 1024

const value = Uint8Array.from({ length: valueBytes }, (_, i) => (i * 31) & 0xff)
const timestamp0 = 1_700_000_000_000
const records = (n: number): ProducerRecord[] =>
  Array.from({ length: n }, (_, i) => ({ key: null, value, timestamp: timestamp0 + i }))

/** Call `step` until `seconds` have passed; returns the calls made and the seconds taken. */
function timed(seconds: number, step: () => void): { calls: number; seconds: number } {
  const start = performance.now()
  const deadline = start + seconds * 1000
  let calls = 0
  // Check the clock every 16 calls: performance.now() costs as much as a small step.
  while (performance.now() < deadline) for (let i = 0; i < 16; i++, calls++) step()
  return { calls, seconds: (performance.now() - start) / 1000 }
}

function measure(name: string, step: () => void, report: (calls: number, seconds: number) => string): void {
  timed(0.5, step)
  for (let run = 1; run <= runs; run++) {
    const { calls, seconds } = timed(secondsPerRun, step)
    console.log(`${name} run ${run}: ${report(calls, seconds)}`)
  }
}

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
let sink = 0

const toEncode = records(recordsPerEncodedBatch)
const encodedBytes = encodeRecordBatch({ records: toEncode }).length
console.log(
  `encode: ${recordsPerEncodedBatch} records of ${valueBytes} B per batch, ${fmt(encodedBytes)} B batches`,
)
measure(
  'encode',
  () => {
    sink ^= encodeRecordBatch({ records: toEncode }).length
  },
  (calls, seconds) =>
    `${fmt((calls * recordsPerEncodedBatch) / seconds)} records/s, ${fmt((calls * encodedBytes) / seconds / 1e6)} MB/s`,
)

// The most 100-byte records that fit in 16 KiB.
let perBatch = 1
while (encodeRecordBatch({ records: records(perBatch + 1) }).length <= brokerBatchBytesMax) perBatch++
const batch = encodeRecordBatch({ records: records(perBatch) })
console.log(`broker and consumer: ${perBatch} records per batch, ${fmt(batch.length)} B batches`)
let nextOffset = 0
measure(
  'broker validate + setBaseOffset',
  () => {
    const checked = validateProducedBatch(batch)
    if (!checked.ok) throw new Error(checked.reason)
    setBaseOffset(batch, nextOffset)
    nextOffset += checked.value.recordCount
  },
  (calls, seconds) =>
    `${fmt((calls * batch.length) / seconds / 1e6)} MB/s (${fmt(calls / seconds)} batches/s, ${((seconds / calls) * 1e6).toFixed(2)} µs each)`,
)

measure(
  'consumer decodeRecords',
  () => {
    const decoded = decodeRecords(batch)
    if (!decoded.ok) throw new Error(decoded.reason)
    sink ^= decoded.value.records.length
  },
  (calls, seconds) =>
    `${fmt((calls * perBatch) / seconds)} records/s, ${fmt((calls * batch.length) / seconds / 1e6)} MB/s`,
)

measure(
  'crc32c alone',
  () => {
    sink ^= crc32c(batch, 21)
  },
  (calls, seconds) => `${fmt((calls * (batch.length - 21)) / seconds / 1e6)} MB/s`,
)

if (sink === 0.5) console.log(sink) // keeps the results observable
