/**
 * Health checks run during probation, as greenboot's: `required` ones must
 * pass for the deployment to be committed, the others ("wanted") only warn.
 * A check is a command (exit status 0 passes) or an HTTP probe (a 2xx answer,
 * or `expectStatus`, passes); each has its own timeout, and whatever it
 * printed (the tail, 4 KiB as HealthResult allows) goes into the report.
 */
import { Type, type Static } from 'typebox';
import type { HealthResult } from '../../protocol/index.js';
import { spawnCommand, type CommandRunner } from '../deploy/command-runner.js';
import type { HttpResponse } from '../registry/http.js';


/** HealthResult.output is limited to 4096 characters (protocol/messages/report.ts). */
export const HEALTH_OUTPUT_MAX = 4096;

const Common = {
  name: Type.String({ minLength: 1, maxLength: 128 }),
  required: Type.Boolean(),
  timeoutMs: Type.Integer({ minimum: 1, maximum: 3_600_000 }),
};

export const HealthCheckSchema = Type.Union([
  Type.Object({ ...Common, kind: Type.Literal('command'), argv: Type.Array(Type.String({ maxLength: 4096 }), { minItems: 1, maxItems: 64 }) }, { additionalProperties: false }),
  Type.Object(
    { ...Common, kind: Type.Literal('http'), url: Type.String({ pattern: '^https?://', maxLength: 2048 }), expectStatus: Type.Optional(Type.Integer({ minimum: 100, maximum: 599 })) },
    { additionalProperties: false },
  ),
]);
export type HealthCheck = Static<typeof HealthCheckSchema>;

function tail(text: string): string {
  return text.length <= HEALTH_OUTPUT_MAX ? text : text.slice(text.length - HEALTH_OUTPUT_MAX);
}

async function runCommandCheck(check: Extract<HealthCheck, { kind: 'command' }>, timeoutMs: number, runner: CommandRunner): Promise<HealthResult> {
  const result = await runner(check.argv, { timeoutMs, maxOutputBytes: HEALTH_OUTPUT_MAX });
  const note = result.timedOut ? `\n[timed out after ${timeoutMs} ms]` : result.exitCode === 0 ? '' : `\n[exit status ${String(result.exitCode)}]`;
  return { name: check.name, required: check.required, ok: result.exitCode === 0 && !result.timedOut, output: tail(result.stdout + result.stderr + note), durationMs: result.durationMs };
}

/** Reads at most HEALTH_OUTPUT_MAX bytes of the body: the probed service is not trusted to be small. */
async function readHead(response: HttpResponse): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size >= HEALTH_OUTPUT_MAX) break;
  }
  response.body.destroy();
  return Buffer.concat(chunks).subarray(0, HEALTH_OUTPUT_MAX).toString('utf8');
}

async function runHttpCheck(check: Extract<HealthCheck, { kind: 'http' }>, timeoutMs: number): Promise<HealthResult> {
  const started = Date.now();
  const base = { name: check.name, required: check.required };
  // A dispatcher of its own per probe, closed after it, so no socket outlives the check.
  // The HTTP client (undici) is loaded at the first HTTP probe, not with the daemon (docs/agent-content.md, "Memory").
  const { createDispatcher, httpRequest } = await import('../registry/http.js');
  const dispatcher = createDispatcher({ connectTimeoutMs: timeoutMs });
  try {
    // Through the agent's one HTTP client (agent/registry/http.ts); a redirect is judged, not followed.
    const response = await httpRequest(dispatcher, { url: check.url, signal: AbortSignal.timeout(timeoutMs), stallTimeoutMs: timeoutMs, maxRedirects: 0 });
    const body = await readHead(response);
    const status = response.statusCode;
    const ok = check.expectStatus === undefined ? status >= 200 && status < 300 : status === check.expectStatus;
    return { ...base, ok, output: tail(`HTTP ${status}\n${body}`), durationMs: Date.now() - started };
  } catch (error) {
    const timedOut = error instanceof Error && error.name === 'TimeoutError';
    const message = timedOut ? `[timed out after ${timeoutMs} ms]` : error instanceof Error ? `${error.message} ${(error.cause as Error | undefined)?.message ?? ''}` : String(error);
    return { ...base, ok: false, output: tail(message.trim()), durationMs: Date.now() - started };
  } finally {
    await dispatcher.destroy();
  }
}

export async function runHealthCheck(check: HealthCheck, options: { runner?: CommandRunner; maxTimeoutMs?: number } = {}): Promise<HealthResult> {
  const timeoutMs = Math.max(1, Math.min(check.timeoutMs, options.maxTimeoutMs ?? check.timeoutMs));
  return check.kind === 'command' ? runCommandCheck(check, timeoutMs, options.runner ?? spawnCommand) : runHttpCheck(check, timeoutMs);
}

export interface HealthVerdict {
  readonly results: HealthResult[];
  /** True when every required check passed; wanted ones never fail the verdict. */
  readonly passed: boolean;
  /** The first required check that failed. */
  readonly failed?: HealthResult;
}

/** Runs all checks concurrently, each bounded by its timeout (and by `maxTimeoutMs`, the time left in probation). */
export async function runHealthChecks(checks: readonly HealthCheck[], options: { runner?: CommandRunner; maxTimeoutMs?: number } = {}): Promise<HealthVerdict> {
  const results = await Promise.all(checks.map((check) => runHealthCheck(check, options)));
  const failed = results.find((r) => r.required && !r.ok);
  return { results, passed: failed === undefined, ...(failed === undefined ? {} : { failed }) };
}
