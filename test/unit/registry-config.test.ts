import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadServerConfig } from '../../server/config.js';
import { sha256Hex } from '../../server/registry/index.js';
import { tempDir } from '../helpers/registry.js';

describe('registry configuration', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    dir = await tempDir('bootfleet-reg-config-');
  });
  afterAll(async () => {
    await dir.remove();
  });

  it('reads a partial registry section from the configuration file', async () => {
    const file = join(dir.path, 'server.json');
    await writeFile(file, JSON.stringify({ registry: { anonymousPull: true, operatorTokenSha256: [sha256Hex('t')] } }));
    const config = await loadServerConfig(file);
    expect(config.registry).toEqual({ anonymousPull: true, operatorTokenSha256: [sha256Hex('t')] });
  });

  it('refuses a token that is not a SHA-256 hex digest (a clear-text token by mistake)', async () => {
    const file = join(dir.path, 'bad.json');
    await writeFile(file, JSON.stringify({ registry: { operatorTokenSha256: ['my-secret-token'] } }));
    await expect(loadServerConfig(file)).rejects.toMatchObject({ code: 'BOOTFLEET_CONFIG_INVALID' });
  });
});
