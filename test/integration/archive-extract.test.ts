/**
 * extractOciArchive on real files with hostile and compressed archives: a
 * gzipped oci-archive is read, its decompressed size counted (a gzip bomb
 * stops at the limit); a tar compressed twice, zstd, a damaged gzip stream,
 * duplicate names, too many entries and too large a blob are refused with
 * their codes.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ARCHIVE_LIMITS, extractOciArchive, type ArchiveLimits } from '../../agent/archive/index.js';
import { digestOf } from '../../protocol/index.js';
import { writeArchiveLayout } from '../helpers/archive-layout.js';
import { buildTar } from '../helpers/tar-build.js';
import { useTempDir } from '../helpers/temp-dir.js';

const dir = useTempDir('bootfleet-archive-extract-');

async function layoutTar(): Promise<Buffer> {
  const layout = join(dir(), 'layout');
  await mkdir(join(layout, 'blobs', 'sha256'), { recursive: true });
  writeArchiveLayout(layout, [{ tag: 'v1', version: '1.0' }]);
  return execFileSync('tar', ['-C', layout, '-cf', '-', '.']);
}

async function extract(bytes: Buffer, limits: Partial<ArchiveLimits> = {}): Promise<string> {
  const file = join(dir(), `archive-${Math.random().toString(16).slice(2)}`);
  await writeFile(file, bytes);
  const dest = join(dir(), `out-${Math.random().toString(16).slice(2)}`);
  await extractOciArchive(file, dest, { ...DEFAULT_ARCHIVE_LIMITS, ...limits });
  return dest;
}

const code = (c: string): unknown => expect.objectContaining({ code: c }) as unknown;

describe('extractOciArchive', () => {
  it('reads a gzipped oci-archive, every blob verified', async () => {
    const dest = await extract(gzipSync(await layoutTar()));
    const blobs = await readdir(join(dest, 'blobs', 'sha256'));
    expect(blobs).toHaveLength(3);
    expect((await readdir(dest)).sort()).toEqual(['blobs', 'index.json', 'oci-layout']);
  });

  it('stops a gzip bomb at the size limit', async () => {
    // One blob of 16 MiB of zeros: 16 KiB gzipped.
    const zeros = Buffer.alloc(16 * 1024 * 1024);
    const bomb = gzipSync(buildTar([{ path: `blobs/sha256/${digestOf(zeros).hex}`, body: zeros }]));
    expect(bomb.length).toBeLessThan(64 * 1024);
    await expect(extract(bomb, { maxTotalBytes: 1024 * 1024, maxEntries: 10 })).rejects.toThrow(code('BOOTFLEET_ARCHIVE_TOO_LARGE'));
  });

  it('refuses a tar compressed twice, zstd and a damaged gzip stream', async () => {
    await expect(extract(gzipSync(gzipSync(await layoutTar())))).rejects.toThrow(code('BOOTFLEET_ARCHIVE_INVALID'));
    await expect(extract(Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(1024)]))).rejects.toThrow(code('BOOTFLEET_ARCHIVE_INVALID'));
    const damaged = gzipSync(await layoutTar());
    damaged.fill(0x55, 64, 256);
    await expect(extract(damaged)).rejects.toThrow(code('BOOTFLEET_ARCHIVE_INVALID'));
  });

  it('refuses a tar cut in the middle of a blob', async () => {
    const blob = Buffer.alloc(1024 * 1024, 3);
    const tar = buildTar([{ path: `blobs/sha256/${digestOf(blob).hex}`, body: blob }]);
    await expect(extract(tar.subarray(0, 100 * 1024))).rejects.toThrow(code('BOOTFLEET_ARCHIVE_INVALID'));
    const gz = gzipSync(tar);
    await expect(extract(gz.subarray(0, Math.floor(gz.length / 2)))).rejects.toThrow(code('BOOTFLEET_ARCHIVE_INVALID'));
  });

  it('refuses a name twice, too many entries and too large a blob', async () => {
    const body = Buffer.from('{"imageLayoutVersion":"1.0.0"}');
    await expect(extract(buildTar([{ path: 'oci-layout', body }, { path: './oci-layout', body }]))).rejects.toThrow(code('BOOTFLEET_ARCHIVE_INVALID'));
    const blob = Buffer.alloc(4096, 7);
    const entry = { path: `blobs/sha256/${digestOf(blob).hex}`, body: blob };
    await expect(extract(buildTar([{ path: 'oci-layout', body }, { path: 'blobs', type: 'Directory' }, { path: 'blobs/sha256', type: 'Directory' }, entry]), { maxEntries: 3 })).rejects.toThrow(
      code('BOOTFLEET_ARCHIVE_TOO_LARGE'),
    );
    await expect(extract(buildTar([entry]), { maxBlobBytes: 1024 })).rejects.toThrow(code('BOOTFLEET_ARCHIVE_TOO_LARGE'));
  });
});
