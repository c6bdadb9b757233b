/**
 * Small root trees for deployment tests, made by the tests themselves: a few
 * directories, files whose content names the version, an executable, a
 * relative and an absolute symlink (as real root filesystems hold), and one
 * 64 KiB file so that a torn copy would show in the tree digest.
 */
import { mkdir, symlink, writeFile } from 'node:fs/promises';
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

/** A device on the rootfs backend in `dataDir`, provisioned with the tree of `version` (made in `<treesDir>/t1`). */
export async function provisionDevice(dataDir: string, treesDir: string, version = '1.0'): Promise<Deployer> {
  const deployer = new Deployer({ dataDir, backend: rootfsBackend({ dataDir }) });
  await deployer.provision(treeSource(await makeTree(join(treesDir, 't1'), version), version));
  return deployer;
}
