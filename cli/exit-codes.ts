/**
 * Stable exit codes of the `bootfleet` CLI (README, "Exit codes"). Scripts
 * branch on these, so a code never changes meaning.
 */
import type { ErrorCode } from '../protocol/index.js';

export const ExitCode = {
  ok: 0,
  /** Any failure not listed below. */
  failure: 1,
  /** Wrong command line. */
  usage: 2,
  /** A signature, digest or trust check refused its input. */
  verificationFailed: 3,
  /** The action would overwrite something that must not be lost (a key). */
  refusedOverwrite: 4,
  /** The device (or the server, for a campaign) refused the transition: impossible from its current state (nothing was changed). */
  transitionRefused: 5,
  /** Another process (the daemon at work, another technician command) held the agent's data directory past `--wait`; nothing was changed. */
  busy: 6,
} as const;

const VERIFICATION_CODES: ReadonlySet<ErrorCode> = new Set<ErrorCode>(['BOOTFLEET_DIGEST_INVALID', 'BOOTFLEET_FETCH_DIGEST_MISMATCH', 'BOOTFLEET_UNPACK_DIFF_ID_MISMATCH', 'BOOTFLEET_ARCHIVE_DIGEST_MISMATCH']);

export function exitCodeFor(code: ErrorCode): number {
  if (code === 'BOOTFLEET_CLI_USAGE') return ExitCode.usage;
  if (code === 'BOOTFLEET_KEY_EXISTS') return ExitCode.refusedOverwrite;
  if (code === 'BOOTFLEET_AGENT_BUSY') return ExitCode.busy;
  if (code === 'BOOTFLEET_TRANSITION_INVALID' || code === 'BOOTFLEET_CAMPAIGN_TRANSITION_INVALID') return ExitCode.transitionRefused;
  if (code.startsWith('BOOTFLEET_SIG_') || VERIFICATION_CODES.has(code)) return ExitCode.verificationFailed;
  return ExitCode.failure;
}
