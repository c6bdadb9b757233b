/**
 * Resolves a reference to the one image manifest for the device: by tag or
 * digest, through an image index to the matching platform (image spec v1.1,
 * "Image Index", platform fields). Each child manifest is fetched by digest
 * and its size checked against the index's descriptor.
 */
import {
  BootfleetError,
  MediaType,
  parseDigest,
  parseManifestDocument,
  type Descriptor,
  type ImageIndex,
  type ImageManifest,
} from '../../protocol/index.js';
import type { FetchedManifest, RegistryClient } from './client.js';
import type { ImageReference } from './reference.js';

export interface Platform {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string;
}

const NODE_ARCH: Readonly<Record<string, string>> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };

/** The platform of this machine in OCI terms (GOOS/GOARCH names). */
export function hostPlatform(): Platform {
  return { os: process.platform, architecture: NODE_ARCH[process.arch] ?? process.arch };
}

export interface ResolvedImage {
  readonly manifest: ImageManifest;
  readonly descriptor: Descriptor;
  readonly bytes: Buffer;
  /** The index the manifest was chosen from, when the reference named one. */
  readonly index?: FetchedManifest;
}

export function selectPlatform(index: ImageIndex, platform: Platform): Descriptor {
  const match = index.manifests.find(
    (m) =>
      m.platform !== undefined &&
      m.platform.os === platform.os &&
      m.platform.architecture === platform.architecture &&
      (platform.variant === undefined || m.platform.variant === platform.variant),
  );
  if (match === undefined) {
    throw new BootfleetError('BOOTFLEET_REGISTRY_PLATFORM_MISSING', `the image index has no manifest for ${platform.os}/${platform.architecture}`, {
      details: { platform },
    });
  }
  return match;
}

function checkSize(fetched: FetchedManifest, expected: Descriptor): void {
  if (fetched.bytes.length !== expected.size) {
    throw new BootfleetError('BOOTFLEET_REGISTRY_RESPONSE_INVALID', `manifest ${expected.digest} is ${fetched.bytes.length} bytes, descriptor says ${expected.size}`);
  }
}

export async function resolveImage(client: RegistryClient, ref: ImageReference, platform: Platform = hostPlatform()): Promise<ResolvedImage> {
  const top = await client.getManifest(ref.repository, ref.digest ?? ref.tag ?? 'latest');
  const doc = parseManifestDocument(top.bytes, top.descriptor.mediaType);
  if (doc.kind === 'manifest') {
    return { manifest: doc.manifest, descriptor: { ...top.descriptor, mediaType: doc.manifest.mediaType ?? MediaType.ociManifest }, bytes: top.bytes };
  }
  const chosen = selectPlatform(doc.index, platform);
  const child = await client.getManifest(ref.repository, parseDigest(chosen.digest));
  checkSize(child, chosen);
  const childDoc = parseManifestDocument(child.bytes, chosen.mediaType);
  if (childDoc.kind !== 'manifest') throw new BootfleetError('BOOTFLEET_OCI_INVALID', 'an image index points at another index for the platform');
  return { manifest: childDoc.manifest, descriptor: { ...chosen, size: child.bytes.length }, bytes: child.bytes, index: top };
}
