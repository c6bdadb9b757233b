/**
 * A digest of a deployed tree: every entry's relative path, type, mode, and
 * content hash (files) or target (symlinks), in a fixed order. Recorded
 * at staging in deployment.json; recomputing it tells a complete, unaltered
 * tree from a partial or changed one (runtime integrity, crash harness).
 * Files are streamed through the hash, never read whole.
 */
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { createDigester, parseDigest, type Digest } from '../../protocol/index.js';

async function hashFile(path: string): Promise<string> {
  const hash = createDigester('sha256');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function entryLine(root: string, rel: string): Promise<{ line: string; isDir: boolean }> {
  const path = join(root, rel);
  const info = await lstat(path);
  const mode = (info.mode & 0o7777).toString(8);
  if (info.isSymbolicLink()) return { line: `l ${mode} ${JSON.stringify(rel)} ${JSON.stringify(await readlink(path))}`, isDir: false };
  if (info.isDirectory()) return { line: `d ${mode} ${JSON.stringify(rel)}`, isDir: true };
  if (info.isFile()) return { line: `f ${mode} ${JSON.stringify(rel)} ${info.size} ${await hashFile(path)}`, isDir: false };
  return { line: `o ${mode} ${JSON.stringify(rel)} ${info.mode & 0o170000}`, isDir: false };
}

/** Walks `root` without following symlinks; entries are hashed in byte order of their lines. */
export async function treeDigest(root: string): Promise<Digest> {
  const lines: string[] = [];
  const pending: string[] = [''];
  while (pending.length > 0) {
    const dir = pending.pop() ?? '';
    for (const name of await readdir(join(root, dir))) {
      const rel = dir === '' ? name : `${dir}/${name}`;
      const { line, isDir } = await entryLine(root, rel);
      lines.push(line);
      if (isDir) pending.push(rel);
    }
  }
  const hash = createDigester('sha256');
  for (const line of lines.sort()) hash.update(`${line}\n`);
  return parseDigest(`sha256:${hash.digest('hex')}`);
}
