/**
 * Deliberate defects for proving that the fault-injection harness can fail. Never on by default:
 * `cairn node start --unsafe-test-bug NAME` refuses unless CAIRN_ALLOW_TEST_BUGS=1 and logs a
 * warning on every start. Each breaks exactly one promise the checker watches:
 * - `ack-before-commit`: acks=all is answered once the leader's own append is durable, before a
 *   quorum has it (→ lost writes when that leader is cut off or dies);
 * - `serve-uncommitted`: fetch serves batches past the high watermark (→ reads of values that a
 *   new leader later replaces: inconsistent offsets, reads of failed sends).
 */
export const UNSAFE_TEST_BUGS = ['ack-before-commit', 'serve-uncommitted'] as const
export type UnsafeTestBug = (typeof UNSAFE_TEST_BUGS)[number]

export function isUnsafeTestBug(name: string): name is UnsafeTestBug {
  return (UNSAFE_TEST_BUGS as readonly string[]).includes(name)
}
