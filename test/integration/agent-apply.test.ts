/**
 * `bootfleet agent apply` through the real CLI code (`runCli`) on real files:
 * from an oci-archive the real skopeo wrote (from a layout the test writes,
 * and from the embedded registry), from an OCI layout directory, and from the
 * registry itself; download-only then activate; several images and --name;
 * builder signatures carried as referrers in the layout; and hostile
 * archives (path escape, link, digest mismatch, missing blob), each refused
 * with its code, the device state untouched and the refusal audited.
 */
import { execFile, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, symlink, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { readAudit } from '../../agent/deploy/index.js';
import { generateSigningKey, writeKeyPair } from '../../protocol/index.js';
import { startServer, type RunningServer } from '../../server/index.js';
import { captureCli, type CliRun } from '../helpers/cli-capture.js';
import { currentVersion } from '../helpers/agent-daemon.js';
import { addSignatureReferrer, writeArchiveLayout } from '../helpers/archive-layout.js';
import { DEVICE_TOKEN, OPERATOR_TOKEN, registryServerConfig } from '../helpers/registry.js';
import { buildTar } from '../helpers/tar-build.js';
import { requireTool } from '../helpers/tools.js';
import { provisionDevice } from '../helpers/trees.js';
import { useTempDir } from '../helpers/temp-dir.js';

const run = promisify(execFile);
const skopeo = requireTool('skopeo');

const dir = useTempDir('bootfleet-agent-apply-');
let data: string;

beforeEach(async () => {
  data = join(dir(), 'data');
  await provisionDevice(data, dir());
});

function cli(...args: string[]): Promise<CliRun> {
  return captureCli(args);
}

async function layout(name: string, images: Parameters<typeof writeArchiveLayout>[1]): Promise<{ path: string; written: ReturnType<typeof writeArchiveLayout> }> {
  const path = join(dir(), name);
  await mkdir(join(path, 'blobs', 'sha256'), { recursive: true });
  return { path, written: writeArchiveLayout(path, images) };
}

/** A tar of a layout made by the system tar, as a technician might (paths `./blobs/...`). */
function tarOf(layoutDir: string, out: string): string {
  execFileSync('tar', ['-C', layoutDir, '-cf', out, '.']);
  return out;
}

async function lastAudit(): Promise<{ action: string; result: string; code?: string }> {
  const entries = (await readAudit(data)).entries;
  const last = entries[entries.length - 1];
  if (last === undefined) throw new Error('no audit entry');
  return last;
}

describe.skipIf(skopeo.skip)('bootfleet agent apply --archive (skopeo-made oci-archive)', () => {
  it('installs the image offline, commits it, prints the status and audits the apply', async () => {
    const src = await layout('layout', [{ tag: 'v2', version: '2.0', files: { 'usr/share/app.txt': 'two\n' } }]);
    const archive = join(dir(), 'image.tar');
    await run(skopeo.path ?? 'skopeo', ['copy', `oci:${src.path}:v2`, `oci-archive:${archive}:v2`], { timeout: 60_000 });
    const applied = await cli('agent', 'apply', '--archive', archive, '--data-dir', data, '--json');
    expect(applied.code, applied.err).toBe(0);
    const lines = applied.out.trim().split('\n').map((l) => JSON.parse(l) as { event: string; phase?: string; booted?: { version: string } });
    expect(lines.filter((l) => l.event === 'phase').map((l) => l.phase)).toEqual(['verifying', 'staging', 'staged', 'activating', 'probation', 'succeeded']);
    expect(lines.at(-1)).toMatchObject({ event: 'status', booted: { version: '2.0' }, rollback: { version: '1.0' }, probation: null });
    expect(await currentVersion(data)).toBe('2.0');
    expect(await readFile(join(data, 'current', 'usr/share/app.txt'), 'utf8')).toBe('two\n');
    expect(await lastAudit()).toMatchObject({ actor: 'local-cli', action: 'apply', result: 'ok' });
    // The scratch directory the tar was parsed into is gone.
    expect((await readdir(join(data, 'partial'))).filter((n) => n.startsWith('archive-'))).toEqual([]);
  });
});

describe('bootfleet agent apply --archive (layout directory and hand-made tars)', () => {
  it('stages only with --download-only, and a second apply activates the staged image', async () => {
    const src = await layout('stick', [{ tag: 'v2', version: '2.0' }]);
    const staged = await cli('agent', 'apply', '--archive', src.path, '--data-dir', data, '--download-only', '--json');
    expect(staged.code, staged.err).toBe(0);
    expect(JSON.parse(staged.out.trim().split('\n').at(-1) ?? '{}')).toMatchObject({ staged: { version: '2.0' }, booted: { version: '1.0' } });
    expect(await currentVersion(data)).toBeUndefined();
    const activated = await cli('agent', 'apply', '--archive', src.path, '--data-dir', data);
    expect(activated.code, activated.err).toBe(0);
    expect(activated.out).toMatch(/^booted: +2\.0 /m);
    expect(await currentVersion(data)).toBe('2.0');
  });

  it('needs --name when the archive holds several images, and refuses a downgrade unless allowed', async () => {
    const src = await layout('several', [
      { tag: 'v3', version: '3.0' },
      { tag: 'v0', version: '0.5' },
    ]);
    const archive = tarOf(src.path, join(dir(), 'several.tar'));
    const ambiguous = await cli('agent', 'apply', '--archive', archive, '--data-dir', data);
    expect(ambiguous.err).toContain('BOOTFLEET_ARCHIVE_IMAGE_AMBIGUOUS');
    const unknown = await cli('agent', 'apply', '--archive', archive, '--name', 'v9', '--data-dir', data);
    expect(unknown.err).toContain('BOOTFLEET_ARCHIVE_IMAGE_NOT_FOUND');
    const downgrade = await cli('agent', 'apply', '--archive', archive, '--name', 'v0', '--data-dir', data);
    expect(downgrade.err).toContain('BOOTFLEET_DOWNGRADE_REFUSED');
    expect((await cli('agent', 'apply', '--archive', archive, '--name', 'v3', '--data-dir', data)).code).toBe(0);
    expect(await currentVersion(data)).toBe('3.0');
    expect((await cli('agent', 'apply', '--archive', archive, '--name', 'v0', '--allow-downgrade', '--data-dir', data)).code).toBe(0);
    expect(await currentVersion(data)).toBe('0.5');
  });

  it('requires a builder signature in the archive when the configuration names builder keys', async () => {
    const builder = generateSigningKey('ecdsa-p256');
    const keys = await writeKeyPair(join(dir(), 'builder'), builder);
    const config = join(dir(), 'agent.json');
    await writeFile(config, JSON.stringify({ deviceId: 'dev-1', deploy: { dataDir: data }, builderKeyFiles: [keys.publicPath] }));
    const src = await layout('signed', [{ tag: 'v2', version: '2.0' }]);
    const unsigned = await cli('agent', 'apply', '--archive', tarOf(src.path, join(dir(), 'unsigned.tar')), '--config', config);
    expect(unsigned.code).toBe(3);
    expect(unsigned.err).toContain('BOOTFLEET_SIG_MISSING');
    expect(await lastAudit()).toMatchObject({ action: 'apply', result: 'failed', code: 'BOOTFLEET_SIG_MISSING' });
    addSignatureReferrer(src.path, src.written[0]?.manifest ?? expect.fail('no image'), generateSigningKey('ecdsa-p256'));
    expect((await cli('agent', 'apply', '--archive', src.path, '--config', config)).err).toContain('BOOTFLEET_SIG_MISSING');
    addSignatureReferrer(src.path, src.written[0]?.manifest ?? expect.fail('no image'), builder);
    const signed = await cli('agent', 'apply', '--archive', tarOf(src.path, join(dir(), 'signed.tar')), '--config', config);
    expect(signed.code, signed.err).toBe(0);
    expect(await currentVersion(data)).toBe('2.0');
  });

  describe('hostile archives', () => {
    async function refused(archive: string, code: string, exit: number): Promise<void> {
      const before = await readFile(join(data, 'state.json'), 'utf8');
      const result = await cli('agent', 'apply', '--archive', archive, '--data-dir', data);
      expect(result.err).toContain(code);
      expect(result.code).toBe(exit);
      expect(await readFile(join(data, 'state.json'), 'utf8')).toBe(before);
      expect(await lastAudit()).toMatchObject({ action: 'apply', result: 'failed', code });
      expect((await readdir(join(data, 'partial'))).filter((n) => n.startsWith('archive-'))).toEqual([]);
    }

    it('refuses an entry that climbs out of the layout, and writes nothing outside', async () => {
      const tar = buildTar([
        { path: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' },
        { path: '../escaped.txt', body: 'owned\n' },
        { path: 'index.json', body: '{"schemaVersion":2,"manifests":[]}' },
      ]);
      await writeFile(join(dir(), 'escape.tar'), tar);
      await refused(join(dir(), 'escape.tar'), 'BOOTFLEET_ARCHIVE_PATH_UNSAFE', 1);
      const absolute = buildTar([{ path: '/tmp/bootfleet-absolute-escape', body: 'x' }]);
      await writeFile(join(dir(), 'absolute.tar'), absolute);
      await refused(join(dir(), 'absolute.tar'), 'BOOTFLEET_ARCHIVE_PATH_UNSAFE', 1);
      await expect(readFile(join(data, 'escaped.txt'))).rejects.toThrow();
    });

    it('refuses a link entry in a tar, and a link in a layout directory', async () => {
      const src = await layout('linked', [{ tag: 'v2', version: '2.0' }]);
      const layer = src.written[0]?.layer.digest.slice('sha256:'.length) ?? '';
      const tar = buildTar([{ path: `blobs/sha256/${layer}`, type: 'SymbolicLink', linkpath: '/etc/passwd' }]);
      await writeFile(join(dir(), 'link.tar'), tar);
      await refused(join(dir(), 'link.tar'), 'BOOTFLEET_ARCHIVE_INVALID', 1);
      await unlink(join(src.path, 'blobs', 'sha256', layer));
      await symlink('/etc/passwd', join(src.path, 'blobs', 'sha256', layer));
      await refused(src.path, 'BOOTFLEET_ARCHIVE_PATH_UNSAFE', 1);
    });

    it('refuses a blob whose bytes do not match its digest (exit 3)', async () => {
      const src = await layout('tampered', [{ tag: 'v2', version: '2.0' }]);
      const layer = join(src.path, 'blobs', 'sha256', src.written[0]?.layer.digest.slice('sha256:'.length) ?? '');
      const bytes = await readFile(layer);
      bytes[600] = (bytes[600] ?? 0) ^ 0xff;
      await writeFile(layer, bytes);
      await refused(tarOf(src.path, join(dir(), 'tampered.tar')), 'BOOTFLEET_ARCHIVE_DIGEST_MISMATCH', 3);
      await refused(src.path, 'BOOTFLEET_ARCHIVE_DIGEST_MISMATCH', 3);
    });

    it('refuses an archive that lacks a layer of its image', async () => {
      const src = await layout('partial', [{ tag: 'v2', version: '2.0' }]);
      await unlink(join(src.path, 'blobs', 'sha256', src.written[0]?.layer.digest.slice('sha256:'.length) ?? ''));
      await refused(tarOf(src.path, join(dir(), 'partial.tar')), 'BOOTFLEET_ARCHIVE_BLOB_MISSING', 1);
    });

    it('refuses a file that is not a tar of a layout', async () => {
      await writeFile(join(dir(), 'junk.tar'), Buffer.alloc(4096, 0x41));
      await refused(join(dir(), 'junk.tar'), 'BOOTFLEET_ARCHIVE_INVALID', 1);
      await writeFile(join(dir(), 'empty-layout.tar'), buildTar([{ path: 'oci-layout', body: '{"imageLayoutVersion":"1.0.0"}' }]));
      await refused(join(dir(), 'empty-layout.tar'), 'BOOTFLEET_ARCHIVE_INVALID', 1);
    });
  });
});

describe.skipIf(skopeo.skip)('bootfleet agent apply <ref> (embedded registry)', () => {
  let registryDir: string;
  let server: RunningServer;
  let host: string;

  beforeAll(async () => {
    registryDir = await mkdtemp(join(tmpdir(), 'bootfleet-apply-registry-'));
    server = await startServer(registryServerConfig(join(registryDir, 'data')));
    host = server.url.replace(/^http:\/\//, '');
  });
  afterAll(async () => {
    await server.close();
    await rm(registryDir, { recursive: true, force: true });
  });

  it('pulls and installs from the registry, then from an oci-archive skopeo made from the registry', async () => {
    const src = await layout('push', [
      { tag: 'v2', version: '2.0' },
      { tag: 'v3', version: '3.0' },
    ]);
    for (const tag of ['v2', 'v3']) {
      await run(skopeo.path ?? 'skopeo', ['copy', '--dest-tls-verify=false', '--dest-creds', `ci:${OPERATOR_TOKEN}`, `oci:${src.path}:${tag}`, `docker://${host}/fleet/os:${tag}`], { timeout: 60_000 });
    }
    const passwordFile = join(dir(), 'registry.password');
    await writeFile(passwordFile, DEVICE_TOKEN, { mode: 0o600 });
    const config = join(dir(), 'agent.json');
    await writeFile(config, JSON.stringify({ deviceId: 'dev-1', deploy: { dataDir: data }, registry: { username: 'device', passwordFile } }));
    const pulled = await cli('agent', 'apply', `${host}/fleet/os:v2`, '--config', config);
    expect(pulled.code, pulled.err).toBe(0);
    expect(pulled.err).toContain('bootfleet: downloading');
    expect(await currentVersion(data)).toBe('2.0');
    const archive = join(dir(), 'from-registry.tar');
    await run(skopeo.path ?? 'skopeo', ['copy', '--src-tls-verify=false', '--src-creds', `device:${DEVICE_TOKEN}`, `docker://${host}/fleet/os:v3`, `oci-archive:${archive}:v3`], { timeout: 60_000 });
    const offline = await cli('agent', 'apply', '--archive', archive, '--config', config);
    expect(offline.code, offline.err).toBe(0);
    expect(await currentVersion(data)).toBe('3.0');
    expect((await readAudit(data)).entries.filter((e) => e.actor === 'local-cli').map((e) => [e.action, e.result])).toEqual([
      ['apply', 'ok'],
      ['apply', 'ok'],
    ]);
  });

  it('refuses a command line with both or neither of a reference and --archive (exit 2)', async () => {
    expect((await cli('agent', 'apply', '--data-dir', data)).code).toBe(2);
    expect((await cli('agent', 'apply', `${host}/fleet/os:v2`, '--archive', dir(), '--data-dir', data)).code).toBe(2);
  });
});
