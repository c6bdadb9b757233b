/**
 * `bootfleet image sign/verify` against the real server: the bundle lands as
 * an OCI artifact with the image as subject, the referrers API finds it, and
 * verify accepts the right key only. `bootfleet image gc` then removes what
 * nothing refers to and keeps the image and its signature pullable.
 */
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MediaType } from '../../protocol/index.js';
import { startServer, type RunningServer } from '../../server/index.js';
import { captureCli } from '../helpers/cli-capture.js';
import { blobOf, deviceAuth, OPERATOR_TOKEN, DEVICE_TOKEN, pushBlob, pushImage, registryServerConfig, tempDir } from '../helpers/registry.js';

const cli = captureCli;

describe('image sign, verify and gc', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: RunningServer | undefined;
  let host: string;
  let operatorTokenFile: string;
  let deviceTokenFile: string;

  beforeEach(async () => {
    dir = await tempDir('bootfleet-reg-sign-');
    server = await startServer(registryServerConfig(join(dir.path, 'data')));
    host = server.url.replace(/^http:\/\//, '');
    operatorTokenFile = join(dir.path, 'operator.token');
    deviceTokenFile = join(dir.path, 'device.token');
    await writeFile(operatorTokenFile, `${OPERATOR_TOKEN}\n`);
    await writeFile(deviceTokenFile, DEVICE_TOKEN);
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await dir.remove();
  });

  it('signs an image, finds the signature through the referrers API and verifies it with the right key only', async () => {
    const url = server?.url ?? '';
    const manifest = await pushImage(url, 'fleet/os', [blobOf('rootfs layer')], {}, 'v1');
    for (const name of ['builder', 'stranger']) expect((await cli(['keys', 'generate', '-o', join(dir.path, name)])).code).toBe(0);

    const signed = await cli(['image', 'sign', `${host}/fleet/os:v1`, '--key', join(dir.path, 'builder.key'), '--token-file', operatorTokenFile, '--plain-http']);
    expect(signed.err).toBe('');
    expect(signed.code).toBe(0);
    const result = JSON.parse(signed.out) as { image: string; signature: string; referrersIndexed: boolean };
    expect(result).toMatchObject({ image: manifest.digest, referrersIndexed: true });

    const referrers = await fetch(`${url}/v2/fleet/os/referrers/${manifest.digest}?artifactType=${encodeURIComponent(MediaType.sigstoreBundle)}`, { headers: deviceAuth });
    const index = (await referrers.json()) as { manifests: { digest: string; artifactType: string }[] };
    expect(index.manifests).toEqual([expect.objectContaining({ digest: result.signature, artifactType: MediaType.sigstoreBundle })]);

    const verified = await cli(['image', 'verify', `${host}/fleet/os@${manifest.digest}`, '--key', join(dir.path, 'builder.pub'), '--token-file', deviceTokenFile, '--plain-http']);
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.out)).toMatchObject({ image: manifest.digest, signature: result.signature });

    const wrongKey = await cli(['image', 'verify', `${host}/fleet/os:v1`, '--key', join(dir.path, 'stranger.pub'), '--token-file', deviceTokenFile, '--plain-http']);
    expect(wrongKey.code).toBe(3);
    expect(wrongKey.err).toContain('BOOTFLEET_SIG_MISSING');

    await pushImage(url, 'fleet/os', [blobOf('unsigned layer')], {}, 'v2');
    const unsigned = await cli(['image', 'verify', `${host}/fleet/os:v2`, '--key', join(dir.path, 'builder.pub'), '--token-file', deviceTokenFile, '--plain-http']);
    expect(unsigned.code).toBe(3);
    expect(unsigned.err).toContain('BOOTFLEET_SIG_MISSING');

    const noToken = await cli(['image', 'sign', `${host}/fleet/os:v1`, '--key', join(dir.path, 'builder.key'), '--plain-http']);
    expect(noToken.code).not.toBe(0);
    expect(noToken.err).toContain('BOOTFLEET_REGISTRY_AUTH_FAILED');
    // A device token may pull but not push: the registry's DENIED reaches the operator as its own code.
    const denied = await cli(['image', 'sign', `${host}/fleet/os:v1`, '--key', join(dir.path, 'builder.key'), '--token-file', deviceTokenFile, '--plain-http']);
    expect(denied.code).not.toBe(0);
    expect(denied.err).toContain('BOOTFLEET_REGISTRY_DENIED');
  });

  it('gc removes unreferenced blobs and keeps images and signatures', async () => {
    const url = server?.url ?? '';
    const layer = blobOf('kept layer');
    const manifest = await pushImage(url, 'fleet/os', [layer], {}, 'v1');
    const orphan = blobOf('nobody refers to me');
    await pushBlob(url, 'fleet/os', orphan);
    expect((await cli(['keys', 'generate', '-o', join(dir.path, 'builder')])).code).toBe(0);
    expect((await cli(['image', 'sign', `${host}/fleet/os:v1`, '--key', join(dir.path, 'builder.key'), '--token-file', operatorTokenFile, '--plain-http'])).code).toBe(0);
    await server?.close();
    server = undefined;

    const dataDir = join(dir.path, 'data');
    const dry = await cli(['image', 'gc', '--data-dir', dataDir, '--grace', '0', '--dry-run']);
    expect(JSON.parse(dry.out)).toMatchObject({ dryRun: true, removedBlobs: [orphan.digest] });
    const gc = await cli(['image', 'gc', '--data-dir', dataDir, '--grace', '0']);
    expect(gc.code).toBe(0);
    expect(JSON.parse(gc.out)).toMatchObject({ dryRun: false, removedBlobs: [orphan.digest] });
    const left = await readdir(join(dataDir, 'registry', 'blobs', 'sha256'));
    expect(left).not.toContain(orphan.digest.slice(7));
    expect(left).toContain(layer.digest.slice(7));

    server = await startServer(registryServerConfig(dataDir));
    host = server.url.replace(/^http:\/\//, '');
    expect((await fetch(`${server.url}/v2/fleet/os/blobs/${orphan.digest}`, { headers: deviceAuth })).status).toBe(404);
    expect((await fetch(`${server.url}/v2/fleet/os/blobs/${layer.digest}`, { headers: deviceAuth })).status).toBe(200);
    const verified = await cli(['image', 'verify', `${host}/fleet/os@${manifest.digest}`, '--key', join(dir.path, 'builder.pub'), '--token-file', deviceTokenFile, '--plain-http']);
    expect(verified.code).toBe(0);
  });
});
