/** The registry's parts, made once per server from the data directory and the state database. */
import { join } from 'node:path';
import type { Level } from 'level';
import { defaultRegistryConfig, type RegistryConfig, type ServerConfig } from '../config.js';
import { RegistryAuth } from './auth.js';
import { BlobStore } from './blob-store.js';
import { RegistryMetadata } from './metadata.js';
import { UploadSessions } from './upload-sessions.js';

/** Blob byte counters (server/metrics.ts): one call per chunk read or per download. */
export interface BlobByteMeter {
  blobBytes(direction: 'served' | 'received', bytes: number): void;
}

export interface Registry {
  readonly config: RegistryConfig;
  readonly store: BlobStore;
  readonly meta: RegistryMetadata;
  readonly uploads: UploadSessions;
  readonly auth: RegistryAuth;
}

/** `<dataDir>/registry`: blobs under `blobs/<alg>/<hex>`, upload files under `uploads/`. */
export function registryRoot(dataDir: string): string {
  return join(dataDir, 'registry');
}

export async function openRegistry(config: Pick<ServerConfig, 'dataDir' | 'registry'>, db: Level): Promise<Registry> {
  const full: RegistryConfig = { ...defaultRegistryConfig(), ...config.registry };
  const store = new BlobStore(registryRoot(config.dataDir));
  await store.init();
  const meta = new RegistryMetadata(db);
  return { config: full, store, meta, uploads: new UploadSessions(store, meta, full), auth: new RegistryAuth(full) };
}
