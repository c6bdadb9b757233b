/** `GET`/`HEAD`/`PUT`/`DELETE /v2/<name>/manifests/<reference>` (distribution spec, "Pulling/Pushing Manifests"). */
import { readFile } from 'node:fs/promises';
import { MAX_MANIFEST_BYTES, parseDigest, type Digest } from '../../../protocol/index.js';
import { readBounded } from '../body.js';
import { registryError } from '../errors.js';
import { pushManifest } from '../manifests.js';
import type { ManifestRecord } from '../metadata.js';
import { isTag, parseTag } from '../names.js';
import { methodNotAllowed, requireDeleteAllowed, type RequestContext } from './context.js';

type Reference = { readonly tag: string } | { readonly digest: Digest };

/** A reference holding `:` is a digest (tags cannot hold one); anything else must be a valid tag. */
function parseReference(reference: string): Reference {
  return reference.includes(':') ? { digest: parseDigest(reference) } : { tag: parseTag(reference) };
}

export async function handleManifest(ctx: RequestContext, name: string, reference: string): Promise<void> {
  // Reading a reference that cannot be a tag finds nothing (404, as the conformance suite
  // expects for `.INVALID_MANIFEST_NAME`); only a push with such a tag is a client error.
  if (ctx.request.method !== 'PUT' && !reference.includes(':') && !isTag(reference)) {
    throw registryError('BOOTFLEET_REGISTRY_MANIFEST_UNKNOWN', `manifest ${JSON.stringify(reference.slice(0, 80))} is not in ${name}`);
  }
  const ref = parseReference(reference);
  switch (ctx.request.method) {
    case 'GET':
    case 'HEAD':
      return sendManifest(ctx, name, ref, ctx.request.method === 'HEAD');
    case 'PUT':
      return putManifest(ctx, name, ref);
    case 'DELETE':
      return deleteManifest(ctx, name, ref);
    default:
      methodNotAllowed(ctx.request.method);
  }
}

async function resolve(ctx: RequestContext, name: string, ref: Reference): Promise<ManifestRecord> {
  const { meta } = ctx.registry;
  const digest = 'tag' in ref ? await meta.getTag(name, ref.tag) : ref.digest.value;
  const record = digest === undefined ? undefined : await meta.getManifest(name, digest);
  if (record === undefined) {
    throw registryError('BOOTFLEET_REGISTRY_MANIFEST_UNKNOWN', `manifest ${'tag' in ref ? ref.tag : ref.digest.value} is not in ${name}`);
  }
  return record;
}

async function sendManifest(ctx: RequestContext, name: string, ref: Reference, head: boolean): Promise<void> {
  const record = await resolve(ctx, name, ref);
  ctx.reply
    .header('Content-Type', record.mediaType)
    .header('Docker-Content-Digest', record.digest)
    .header('ETag', `"${record.digest}"`)
    .header('Content-Length', record.size);
  if (head) {
    await ctx.reply.send();
    return;
  }
  const bytes = await readFile(ctx.registry.store.pathOf(parseDigest(record.digest)));
  await ctx.reply.send(bytes);
}

async function putManifest(ctx: RequestContext, name: string, ref: Reference): Promise<void> {
  const bytes = await readBounded(ctx.request.raw, MAX_MANIFEST_BYTES);
  const pushed = await pushManifest(ctx.registry, name, bytes, ctx.request.headers['content-type'], 'tag' in ref ? { tag: ref.tag } : { byDigest: ref.digest });
  ctx.reply.code(201).header('Location', `/v2/${name}/manifests/${pushed.digest.value}`).header('Docker-Content-Digest', pushed.digest.value);
  // OCI-Subject tells the client that this registry indexes referrers itself (spec, "Pushing Manifests with Subject").
  if (pushed.record.subject !== undefined) ctx.reply.header('OCI-Subject', pushed.record.subject);
  await ctx.reply.header('Content-Length', 0).send();
}

async function deleteManifest(ctx: RequestContext, name: string, ref: Reference): Promise<void> {
  requireDeleteAllowed(ctx);
  const { meta } = ctx.registry;
  if ('tag' in ref) {
    if ((await meta.getTag(name, ref.tag)) === undefined) throw registryError('BOOTFLEET_REGISTRY_MANIFEST_UNKNOWN', `tag ${ref.tag} is not in ${name}`);
    await meta.deleteTag(name, ref.tag);
  } else {
    await meta.deleteManifest(name, await resolve(ctx, name, ref));
  }
  await ctx.reply.code(202).send();
}
