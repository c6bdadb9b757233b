/** treeDigest against the format it documents, computed independently: files larger than its read buffer, empty files, links, directories. */
import { createHash, randomBytes } from 'node:crypto';
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
});
