/**
 * `bootfleet image sign/verify` against Debian's docker-registry (Distribution
 * 2.8), which has no referrers API: the signature is found through the
 * referrers tag schema (`sha256-<hex>` index) instead. The image is pushed
 * there by skopeo from an OCI layout the test writes.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureCli } from '../helpers/cli-capture.js';
import { finishLayout, writeImage } from '../helpers/oci-layout.js';
import { tempDir } from '../helpers/registry.js';
import { requireTool } from '../helpers/tools.js';
import { freePort } from '../helpers/ports.js';
import { pushLayout, startRegistry, type TestRegistry } from '../helpers/distribution-registry.js';

const run = promisify(execFile);
const skopeo = requireTool('skopeo');
const distribution = requireTool('docker-registry');


const cli = captureCli;

describe.skipIf(skopeo.skip || distribution.skip)('image signatures on a registry without the referrers API', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let child: ChildProcess | undefined;
  let host: string;

  beforeAll(async () => {
    dir = await tempDir('bootfleet-sign-dist-');
    const port = await freePort();
    host = `127.0.0.1:${port}`;
    await mkdir(join(dir.path, 'storage'));
    const config = join(dir.path, 'config.yml');
    await writeFile(config, `version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir.path, 'storage')}\nhttp:\n  addr: ${host}\n`);
    child = spawn(distribution.path ?? 'docker-registry', ['serve', config], { stdio: 'ignore' });
    const deadline = Date.now() + 10_000;
    for (let i = 0; i < 400 && Date.now() < deadline; i += 1) {
      if ((await fetch(`http://${host}/v2/`).then((r) => r.status).catch(() => 0)) === 200) break;
      await new Promise((r) => setTimeout(r, 25));
    }
  });
  afterAll(async () => {
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise((r) => child?.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    await dir.remove();
  });

  it('signs into the referrers tag schema and verifies from it', async () => {
    const layout = join(dir.path, 'layout');
    const image = await writeImage(layout, dir.path, 'amd64', [{ 'etc/os-release': 'ID=bootfleet\n' }]);
    await finishLayout(layout, image, 'v1');
    await run(skopeo.path ?? 'skopeo', ['copy', '--dest-tls-verify=false', `oci:${layout}:v1`, `docker://${host}/fleet/os:v1`], { timeout: 60_000 });
    for (const name of ['builder', 'stranger']) expect((await cli(['keys', 'generate', '-o', join(dir.path, name)])).code).toBe(0);

    const signed = await cli(['image', 'sign', `${host}/fleet/os:v1`, '--key', join(dir.path, 'builder.key'), '--plain-http']);
    expect(signed.err).toBe('');
    expect(JSON.parse(signed.out)).toMatchObject({ image: image.digest, referrersIndexed: false });
    const { stdout } = await run(skopeo.path ?? 'skopeo', ['list-tags', '--tls-verify=false', `docker://${host}/fleet/os`], { timeout: 60_000 });
    expect((JSON.parse(stdout) as { Tags: string[] }).Tags).toContain(image.digest.replace(':', '-'));

    const verified = await cli(['image', 'verify', `${host}/fleet/os:v1`, '--key', join(dir.path, 'builder.pub'), '--plain-http']);
    expect(verified.code).toBe(0);
    const wrongKey = await cli(['image', 'verify', `${host}/fleet/os:v1`, '--key', join(dir.path, 'stranger.pub'), '--plain-http']);
    expect(wrongKey.code).toBe(3);
    expect(wrongKey.err).toContain('BOOTFLEET_SIG_MISSING');
  });
});

describe.skipIf(skopeo.skip || distribution.skip)('image signatures on a registry with Basic auth (htpasswd)', () => {
  const creds = { username: 'builder', password: 'builder-secret' };
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let registry: TestRegistry | undefined;

  beforeAll(async () => {
    dir = await tempDir('bootfleet-sign-auth-');
    registry = await startRegistry(distribution.path ?? 'docker-registry', creds);
  });
  afterAll(async () => {
    await registry?.stop();
    await dir.remove();
  });

  it('pushes and reads with --username and --password-file; a wrong password fails with BOOTFLEET_REGISTRY_AUTH_FAILED', async () => {
    const host = registry?.host ?? '';
    const layout = join(dir.path, 'layout');
    const image = await writeImage(layout, dir.path, 'amd64', [{ 'etc/os-release': 'ID=bootfleet\n' }]);
    await finishLayout(layout, image, 'v1');
    await pushLayout(skopeo.path ?? 'skopeo', layout, 'v1', `${host}/fleet/os:v1`, creds);
    expect((await cli(['keys', 'generate', '-o', join(dir.path, 'builder')])).code).toBe(0);
    const good = join(dir.path, 'password');
    const bad = join(dir.path, 'wrong-password');
    await writeFile(good, `${creds.password}\n`);
    await writeFile(bad, 'nope\n');
    const auth = ['--username', creds.username, '--plain-http'];

    const signed = await cli(['image', 'sign', `${host}/fleet/os:v1`, '--key', join(dir.path, 'builder.key'), ...auth, '--password-file', good]);
    expect(signed.err).toBe('');
    expect(JSON.parse(signed.out)).toMatchObject({ image: image.digest });
    const verified = await cli(['image', 'verify', `${host}/fleet/os:v1`, '--key', join(dir.path, 'builder.pub'), ...auth, '--password-file', good]);
    expect(verified.code).toBe(0);

    const refused = await cli(['image', 'verify', `${host}/fleet/os:v1`, '--key', join(dir.path, 'builder.pub'), ...auth, '--password-file', bad]);
    expect(refused.code).not.toBe(0);
    expect(refused.err).toContain('BOOTFLEET_REGISTRY_AUTH_FAILED');
    const anonymous = await cli(['image', 'verify', `${host}/fleet/os:v1`, '--key', join(dir.path, 'builder.pub'), '--plain-http']);
    expect(anonymous.err).toContain('BOOTFLEET_REGISTRY_AUTH_FAILED');
  });
});
