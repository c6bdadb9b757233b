/**
 * Blob uploads (distribution spec, "Pushing blobs"): `POST .../blobs/uploads/`
 * starts a session, mounts a blob from another repository (`mount`, `from`)
 * or takes a whole blob at once (`digest`); `PATCH` appends a chunk
 * (`Content-Range: <start>-<end>`, out of order gives 416); `PUT` with
 * `digest` finishes; `GET` reports progress; `DELETE` cancels.
 */
import { parseDigest } from '../../../protocol/index.js';
import { bodyStream } from '../body.js';
import { registryError } from '../errors.js';
import type { UploadSession } from '../metadata.js';
import { parseRepositoryName } from '../names.js';
import type { ChunkRange } from '../upload-sessions.js';
import { methodNotAllowed, type RequestContext } from './context.js';

export async function handleUploadStart(ctx: RequestContext, name: string): Promise<void> {
  if (ctx.request.method !== 'POST') methodNotAllowed(ctx.request.method);
  const mount = ctx.query.get('mount');
  const from = ctx.query.get('from');
  if (mount !== null && from !== null && (await tryMount(ctx, name, mount, from))) return;
  const digest = ctx.query.get('digest');
  if (digest !== null) {
    const stored = await ctx.registry.uploads.monolithic(bodyStream(ctx.request.raw, ctx.metrics), digest);
    await ctx.registry.meta.linkBlob(name, stored.value);
    await blobCreated(ctx, name, stored.value);
    return;
  }
  const session = await ctx.registry.uploads.start(name);
  await sendProgress(ctx, session, 202);
}

/** Cross-repository mount: 201 when `from` has the blob; otherwise the caller starts a normal upload (spec). */
async function tryMount(ctx: RequestContext, name: string, mount: string, from: string): Promise<boolean> {
  const digest = parseDigest(mount);
  const source = parseRepositoryName(from);
  const { meta, store } = ctx.registry;
  if (!(await meta.hasBlob(source, digest.value)) || (await store.stat(digest)) === undefined) return false;
  await meta.linkBlob(name, digest.value);
  await blobCreated(ctx, name, digest.value);
  return true;
}

export async function handleUpload(ctx: RequestContext, name: string, id: string): Promise<void> {
  const { uploads, meta } = ctx.registry;
  switch (ctx.request.method) {
    case 'GET':
      await sendProgress(ctx, await uploads.get(name, id), 204);
      return;
    case 'PATCH': {
      const range = parseContentRange(ctx.request.headers['content-range'], ctx.request.headers['content-length']);
      await sendProgress(ctx, await uploads.append(name, id, bodyStream(ctx.request.raw, ctx.metrics), range), 202);
      return;
    }
    case 'PUT': {
      const digest = await uploads.finish(name, id, bodyStream(ctx.request.raw, ctx.metrics), ctx.query.get('digest') ?? undefined);
      await meta.linkBlob(name, digest.value);
      await blobCreated(ctx, name, digest.value);
      return;
    }
    case 'DELETE':
      await uploads.cancel(name, id);
      await ctx.reply.code(204).send();
      return;
    default:
      methodNotAllowed(ctx.request.method);
  }
}

/** `Content-Range: <start>-<end>` (the spec's form, no unit; `bytes ` is tolerated). */
export function parseContentRange(header: string | undefined, contentLength: string | undefined): ChunkRange | undefined {
  if (header === undefined) return undefined;
  const match = /^(?:bytes )?(\d{1,15})-(\d{1,15})(?:\/\*|\/\d+)?$/.exec(header.trim());
  if (match === null) throw registryError('BOOTFLEET_REGISTRY_BLOB_UPLOAD_INVALID', 'malformed Content-Range');
  const start = Number(match[1]);
  const end = Number(match[2]);
  if (end < start) throw registryError('BOOTFLEET_REGISTRY_CHUNK_OUT_OF_ORDER', 'Content-Range ends before it starts');
  if (contentLength !== undefined && Number(contentLength) !== end - start + 1) {
    throw registryError('BOOTFLEET_REGISTRY_SIZE_INVALID', `Content-Length ${contentLength} disagrees with Content-Range ${start}-${end}`);
  }
  return { start, end };
}

async function sendProgress(ctx: RequestContext, session: UploadSession, status: 202 | 204): Promise<void> {
  ctx.reply
    .code(status)
    .header('Location', `/v2/${session.name}/blobs/uploads/${session.id}`)
    .header('Docker-Upload-UUID', session.id)
    // "Range: 0-<offset-1>"; an empty upload reports 0-0, as Distribution does.
    .header('Range', `0-${Math.max(0, session.offset - 1)}`)
    .header('Content-Length', 0);
  await ctx.reply.send();
}

async function blobCreated(ctx: RequestContext, name: string, digest: string): Promise<void> {
  ctx.reply.code(201).header('Location', `/v2/${name}/blobs/${digest}`).header('Docker-Content-Digest', digest).header('Content-Length', 0);
  await ctx.reply.send();
}
