/**
 * A digest of a deployed tree: every entry's relative path, type, mode, and
 * content hash (files) or target (symlinks), in a fixed order. Recorded
 * at staging in deployment.json; recomputing it tells a complete, unaltered
 * tree from a partial or changed one (runtime integrity, crash harness).
 *
 * The format (unchanged since the first release, so recorded digests stay
 * valid): one line per entry below the root,
 *   d <mode> "<path>"                  a directory
 *   f <mode> "<path>" <size> <sha256>  a regular file
 *   l <mode> "<path>" "<target>"       a symlink, never followed
 *   o <mode> "<path>" <type bits>      anything else
 * mode in octal, paths and targets as JSON strings, each line followed by a
 * newline; the digest is the sha256 of the lines sorted in UTF-16 code unit
 * order (JavaScript's default sort).
 *
 * The lines are not held for that sort (76 800 of them took 8 MiB: the
 * agent's whole update went over its memory target). A sorted order starts
 * with the group `<type> <mode> ` and, within a group, orders entries by
 * their quoted path; the walk produces exactly that: one pass finds the
 * groups, then one pass per group (a handful: `d 755`, `f 644`, `l 777`...)
 * visits each directory's entries in the order of their key, `<escaped
 * name>"` for the entry's own line and `<escaped name>/` for what lies below
 * a directory (JSON escapes each character on its own, so a path's escaped
 * form is its escaped components joined by `/`). Files are hashed only in
 * their group's pass, read through one buffer per walk. Memory is one
 * directory listing per level of the tree being walked.
 */
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, type Stats } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Hash } from 'node:crypto';
import { createDigester, parseDigest, type Digest } from '../../protocol/index.js';
import { garbagePacer } from '../content/garbage-pacer.js';

const READ_BYTES = 256 * 1024;
/** The walk gives the event loop a turn (MQTT keepalives, signals) after this many entries or bytes read. */
const YIELD_EVERY_ENTRIES = 256;
const YIELD_EVERY_BYTES = 8 * 1024 * 1024;

/** Hashes the file's bytes up to its size at the lstat and one read past it (a file still growing hashes differently: a mismatch). */
function hashFile(path: string, size: number, buffer: Buffer): string {
  const hash = createDigester('sha256');
  const fd = openSync(path, 'r');
  try {
    const reads = Math.ceil(size / buffer.length) + 1;
    for (let i = 0; i < reads; i += 1) {
      const bytesRead = readSync(fd, buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
  } finally {
    closeSync(fd);
  }
  return hash.digest('hex');
}

/** The type letter of an lstat, or of a directory entry (its d_type: no lstat needed). */
function typeLetter(info: Pick<Stats, 'isSymbolicLink' | 'isDirectory' | 'isFile'>): string {
  if (info.isSymbolicLink()) return 'l';
  if (info.isDirectory()) return 'd';
  if (info.isFile()) return 'f';
  return 'o';
}

/** `<type> <mode> `: the start of the entry's line, the group the sort puts it in. */
function groupOf(info: Stats): string {
  return `${typeLetter(info)} ${(info.mode & 0o7777).toString(8)} `;
}

/** The entry's line, without its group prefix (the caller has it) and its newline. */
function lineRest(path: string, rel: string, info: Stats, buffer: Buffer): string {
  const name = JSON.stringify(rel);
  if (info.isSymbolicLink()) return `${name} ${JSON.stringify(readlinkSync(path))}`;
  if (info.isDirectory()) return name;
  if (info.isFile()) return `${name} ${String(info.size)} ${hashFile(path, info.size, buffer)}`;
  return `${name} ${String(info.mode & 0o170000)}`;
}

/** What a directory entry is to the walk: its name, and whether its own line or its subtree comes next. */
interface Child {
  readonly name: string;
  readonly below: boolean;
}

/** One directory's place in a pass: its relative path and the keys of its entries, sorted, still to visit. */
interface Frame {
  readonly rel: string;
  readonly keyed: readonly (readonly [key: string, child: Child])[];
  next: number;
}

/** A name as it stands between the quotes of JSON.stringify (most names: unchanged). */
function escaped(name: string): string {
  const json = JSON.stringify(name);
  return json.length === name.length + 2 ? name : json.slice(1, -1);
}

class Walk {
  private readonly buffer = Buffer.allocUnsafe(READ_BYTES);
  private entries = 0;
  private bytes = 0;
  private readonly garbage = garbagePacer({ maxOldGrowthBytes: 1024 * 1024 });
  readonly groups = new Set<string>();

  constructor(private readonly root: string) {}

  path(rel: string): string {
    return rel === '' ? this.root : `${this.root}/${rel}`;
  }

  /** Visits the tree in sorted order, hashing the lines of one group; without one, only collects the groups. */
  async pass(hashing?: { readonly group: string; readonly hash: Hash }): Promise<void> {
    const group = hashing?.group;
    const stack: Frame[] = [this.frame('', group)];
    for (let frame = stack.at(-1); frame !== undefined; frame = stack.at(-1)) {
      const item = frame.keyed[frame.next];
      if (item === undefined) {
        stack.pop();
        continue;
      }
      frame.next += 1;
      const [, child] = item;
      const rel = frame.rel === '' ? child.name : `${frame.rel}/${child.name}`;
      let bytes = 0;
      if (child.below) stack.push(this.frame(rel, group));
      else if (hashing !== undefined) bytes = this.emit(rel, hashing.hash);
      await this.pace(bytes);
    }
  }

  /**
   * A directory's entries that matter to this pass, sorted by key: its
   * subdirectories, and the entries of `group`. The directory entry's type
   * (d_type) rules most entries out without an lstat; the pass that finds the
   * groups (`group` undefined) reads every entry's mode.
   */
  private frame(rel: string, group: string | undefined): Frame {
    const dir = this.path(rel);
    const keyed: [string, Child][] = [];
    const entries = readdirSync(dir, { withFileTypes: true });
    this.entries += entries.length;
    for (const entry of entries) {
      const name = entry.name;
      const letter = typeLetter(entry);
      if (group === undefined || group.startsWith(letter)) {
        const found = groupOf(lstatSync(`${dir}/${name}`));
        if (group === undefined) this.groups.add(found);
        else if (found === group) keyed.push([`${escaped(name)}"`, { name, below: false }]);
      }
      if (letter === 'd') keyed.push([`${escaped(name)}/`, { name, below: true }]);
    }
    keyed.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    return { rel, keyed, next: 0 };
  }

  /**
   * Hashes one line; returns the bytes read. An entry changed since its
   * listing gives its line as it is now: a different digest, as it should.
   */
  private emit(rel: string, hash: Hash): number {
    this.entries += 1;
    const path = this.path(rel);
    const info = lstatSync(path);
    hash.update(`${groupOf(info)}${lineRest(path, rel, info, this.buffer)}\n`);
    return info.isFile() ? info.size : 0;
  }

  /** Past either bound (entries listed or hashed, bytes read), a turn of the event loop and a look at the heap. */
  private async pace(bytes: number): Promise<void> {
    this.bytes += bytes;
    if (this.entries < YIELD_EVERY_ENTRIES && this.bytes < YIELD_EVERY_BYTES) return;
    this.entries = 0;
    this.bytes = 0;
    this.garbage.check();
    await nextTurn();
  }
}

/**
 * Walks `root` without following symlinks. Synchronous calls with a turn of
 * the event loop every few hundred entries or few MiB: the promises and
 * FileHandles of async calls per file were most of a walk's garbage.
 */
export async function treeDigest(root: string): Promise<Digest> {
  const walk = new Walk(root);
  await walk.pass();
  const hash = createDigester('sha256');
  for (const group of [...walk.groups].sort()) await walk.pass({ group, hash });
  return parseDigest(`sha256:${hash.digest('hex')}`);
}
