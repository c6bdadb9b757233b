/**
 * Blob upload sessions (distribution spec, "Pushing blobs": POST, PATCH,
 * PUT). A session is a record in level plus a temporary file; the record's
 * `offset` is only advanced after the chunk is fsynced, so after a crash the
 * file holds at least `offset` good bytes.
 *
 * Resume after a restart: the running SHA-256 lives in memory only (Node
 * cannot serialise a Hash). When a session is used and its in-memory hash is
 * missing or stale, the temporary file is truncated to the acknowledged
 * offset and the hash is recomputed from it (about 1.4 GB/s with SHA-NI), a
 * one-off cost per restart that keeps the on-disk format trivial.
 */
import { randomUUID, type Hash } from 'node:crypto';
import { truncate, unlink, writeFile } from 'node:fs/promises';
import { createDigester, parseDigest, type Digest } from '../../protocol/index.js';
import type { BlobStore } from './blob-store.js';
import { registryError } from './errors.js';
import type { RegistryMetadata, UploadSession } from './metadata.js';
import { isUploadId } from './names.js';

export interface ChunkRange {
  readonly start: number;
  readonly end: number;
}

export interface UploadLimits {
  readonly maxUploadSessions: number;
  readonly maxBlobBytes: number;
}

export class UploadSessions {
  private readonly hashes = new Map<string, { hash: Hash; offset: number }>();
  /** Sessions with a request in flight; a second concurrent request is refused. */
  private readonly busy = new Set<string>();

  constructor(
    private readonly store: BlobStore,
    private readonly meta: RegistryMetadata,
    private readonly limits: UploadLimits,
  ) {}

  async start(name: string): Promise<UploadSession> {
    if ((await this.meta.countSessions(this.limits.maxUploadSessions)) >= this.limits.maxUploadSessions) {
      throw registryError('BOOTFLEET_REGISTRY_TOO_MANY_REQUESTS', `${this.limits.maxUploadSessions} uploads are open already`);
    }
    const session: UploadSession = { id: randomUUID(), name, offset: 0, startedAt: Date.now() };
    await writeFile(this.store.uploadPath(session.id), new Uint8Array(0), { mode: 0o600 });
    await this.meta.putSession(session);
    return session;
  }

  async get(name: string, id: string): Promise<UploadSession> {
    const session = isUploadId(id) ? await this.meta.getSession(id) : undefined;
    if (session?.name !== name) throw registryError('BOOTFLEET_REGISTRY_BLOB_UPLOAD_UNKNOWN', 'no such upload', { uploadId: id.slice(0, 64) });
    return session;
  }

  /** PATCH: appends a chunk; with a Content-Range it must start at the current offset. */
  async append(name: string, id: string, body: AsyncIterable<Uint8Array>, range: ChunkRange | undefined): Promise<UploadSession> {
    return this.exclusive(name, id, async (session) => {
      if (range !== undefined && range.start !== session.offset) {
        throw registryError('BOOTFLEET_REGISTRY_CHUNK_OUT_OF_ORDER', `chunk starts at ${range.start}, upload is at ${session.offset}`, {
          offset: session.offset,
        });
      }
      const written = await this.write(session, body);
      if (range !== undefined && written !== range.end - range.start + 1) {
        this.hashes.delete(id);
        throw registryError('BOOTFLEET_REGISTRY_SIZE_INVALID', `Content-Range announces ${range.end - range.start + 1} bytes, body had ${written}`);
      }
      const next = { ...session, offset: session.offset + written };
      await this.meta.putSession(next);
      const live = this.hashes.get(id);
      if (live !== undefined) live.offset = next.offset;
      return next;
    });
  }

  /** PUT: appends the last chunk (possibly empty), verifies the digest, moves the blob into the store. */
  async finish(name: string, id: string, body: AsyncIterable<Uint8Array>, digestParam: string | undefined): Promise<Digest> {
    if (digestParam === undefined) throw registryError('BOOTFLEET_REGISTRY_BLOB_UPLOAD_INVALID', 'the final PUT needs a digest query parameter');
    const digest = parseDigest(digestParam);
    return this.exclusive(name, id, async (session) => {
      const written = await this.write(session, body);
      const total = session.offset + written;
      const path = this.store.uploadPath(id);
      const live = this.hashes.get(id);
      this.hashes.delete(id);
      const hash = digest.algorithm === 'sha256' && live !== undefined ? live.hash : await this.store.hashFile(path, digest.algorithm, total);
      await this.meta.deleteSession(id);
      await this.store.commit(path, digest, hash.digest('hex'));
      return digest;
    });
  }

  async cancel(name: string, id: string): Promise<void> {
    await this.exclusive(name, id, async () => {
      this.hashes.delete(id);
      await this.meta.deleteSession(id);
      await unlink(this.store.uploadPath(id)).catch(() => undefined);
    });
  }

  /** POST with `digest`: the whole blob in one request, no session record. */
  async monolithic(body: AsyncIterable<Uint8Array>, digestParam: string): Promise<Digest> {
    const digest = parseDigest(digestParam);
    const path = this.store.uploadPath(randomUUID());
    const hash = createDigester(digest.algorithm);
    try {
      await this.store.append(path, body, hash, this.limits.maxBlobBytes);
    } catch (error) {
      await unlink(path).catch(() => undefined);
      throw error;
    }
    await this.store.commit(path, digest, hash.digest('hex'));
    return digest;
  }

  private async exclusive<T>(name: string, id: string, fn: (session: UploadSession) => Promise<T>): Promise<T> {
    const session = await this.get(name, id);
    if (this.busy.has(id)) {
      throw registryError('BOOTFLEET_REGISTRY_CHUNK_OUT_OF_ORDER', 'another request is writing to this upload', { offset: session.offset });
    }
    this.busy.add(id);
    try {
      return await fn(session);
    } finally {
      this.busy.delete(id);
    }
  }

  /** Appends `body` at the session's offset; a failure forgets the in-memory hash (the next use re-derives it). */
  private async write(session: UploadSession, body: AsyncIterable<Uint8Array>): Promise<number> {
    const hash = await this.hashAt(session);
    try {
      return await this.store.append(this.store.uploadPath(session.id), body, hash, this.limits.maxBlobBytes - session.offset);
    } catch (error) {
      this.hashes.delete(session.id);
      throw error;
    }
  }

  private async hashAt(session: UploadSession): Promise<Hash> {
    const live = this.hashes.get(session.id);
    if (live?.offset === session.offset) return live.hash;
    // After a restart or a failed chunk the file may hold unacknowledged bytes: cut them off.
    const path = this.store.uploadPath(session.id);
    await truncate(path, session.offset);
    const hash = await this.store.hashFile(path, 'sha256', session.offset);
    this.hashes.set(session.id, { hash, offset: session.offset });
    return hash;
  }
}
