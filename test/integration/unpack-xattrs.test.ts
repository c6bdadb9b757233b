/**
 * Extended attributes in layers (docs/agent-content.md, "Extended attributes"):
 * node-tar drops `SCHILY.xattr.*` PAX records, so the applier finds them with
 * a scanner of its own and reports them per entry. Two layers: one built by
 * hand with a binary `security.capability` value (NUL, `=` and newline in it:
 * what node-tar's PAX parser would mangle), one written by real GNU tar
 * `--xattrs` from a file given a `user.*` attribute (by python3: Node has no
 * setxattr, and Debian's `attr` tools are not installed).
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { Header } from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyLayer, ContentStore, contentStageSource } from '../../agent/index.js';
import { writeLayout } from '../helpers/oci-layout-writer.js';
import { buildTar } from '../helpers/tar-build.js';
import { requireTool } from '../helpers/tools.js';

const tar = requireTool('tar');
const python = requireTool('python3');
const setfattr = requireTool('setfattr');
const getfattr = requireTool('getfattr');
const root0 = process.getuid?.() === 0;

function xattrHex(path: string, name: string): string {
  // Prints `# file: ...` then `<name>=0x<hex>`.
  const out = execFileSync(getfattr.path ?? 'getfattr', ['-h', '-e', 'hex', '-n', name, path], { stdio: ['ignore', 'pipe', 'ignore'] }).toString('utf8');
  const line = out.split('\n').find((l) => l.startsWith(`${name}=`));
  if (line === undefined) throw new Error(`no ${name} on ${path}`);
  return line.slice(name.length + 1);
}

/** One PAX record: its decimal length counts the whole record, the length digits included. */
function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let length = rest.length + 1;
  while (String(length).length + rest.length !== length) length = String(length).length + rest.length;
  return Buffer.concat([Buffer.from(String(length)), rest]);
}

/** A PAX extended header ('x') with `records`, to precede the next entry. */
function paxHeader(records: Buffer): Buffer {
  const header = Buffer.alloc(512);
  new Header({ path: 'PaxHeader/entry', type: 'ExtendedHeader', size: records.length, mode: 0o644, mtime: new Date(1_700_000_000_000) }).encode(header, 0);
  const body = Buffer.alloc(Math.ceil(records.length / 512) * 512);
  records.copy(body);
  return Buffer.concat([header, body]);
}

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bf-xattrs-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('layer xattrs', () => {
  it('reports a binary security.capability record that node-tar would drop, and still unpacks the file', async () => {
    // A real capability value (VFS_CAP_REVISION_2, cap_net_raw permitted) holds NUL bytes.
    const capability = Buffer.from('0100000200200000000000000000000000000000', 'hex');
    const odd = Buffer.from('a\u0000b=c\nd');
    const records = Buffer.concat([paxRecord('SCHILY.xattr.security.capability', capability), paxRecord('SCHILY.xattr.user.odd', odd), paxRecord('mtime', Buffer.from('1700000000'))]);
    const layer = Buffer.concat([buildTar([{ path: 'usr/', type: 'Directory' }, { path: 'usr/bin/', type: 'Directory' }]).subarray(0, 1024), paxHeader(records), buildTar([{ path: 'usr/bin/ping', body: 'ping\n', mode: 0o755 }])]);
    const root = join(dir, 'root');
    mkdirSync(root);
    const result = await applyLayer(root, { blob: Readable.from([layer]), compression: 'none' });
    expect(result.xattrs).toHaveLength(1);
    expect(result.xattrs[0]?.path).toBe('usr/bin/ping');
    expect(result.xattrs[0]?.xattrs.get('security.capability')).toEqual(capability);
    expect(result.xattrs[0]?.xattrs.get('user.odd')).toEqual(odd);
    expect(readFileSync(join(root, 'usr/bin/ping'), 'utf8')).toBe('ping\n');
    expect(result.xattrsApplied).toBe(root0 && !setfattr.skip);
  });

  describe.skipIf(!root0 || setfattr.skip || getfattr.skip)('as root, with setfattr', () => {
    it('sets security.capability and user.* on the file, and leaves a symlink alone', async () => {
      const capability = Buffer.from('0100000200200000000000000000000000000000', 'hex');
      const records = Buffer.concat([paxRecord('SCHILY.xattr.security.capability', capability), paxRecord('SCHILY.xattr.user.note', Buffer.from('x\u0000y'))]);
      const linkRecords = paxRecord('SCHILY.xattr.user.note', Buffer.from('on a link'));
      const layer = Buffer.concat([
        buildTar([{ path: 'bin/', type: 'Directory' }]).subarray(0, 512),
        paxHeader(records),
        buildTar([{ path: 'bin/ping', body: 'ping\n', mode: 0o755 }]).subarray(0, 1024),
        paxHeader(linkRecords),
        buildTar([{ path: 'bin/link', type: 'SymbolicLink', linkpath: 'ping' }]),
      ]);
      const root = join(dir, 'root');
      mkdirSync(root);
      const result = await applyLayer(root, { blob: Readable.from([layer]), compression: 'none' });
      expect(result.xattrsApplied).toBe(true);
      expect(result.xattrs.map((e) => e.path)).toEqual(['bin/ping', 'bin/link']);
      expect(xattrHex(join(root, 'bin/ping'), 'security.capability')).toBe(`0x${capability.toString('hex')}`);
      expect(xattrHex(join(root, 'bin/ping'), 'user.note')).toBe('0x780079');
      expect(() => xattrHex(join(root, 'bin/link'), 'user.note')).toThrow();
    });
  });

  it('records them beside the tree of a deployment being staged (xattrs.json, values in base64)', async () => {
    const capability = Buffer.from('0100000200200000000000000000000000000000', 'hex');
    const plain = buildTar([{ path: 'etc/', type: 'Directory' }, { path: 'etc/hostname', body: 'x\n' }]);
    const withCaps = Buffer.concat([paxHeader(paxRecord('SCHILY.xattr.security.capability', capability)), buildTar([{ path: 'ping', body: 'ping\n', mode: 0o755 }])]);
    const dataDir = join(dir, 'agent');
    const [image] = writeLayout(join(dataDir, 'content'), [{ tag: 'test', layers: [{ tar: plain, compression: 'gzip' }, { tar: withCaps, compression: 'gzip' }] }]);
    if (image === undefined) throw new Error('no image');
    const store = await ContentStore.open(dataDir);
    const staging = join(dir, 'staging');
    mkdirSync(join(staging, 'root'), { recursive: true });
    await contentStageSource(store, { manifest: image.manifest, manifestBytes: Buffer.alloc(0), version: '1' }).populate(join(staging, 'root'));
    const record = JSON.parse(readFileSync(join(staging, 'xattrs.json'), 'utf8')) as { layers: { index: number; applied: boolean; entries: { path: string; xattrs: Record<string, string> }[] }[] };
    expect(record.layers).toHaveLength(1);
    expect(record.layers[0]?.index).toBe(1);
    expect(record.layers[0]?.applied).toBe(root0 && !setfattr.skip);
    expect(record.layers[0]?.entries).toEqual([{ path: 'ping', xattrs: { 'security.capability': capability.toString('base64') } }]);
  });

  it('reports nothing for a layer without xattrs', async () => {
    const root = join(dir, 'root');
    mkdirSync(root);
    const result = await applyLayer(root, { blob: Readable.from([buildTar([{ path: 'etc/', type: 'Directory' }, { path: 'etc/hostname', body: 'x\n' }])]), compression: 'none' });
    expect(result.xattrs).toEqual([]);
  });

  describe.skipIf(tar.skip || python.skip)('with GNU tar --xattrs', () => {
    it('finds the user.* attribute GNU tar wrote', async () => {
      const src = join(dir, 'src');
      mkdirSync(join(src, 'usr', 'bin'), { recursive: true });
      const file = join(src, 'usr', 'bin', 'tool');
      writeFileSync(file, 'tool\n');
      try {
        execFileSync(python.path ?? 'python3', ['-c', 'import os, sys; os.setxattr(sys.argv[1], "user.bootfleet", b"v\\x00=1")', file]);
      } catch {
        // The file system of TMPDIR refuses user xattrs: nothing for GNU tar to write.
        return;
      }
      const archive = join(dir, 'layer.tar');
      execFileSync(tar.path ?? 'tar', ['--xattrs', '--xattrs-include=*', '--format=posix', '-C', src, '-cf', archive, 'usr']);
      const root = join(dir, 'root');
      mkdirSync(root);
      const result = await applyLayer(root, { blob: Readable.from([readFileSync(archive)]), compression: 'none' });
      expect(result.xattrs.map((e) => e.path)).toEqual(['usr/bin/tool']);
      expect(result.xattrs[0]?.xattrs.get('user.bootfleet')).toEqual(Buffer.from('v\u0000=1'));
    });
  });
});
