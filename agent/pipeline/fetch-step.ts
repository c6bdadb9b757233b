/**
 * Step "fetch": the manifest by digest, checked against the signed layer list
 * before any layer is fetched (docs/protocol.md 6.1: "the signed list is what
 * the device fetches, so a registry cannot add or swap a layer"), then only
 * the blobs the content store lacks, resumably (agent/fetch).
 */
import { BootfleetError, MAX_MANIFEST_BYTES, parseDigest, parseImageManifest, type ImageManifest, type LayerEntry } from '../../protocol/index.js';
import { pullImage, withManifestRetries, type PullResult } from '../fetch/pull-image.js';
import { RegistryClient } from '../registry/client.js';
import { targetReference, type PipelineContext, type UpdateTarget } from './context.js';

/** The same layers in the same order: digest, size and media type each (docs/protocol.md 6.1). */
export function checkSignedLayers(manifest: ImageManifest, signed: readonly LayerEntry[]): void {
  const same =
    manifest.layers.length === signed.length &&
    manifest.layers.every((l, i) => l.digest === signed[i]?.digest && l.size === signed[i].size && l.mediaType === signed[i].mediaType);
  if (!same) {
    throw new BootfleetError('BOOTFLEET_UPDATE_LAYERS_MISMATCH', `the manifest lists ${manifest.layers.length} layers that differ from the ${signed.length} signed ones`, {
      details: { manifest: manifest.layers.map((l) => l.digest), signed: signed.map((l) => l.digest) },
    });
  }
}

async function readManifest(ctx: PipelineContext, target: UpdateTarget): Promise<ImageManifest> {
  const client = new RegistryClient(target.registry, {
    ...(ctx.pull.credentials === undefined ? {} : { credentials: ctx.pull.credentials }),
    ...(ctx.pull.plainHttp === undefined ? {} : { plainHttp: ctx.pull.plainHttp }),
  });
  try {
    const fetched = await withManifestRetries(() => client.getManifest(target.repository, parseDigest(target.digest)), { ...ctx.pull, ...(ctx.signal === undefined ? {} : { signal: ctx.signal }) });
    const limit = target.size ?? MAX_MANIFEST_BYTES;
    if (fetched.bytes.length > limit) throw new BootfleetError('BOOTFLEET_MESSAGE_TOO_LARGE', `manifest is ${fetched.bytes.length} bytes, signed size ${limit}`);
    return parseImageManifest(fetched.bytes);
  } finally {
    await client.close();
  }
}

export async function fetchStep(ctx: PipelineContext, target: UpdateTarget): Promise<PullResult> {
  if (target.layers !== undefined) checkSignedLayers(await readManifest(ctx, target), target.layers);
  let last = 0;
  return pullImage(ctx.store, targetReference(target), {
    ...ctx.pull,
    // A newer desired state or the daemon stopping cuts the download; its partial file resumes next time.
    ...(ctx.signal === undefined ? {} : { signal: ctx.signal }),
    progress: (detail) => {
      ctx.emit({ event: 'content', detail });
      if (detail.event === 'blob-progress' && detail.overallDone !== last) {
        last = detail.overallDone;
        ctx.emit({ event: 'progress', doneBytes: detail.overallDone, totalBytes: detail.overallTotal });
      }
    },
  });
}
