/**
 * Test hook for the crash-consistency harness
 * (test/integration/crash-consistency.test.ts). Every durable step of a
 * transition calls `crashPoint('<action>:<step>')` right after it. When the
 * environment variable BOOTFLEET_CRASH_AT names that step, the process kills
 * itself with SIGKILL there: no cleanup, no flush, as a power cut would. When
 * BOOTFLEET_CRASH_TRACE names a file, each step name reached is appended to
 * it, so the harness learns the boundaries without a hard-coded list. Both
 * are read once; with neither set the hook costs one comparison.
 */
import { appendFileSync } from 'node:fs';

const crashAt = process.env.BOOTFLEET_CRASH_AT;
const traceFile = process.env.BOOTFLEET_CRASH_TRACE;

export function crashPoint(step: string): void {
  if (traceFile !== undefined && traceFile !== '') appendFileSync(traceFile, `${step}\n`);
  if (crashAt === step) process.kill(process.pid, 'SIGKILL');
}
