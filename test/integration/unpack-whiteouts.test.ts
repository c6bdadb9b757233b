/**
 * Whiteouts hide only what lower layers wrote (image spec, "Whiteouts": they
 * "MUST only apply to resources in lower/parent layers"; "files that are
 * present in the same layer as a whiteout file can only be hidden by
 * whiteout files in subsequent layers"). A bottom layer has nothing below
 * it, and the unpack keeps no record of its files (LayerState.lowerEmpty):
 * these check that both kinds of layer give what the spec says.
 */
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { applyLayer } from '../../agent/index.js';
import { buildTar, type TarEntry } from '../helpers/tar-build.js';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'bf-whiteouts-'));
});
afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

const apply = (entries: TarEntry[]): Promise<unknown> => applyLayer(root, { blob: Readable.from([buildTar(entries)]), compression: 'none' });
const list = (dir: string): string[] => readdirSync(join(root, dir)).sort();

describe('whiteouts', () => {
  it('hide nothing in a bottom layer: every entry of the layer stays', async () => {
    await apply([
      { path: 'etc/', type: 'Directory' },
      { path: 'etc/passwd', body: 'root' },
      { path: 'etc/.wh.passwd' },
      { path: 'opt/keep', body: 'k' },
      { path: 'opt/.wh..wh..opq' },
      { path: 'usr/.wh.nothing' },
    ]);
    expect(list('etc')).toEqual(['passwd']);
    expect(list('opt')).toEqual(['keep']);
    expect(existsSync(join(root, 'usr'))).toBe(false);
  });

  it('hide what a lower layer wrote, never what their own layer wrote', async () => {
    mkdirSync(join(root, 'etc'));
    mkdirSync(join(root, 'opt'));
    for (const f of ['etc/passwd', 'etc/shadow', 'opt/old']) writeFileSync(join(root, f), 'lower');
    await apply([
      { path: 'etc/.wh.shadow' },
      { path: 'etc/group', body: 'new' },
      { path: 'etc/.wh.group' },
      { path: 'opt/new', body: 'new' },
      { path: 'opt/.wh..wh..opq' },
    ]);
    expect(list('etc')).toEqual(['group', 'passwd']);
    expect(list('opt')).toEqual(['new']);
  });
});
