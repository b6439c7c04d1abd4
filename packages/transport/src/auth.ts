/**
 * Node-to-node authentication with a shared cluster secret: challenge-response over HMAC-SHA256,
 * mutual, with no reliance on synchronized clocks (clock offsets are one of the faults Cairn is
 * tested under).
 *
 *  1. The dialer fetches a challenge: `GET /cairn/v1/challenge` → header `x-cairn-challenge`,
 *     32 random bytes (base64url). The server remembers it for handshakeTimeoutMs, single use;
 *     at most challengesMax are kept (the oldest is forgotten first: its dialer just retries).
 *  2. The dialer upgrades `GET /cairn/v1/raft` with headers `x-cairn-from`, `x-cairn-to`,
 *     `x-cairn-challenge`, `x-cairn-nonce` (32 random bytes of its own) and
 *     `x-cairn-proof` = HMAC(secret, "cairn/v1 dial" | from | to | challenge | nonce).
 *  3. In its `upgrade` handler, before the WebSocket exists, the server checks: `to` is itself,
 *     `from` is a configured peer, the challenge is one it issued and has not seen used (it is
 *     consumed now, whatever the outcome), and the proof matches (constant-time compare). Any
 *     failure: HTTP 401 and the socket is destroyed; no frame is ever read.
 *  4. The server's 101 response carries `x-cairn-accept-proof` = HMAC(secret, "cairn/v1 accept" |
 *     from | to | challenge | nonce); the dialer checks it before sending a frame, so it never
 *     sends Raft traffic to an impostor.
 *
 * Replay: a captured upgrade names a challenge that was consumed when it was first used; a captured
 * challenge is useless without the secret. The connection, once open, is bound to `from`: every
 * frame on it must say it comes from that node. Not provided: confidentiality or integrity of the
 * frames after the handshake (an on-path attacker could hijack the TCP stream) — run the cluster
 * on a private network, or put TLS in front, for that.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import type { IncomingHttpHeaders } from 'node:http'
import type { NodeId } from '@cairn/protocol'
import { secretBytesMin } from './limits.js'

export const challengePath = '/cairn/v1/challenge'
export const raftPath = '/cairn/v1/raft'

export const authHeaders = {
  challenge: 'x-cairn-challenge',
  from: 'x-cairn-from',
  to: 'x-cairn-to',
  nonce: 'x-cairn-nonce',
  proof: 'x-cairn-proof',
  acceptProof: 'x-cairn-accept-proof',
} as const

const tokenPattern = /^[A-Za-z0-9_-]{43}$/ // 32 bytes, base64url without padding
const nodeIdPattern = /^[1-9][0-9]{0,15}$/
const proofPattern = /^[0-9a-f]{64}$/

export function secretBytes(secret: string | Uint8Array): Buffer {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : Buffer.from(secret)
  if (bytes.length < secretBytesMin)
    throw new RangeError(`the cluster secret must have at least ${secretBytesMin} bytes`)
  return bytes
}

export function randomToken(): string {
  return randomBytes(32).toString('base64url')
}

function hmac(
  secret: Buffer,
  role: 'dial' | 'accept',
  from: NodeId,
  to: NodeId,
  challenge: string,
  nonce: string,
) {
  return createHmac('sha256', secret)
    .update(`cairn/v1 ${role}\n${from}\n${to}\n${challenge}\n${nonce}`)
    .digest('hex')
}

export function dialProof(
  secret: Buffer,
  from: NodeId,
  to: NodeId,
  challenge: string,
  nonce: string,
): string {
  return hmac(secret, 'dial', from, to, challenge, nonce)
}

export function acceptProof(
  secret: Buffer,
  from: NodeId,
  to: NodeId,
  challenge: string,
  nonce: string,
): string {
  return hmac(secret, 'accept', from, to, challenge, nonce)
}

export function proofsEqual(a: string, b: string): boolean {
  const x = Buffer.from(a)
  const y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}

/** Challenges issued and not yet used, oldest first (a Map keeps insertion order). */
export class ChallengeCache {
  private readonly expiresAt = new Map<string, number>()

  constructor(
    private readonly ttlMs: number,
    private readonly sizeMax: number,
  ) {}

  issue(nowMs: number): string {
    this.evictExpired(nowMs)
    while (this.expiresAt.size >= this.sizeMax) {
      const oldest = this.expiresAt.keys().next().value as string
      this.expiresAt.delete(oldest)
    }
    const challenge = randomToken()
    this.expiresAt.set(challenge, nowMs + this.ttlMs)
    return challenge
  }

  /** True once per issued, unexpired challenge; it is forgotten either way. */
  consume(challenge: string, nowMs: number): boolean {
    const expiresAt = this.expiresAt.get(challenge)
    this.expiresAt.delete(challenge)
    return expiresAt !== undefined && nowMs <= expiresAt
  }

  get size(): number {
    return this.expiresAt.size
  }

  private evictExpired(nowMs: number): void {
    for (const [challenge, expiresAt] of this.expiresAt) {
      if (expiresAt >= nowMs) break // later entries were issued later and expire later
      this.expiresAt.delete(challenge)
    }
  }
}

export interface DialClaim {
  from: NodeId
  to: NodeId
  challenge: string
  nonce: string
  proof: string
}

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name]
  return typeof value === 'string' ? value : undefined
}

/** Parse the dialer's headers; undefined if any is missing or malformed. */
export function parseDialClaim(headers: IncomingHttpHeaders): DialClaim | undefined {
  const from = header(headers, authHeaders.from)
  const to = header(headers, authHeaders.to)
  const challenge = header(headers, authHeaders.challenge)
  const nonce = header(headers, authHeaders.nonce)
  const proof = header(headers, authHeaders.proof)
  if (!from || !to || !challenge || !nonce || !proof) return undefined
  if (!nodeIdPattern.test(from) || !nodeIdPattern.test(to)) return undefined
  if (!tokenPattern.test(challenge) || !tokenPattern.test(nonce) || !proofPattern.test(proof))
    return undefined
  const claim = { from: Number(from), to: Number(to), challenge, nonce, proof }
  return Number.isSafeInteger(claim.from) && Number.isSafeInteger(claim.to) ? claim : undefined
}

export interface VerifyContext {
  secret: Buffer
  self: NodeId
  isPeer: (id: NodeId) => boolean
  challenges: ChallengeCache
  nowMs: number
}

/** The node id the dialer proved it is, or why it did not. */
export function verifyDial(
  headers: IncomingHttpHeaders,
  ctx: VerifyContext,
): { from: NodeId; claim: DialClaim } | string {
  const claim = parseDialClaim(headers)
  if (!claim) return 'missing or malformed authentication headers'
  // Consume first: a challenge is spent by any attempt, so a failed guess cannot be retried with it.
  const fresh = ctx.challenges.consume(claim.challenge, ctx.nowMs)
  if (claim.to !== ctx.self) return `dialed node ${claim.to}, this is node ${ctx.self}`
  if (!ctx.isPeer(claim.from)) return `node ${claim.from} is not a configured peer`
  if (!fresh) return 'unknown, expired or reused challenge'
  const expected = dialProof(ctx.secret, claim.from, claim.to, claim.challenge, claim.nonce)
  if (!proofsEqual(claim.proof, expected)) return 'wrong proof (secret mismatch)'
  return { from: claim.from, claim }
}
