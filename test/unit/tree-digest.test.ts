/**
 * treeDigest against the format it documents, computed independently (every
 * line, then one sort): files larger than its read buffer, empty files, links,
 * directories, and names whose JSON form and sort order are tricky.
 */
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { treeDigest } from '../../agent/deploy/tree-digest.js';

const sha = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

describe('treeDigest', () => {
  let dir: string | undefined;
  afterEach(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('hashes every entry as documented, whatever the file size, and changes with one byte', async () => {
    dir = await mkdtemp(join(tmpdir(), 'bootfleet-tree-digest-'));
    const big = randomBytes(600 * 1024 + 7);
    await mkdir(join(dir, 'etc'));
    await writeFile(join(dir, 'etc', 'big.bin'), big);
    await writeFile(join(dir, 'empty'), '');
    await chmod(join(dir, 'empty'), 0o600);
    await symlink('/etc/big.bin', join(dir, 'link'));
    const lines = [
      'd 755 "etc"',
      `f 644 "etc/big.bin" ${big.length} ${sha(big)}`,
      `f 600 "empty" 0 ${sha('')}`,
      'l 777 "link" "/etc/big.bin"',
    ];
    await chmod(join(dir, 'etc'), 0o755);
    await chmod(join(dir, 'etc', 'big.bin'), 0o644);
    const expected = `sha256:${sha(lines.sort().map((line) => `${line}\n`).join(''))}`;
    expect((await treeDigest(dir)).value).toBe(expected);
    big.writeUInt8(big.readUInt8(big.length - 1) ^ 1, big.length - 1);
    await writeFile(join(dir, 'etc', 'big.bin'), big);
    expect((await treeDigest(dir)).value).not.toBe(expected);
  });

  it('equals the sorted lines of every entry for a tree of tricky names, modes and types', async () => {
    dir = await mkdtemp(join(tmpdir(), 'bootfleet-tree-digest-'));
    const entries = await tricky(dir);
    expect(entries).toBeGreaterThan(100);
    expect((await treeDigest(dir)).value).toBe(referenceDigest(dir));
  });
});

/** The format's definition, holding every line: what treeDigest computes without holding them. */
function referenceDigest(root: string): string {
  const lines: string[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(rel === '' ? root : join(root, rel))) {
      const entry = rel === '' ? name : `${rel}/${name}`;
      const path = join(root, entry);
      const info = lstatSync(path);
      const head = (type: string): string => `${type} ${(info.mode & 0o7777).toString(8)} ${JSON.stringify(entry)}`;
      if (info.isSymbolicLink()) lines.push(`${head('l')} ${JSON.stringify(readlinkSync(path))}`);
      else if (info.isDirectory()) {
        lines.push(head('d'));
        walk(entry);
      } else if (info.isFile()) lines.push(`${head('f')} ${String(info.size)} ${sha(readFileSync(path))}`);
      else lines.push(`${head('o')} ${String(info.mode & 0o170000)}`);
    }
  };
  walk('');
  return `sha256:${sha(lines.sort().map((line) => `${line}\n`).join(''))}`;
}

/**
 * Names that sort differently once quoted ("a" < "a b" < "a.c" < "a/x" < "a0"),
 * that JSON escapes (quote, backslash, tab, newline, control characters), and
 * outside the BMP; directories and files with several modes, links, a FIFO.
 */
async function tricky(root: string): Promise<number> {
  let entries = 0;
  const names = ['a', 'a b', 'a.c', 'a0', 'a"', 'a\\', 'a\t', 'a\nb', 'a\u0001', 'A', '-', '.hidden', 'é', 'z\u{1F600}', '\u{1F600}', 'zz', '~'];
  let seed = 7;
  const next = (n: number): number => {
    seed = (seed * 48_271) % 2_147_483_647; // Park-Miller: exact in a double
    return seed % n;
  };
  const fill = async (dir: string, depth: number): Promise<void> => {
    for (const name of names) {
      const path = join(dir, name);
      entries += 1;
      const kind = depth < 2 ? next(4) : 1 + next(3);
      if (kind === 0) {
        await mkdir(path);
        await fill(path, depth + 1);
        await chmod(path, [0o755, 0o700, 0o1777][next(3)] ?? 0o755);
      } else if (kind === 1) {
        await writeFile(path, randomBytes(next(3000)));
        await chmod(path, [0o644, 0o600, 0o755, 0o4755][next(4)] ?? 0o644);
      } else if (kind === 2) await symlink(next(2) === 0 ? '/etc/"quoted"' : `../${name}`, path);
      else execFileSync('mkfifo', [path]);
    }
  };
  await fill(root, 0);
  return entries;
}

