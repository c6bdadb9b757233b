import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildApp, loadServerConfig } from '../../server/index.js';
import { generateSigningKey } from '../../protocol/index.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('bootfleet-config-');

describe('server configuration', () => {
  it('defaults to loopback, then file, then flags', async () => {
    const defaults = await loadServerConfig(undefined);
    expect(defaults.http).toEqual({ host: '127.0.0.1', port: 8080 });
    const file = join(dir(), 'server.json');
    await writeFile(file, JSON.stringify({ dataDir: dir(), http: { port: 9000 }, logLevel: 'warn' }));
    const merged = await loadServerConfig(file, { http: { host: '::1' } });
    expect(merged).toMatchObject({ dataDir: dir(), http: { host: '::1', port: 9000 }, logLevel: 'warn' });
  });
  it('names the bad field', async () => {
    const file = join(dir(), 'bad.json');
    await writeFile(file, JSON.stringify({ http: { port: 'eighty' } }));
    await expect(loadServerConfig(file)).rejects.toMatchObject({ code: 'BOOTFLEET_CONFIG_INVALID' });
    await writeFile(file, '{ nope');
    await expect(loadServerConfig(file)).rejects.toMatchObject({ code: 'BOOTFLEET_CONFIG_INVALID' });
    await expect(loadServerConfig(join(dir(), 'missing.json'))).rejects.toMatchObject({ code: 'BOOTFLEET_CONFIG_INVALID' });
    await writeFile(file, JSON.stringify({ surprise: true }));
    await expect(loadServerConfig(file)).rejects.toMatchObject({ code: 'BOOTFLEET_CONFIG_INVALID' });
  });
});

describe('HTTP app', () => {
  it('answers readiness from its dependency state, and 404s in the error format', async () => {
    let ready = false;
    const app = await buildApp({ signingKey: generateSigningKey('ed25519'), isReady: () => ready });
    try {
      expect((await app.inject('/readyz')).statusCode).toBe(503);
      ready = true;
      expect((await app.inject('/readyz')).statusCode).toBe(200);
      const missing = await app.inject('/nope?x=1');
      expect(missing.statusCode).toBe(404);
      expect(missing.json()).toMatchObject({ code: 'BOOTFLEET_NOT_FOUND', message: 'no route GET /nope' });
    } finally {
      await app.close();
    }
  });
});
