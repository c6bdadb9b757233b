/**
 * Deployment directories (docs/agent-deployment.md, "Deployments"):
 *
 *   <data>/deployments/<id>/root/            the deployment's tree
 *   <data>/deployments/<id>/manifest.json    the image manifest, as fetched
 *   <data>/deployments/<id>/deployment.json  id, digests, version
 *
 * A deployment is built under `.staging-<id>`, flushed, and published by one
 * rename: a directory named `<id>` is always complete. Removal goes the other
 * way (rename to `.trash-<id>`, then delete), so a half-deleted tree never
 * carries a deployment's name either.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  BootfleetError,
  deploymentRecordParser,
  digestOf,
  parseDigest,
  parseJson,
  parseVersion,
  referencedDeployments,
  DEPLOYMENT_RECORD_MAX_BYTES,
  type AgentState,
  type DeploymentRecord,
  type DeploymentRef,
} from '../../protocol/index.js';
import { crashPoint } from './crash-point.js';
import { fsyncPath, syncFileSystem } from './durable-fs.js';
import type { StageSource } from './stage-source.js';
import { treeDigest } from './tree-digest.js';

const STAGING_PREFIX = '.staging-';
const TRASH_PREFIX = '.trash-';

export function deploymentsDir(dataDir: string): string {
  return join(dataDir, 'deployments');
}

/** `id` comes from a parsed state or record (ID pattern: one safe path component). */
export function deploymentDir(dataDir: string, id: string): string {
  return join(deploymentsDir(dataDir), id);
}

export function deploymentRoot(dataDir: string, id: string): string {
  return join(deploymentDir(dataDir, id), 'root');
}

function newDeploymentId(manifestHex: string): string {
  return `${manifestHex.slice(0, 12)}-${randomBytes(4).toString('hex')}`;
}

/** Builds and publishes a deployment directory; the caller records it in the state (stage or provision). */
export async function buildDeployment(dataDir: string, source: StageSource, nowMs: number): Promise<DeploymentRecord> {
  const manifest = parseDigest(source.manifestDigest);
  if (digestOf(source.manifestBytes, manifest.algorithm).value !== manifest.value) {
    throw new BootfleetError('BOOTFLEET_DIGEST_INVALID', `the manifest does not hash to ${manifest.value}`);
  }
  parseVersion(source.version);
  const id = newDeploymentId(manifest.hex);
  const staging = join(deploymentsDir(dataDir), `${STAGING_PREFIX}${id}`);
  await mkdir(join(staging, 'root'), { recursive: true });
  try {
    await source.populate(join(staging, 'root'));
  } catch (error) {
    // A failed or stopped unpack (a newer desired state) leaves nothing behind; recovery would remove it too, later.
    await rm(staging, { recursive: true, force: true });
    throw error;
  }
  crashPoint('stage:populated');
  const record: DeploymentRecord = {
    id,
    manifestDigest: manifest.value,
    version: source.version,
    treeDigest: (await treeDigest(join(staging, 'root'))).value,
    stagedAtMs: nowMs,
  };
  await writeFile(join(staging, 'manifest.json'), source.manifestBytes);
  await writeFile(join(staging, 'deployment.json'), `${JSON.stringify(record, null, 2)}\n`);
  await syncFileSystem(staging);
  crashPoint('stage:synced');
  await rename(staging, deploymentDir(dataDir, id));
  await fsyncPath(deploymentsDir(dataDir));
  crashPoint('stage:published');
  return record;
}

export async function readDeploymentRecord(dataDir: string, id: string): Promise<DeploymentRecord> {
  let bytes: Buffer;
  try {
    bytes = await readFile(join(deploymentDir(dataDir, id), 'deployment.json'));
  } catch (error) {
    throw new BootfleetError('BOOTFLEET_DEPLOYMENT_INCOMPLETE', `deployment ${id} is missing`, { cause: error, details: { deployment: id } });
  }
  return deploymentRecordParser.parse(parseJson(bytes, DEPLOYMENT_RECORD_MAX_BYTES, 'deployment record'));
}

/** Checks that `ref`'s directory is complete and its tree unaltered since staging. */
export async function verifyDeployment(dataDir: string, ref: DeploymentRef): Promise<DeploymentRecord> {
  const record = await readDeploymentRecord(dataDir, ref.id);
  if (record.id !== ref.id || record.manifestDigest !== ref.manifestDigest || record.version !== ref.version) {
    throw new BootfleetError('BOOTFLEET_DEPLOYMENT_INCOMPLETE', `deployment ${ref.id} holds another image than the state says`, { details: { deployment: ref.id } });
  }
  const actual = await treeDigest(deploymentRoot(dataDir, ref.id));
  if (actual.value !== record.treeDigest) {
    throw new BootfleetError('BOOTFLEET_DEPLOYMENT_INCOMPLETE', `the tree of deployment ${ref.id} changed since it was staged`, {
      details: { deployment: ref.id, expected: record.treeDigest, actual: actual.value },
    });
  }
  return record;
}

/** Deletes deployment directories no slot references, and leftovers of interrupted staging or deletion. */
export async function collectGarbage(dataDir: string, state: AgentState): Promise<string[]> {
  const keep = new Set(referencedDeployments(state).map((ref) => ref.id));
  if (state.pending !== undefined) keep.add(state.pending.target);
  let names: string[];
  try {
    names = await readdir(deploymentsDir(dataDir));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const removed: string[] = [];
  for (const name of names) {
    if (keep.has(name)) continue;
    let victim = join(deploymentsDir(dataDir), name);
    if (!name.startsWith(STAGING_PREFIX) && !name.startsWith(TRASH_PREFIX)) {
      const trash = join(deploymentsDir(dataDir), `${TRASH_PREFIX}${name}`);
      await rename(victim, trash);
      await fsyncPath(deploymentsDir(dataDir));
      crashPoint('gc:trashed');
      victim = trash;
      removed.push(name);
    }
    await rm(victim, { recursive: true, force: true });
  }
  return removed;
}
