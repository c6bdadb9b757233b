/**
 * Small root trees for deployment tests, made by the tests themselves: a few
 * directories, files whose content names the version, an executable, a
 * relative and an absolute symlink (as real root filesystems hold), and one
 * 64 KiB file so that a torn copy would show in the tree digest.
 */
import { mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { digestOf } from '../../protocol/index.js';
import { Deployer, directoryStageSource, rootfsBackend, type StageSource } from '../../agent/deploy/index.js';

export async function makeTree(dir: string, version: string): Promise<string> {
  await mkdir(join(dir, 'etc'), { recursive: true });
  await mkdir(join(dir, 'usr/bin'), { recursive: true });
  await mkdir(join(dir, 'usr/lib/app'), { recursive: true });
  await writeFile(join(dir, 'etc/os-release'), `NAME=bootfleet-test\nVERSION_ID=${version}\n`);
  await writeFile(join(dir, 'usr/bin/app'), `#!/bin/sh\necho app ${version}\n`, { mode: 0o755 });
  await writeFile(join(dir, 'usr/lib/app/data.bin'), Buffer.alloc(64 * 1024, version));
  for (let i = 0; i < 8; i += 1) await writeFile(join(dir, `usr/lib/app/part-${i}.txt`), `${version}:${i}\n`);
  await symlink('usr/bin', join(dir, 'bin'));
  await symlink('/usr/lib/app/data.bin', join(dir, 'etc/data-link'));
  return dir;
}

export function manifestFor(version: string): { manifestBytes: Buffer; manifestDigest: string; version: string } {
  const manifestBytes = Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json', annotations: { version } }));
  return { manifestBytes, manifestDigest: digestOf(manifestBytes).value, version };
}

export function treeSource(dir: string, version: string): StageSource {
  return directoryStageSource(dir, manifestFor(version));
}

/** The deployer's settings a test may set (probation length, boots, soak window, clock). */
export type DeviceOptions = Omit<ConstructorParameters<typeof Deployer>[0], 'dataDir' | 'backend'>;

/** A device on the rootfs backend in `dataDir`, provisioned with the tree of 1.0 (made in `<treesDir>/t1`). */
export async function provisionDevice(dataDir: string, treesDir: string, options: DeviceOptions = {}): Promise<Deployer> {
  const deployer = new Deployer({ dataDir, backend: rootfsBackend({ dataDir }), ...options });
  await deployer.provision(treeSource(await makeTree(join(treesDir, 't1'), '1.0'), '1.0'));
  return deployer;
}

/** `provisionDevice`, then 2.0 (made in `<treesDir>/t2`) staged and activated: the device is on probation. */
export async function deviceOnProbation(dataDir: string, treesDir: string, options: DeviceOptions = {}): Promise<Deployer> {
  const deployer = await provisionDevice(dataDir, treesDir, options);
  await deployer.stage(treeSource(await makeTree(join(treesDir, 't2'), '2.0'), '2.0'));
  await deployer.activate();
  return deployer;
}

/** The VERSION_ID of the tree the `current` link of `dataDir` points at ('' when it has none). */
export async function currentOsVersion(dataDir: string): Promise<string> {
  return (await readFile(join(dataDir, 'current/etc/os-release'), 'utf8')).split('VERSION_ID=')[1]?.trim() ?? '';
}
