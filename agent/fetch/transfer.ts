/**
 * One HTTP attempt of a blob download: ask for the bytes from `offset`,
 * check the server honoured the range (206 with a Content-Range starting at
 * offset; RFC 9110 section 14.4), append what arrives to the partial file,
 * hash it on the way, and stop at the descriptor's size whatever the server
 * sends (endless-data defence, as TUF's signed lengths).
 */
import type { Hash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import { open } from 'node:fs/promises';
import { BootfleetError, type Digest } from '../../protocol/index.js';
import { expectStatus, type RegistryClient } from '../registry/client.js';
import type { HttpResponse } from '../registry/http.js';
import type { PartialPaths } from './partial-state.js';
import type { RateLimiter } from './rate-limit.js';

/** A failure worth retrying (cut, stall, reset, 5xx, range trouble); never leaves agent/fetch. */
export class TransientFailure extends Error {
  override readonly name = 'TransientFailure';
  /** Start again from byte 0: what we have cannot be continued. */
  readonly restart: boolean;
  constructor(message: string, restart = false, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.restart = restart;
  }
}

export interface TransferState {
  readonly digest: Digest;
  readonly size: number;
  readonly paths: PartialPaths;
  hash: Hash;
  /** Bytes of the partial file that `hash` has seen; -1 when it must be rebuilt from disk. */
  hashedUpTo: number;
  wireBytes: number;
  durable: number;
}

export interface TransferContext {
  readonly client: RegistryClient;
  readonly repository: string;
  readonly stallTimeoutMs: number;
  readonly checkpointBytes: number;
  readonly limiter: RateLimiter;
  readonly onBytes: (position: number) => void;
  readonly onCheckpoint: (durable: number) => Promise<void>;
}

const CONTENT_RANGE = /^bytes ([0-9]+)-([0-9]+)\/([0-9]+|\*)$/;

/** How many leading body bytes to drop: 0 for an honoured range, `offset` when the server sent it all. */
async function checkResponse(response: HttpResponse, offset: number, state: TransferState): Promise<number> {
  const status = response.statusCode;
  if (status === 206) {
    const match = CONTENT_RANGE.exec(String(response.headers['content-range'] ?? ''));
    if (match === null || Number(match[1]) !== offset) {
      response.body.destroy();
      throw new TransientFailure(`server answered range ${offset}- with Content-Range ${String(response.headers['content-range'])}`, true);
    }
    return 0;
  }
  if (status === 200) return offset;
  if (status === 416) {
    await response.body.dump();
    throw new TransientFailure(`server refused range ${offset}- (416)`, true);
  }
  if (status >= 500 || status === 429 || status === 408) {
    await response.body.dump();
    throw new TransientFailure(`server answered ${status}`);
  }
  await expectStatus(response, [200, 206], `blob ${state.digest.value}`);
  return 0;
}

export function isTransientNetworkError(error: unknown): boolean {
  if (error instanceof TransientFailure) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && (code.startsWith('UND_ERR_') || ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'ECONNABORTED', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code));
}

async function appendBody(response: HttpResponse, handle: FileHandle, offset: number, skip: number, state: TransferState, ctx: TransferContext): Promise<number> {
  let position = offset;
  let toSkip = skip;
  let sinceCheckpoint = 0;
  for await (const raw of response.body as AsyncIterable<Buffer>) {
    state.wireBytes += raw.length;
    let chunk = raw;
    if (toSkip > 0) {
      const dropped = Math.min(toSkip, chunk.length);
      toSkip -= dropped;
      chunk = chunk.subarray(dropped);
    }
    const room = state.size - position;
    if (chunk.length > room) chunk = chunk.subarray(0, room);
    if (chunk.length > 0) {
      await ctx.limiter.take(chunk.length);
      await handle.write(chunk, 0, chunk.length, position);
      state.hash.update(chunk);
      position += chunk.length;
      state.hashedUpTo = position;
      sinceCheckpoint += chunk.length;
      ctx.onBytes(position);
    }
    if (sinceCheckpoint >= ctx.checkpointBytes) {
      await handle.datasync();
      await ctx.onCheckpoint(position);
      sinceCheckpoint = 0;
    }
    if (position >= state.size) {
      // Endless data: everything past the descriptor's size is ignored, the connection closed.
      response.body.destroy();
      break;
    }
  }
  return position;
}

/** One attempt from `offset`; returns the new length of the partial file. */
export async function transferOnce(state: TransferState, offset: number, ctx: TransferContext): Promise<number> {
  let response: HttpResponse;
  try {
    response = await ctx.client.getBlob(ctx.repository, state.digest, offset, ctx.stallTimeoutMs);
  } catch (error) {
    if (error instanceof BootfleetError) throw error;
    throw new TransientFailure(`request failed: ${error instanceof Error ? error.message : String(error)}`, false, error);
  }
  const skip = await checkResponse(response, offset, state);
  const handle = await open(state.paths.data, 'r+');
  let position: number;
  try {
    position = await appendBody(response, handle, offset, skip, state, ctx);
  } catch (error) {
    response.body.destroy();
    if (isTransientNetworkError(error)) throw new TransientFailure(`transfer cut: ${error instanceof Error ? error.message : String(error)}`, false, error);
    throw error;
  } finally {
    await handle.close();
  }
  if (position < state.size) throw new TransientFailure(`transfer ended early at ${position} of ${state.size} bytes`);
  return position;
}
