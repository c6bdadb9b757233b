/**
 * The registry against the real skopeo: a multi-layer image and a
 * multi-platform index, built by the test as OCI layouts, copied into the
 * registry and back out with identical manifest digests and blobs.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { finishLayout, writeImage, writeIndex } from '../helpers/oci-layout.js';
import { DEVICE_TOKEN, OPERATOR_TOKEN } from '../helpers/registry.js';
import { requireTool } from '../helpers/tools.js';
import { useRegistryServer } from '../helpers/registry-server.js';

const run = promisify(execFile);
const skopeo = requireTool('skopeo');

async function skopeoRun(args: string[]): Promise<string> {
  const { stdout } = await run(skopeo.path ?? 'skopeo', args, { timeout: 60_000, maxBuffer: 64 * 1024 * 1024 });
  return stdout;
}

function sha256(text: string | Buffer): string {
  return `sha256:${createHash('sha256').update(text).digest('hex')}`;
}

describe.skipIf(skopeo.skip)('registry with skopeo', () => {
  const reg = useRegistryServer('bootfleet-reg-skopeo-');

  it('copies a multi-layer image in and out with identical digests', async () => {
    const src = join(reg.dir, 'src');
    const top = await writeImage(src, reg.dir, 'amd64', [
      { 'etc/os-release': 'ID=bootfleet\n' },
      { 'usr/bin/tool': Buffer.alloc(300_000, 7) },
      { 'var/lib/data': 'state\n' },
    ]);
    await finishLayout(src, top, 'v1');
    const ref = `docker://${reg.host}/fleet/os:v1`;
    await skopeoRun(['copy', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', `ci:${OPERATOR_TOKEN}`, `oci:${src}:v1`, ref]);
    const inRegistry = await skopeoRun(['inspect', '--raw', '--tls-verify=false', '--creds', `device:${DEVICE_TOKEN}`, ref]);
    expect(sha256(inRegistry)).toBe(top.digest);
    const dst = join(reg.dir, 'dst');
    await skopeoRun(['copy', '--preserve-digests', '--src-tls-verify=false', '--src-creds', `device:${DEVICE_TOKEN}`, ref, `oci:${dst}:v1`]);
    const outRaw = await skopeoRun(['inspect', '--raw', `oci:${dst}:v1`]);
    expect(sha256(outRaw)).toBe(top.digest);
    const manifest = JSON.parse(outRaw) as { layers: { digest: string }[]; config: { digest: string } };
    expect(manifest.layers).toHaveLength(3);
    for (const { digest } of [...manifest.layers, manifest.config]) {
      const bytes = await readFile(join(dst, 'blobs', 'sha256', digest.slice(7)));
      expect(sha256(bytes)).toBe(digest);
      expect(bytes.equals(await readFile(join(src, 'blobs', 'sha256', digest.slice(7))))).toBe(true);
    }
  });

  it('copies a multi-platform index with all its platforms', async () => {
    const src = join(reg.dir, 'multi-src');
    const amd = await writeImage(src, reg.dir, 'amd64', [{ 'etc/arch': 'amd64\n' }]);
    const arm = await writeImage(src, reg.dir, 'arm64', [{ 'etc/arch': 'arm64\n' }]);
    const index = await writeIndex(src, [amd, arm]);
    await finishLayout(src, index, 'multi');
    const ref = `docker://${reg.host}/fleet/multi:v2`;
    await skopeoRun(['copy', '--all', '--preserve-digests', '--dest-tls-verify=false', '--dest-creds', `ci:${OPERATOR_TOKEN}`, `oci:${src}:multi`, ref]);
    const raw = await skopeoRun(['inspect', '--raw', '--tls-verify=false', '--creds', `device:${DEVICE_TOKEN}`, ref]);
    expect(sha256(raw)).toBe(index.digest);
    const dst = join(reg.dir, 'multi-dst');
    await skopeoRun(['copy', '--all', '--preserve-digests', '--src-tls-verify=false', '--src-creds', `device:${DEVICE_TOKEN}`, ref, `oci:${dst}:multi`]);
    expect(sha256(await skopeoRun(['inspect', '--raw', `oci:${dst}:multi`]))).toBe(index.digest);
    for (const child of [amd, arm]) {
      const bytes = await readFile(join(dst, 'blobs', 'sha256', child.digest.slice(7)));
      expect(sha256(bytes)).toBe(child.digest);
    }
    const tags = await skopeoRun(['list-tags', '--tls-verify=false', '--creds', `device:${DEVICE_TOKEN}`, `docker://${reg.host}/fleet/multi`]);
    expect(JSON.parse(tags)).toMatchObject({ Tags: ['v2'] });
  });

  it('stores a Docker schema 2 manifest that skopeo converts to, and serves it with its media type', async () => {
    const src = join(reg.dir, 'src');
    const ref = `docker://${reg.host}/fleet/docker:v1`;
    await skopeoRun(['copy', '--format', 'v2s2', '--dest-tls-verify=false', '--dest-creds', `ci:${OPERATOR_TOKEN}`, `oci:${src}:v1`, ref]);
    const raw = await skopeoRun(['inspect', '--raw', '--tls-verify=false', '--creds', `device:${DEVICE_TOKEN}`, ref]);
    expect(JSON.parse(raw)).toMatchObject({ mediaType: 'application/vnd.docker.distribution.manifest.v2+json' });
    const res = await fetch(`${reg.url}/v2/fleet/docker/manifests/v1`, { method: 'HEAD', headers: { authorization: `Bearer ${DEVICE_TOKEN}` } });
    expect(res.headers.get('content-type')).toBe('application/vnd.docker.distribution.manifest.v2+json');
    expect(res.headers.get('docker-content-digest')).toBe(sha256(raw));
  });

  it('refuses a push with a device token and a pull without credentials', async () => {
    const ref = `docker://${reg.host}/fleet/os:v1`;
    await expect(skopeoRun(['inspect', '--raw', '--tls-verify=false', ref])).rejects.toThrow();
    const src = join(reg.dir, 'src');
    await expect(
      skopeoRun(['copy', '--dest-tls-verify=false', '--dest-creds', `device:${DEVICE_TOKEN}`, `oci:${src}:v1`, `docker://${reg.host}/fleet/other:v1`]),
    ).rejects.toThrow(/denied|DENIED|403/);
  });
});
