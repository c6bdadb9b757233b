/**
 * The CLI's HTTP client for the server API. The server URL and token come
 * from `--server`/`--token` or BOOTFLEET_SERVER/BOOTFLEET_TOKEN (prefer the
 * variable: a flag is visible to other users in `ps`). An error answer
 * becomes the BootfleetError the server sent, code included.
 */
import { Option, type Command } from 'commander';
import { BootfleetError, ERROR_CODES, parseJson, type ErrorCode } from '../protocol/index.js';

export interface ApiTarget {
  readonly server: string;
  readonly token: string | undefined;
}

/** Largest API answer read, bytes. */
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
const DEFAULT_SERVER = 'http://127.0.0.1:8080';

/** Adds `--server` and `--token` to a command. */
export function withApiOptions(command: Command): Command {
  return command
    .addOption(new Option('--server <url>', `server URL (default: $BOOTFLEET_SERVER or ${DEFAULT_SERVER})`))
    .addOption(new Option('--token <token>', 'API token (default: $BOOTFLEET_TOKEN)'));
}

export function apiTarget(opts: { server?: string; token?: string }): ApiTarget {
  return { server: opts.server ?? process.env.BOOTFLEET_SERVER ?? DEFAULT_SERVER, token: opts.token ?? process.env.BOOTFLEET_TOKEN };
}

export async function callApi(target: ApiTarget, method: string, path: string, body?: unknown): Promise<unknown> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (target.token !== undefined) headers.authorization = `Bearer ${target.token}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  let response: Response;
  try {
    response = await fetch(new URL(path, target.server), { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (error) {
    throw new BootfleetError('BOOTFLEET_SERVER_UNREACHABLE', `cannot reach the server at ${target.server}`, { cause: error });
  }
  const text = await response.text();
  const value = text === '' ? undefined : parseJson(text, MAX_RESPONSE_BYTES, 'server answer');
  if (response.ok) return value;
  throw toError(response.status, value);
}

function toError(status: number, value: unknown): BootfleetError {
  const answer = (typeof value === 'object' && value !== null ? value : {}) as { code?: unknown; message?: unknown; details?: unknown };
  const code: ErrorCode = typeof answer.code === 'string' && answer.code in ERROR_CODES ? (answer.code as ErrorCode) : 'BOOTFLEET_INTERNAL';
  const message = typeof answer.message === 'string' ? answer.message : `server answered HTTP ${status}`;
  return new BootfleetError(code, message, { details: { status } });
}
