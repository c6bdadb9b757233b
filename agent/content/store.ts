/**
 * The agent's local content store: an OCI image layout (image spec v1.1,
 * "OCI Image Layout": `oci-layout`, `index.json`, `blobs/<alg>/<hex>`) under
 * the data directory, so skopeo and umoci can read it too.
 *
 * Invariant: a file exists under `blobs/` only after its bytes were hashed
 * and matched their digest; it gets there by an atomic rename from the
 * partial area (`<dataDir>/partial`, outside the layout). `index.json` lists
 * the manifests deployments refer to; everything else is garbage (gc.ts).
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, rename, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import {
  BootfleetError,
  digestPath,
  MediaType,
  parseDigest,
  parseImageIndex,
  verifyDigest,
  type Descriptor,
  type Digest,
  type ImageIndex,
} from '../../protocol/index.js';
import { fsyncDirectory, writeFileAtomic } from './atomic-write.js';

/** The annotation that names a manifest in index.json (image spec, "Pre-Defined Annotation Keys"). */
export const REF_NAME = 'org.opencontainers.image.ref.name';
const INDEX_MAX_BYTES = 4 * 1024 * 1024;
/**
 * 64 KiB reads of a stored blob (Node's default for files). With 1 MiB reads
 * an unpack peaked at 67 MiB of live Buffers: zlib does not stop inflating an
 * input chunk when its reader is full, so each read's whole output waits in
 * the stream buffers (docs/agent-content.md, "Memory").
 */
const READ_CHUNK_BYTES = 64 * 1024;

export class ContentStore {
  /** The OCI layout directory. */
  readonly root: string;
  /** Where downloads in progress live, with their progress records. */
  readonly partialDir: string;

  private constructor(dataDir: string) {
    this.root = join(dataDir, 'content');
    this.partialDir = join(dataDir, 'partial');
  }

  /** Opens (and on first use creates) the store under `dataDir`. */
  static async open(dataDir: string): Promise<ContentStore> {
    const store = new ContentStore(dataDir);
    await mkdir(join(store.root, 'blobs', 'sha256'), { recursive: true });
    await mkdir(store.partialDir, { recursive: true });
    const layoutFile = join(store.root, 'oci-layout');
    if (!(await exists(layoutFile))) await writeFileAtomic(layoutFile, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    if (!(await exists(join(store.root, 'index.json')))) await store.writeIndex({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] });
    return store;
  }

  blobPath(digest: Digest): string {
    return digestPath(this.root, digest);
  }

  /** True when the blob is present with the descriptor's size (its digest was checked when it arrived). */
  async has(descriptor: Pick<Descriptor, 'digest' | 'size'>): Promise<boolean> {
    try {
      const info = await stat(this.blobPath(parseDigest(descriptor.digest)));
      return info.isFile() && info.size === descriptor.size;
    } catch {
      return false;
    }
  }

  /** Stores a small document (manifest, config) after checking its digest. */
  async putBytes(bytes: Uint8Array, digest: Digest): Promise<void> {
    verifyDigest(bytes, digest);
    await writeFileAtomic(this.blobPath(digest), bytes);
  }

  /** Moves a verified file from the partial area into `blobs/` (same filesystem: an atomic rename). */
  async commitFile(path: string, digest: Digest): Promise<void> {
    const handle = await open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(path, this.blobPath(digest));
    await fsyncDirectory(join(this.root, 'blobs', digest.algorithm));
  }

  /** Reads a small blob and checks it again: the disk is trusted no more than the network. */
  async readBytes(descriptor: Pick<Descriptor, 'digest' | 'size'>, maxBytes: number): Promise<Buffer> {
    const digest = parseDigest(descriptor.digest);
    if (descriptor.size > maxBytes) {
      throw new BootfleetError('BOOTFLEET_MESSAGE_TOO_LARGE', `blob ${digest.value} is ${descriptor.size} bytes, limit ${maxBytes}`);
    }
    let bytes: Buffer;
    try {
      bytes = await readFile(this.blobPath(digest));
    } catch (error) {
      throw new BootfleetError('BOOTFLEET_STORE_INVALID', `blob ${digest.value} is missing from the store`, { cause: error, details: { digest: digest.value } });
    }
    try {
      verifyDigest(bytes, digest);
    } catch (error) {
      throw new BootfleetError('BOOTFLEET_STORE_INVALID', `blob ${digest.value} in the store does not verify`, { cause: error, details: { digest: digest.value } });
    }
    return bytes;
  }

  /** The blob as a stream of READ_CHUNK_BYTES reads. */
  openRead(descriptor: Pick<Descriptor, 'digest'>): Readable {
    return createReadStream(this.blobPath(parseDigest(descriptor.digest)), { highWaterMark: READ_CHUNK_BYTES });
  }

  async readIndex(): Promise<ImageIndex> {
    try {
      return parseImageIndex(await readFile(join(this.root, 'index.json')));
    } catch (error) {
      if (error instanceof BootfleetError && error.code !== 'BOOTFLEET_STORE_INVALID') {
        throw new BootfleetError('BOOTFLEET_STORE_INVALID', `index.json of the store is invalid: ${error.message}`, { cause: error });
      }
      throw error;
    }
  }

  async writeIndex(index: ImageIndex): Promise<void> {
    const bytes = JSON.stringify(index);
    if (bytes.length > INDEX_MAX_BYTES) throw new BootfleetError('BOOTFLEET_MESSAGE_TOO_LARGE', 'store index.json would exceed 4 MiB');
    await writeFileAtomic(join(this.root, 'index.json'), bytes);
  }

  /** Names a manifest in index.json (replacing an earlier one of that name): a deployment's root for gc. */
  async setRef(name: string, descriptor: Descriptor): Promise<void> {
    const index = await this.readIndex();
    const others = index.manifests.filter((m) => m.annotations?.[REF_NAME] !== name);
    const { mediaType, digest, size } = descriptor;
    await this.writeIndex({ ...index, manifests: [...others, { mediaType, digest, size, annotations: { [REF_NAME]: name } }] });
  }

  async removeRef(name: string): Promise<void> {
    const index = await this.readIndex();
    await this.writeIndex({ ...index, manifests: index.manifests.filter((m) => m.annotations?.[REF_NAME] !== name) });
  }

  async resolveRef(name: string): Promise<Descriptor | undefined> {
    return (await this.readIndex()).manifests.find((m) => m.annotations?.[REF_NAME] === name);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
