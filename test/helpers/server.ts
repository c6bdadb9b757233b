/** Starts a whole bootfleet server (HTTP + embedded broker + level) on port 0 with test tokens. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrokerConfig } from '../../server/broker/config.js';
import { loadServerConfig, type ServerConfigOverrides } from '../../server/config.js';
import { hashToken } from '../../server/identity/tokens.js';
import { startServer, type RunningServer } from '../../server/start.js';

export const TOKENS = {
  viewer: 'bf_test-viewer-token',
  operator: 'bf_test-operator-token',
  admin: 'bf_test-admin-token',
  enrollment: 'bf_test-enrollment-token',
} as const;

export interface TestServer {
  readonly server: RunningServer;
  readonly url: string;
  readonly mqttUrl: string;
  readonly dir: string;
  /** Calls the API with a role's token; returns status and parsed JSON body. */
  api(method: string, path: string, options?: { token?: string | null; body?: unknown }): Promise<{ status: number; body: unknown }>;
  stop(): Promise<void>;
  destroy(): Promise<void>;
}

/** `extra` adds configuration, e.g. `registry` tokens for the embedded registry. */
export async function startTestServer(broker: Partial<BrokerConfig> = {}, dir?: string, extra: ServerConfigOverrides = {}): Promise<TestServer> {
  const dataDir = dir ?? (await mkdtemp(join(tmpdir(), 'bootfleet-server-')));
  const config = await loadServerConfig(undefined, {
    dataDir,
    http: { host: '127.0.0.1', port: 0 },
    logLevel: 'silent',
    broker: { mode: 'embedded', tcp: { host: '127.0.0.1', port: 0 }, ...broker },
    auth: {
      apiTokens: (['viewer', 'operator', 'admin'] as const).map((role) => ({ name: role, role, hash: hashToken(TOKENS[role]) })),
      enrollmentTokens: [{ name: 'test-fleet', hash: hashToken(TOKENS.enrollment) }],
    },
    ...extra,
  });
  const server = await startServer(config);
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await server.close();
  };
  return {
    server,
    url: server.url,
    mqttUrl: server.control.plane.endpoints.tcp ?? '',
    dir: dataDir,
    async api(method, path, options = {}) {
      const token = options.token === undefined ? TOKENS.admin : options.token;
      const headers: Record<string, string> = {};
      if (token !== null) headers.authorization = `Bearer ${token}`;
      if (options.body !== undefined) headers['content-type'] = 'application/json';
      const response = await fetch(`${server.url}${path}`, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body) });
      const text = await response.text();
      return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
    },
    stop,
    async destroy() {
      await stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
