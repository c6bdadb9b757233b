/**
 * A bootfleet server with its embedded registry (registry.ts `registryServerConfig`: operator and device
 * tokens) for the registry tests of one `describe`: started in a scratch directory before its tests
 * (beforeAll), closed and the directory removed after them (afterAll).
 */
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import type { ServerConfig } from '../../server/config.js';
import { startServer, type RunningServer } from '../../server/index.js';
import { registryServerConfig, tempDir } from './registry.js';

export interface RegistryServer {
  /** The scratch directory; the server keeps its data in `<dir>/data`. */
  readonly dir: string;
  readonly server: RunningServer;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  /** `127.0.0.1:<port>`, as image references name the registry. */
  readonly host: string;
}

export function useRegistryServer(tmpPrefix: string, registry: Partial<NonNullable<ServerConfig['registry']>> = {}): RegistryServer {
  let dir: Awaited<ReturnType<typeof tempDir>> | undefined;
  let server: RunningServer | undefined;
  beforeAll(async () => {
    dir = await tempDir(tmpPrefix);
    server = await startServer(registryServerConfig(join(dir.path, 'data'), registry));
  });
  afterAll(async () => {
    await server?.close();
    await dir?.remove();
  });
  const running = (): RunningServer => {
    if (server === undefined) throw new Error('the registry server is not started');
    return server;
  };
  return {
    get dir() {
      if (dir === undefined) throw new Error('the scratch directory is not made');
      return dir.path;
    },
    get server() {
      return running();
    },
    get url() {
      return running().url;
    },
    get host() {
      return running().url.replace(/^http:\/\//, '');
    },
  };
}
