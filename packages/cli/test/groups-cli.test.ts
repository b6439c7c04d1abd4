/** The groups command's own parsing and printing, without a cluster. */
import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import { parseIsoDuration, table } from '../src/groups-command.js'
import { cairn } from './helpers.js'

describe('cairn groups, offline', () => {
  it('reads --by-duration as Kafka does, ISO-8601 PnDTnHnMnS', () => {
    assert.equal(parseIsoDuration('PT10M'), 600_000)
    assert.equal(parseIsoDuration('P1DT2H'), 93_600_000)
    assert.equal(parseIsoDuration('PT1.5S'), 1500)
    assert.equal(parseIsoDuration('pt30s'), 30_000)
    for (const bad of ['10m', 'P', 'PT', 'P1H', 'PT-5M', ''])
      assert.throws(() => parseIsoDuration(bad), /ISO-8601 duration/, bad)
  })

  it('prints aligned columns', () => {
    assert.equal(
      table(
        ['TOPIC', 'PARTITION', 'LAG'],
        [
          ['orders', 0, 12],
          ['o', 10, '-'],
        ],
      ),
      'TOPIC   PARTITION  LAG\norders  0          12\no       10         -',
    )
  })

  it('refuses a bad command line in one line, before connecting', () => {
    for (const [args, message] of [
      [['groups', 'reset-offsets', 'g', '--topic', 't'], /needs one of --to-earliest/],
      [['groups', 'reset-offsets', 'g', '--to-earliest'], /needs --topic T/],
      [
        ['groups', 'reset-offsets', 'g', '--topic', 't', '--to-latest', '--to-offset', '3'],
        /exclude each other/,
      ],
      [['groups', 'describe'], /needs a GROUP/],
      [['groups', 'frobnicate'], /unknown 'cairn groups frobnicate'/],
      [['consume', 't', '--group', 'g', '--partition', '0'], /exclude each other/],
      [['consume', 't', '--consumer-property', 'a=b'], /needs --group/],
    ] as const) {
      const r = cairn([...args, '--bootstrap', '127.0.0.1:1'])
      assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`)
      assert.match(r.stderr, message)
      assert.equal(r.stderr.trim().split('\n').length, 1)
    }
    assert.match(cairn(['groups', '--help']).stdout, /reset-offsets GROUP --topic T/)
  })
})
