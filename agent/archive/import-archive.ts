/**
 * `bootfleet agent apply --archive <path>`: brings one image from an
 * oci-archive file or an OCI layout directory into the content store,
 * offline. Steps: read the archive (a tar is parsed into a private directory,
 * every blob verified; a directory is read in place) → select the image →
 * import its config and layers, each verified → store its manifest and name
 * it in the store's index.json. Signature bundles of the image found in the
 * layout are returned for the pipeline's signature step. On any failure the
 * store gains at most verified blobs no image names (gc removes them); the
 * device's state is untouched.
 */
import { randomBytes } from 'node:crypto';
import { rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import {
  BootfleetError,
  IMAGE_SIGNATURE_MAX_BYTES,
  isBootfleetError,
  parseDigest,
  signatureBundleLayer,
  withContextAsync,
  type Descriptor,
} from '../../protocol/index.js';
import type { ContentStore } from '../content/store.js';
import { DEFAULT_ARCHIVE_LIMITS, extractOciArchive, type ArchiveLimits } from './extract-archive.js';
import { LayoutDir } from './layout-dir.js';
import { selectImage, type SelectOptions } from './select-image.js';

export interface ImportOptions extends SelectOptions {
  readonly limits?: ArchiveLimits;
}

export interface ImportedImage {
  readonly manifest: Descriptor;
  /** The name the image had in the archive, if any. */
  readonly name?: string;
  /** Serialized signature bundles found as referrers of the image in the layout. */
  readonly signatures: readonly Buffer[];
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch (error) {
    throw new BootfleetError('BOOTFLEET_FILE_UNREADABLE', `cannot read ${path}`, { cause: error, details: { path } });
  }
}

async function signatureBundles(layout: LayoutDir, image: Awaited<ReturnType<typeof selectImage>>): Promise<Buffer[]> {
  const bundles: Buffer[] = [];
  for (const artifact of image.signatures) {
    try {
      bundles.push(await layout.readSmall(signatureBundleLayer(artifact, image.descriptor.digest), IMAGE_SIGNATURE_MAX_BYTES));
    } catch (error) {
      // A damaged signature is no signature: the signature step refuses the image if no other one verifies.
      if (!isBootfleetError(error)) throw error;
    }
  }
  return bundles;
}

async function importFrom(store: ContentStore, layout: LayoutDir, archive: string, options: ImportOptions): Promise<ImportedImage> {
  const image = await withContextAsync('Selecting the image', () => selectImage(layout, options));
  for (const blob of [image.manifest.config, ...image.manifest.layers]) {
    await withContextAsync(`Importing blob ${blob.digest}`, () => layout.importBlob(store, blob));
  }
  await store.putBytes(image.bytes, parseDigest(image.descriptor.digest));
  await store.setRef(`oci-archive:${basename(archive)}:${image.name ?? image.descriptor.digest}`, image.descriptor);
  return { manifest: image.descriptor, signatures: await signatureBundles(layout, image), ...(image.name === undefined ? {} : { name: image.name }) };
}

export async function importArchive(store: ContentStore, archive: string, options: ImportOptions = {}): Promise<ImportedImage> {
  if (await isDirectory(archive)) return importFrom(store, await LayoutDir.open(archive, false), archive, options);
  // Same filesystem as the store, so verified blobs move into it by rename.
  const scratch = join(store.partialDir, `archive-${randomBytes(6).toString('hex')}`);
  try {
    await withContextAsync(`Reading ${basename(archive)}`, () => extractOciArchive(archive, scratch, options.limits ?? DEFAULT_ARCHIVE_LIMITS));
    return await importFrom(store, await LayoutDir.open(scratch, true), archive, options);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}
