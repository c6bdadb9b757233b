/**
 * Fidelity against the reference: the same OCI layout unpacked by
 * `umoci unpack` and by our applier must give the same tree (paths, types,
 * permission bits including setuid/setgid/sticky, link targets, content
 * hashes). The image exercises whiteouts, opaque directories, hardlinks
 * (within and across layers), relative and absolute symlinks, type changes
 * between layers, many files, and gzip, zstd and uncompressed layers.
 */
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContentStore, defaultZstd, unpackImage, type ZstdImplementation } from '../../agent/index.js';
import type { LayerCompression } from '../../protocol/index.js';
import { requireTool } from '../helpers/tools.js';
import { buildTar, type TarEntry } from '../helpers/tar-build.js';
import { writeBlob, writeLayout } from '../helpers/oci-layout-writer.js';
import { describeTree } from '../helpers/tree-diff.js';

const umoci = requireTool('umoci');
const zstd = requireTool('zstd');

function baseLayer(): TarEntry[] {
  const many = Array.from({ length: 400 }, (_, i) => ({ path: `data/f${i}.txt`, body: `file ${i}\n`.repeat(i % 7) }));
  return [
    { path: './', type: 'Directory', mode: 0o755 },
    { path: 'etc/', type: 'Directory' },
    { path: 'etc/passwd', body: 'root:x:0:0:root:/root:/bin/sh\n' },
    { path: 'etc/localtime', type: 'SymbolicLink', linkpath: '/usr/share/zoneinfo/UTC' },
    { path: 'usr/', type: 'Directory' },
    { path: 'usr/bin/', type: 'Directory' },
    { path: 'usr/bin/su', body: 'ELF su', mode: 0o4755 },
    { path: 'usr/bin/wall', body: 'ELF wall', mode: 0o2755 },
    { path: 'usr/bin/a', body: 'shared inode', mode: 0o750 },
    { path: 'usr/bin/b', type: 'Link', linkpath: 'usr/bin/a' },
    { path: 'bin', type: 'SymbolicLink', linkpath: 'usr/bin' },
    { path: 'tmp/', type: 'Directory', mode: 0o1777 },
    { path: 'old/', type: 'Directory' },
    { path: 'old/x', body: 'x' },
    { path: 'opq/', type: 'Directory', mode: 0o700 },
    { path: 'opq/lower-a', body: 'a' },
    { path: 'opq/sub/lower-b', body: 'b' },
    { path: 'gone.txt', body: 'bye' },
    { path: 'becomes-dir', body: 'file first' },
    { path: 'becomes-file/', type: 'Directory' },
    { path: 'becomes-file/child', body: 'c' },
    { path: 'private', body: 'secret', mode: 0o600 },
    { path: 'no-parent-entry/deep/file', body: 'implicit parents' },
    ...many,
  ];
}

function upperLayer(): TarEntry[] {
  return [
    { path: '.wh.gone.txt' },
    { path: '.wh.old' },
    { path: 'opq/.wh..wh..opq' },
    { path: 'opq/upper', body: 'new' },
    { path: 'etc/passwd', body: 'root:x:0:0:root:/root:/bin/bash\n', mode: 0o644 },
    { path: 'usr/bin/c', type: 'Link', linkpath: 'usr/bin/a' },
    { path: 'becomes-dir/', type: 'Directory', mode: 0o711 },
    { path: 'becomes-dir/inside', body: 'i' },
    { path: 'becomes-file', body: 'now a file', mode: 0o640 },
    { path: 'data/.wh.f3.txt' },
    { path: 'data/.wh.does-not-exist' },
    { path: 'private', type: 'SymbolicLink', linkpath: '../etc/passwd' },
  ];
}

function thirdLayer(): TarEntry[] {
  return [
    { path: 'data/f5.txt', body: 'replaced in layer 3', mode: 0o400 },
    { path: 'etc/.wh.localtime' },
    { path: 'etc/localtime', type: 'SymbolicLink', linkpath: '/usr/share/zoneinfo/Europe/Paris' },
    { path: 'opq/sub2/', type: 'Directory', mode: 0o2775 },
  ];
}

describe.skipIf(umoci.skip || zstd.skip)('unpack fidelity against umoci', () => {
  let work: string;
  let reference: ReturnType<typeof describeTree>;
  const tars = [baseLayer(), upperLayer(), thirdLayer()].map((entries) => buildTar(entries));

  beforeAll(() => {
    work = mkdtempSync(join(tmpdir(), 'bf-fidelity-'));
    // umoci 0.4.7 (Debian bookworm) has no zstd: the reference is unpacked from gzip layers.
    // The diff_ids are the same whatever the compression, so every variant must give this tree.
    const layout = join(work, 'reference');
    writeLayout(layout, [{ tag: 'test', layers: tars.map((tar) => ({ tar, compression: 'gzip' as const })) }]);
    const bundle = join(work, 'bundle');
    const rootless = process.getuid?.() !== 0 ? ['--rootless'] : [];
    execFileSync(umoci.path ?? 'umoci', ['unpack', ...rootless, '--image', `${layout}:test`, bundle], { stdio: 'pipe' });
    reference = describeTree(join(bundle, 'rootfs'));
  });
  afterAll(() => {
    rmSync(work, { recursive: true, force: true });
  });

  const cases: { name: string; compressions: LayerCompression[]; zstd?: ZstdImplementation; skip?: boolean }[] = [
    { name: 'gzip layers', compressions: ['gzip', 'gzip', 'gzip'] },
    { name: 'uncompressed, zstd (zstd binary) and gzip layers', compressions: ['none', 'zstd', 'gzip'], zstd: 'binary' },
    { name: 'zstd layers (Node zlib zstd)', compressions: ['zstd', 'zstd', 'zstd'], zstd: 'zlib', skip: defaultZstd() !== 'zlib' },
  ];

  for (const c of cases) {
    it.skipIf(c.skip === true)(`gives the same tree as umoci unpack for ${c.name}`, async () => {
      const dataDir = join(work, c.name.replace(/\W+/g, '-'));
      const layers = tars.map((tar, i) => ({ tar, compression: c.compressions[i] ?? 'gzip' }));
      const [image] = writeLayout(join(dataDir, 'content'), [{ tag: 'test', layers }]);
      if (image === undefined) throw new Error('no image');
      const store = await ContentStore.open(dataDir);
      const ours = join(dataDir, 'ours');
      await unpackImage(store, image.manifest, ours, c.zstd === undefined ? {} : { zstd: c.zstd });

      const mine = describeTree(ours);
      expect(Object.keys(mine).length).toBeGreaterThan(400);
      expect(mine).toEqual(reference);
      // Hardlinks stay hardlinks: one inode for a, b (layer 1) and c (layer 2).
      const inode = (p: string): number => statSync(join(ours, p)).ino;
      expect(inode('usr/bin/b')).toBe(inode('usr/bin/a'));
      expect(inode('usr/bin/c')).toBe(inode('usr/bin/a'));
    });
  }

  it('removes the destination when a layer fails its diff_id', async () => {
    const dataDir = join(work, 'bad-diff-id');
    const [image] = writeLayout(join(dataDir, 'content'), [{ tag: 'test', layers: [{ tar: tars[0] ?? Buffer.alloc(0), compression: 'gzip' }] }]);
    if (image === undefined) throw new Error('no image');
    const store = await ContentStore.open(dataDir);
    // Swap the layer for another valid one: the digest still matches the blob, the diff_id does not.
    const other = writeLayout(join(dataDir, 'other'), [{ tag: 'x', layers: [{ tar: tars[2] ?? Buffer.alloc(0), compression: 'gzip' }] }]);
    const layer = other[0]?.layers[0];
    if (layer === undefined) throw new Error('no layer');
    copyFileSync(join(dataDir, 'other', 'blobs', 'sha256', layer.digest.slice(7)), join(dataDir, 'content', 'blobs', 'sha256', layer.digest.slice(7)));
    const manifest = JSON.parse(readFileSync(join(dataDir, 'content', 'blobs', 'sha256', image.manifest.digest.slice(7)), 'utf8')) as { layers: unknown[] };
    manifest.layers = [layer];
    const swapped = writeBlob(join(dataDir, 'content'), JSON.stringify(manifest), image.manifest.mediaType);
    const dest = join(dataDir, 'ours');
    await expect(unpackImage(store, swapped, dest)).rejects.toMatchObject({ code: 'BOOTFLEET_UNPACK_DIFF_ID_MISMATCH' });
    expect(existsSync(dest)).toBe(false);
  });
});
