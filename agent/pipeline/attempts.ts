/**
 * The attempt counter (issue #5, Policies: "a maximum number of attempts"):
 * how many times the current target image failed on this device (rolled back
 * after activation, by its health checks, its activation command or too many
 * boots). An image that failed `maxAttempts` times is not tried again until
 * a newer one is targeted (another digest starts from zero) or an operator
 * clears the count (`bootfleet agent apply`, managed `check-now`).
 *
 * Kept in `<data>/attempts.json`, outside any deployment, so that it
 * survives restarts, rollbacks and factory resets; only the last failing
 * target is remembered. An unreadable file counts as no attempt: the counter
 * limits retries, it never protects anything.
 */
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Type, type Static } from 'typebox';
import { compileParser, DigestSchema, ErrorCodeSchema, parseJson } from '../../protocol/index.js';
import { writeFileAtomic } from '../content/atomic-write.js';

export const ATTEMPTS_FILE = 'attempts.json';
/** Failures of one target before the agent stops trying it (as greenboot's 3 boot attempts). */
export const DEFAULT_MAX_ATTEMPTS = 3;

const AttemptRecordSchema = Type.Object(
  {
    digest: DigestSchema,
    failures: Type.Integer({ minimum: 0, maximum: 1_000_000 }),
    lastCode: Type.Optional(ErrorCodeSchema),
    lastAtMs: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type AttemptRecord = Static<typeof AttemptRecordSchema>;

const parser = compileParser('attempt record', AttemptRecordSchema, 'BOOTFLEET_STATE_CORRUPT');

/** The failing target remembered, if any (`bootfleet agent status` shows it). */
export async function readAttemptRecord(dataDir: string): Promise<AttemptRecord | undefined> {
  try {
    return parser.parse(parseJson(await readFile(join(dataDir, ATTEMPTS_FILE)), 4096, ATTEMPTS_FILE));
  } catch {
    return undefined;
  }
}

/** Failures recorded for `digest` (0 for any other target). */
export async function attemptsFor(dataDir: string, digest: string): Promise<number> {
  const record = await readAttemptRecord(dataDir);
  return record?.digest === digest ? record.failures : 0;
}

/** Counts one more failure of `digest`; returns the new count. */
export async function recordFailedAttempt(dataDir: string, digest: string, code: string | undefined, nowMs: number): Promise<number> {
  const failures = (await attemptsFor(dataDir, digest)) + 1;
  const record: AttemptRecord = { digest, failures, lastAtMs: nowMs, ...(code === undefined ? {} : { lastCode: code }) };
  await writeFileAtomic(join(dataDir, ATTEMPTS_FILE), JSON.stringify(parser.parse(record)));
  return failures;
}

/** Forgets the count: a success, or an operator asking to try again. */
export async function clearAttempts(dataDir: string): Promise<void> {
  await rm(join(dataDir, ATTEMPTS_FILE), { force: true });
}
