/**
 * `GET`/`HEAD`/`DELETE /v2/<name>/blobs/<digest>` (distribution spec,
 * "Pulling blobs"), with one HTTP Range (RFC 9110 §14). The file is streamed
 * from disk in 1 MiB reads: never buffered, and no static-file plugin in the
 * way (ANCHORS.md: @fastify/static at defaults was four times slower).
 */
import type { OutgoingHttpHeaders } from 'node:http';
import { parseDigest, type Digest } from '../../../protocol/index.js';
import { sendFileRange } from '../send-file.js';
import { registryError } from '../errors.js';
import { methodNotAllowed, requireDeleteAllowed, type RequestContext } from './context.js';

export interface ByteRange {
  readonly start: number;
  readonly end: number;
}

/**
 * One `bytes=` range clipped to the blob, or undefined for the whole blob.
 * A header we do not understand (several ranges, another unit) is ignored,
 * as RFC 9110 §14.2 allows; a range starting past the end is unsatisfiable.
 */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (match === null) return undefined;
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return undefined;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0 || size === 0) throw unsatisfiable(size);
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(first);
  const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
  if (start >= size || end < start) throw unsatisfiable(size);
  return { start, end };
}

function unsatisfiable(size: number): Error {
  return registryError('BOOTFLEET_REGISTRY_RANGE_UNSATISFIABLE', `range not satisfiable for a blob of ${size} bytes`, { size });
}

export async function handleBlob(ctx: RequestContext, name: string, reference: string): Promise<void> {
  const method = ctx.request.method;
  if (method === 'GET' || method === 'HEAD') return sendBlob(ctx, name, parseDigest(reference), method === 'HEAD');
  if (method === 'DELETE') return deleteBlob(ctx, name, parseDigest(reference));
  methodNotAllowed(method);
}

/** The repository holds a blob when it was pushed or mounted there, or is one of its manifests. */
async function repositoryHas(ctx: RequestContext, name: string, digest: Digest): Promise<boolean> {
  const { meta } = ctx.registry;
  return (await meta.hasBlob(name, digest.value)) || (await meta.getManifest(name, digest.value)) !== undefined;
}

async function sendBlob(ctx: RequestContext, name: string, digest: Digest, head: boolean): Promise<void> {
  const { reply, registry } = ctx;
  const info = (await repositoryHas(ctx, name, digest)) ? await registry.store.stat(digest) : undefined;
  if (info === undefined) throw registryError('BOOTFLEET_REGISTRY_BLOB_UNKNOWN', `blob ${digest.value} is not in ${name}`, { digest: digest.value });
  const etag = `"${digest.value}"`;
  reply.header('Docker-Content-Digest', digest.value).header('ETag', etag).header('Accept-Ranges', 'bytes');
  reply.header('Content-Type', 'application/octet-stream').header('Cache-Control', 'max-age=31536000, immutable');
  if (ctx.request.headers['if-none-match'] === etag) {
    await reply.code(304).send();
    return;
  }
  let range: ByteRange | undefined;
  try {
    range = parseRange(ctx.request.headers.range, info.size);
  } catch (error) {
    reply.header('Content-Range', `bytes */${info.size}`);
    throw error;
  }
  const { start, end } = range ?? { start: 0, end: info.size - 1 };
  if (range !== undefined) reply.code(206).header('Content-Range', `bytes ${start}-${end}/${info.size}`);
  reply.header('Content-Length', end - start + 1);
  if (head || info.size === 0) {
    await reply.send();
    return;
  }
  // Hand-written streaming (send-file.ts): Fastify's reply is hijacked, the status and
  // headers set above go out as they are, then the bytes with two reused buffers.
  reply.hijack();
  reply.raw.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
  const sent = await sendFileRange(registry.store.pathOf(digest), start, end, reply.raw);
  ctx.metrics?.blobBytes('served', sent);
}

async function deleteBlob(ctx: RequestContext, name: string, digest: Digest): Promise<void> {
  requireDeleteAllowed(ctx);
  if (!(await ctx.registry.meta.hasBlob(name, digest.value))) {
    throw registryError('BOOTFLEET_REGISTRY_BLOB_UNKNOWN', `blob ${digest.value} is not in ${name}`, { digest: digest.value });
  }
  // Only the repository's link goes; the file stays until `bootfleet image gc` finds nothing refers to it.
  await ctx.registry.meta.unlinkBlob(name, digest.value);
  await ctx.reply.code(202).send();
}
