import assert from 'node:assert/strict'
import { describe, it } from 'node:test'
import {
  authHeaders,
  ChallengeCache,
  dialProof,
  randomToken,
  secretBytes,
  type VerifyContext,
  verifyDial,
} from '../src/auth.js'

const key = secretBytes('auth-test-secret-0123456789')

function context(challenges: ChallengeCache, nowMs = 0): VerifyContext {
  return { secret: key, self: 2, isPeer: (id) => id === 1 || id === 3, challenges, nowMs }
}

function headers(challenge: string, over: Record<string, string> = {}, from = 1, to = 2, k = key) {
  const nonce = randomToken()
  return {
    [authHeaders.from]: String(from),
    [authHeaders.to]: String(to),
    [authHeaders.challenge]: challenge,
    [authHeaders.nonce]: nonce,
    [authHeaders.proof]: dialProof(k, from, to, challenge, nonce),
    ...over,
  }
}

describe('handshake verification', () => {
  it('accepts a peer that proves the secret, once per challenge', () => {
    const cache = new ChallengeCache(5_000, 10)
    const challenge = cache.issue(0)
    const h = headers(challenge)
    assert.deepEqual((verifyDial(h, context(cache)) as { from: number }).from, 1)
    assert.equal(verifyDial(h, context(cache)), 'unknown, expired or reused challenge')
  })

  it('refuses a wrong secret, an unknown node, a wrong target, a stale or invented challenge', () => {
    const cache = new ChallengeCache(5_000, 10)
    const wrongKey = secretBytes('another-secret-0123456789')
    assert.equal(
      verifyDial(headers(cache.issue(0), {}, 1, 2, wrongKey), context(cache)),
      'wrong proof (secret mismatch)',
    )
    assert.equal(
      verifyDial(headers(cache.issue(0), {}, 7), context(cache)),
      'node 7 is not a configured peer',
    )
    assert.equal(
      verifyDial(headers(cache.issue(0), {}, 1, 3), context(cache)),
      'dialed node 3, this is node 2',
    )
    const old = cache.issue(0)
    assert.equal(verifyDial(headers(old), context(cache, 5_001)), 'unknown, expired or reused challenge')
    assert.equal(verifyDial(headers(randomToken()), context(cache)), 'unknown, expired or reused challenge')
  })

  it('spends a challenge on a failed attempt too', () => {
    const cache = new ChallengeCache(5_000, 10)
    const challenge = cache.issue(0)
    const wrongKey = secretBytes('another-secret-0123456789')
    assert.notEqual(typeof verifyDial(headers(challenge, {}, 1, 2, wrongKey), context(cache)), 'object')
    assert.equal(verifyDial(headers(challenge), context(cache)), 'unknown, expired or reused challenge')
  })

  it('refuses missing or malformed headers', () => {
    const cache = new ChallengeCache(5_000, 10)
    const good = headers(cache.issue(0))
    for (const [name, value] of [
      [authHeaders.from, '0'],
      [authHeaders.from, '1e3'],
      [authHeaders.from, '99999999999999999'],
      [authHeaders.to, ''],
      [authHeaders.nonce, 'short'],
      [authHeaders.proof, 'zz'],
      [authHeaders.challenge, `${'a'.repeat(43)}=`],
    ] as const) {
      assert.equal(
        verifyDial({ ...good, [name]: value }, context(cache)),
        'missing or malformed authentication headers',
        name,
      )
    }
    assert.equal(verifyDial({}, context(cache)), 'missing or malformed authentication headers')
  })

  it('keeps at most challengesMax challenges, forgetting the oldest', () => {
    const cache = new ChallengeCache(5_000, 3)
    const first = cache.issue(0)
    for (let i = 0; i < 3; i++) cache.issue(1)
    assert.equal(cache.size, 3)
    assert.equal(cache.consume(first, 1), false)
  })

  it('refuses secrets shorter than 16 bytes', () => {
    assert.throws(() => secretBytes('too-short'), RangeError)
  })
})
