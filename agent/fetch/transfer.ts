/**
 * One HTTP attempt of a blob download: ask for the bytes from `offset`,
 * check the server honoured the range (206 with a Content-Range starting at
 * offset; RFC 9110 section 14.4), append what arrives to the partial file,
 * hash it on the way, and stop at the descriptor's size whatever the server
 * sends (endless-data defence, as TUF's signed lengths).
 */
import type { Hash } from 'node:crypto';
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { BootfleetError, type Digest } from '../../protocol/index.js';
import { garbagePacer } from '../content/garbage-pacer.js';
import { expectStatus, type RegistryClient } from '../registry/client.js';
import type { HttpResponse } from '../registry/http.js';
import type { PartialPaths } from './partial-state.js';

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
  readonly onBytes: (position: number) => void;
  /** Called after the partial file was fsynced up to `durable`; synchronous, like the writes. */
  readonly onCheckpoint: (durable: number) => void;
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

/**
 * Writes the body as it arrives, synchronously inside the 'data' handler, so
 * the body stream never applies backpressure. undici 7's HTTP/1 parser
 * crashes the process (an uncatchable assert(!this.paused), nodejs/undici
 * #5360, fixed only in undici 8 which needs Node 22) when a server closes
 * the socket while a paused body still holds data; with no pause it cannot
 * happen. A local disk write of one chunk takes microseconds. The bandwidth
 * cap is therefore applied between range requests (download.ts), not here.
 */
function appendBody(response: HttpResponse, fd: number, offset: number, skip: number, end: number, state: TransferState, ctx: TransferContext): Promise<number> {
  const body = response.body;
  let position = offset;
  let toSkip = skip;
  let sinceCheckpoint = 0;
  const garbage = garbagePacer();
  return new Promise<number>((resolve, reject) => {
    let settled = false;
    const finish = (error?: unknown): void => {
      if (settled) return;
      settled = true;
      if (error === undefined) resolve(position);
      else reject(error instanceof Error ? error : new Error('transfer failed', { cause: error }));
    };
    body.on('data', (raw: Buffer) => {
      if (settled) return;
      try {
        state.wireBytes += raw.length;
        let chunk = raw;
        if (toSkip > 0) {
          const dropped = Math.min(toSkip, chunk.length);
          toSkip -= dropped;
          chunk = chunk.subarray(dropped);
        }
        // Endless data: nothing past the requested end (at most the descriptor's size) is kept.
        if (chunk.length > end - position) chunk = chunk.subarray(0, end - position);
        for (let off = 0; off < chunk.length; ) off += writeSync(fd, chunk, off, chunk.length - off, position + off);
        state.hash.update(chunk);
        position += chunk.length;
        state.hashedUpTo = position;
        sinceCheckpoint += chunk.length;
        if (chunk.length > 0) ctx.onBytes(position);
        if (sinceCheckpoint >= ctx.checkpointBytes) {
          fdatasyncSync(fd);
          ctx.onCheckpoint(position);
          sinceCheckpoint = 0;
        }
        garbage.count(raw.length);
        if (position >= end) {
          body.destroy();
          finish();
        }
      } catch (error) {
        body.destroy();
        finish(error);
      }
    });
    body.on('end', () => {
      finish();
    });
    body.on('error', (error: Error) => {
      finish(error);
    });
  });
}

/** One attempt for bytes [offset, end); returns the new length of the partial file. */
export async function transferOnce(state: TransferState, offset: number, ctx: TransferContext, end: number = state.size): Promise<number> {
  let response: HttpResponse;
  try {
    response = await ctx.client.getBlob(ctx.repository, state.digest, offset, ctx.stallTimeoutMs, end < state.size ? end : undefined);
  } catch (error) {
    if (error instanceof BootfleetError) throw error;
    throw new TransientFailure(`request failed: ${error instanceof Error ? error.message : String(error)}`, false, error);
  }
  const skip = await checkResponse(response, offset, state);
  const fd = openSync(state.paths.data, 'r+');
  let position: number;
  try {
    position = await appendBody(response, fd, offset, skip, end, state, ctx);
  } catch (error) {
    response.body.destroy();
    if (isTransientNetworkError(error)) throw new TransientFailure(`transfer cut: ${error instanceof Error ? error.message : String(error)}`, false, error);
    throw error;
  } finally {
    closeSync(fd);
  }
  if (position < end) throw new TransientFailure(`transfer ended early at ${position} of ${end} bytes`);
  return position;
}
