/**
 * OCI layouts for `bootfleet agent apply --archive` tests, written by the
 * tests themselves: uncompressed tar layers (tar-build.ts) holding
 * `etc/version`, configs with the version label the agent reads, index.json
 * naming each image (`org.opencontainers.image.ref.name`, as skopeo writes
 * it), and optionally a builder signature stored as a referrer in the layout
 * (an artifact manifest whose `subject` is the image, docs/registry.md "Signing").
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  canonicalJson,
  IMAGE_SIGNATURE_ARTIFACT_TYPE,
  IMAGE_SIGNATURE_PAYLOAD_TYPE,
  MediaType,
  signEnvelope,
  type Descriptor,
  type SigningKey,
} from '../../protocol/index.js';
import { hostPlatform } from '../../agent/registry/resolve.js';
import { layerOf } from './agent-daemon.js';
import { writeBlob } from './oci-layout-writer.js';

export interface ArchiveImage {
  readonly tag: string;
  readonly version: string;
  /** Extra files besides `etc/version`. */
  readonly files?: Record<string, string>;
}

export interface WrittenArchiveImage {
  readonly manifest: Descriptor;
  readonly layer: Descriptor;
}

function writeOne(dir: string, image: ArchiveImage): WrittenArchiveImage {
  const tar = layerOf({ 'etc/version': `${image.version}\n`, ...image.files });
  const layer = writeBlob(dir, tar.bytes, MediaType.ociLayerTar);
  const config = writeBlob(
    dir,
    JSON.stringify({
      architecture: hostPlatform().architecture,
      os: 'linux',
      config: { Labels: { 'org.opencontainers.image.version': image.version } },
      rootfs: { type: 'layers', diff_ids: [layer.digest] },
    }),
    MediaType.ociConfig,
  );
  const manifest = writeBlob(dir, JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config, layers: [layer] }), MediaType.ociManifest);
  return { manifest, layer };
}

/** A layout holding `images`, each named in index.json. */
export function writeArchiveLayout(dir: string, images: readonly ArchiveImage[]): WrittenArchiveImage[] {
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const written = images.map((image) => writeOne(dir, image));
  const manifests = written.map((w, i) => ({ ...w.manifest, annotations: { 'org.opencontainers.image.ref.name': images[i]?.tag ?? '' } }));
  writeFileSync(join(dir, 'index.json'), JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests }));
  return written;
}

/** Signs `image` with `key` as `bootfleet image sign` does, and lists the signature artifact in index.json. */
export function addSignatureReferrer(dir: string, image: Descriptor, key: SigningKey): void {
  const subject = { mediaType: image.mediaType, digest: image.digest, size: image.size };
  const bundle = JSON.stringify(signEnvelope(Buffer.from(canonicalJson({ image: subject })), IMAGE_SIGNATURE_PAYLOAD_TYPE, key));
  const empty = writeBlob(dir, '{}', MediaType.ociEmpty);
  const layer = writeBlob(dir, bundle, IMAGE_SIGNATURE_ARTIFACT_TYPE);
  const artifact = writeBlob(
    dir,
    JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, artifactType: IMAGE_SIGNATURE_ARTIFACT_TYPE, config: empty, layers: [layer], subject }),
    MediaType.ociManifest,
  );
  const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { manifests: object[] };
  index.manifests.push({ ...artifact, artifactType: IMAGE_SIGNATURE_ARTIFACT_TYPE });
  writeFileSync(join(dir, 'index.json'), JSON.stringify(index));
}
