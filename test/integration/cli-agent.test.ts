/**
 * `bootfleet agent unpack|inventory|gc` run in process on a store written as
 * an OCI layout (the store is one), with the exit codes scripts rely on.
 * `agent pull` is exercised as a real process in pull-kill-resume.test.ts.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ContentStore } from '../../agent/index.js';
import { runCli } from '../../cli/program.js';
import { writeBlob, writeLayout } from '../helpers/oci-layout-writer.js';
import { buildTar } from '../helpers/tar-build.js';

let dataDir: string;
let out: string;
let err: string;
const io = {
  out: (text: string) => {
    out += text;
  },
  err: (text: string) => {
    err += text;
  },
};

beforeEach(() => {
  dataDir = mkdtempSync(join(tmpdir(), 'bf-cli-agent-'));
  out = '';
  err = '';
});
afterEach(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

describe('bootfleet agent', () => {
  it('unpacks a stored image by name and by digest, lists and collects the store', async () => {
    const [image] = writeLayout(join(dataDir, 'content'), [{ tag: 'test', layers: [{ tar: buildTar([{ path: 'etc/os-release', body: 'ID=test\n' }]), compression: 'gzip' }] }]);
    if (image === undefined) throw new Error('no image');
    const store = await ContentStore.open(dataDir);
    await store.setRef('registry.example/os:1', image.manifest);

    expect(await runCli(['agent', 'unpack', 'registry.example/os:1', '--data-dir', dataDir, '--dest', join(dataDir, 'a')], io)).toBe(0);
    expect(readFileSync(join(dataDir, 'a', 'etc/os-release'), 'utf8')).toBe('ID=test\n');
    expect(await runCli(['agent', 'unpack', image.manifest.digest, '--data-dir', dataDir, '--dest', join(dataDir, 'b'), '--json'], io)).toBe(0);
    expect(out).toContain('"event":"unpack-layer"');

    out = '';
    expect(await runCli(['agent', 'inventory', '--data-dir', dataDir], io)).toBe(0);
    expect(JSON.parse(out)).toHaveLength(3);

    await store.removeRef('registry.example/os:1');
    await store.removeRef('test');
    out = '';
    expect(await runCli(['agent', 'gc', '--data-dir', dataDir], io)).toBe(0);
    expect(JSON.parse(out)).toMatchObject({ removed: expect.arrayContaining([image.manifest.digest]) as unknown });
  });

  it('exits 1 for an image not in the store and 2 for a bad flag', async () => {
    expect(await runCli(['agent', 'unpack', 'registry.example/none:1', '--data-dir', dataDir, '--dest', join(dataDir, 'x')], io)).toBe(1);
    expect(err).toContain('BOOTFLEET_REGISTRY_NOT_FOUND');
    expect(existsSync(join(dataDir, 'x'))).toBe(false);
    expect(await runCli(['agent', 'pull', 'host/os:1', '--data-dir', dataDir, '--stall-timeout', 'soon'], io)).toBe(2);
  });

  it('exits 3 when a layer does not match its diff_id', async () => {
    const tar = buildTar([{ path: 'f', body: 'x' }]);
    const [image] = writeLayout(join(dataDir, 'content'), [{ tag: 't', layers: [{ tar, compression: 'none' }] }]);
    if (image === undefined) throw new Error('no image');
    // Rewrite the config with a wrong diff_id: the blob digests still match, the content does not.
    const config = writeBlob(join(dataDir, 'content'), JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${'0'.repeat(64)}`] } }), image.config.mediaType);
    const manifest = writeBlob(join(dataDir, 'content'), JSON.stringify({ schemaVersion: 2, config, layers: image.layers }), image.manifest.mediaType);
    expect(await runCli(['agent', 'unpack', manifest.digest, '--data-dir', dataDir, '--dest', join(dataDir, 'y')], io)).toBe(3);
    expect(err).toContain('BOOTFLEET_UNPACK_DIFF_ID_MISMATCH');
    expect(existsSync(join(dataDir, 'y'))).toBe(false);
  });
});
