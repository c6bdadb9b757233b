/**
 * Chooses the image to apply from a layout's index.json: the entry named by
 * `--name` (annotation `org.opencontainers.image.ref.name`, image spec
 * "Pre-Defined Annotation Keys", as skopeo writes it), else the only image;
 * through an image index to the device's platform. Entries whose manifest has
 * a `subject` are referrers (image spec 1.1), not images: a signature
 * artifact of the chosen image (docs/registry.md, "Signing") is kept.
 */
import {
  BootfleetError,
  IMAGE_SIGNATURE_ARTIFACT_TYPE,
  MAX_MANIFEST_BYTES,
  MediaType,
  parseManifestDocument,
  type Descriptor,
  type ImageManifest,
} from '../../protocol/index.js';
import { REF_NAME } from '../content/store.js';
import { hostPlatform, selectPlatform, type Platform } from '../registry/resolve.js';
import type { LayoutDir } from './layout-dir.js';

/** index.json entries looked at; a layout for one device holds a handful. */
const MAX_INDEX_ENTRIES = 256;

export interface SelectOptions {
  readonly name?: string;
  readonly platform?: Platform;
}

export interface SelectedImage {
  readonly descriptor: Descriptor;
  readonly bytes: Buffer;
  readonly manifest: ImageManifest;
  readonly name?: string;
  /** Signature artifacts (manifests) whose subject is the chosen image. */
  readonly signatures: readonly ImageManifest[];
}

interface Entry {
  readonly descriptor: Descriptor;
  readonly doc: ReturnType<typeof parseManifestDocument>;
  readonly bytes: Buffer;
}

async function readEntries(layout: LayoutDir): Promise<Entry[]> {
  const all = layout.index.manifests;
  if (all.length > MAX_INDEX_ENTRIES) throw new BootfleetError('BOOTFLEET_ARCHIVE_TOO_LARGE', `index.json lists ${all.length} manifests, limit ${MAX_INDEX_ENTRIES}`, { details: { limit: MAX_INDEX_ENTRIES } });
  const entries: Entry[] = [];
  for (const descriptor of all) {
    const bytes = await layout.readSmall(descriptor, MAX_MANIFEST_BYTES);
    entries.push({ descriptor, bytes, doc: parseManifestDocument(bytes, descriptor.mediaType) });
  }
  return entries;
}

function isReferrer(entry: Entry): boolean {
  return entry.doc.kind === 'manifest' && entry.doc.manifest.subject !== undefined;
}

function nameOf(entry: Entry): string | undefined {
  return entry.descriptor.annotations?.[REF_NAME];
}

function chooseEntry(entries: readonly Entry[], name: string | undefined): Entry {
  const images = entries.filter((e) => !isReferrer(e));
  const names = images.map(nameOf).filter((n): n is string => n !== undefined);
  const matching = name === undefined ? images : images.filter((e) => nameOf(e) === name);
  const first = matching[0];
  if (first === undefined) {
    throw new BootfleetError('BOOTFLEET_ARCHIVE_IMAGE_NOT_FOUND', name === undefined ? 'the archive holds no image' : `the archive holds no image named ${JSON.stringify(name)}`, { details: { names } });
  }
  if (matching.some((e) => e.descriptor.digest !== first.descriptor.digest)) {
    throw new BootfleetError('BOOTFLEET_ARCHIVE_IMAGE_AMBIGUOUS', `the archive holds ${matching.length} images; choose one with --name`, { details: { names } });
  }
  return first;
}

async function descend(layout: LayoutDir, entry: Entry, platform: Platform): Promise<Omit<SelectedImage, 'signatures' | 'name'>> {
  if (entry.doc.kind === 'manifest') return { descriptor: { ...entry.descriptor, mediaType: entry.doc.manifest.mediaType ?? MediaType.ociManifest }, bytes: entry.bytes, manifest: entry.doc.manifest };
  const chosen = selectPlatform(entry.doc.index, platform);
  const bytes = await layout.readSmall(chosen, MAX_MANIFEST_BYTES);
  const child = parseManifestDocument(bytes, chosen.mediaType);
  if (child.kind !== 'manifest') throw new BootfleetError('BOOTFLEET_OCI_INVALID', 'an image index points at another index for the platform');
  return { descriptor: { mediaType: chosen.mediaType, digest: chosen.digest, size: chosen.size }, bytes, manifest: child.manifest };
}

export async function selectImage(layout: LayoutDir, options: SelectOptions = {}): Promise<SelectedImage> {
  const entries = await readEntries(layout);
  const entry = chooseEntry(entries, options.name);
  const image = await descend(layout, entry, options.platform ?? hostPlatform());
  const signatures = entries
    .filter((e) => e.doc.kind === 'manifest' && e.doc.manifest.subject?.digest === image.descriptor.digest && e.doc.manifest.artifactType === IMAGE_SIGNATURE_ARTIFACT_TYPE)
    .map((e) => (e.doc.kind === 'manifest' ? e.doc.manifest : undefined))
    .filter((m): m is ImageManifest => m !== undefined);
  const name = nameOf(entry);
  return { ...image, signatures, ...(name === undefined ? {} : { name }) };
}
