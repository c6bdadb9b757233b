/**
 * `GET /v2/<name>/referrers/<digest>` (distribution spec v1.1, "Listing
 * Referrers"): an image index of the manifests whose `subject` is the
 * digest, filtered by `artifactType` when asked (then `OCI-Filters-Applied`).
 * An unknown subject gives an empty index, not an error.
 */
import { MediaType, parseDigest } from '../../../protocol/index.js';
import { methodNotAllowed, type RequestContext } from './context.js';

export async function handleReferrers(ctx: RequestContext, name: string, reference: string): Promise<void> {
  if (ctx.request.method !== 'GET' && ctx.request.method !== 'HEAD') methodNotAllowed(ctx.request.method);
  const subject = parseDigest(reference);
  const artifactType = ctx.query.get('artifactType');
  let manifests = await ctx.registry.meta.referrers(name, subject.value);
  if (artifactType !== null) {
    manifests = manifests.filter((d) => d.artifactType === artifactType);
    ctx.reply.header('OCI-Filters-Applied', 'artifactType');
  }
  // A Buffer, so that Fastify adds no charset to the spec's exact media type.
  const body = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
  await ctx.reply.header('Content-Type', MediaType.ociIndex).send(body);
}
