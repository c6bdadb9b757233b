/**
 * The hostile-tar corpus: one hand-built layer per attack in ANCHORS.md,
 * "Known tar-layer attacks", applied to a real staging directory. Each must
 * fail with its code (or, for the link-following chmod, be applied without
 * touching the link target), and nothing may appear outside the staging
 * directory.
 */
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyLayer, type UnpackOptions } from '../../agent/index.js';
import { digestOf, type ErrorCode, type LayerCompression } from '../../protocol/index.js';
import { buildTar, type TarEntry } from '../helpers/tar-build.js';

let sandbox: string;
let root: string;
let outside: string;

beforeEach(() => {
  sandbox = mkdtempSync(join(tmpdir(), 'bf-hostile-'));
  root = join(sandbox, 'root');
  outside = join(sandbox, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  writeFileSync(join(outside, 'secret'), 'keep me', { mode: 0o600 });
});
afterEach(() => {
  rmSync(sandbox, { recursive: true, force: true });
});

function apply(data: Buffer, options: Partial<UnpackOptions> = {}, compression: LayerCompression = 'none'): Promise<unknown> {
  return applyLayer(root, { blob: Readable.from([data]), compression }, options);
}

/** Nothing was added or changed next to the staging directory. */
function expectOutsideUntouched(): void {
  expect(readdirSync(sandbox).sort()).toEqual(['outside', 'root']);
  expect(readdirSync(outside)).toEqual(['secret']);
  expect(readFileSync(join(outside, 'secret'), 'utf8')).toBe('keep me');
  expect(statSync(join(outside, 'secret')).mode & 0o7777).toBe(0o600);
}

interface Attack {
  readonly name: string;
  readonly entries: (outside: string) => TarEntry[];
  readonly code: ErrorCode;
  readonly options?: Partial<UnpackOptions>;
}

const attacks: Attack[] = [
  { name: 'dot-dot path', entries: () => [{ path: '../outside/pwned', body: 'x' }], code: 'BOOTFLEET_UNPACK_PATH_UNSAFE' },
  { name: 'dot-dot in the middle', entries: () => [{ path: 'a/../../outside/pwned', body: 'x' }], code: 'BOOTFLEET_UNPACK_PATH_UNSAFE' },
  { name: 'absolute path', entries: (o) => [{ path: `${o}/pwned`, body: 'x' }], code: 'BOOTFLEET_UNPACK_PATH_UNSAFE' },
  {
    name: 'write through an absolute symlink',
    entries: (o) => [{ path: 'evil', type: 'SymbolicLink', linkpath: o }, { path: 'evil/pwned', body: 'x' }],
    code: 'BOOTFLEET_UNPACK_THROUGH_SYMLINK',
  },
  {
    name: 'write through a relative symlink climbing out',
    entries: () => [{ path: 'evil', type: 'SymbolicLink', linkpath: '../outside' }, { path: 'evil/pwned', body: 'x' }],
    code: 'BOOTFLEET_UNPACK_THROUGH_SYMLINK',
  },
  {
    name: 'duplicate entry: directory replaced by a symlink, then written into',
    entries: (o) => [{ path: 'd/', type: 'Directory' }, { path: 'd', type: 'SymbolicLink', linkpath: o }, { path: 'd/pwned', body: 'x' }],
    code: 'BOOTFLEET_UNPACK_THROUGH_SYMLINK',
  },
  { name: 'hardlink climbing out', entries: () => [{ path: 'h', type: 'Link', linkpath: '../outside/secret' }], code: 'BOOTFLEET_UNPACK_LINK_OUTSIDE' },
  { name: 'hardlink to an absolute path', entries: (o) => [{ path: 'h', type: 'Link', linkpath: `${o}/secret` }], code: 'BOOTFLEET_UNPACK_LINK_OUTSIDE' },
  {
    name: 'hardlink through a symlink',
    entries: (o) => [{ path: 's', type: 'SymbolicLink', linkpath: o }, { path: 'h', type: 'Link', linkpath: 's/secret' }],
    code: 'BOOTFLEET_UNPACK_THROUGH_SYMLINK',
  },
  { name: 'hardlink to nothing in the tree', entries: () => [{ path: 'h', type: 'Link', linkpath: 'missing' }], code: 'BOOTFLEET_UNPACK_LINK_OUTSIDE' },
  { name: 'symlink named . replacing the root', entries: (o) => [{ path: '.', type: 'SymbolicLink', linkpath: o }, { path: 'pwned', body: 'x' }], code: 'BOOTFLEET_UNPACK_PATH_UNSAFE' },
  { name: 'bare .wh.', entries: () => [{ path: 'etc/.wh.' }], code: 'BOOTFLEET_UNPACK_WHITEOUT_INVALID' },
  { name: 'whiteout of ..', entries: () => [{ path: 'etc/.wh...' }], code: 'BOOTFLEET_UNPACK_WHITEOUT_INVALID' },
  { name: 'whiteout with a .. path', entries: () => [{ path: '../outside/.wh.secret' }], code: 'BOOTFLEET_UNPACK_PATH_UNSAFE' },
  { name: 'reserved whiteout prefix', entries: () => [{ path: '.wh..wh.plnk' }], code: 'BOOTFLEET_UNPACK_WHITEOUT_INVALID' },
  { name: 'character device', entries: () => [{ path: 'dev/mem', type: 'CharacterDevice' }], code: 'BOOTFLEET_UNPACK_DEVICE_REFUSED' },
  { name: 'block device', entries: () => [{ path: 'dev/sda', type: 'BlockDevice' }], code: 'BOOTFLEET_UNPACK_DEVICE_REFUSED' },
  { name: 'fifo', entries: () => [{ path: 'run/fifo', type: 'FIFO' }], code: 'BOOTFLEET_UNPACK_DEVICE_REFUSED' },
  { name: 'very deep tree', entries: () => [{ path: `${'d/'.repeat(200)}f`, body: 'x' }], code: 'BOOTFLEET_UNPACK_TOO_DEEP' },
  { name: 'unsupported entry type (sparse)', entries: () => [{ path: 'sparse', type: 'SparseFile', body: 'x' }], code: 'BOOTFLEET_UNPACK_TAR_INVALID' },
  {
    name: 'too many entries',
    entries: () => Array.from({ length: 20 }, (_, i) => ({ path: `f${i}`, body: 'x' })),
    code: 'BOOTFLEET_UNPACK_TOO_LARGE',
    options: { maxEntries: 10 },
  },
];

describe('hostile layers', () => {
  for (const attack of attacks) {
    it(`refuses ${attack.name} with ${attack.code}`, async () => {
      await expect(apply(buildTar(attack.entries(outside)), attack.options)).rejects.toMatchObject({ code: attack.code });
      expectOutsideUntouched();
    });
  }

  it('names the entry and the rule in the error details', async () => {
    await expect(apply(buildTar([{ path: 'ok', body: 'x' }, { path: '../outside/pwned', body: 'x' }]))).rejects.toMatchObject({
      code: 'BOOTFLEET_UNPACK_PATH_UNSAFE',
      details: { entry: '../outside/pwned', rule: 'dot-dot' },
    });
  });

  it('stops a decompression bomb at the uncompressed size limit', async () => {
    const bomb = gzipSync(buildTar([{ path: 'zeros', body: Buffer.alloc(64 * 1024 * 1024) }]));
    expect(bomb.length).toBeLessThan(1024 * 1024);
    await expect(apply(bomb, { maxUncompressedBytes: 4 * 1024 * 1024 }, 'gzip')).rejects.toMatchObject({ code: 'BOOTFLEET_UNPACK_TOO_LARGE' });
    expectOutsideUntouched();
  });

  it('refuses a layer compressed twice, and garbage', async () => {
    await expect(apply(gzipSync(buildTar([{ path: 'f', body: 'x' }])))).rejects.toMatchObject({ code: 'BOOTFLEET_UNPACK_TAR_INVALID' });
    await expect(apply(Buffer.alloc(4096, 0x41))).rejects.toMatchObject({ code: 'BOOTFLEET_UNPACK_TAR_INVALID' });
    await expect(apply(Buffer.from('not gzip at all'), {}, 'gzip')).rejects.toMatchObject({ code: 'BOOTFLEET_UNPACK_TAR_INVALID' });
  });

  it('refuses a truncated layer', async () => {
    const tar = buildTar([{ path: 'f', body: Buffer.alloc(10_000, 1) }]);
    await expect(apply(tar.subarray(0, 2048))).rejects.toMatchObject({ code: 'BOOTFLEET_UNPACK_TAR_INVALID' });
  });

  it('refuses a truncated gzip layer', async () => {
    const gz = gzipSync(buildTar([{ path: 'f', body: Buffer.alloc(200_000, 1) }, { path: 'g', body: 'x' }]));
    await expect(apply(gz.subarray(0, gz.length - 100), {}, 'gzip')).rejects.toMatchObject({ code: 'BOOTFLEET_UNPACK_TAR_INVALID' });
  });

  it('keeps every check when the root is named with a trailing slash and a dot segment', async () => {
    const layer = buildTar([
      { path: 'a/', type: 'Directory' },
      { path: 'a/f', body: 'x' },
      { path: 'evil', type: 'SymbolicLink', linkpath: outside },
      { path: 'evil/pwned', body: 'x' },
    ]);
    await expect(applyLayer(`${sandbox}/./root/`, { blob: Readable.from([layer]), compression: 'none' })).rejects.toMatchObject({
      code: 'BOOTFLEET_UNPACK_THROUGH_SYMLINK',
    });
    expect(readFileSync(join(root, 'a', 'f'), 'utf8')).toBe('x');
    expectOutsideUntouched();
  });

  it('checks the diff_id', async () => {
    const tar = buildTar([{ path: 'f', body: 'x' }]);
    const wrong = digestOf('something else');
    await expect(applyLayer(root, { blob: Readable.from([tar]), compression: 'none', diffId: wrong })).rejects.toMatchObject({
      code: 'BOOTFLEET_UNPACK_DIFF_ID_MISMATCH',
    });
    await expect(applyLayer(root, { blob: Readable.from([tar]), compression: 'none', diffId: digestOf(tar) })).resolves.toMatchObject({ entries: 1 });
  });

  it('replaces a symlink instead of chmod-ing or writing through it', async () => {
    const secret = join(outside, 'secret');
    const tar = buildTar([
      { path: 's', type: 'SymbolicLink', linkpath: secret },
      { path: 's', body: 'new', mode: 0o777 },
      { path: 't', type: 'SymbolicLink', linkpath: outside },
      { path: 't/', type: 'Directory', mode: 0o777 },
    ]);
    await apply(tar);
    expectOutsideUntouched();
    expect(lstatSync(join(root, 's')).isFile()).toBe(true);
    expect(lstatSync(join(root, 't')).isDirectory()).toBe(true);
  });

  // In a bottom layer (empty root) the unpack records only directories; above a lower layer, every path.
  it.each([
    ['a bottom layer', false],
    ['a layer above another', true],
  ])('never sets a directory time through a symlink that replaced the directory in the same layer (%s)', async (_, lower) => {
    if (lower) writeFileSync(join(root, 'lower'), 'from a lower layer');
    mkdirSync(join(outside, 'b'));
    const before = [statSync(outside).mtimeMs, statSync(join(outside, 'b')).mtimeMs];
    const old = new Date('2001-01-01T00:00:00Z');
    const tar = buildTar([
      { path: 'd/', type: 'Directory', mtime: old },
      { path: 'd', type: 'SymbolicLink', linkpath: outside },
      { path: 'a/', type: 'Directory', mtime: old },
      { path: 'a/b/', type: 'Directory', mtime: old },
      { path: 'a', type: 'SymbolicLink', linkpath: outside },
    ]);
    await apply(tar);
    expect([statSync(outside).mtimeMs, statSync(join(outside, 'b')).mtimeMs]).toEqual(before);
    expect(lstatSync(join(root, 'd')).isSymbolicLink()).toBe(true);
    expect(lstatSync(join(root, 'a')).isSymbolicLink()).toBe(true);
  });

  it.skipIf(process.getuid?.() !== 0)('creates device nodes and FIFOs only when allowDevices is set (as root)', async () => {
    await apply(buildTar([{ path: 'dev/null', type: 'CharacterDevice', mode: 0o666 }, { path: 'run/initctl', type: 'FIFO', mode: 0o600 }]), { allowDevices: true });
    expect(lstatSync(join(root, 'dev/null')).isCharacterDevice()).toBe(true);
    expect(lstatSync(join(root, 'run/initctl')).isFIFO()).toBe(true);
    expect(lstatSync(join(root, 'run/initctl')).mode & 0o7777).toBe(0o600);
  });

  it('replaces a hardlinked path instead of writing through it', async () => {
    await apply(buildTar([{ path: 'etc/passwd', body: 'root:x:0:0' }, { path: 'h', type: 'Link', linkpath: 'etc/passwd' }, { path: 'h', body: 'evil' }]));
    expect(readFileSync(join(root, 'etc/passwd'), 'utf8')).toBe('root:x:0:0');
    expect(readFileSync(join(root, 'h'), 'utf8')).toBe('evil');
  });
});
