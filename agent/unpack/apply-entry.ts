/**
 * One tar entry applied to the tree: path checks, whiteouts, then the writer
 * for its type. The per-layer state says what this layer already wrote, for
 * whiteout semantics, and which directories need their mtime set at the end.
 */
import { readdirSync } from 'node:fs';
import { resolve } from 'node:path';
import type { ReadEntry } from 'tar';
import { BootfleetError } from '../../protocol/index.js';
import type { UnpackOptions } from './limits.js';
import { childPath, lstatOrUndefined, parseEntryPath, resolveParent, throughSymlink, type VerifiedDirs } from './safe-path.js';
import { findNode, forgetReplaced, markWritten, newPathNode, type PathNode } from './layer-paths.js';
import { applyWhiteout, classifyWhiteout, pruneLower } from './whiteouts.js';
import { metaOf, writeDevice, writeDirectory, writeFile, writeHardlink, writeSymlink, type EntryMeta } from './write-entry.js';

export interface LayerState {
  readonly root: string;
  readonly options: UnpackOptions;
  /** Paths this layer wrote, their ancestors, and directory mtimes to set once the layer is done (children change them). */
  readonly written: PathNode;
  /** Directories known to be real directories (safe-path.ts). */
  readonly verified: VerifiedDirs;
  /**
   * The root was empty when the layer began (the first layer of a fresh
   * unpack): there is no lower layer, so the image spec's whiteouts, which
   * "MUST only apply to resources in lower/parent layers", hide nothing, and
   * `written` keeps only directories (their mtimes), not every file: 76 800
   * leaves cost about 4 MiB of heap (docs/agent-content.md, "Memory").
   */
  readonly lowerEmpty: boolean;
}

export function newLayerState(root: string, options: UnpackOptions): LayerState {
  // Normalised once: every path below it is built by childPath, which does not normalise.
  const resolved = resolve(root);
  return { root: resolved, options, written: newPathNode(false), verified: new Set(), lowerEmpty: readdirSync(resolved).length === 0 };
}

const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);
const DEVICE_TYPES = new Set(['CharacterDevice', 'BlockDevice', 'FIFO']);

export async function applyEntry(state: LayerState, entry: ReadEntry): Promise<void> {
  const name = entry.path;
  const parts = parseEntryPath(name, state.options);
  const meta = metaOf(entry, name, state.options.preserveOwnership);
  if (parts.length === 0) {
    applyRoot(state, entry, meta);
    return;
  }
  const base = parts[parts.length - 1] ?? '';
  const whiteout = classifyWhiteout(base, name);
  if (whiteout.kind !== 'none') {
    // A whiteout never makes directories: with no parent there is nothing to hide.
    const parent = resolveParent(state.root, parts, name, whiteout.kind === 'opaque', state.verified);
    if (parent === undefined || state.lowerEmpty) return;
    const touched = findNode(state.written, parts, parts.length - 1);
    if (whiteout.kind === 'opaque') pruneLower(parent, touched);
    else applyWhiteout(parent, touched, whiteout.target);
    state.verified.clear();
    return;
  }
  if (DEVICE_TYPES.has(entry.type) && !state.options.allowDevices) {
    throw new BootfleetError('BOOTFLEET_UNPACK_DEVICE_REFUSED', `entry ${JSON.stringify(name)} is a ${entry.type}`, {
      details: { entry: name, rule: 'no-devices', type: entry.type },
    });
  }
  const parent = resolveParent(state.root, parts, name, true, state.verified);
  if (parent === undefined) throw new BootfleetError('BOOTFLEET_INTERNAL', 'parent missing after create');
  const path = childPath(parent, base);
  await writeByType(state, entry, path, meta);
  const isDirectory = entry.type === 'Directory' || entry.type === 'GNUDumpDir';
  if (!isDirectory && state.lowerEmpty) forgetReplaced(state.written, parts);
  else markWritten(state.written, parts, isDirectory ? meta.mtime.getTime() : undefined);
}

async function writeByType(state: LayerState, entry: ReadEntry, path: string, meta: EntryMeta): Promise<void> {
  const verified = state.verified;
  if (FILE_TYPES.has(entry.type)) return writeFile(path, entry, meta, verified);
  if (DEVICE_TYPES.has(entry.type)) return writeDevice(path, entry, meta, verified);
  if (entry.type === 'Directory' || entry.type === 'GNUDumpDir') writeDirectory(path, meta, verified);
  else if (entry.type === 'SymbolicLink') writeSymlink(path, entry.linkpath ?? '', meta, verified);
  else if (entry.type === 'Link') writeHardlink(path, resolveHardlinkTarget(state, meta.entry, entry.linkpath ?? ''), verified);
  else throw unsupported(entry, meta);
}

function unsupported(entry: ReadEntry, meta: EntryMeta): BootfleetError {
  return new BootfleetError('BOOTFLEET_UNPACK_TAR_INVALID', `entry ${JSON.stringify(meta.entry)} has unsupported type ${entry.type}`, {
    details: { entry: meta.entry, rule: 'entry-type', type: entry.type },
  });
}

/** A hardlink target is a root-relative name of an entry already in the tree, reached without symlinks. */
function resolveHardlinkTarget(state: LayerState, entry: string, linkpath: string): string {
  const outside = (rule: string): BootfleetError =>
    new BootfleetError('BOOTFLEET_UNPACK_LINK_OUTSIDE', `hardlink ${JSON.stringify(entry)} -> ${JSON.stringify(linkpath)} breaks rule ${rule}`, {
      details: { entry, target: linkpath, rule },
    });
  let parts: string[];
  try {
    parts = parseEntryPath(linkpath, state.options);
  } catch {
    throw outside('target-outside-tree');
  }
  if (parts.length === 0) throw outside('target-is-root');
  let parent: string | undefined;
  try {
    parent = resolveParent(state.root, parts, linkpath, false, state.verified);
  } catch (error) {
    if (error instanceof BootfleetError && error.code === 'BOOTFLEET_UNPACK_THROUGH_SYMLINK') throw throughSymlink(entry, linkpath);
    throw outside('target-missing');
  }
  if (parent === undefined) throw outside('target-missing');
  const target = childPath(parent, parts[parts.length - 1] ?? '');
  const stat = lstatOrUndefined(target);
  if (stat === undefined) throw outside('target-missing');
  if (stat.isDirectory()) throw outside('target-is-directory');
  return target;
}

/** The `./` entry describes the staging root itself; anything but a directory would replace it. */
function applyRoot(state: LayerState, entry: ReadEntry, meta: EntryMeta): void {
  if (entry.type !== 'Directory') {
    throw new BootfleetError('BOOTFLEET_UNPACK_PATH_UNSAFE', `entry ${JSON.stringify(meta.entry)} (${entry.type}) would replace the root`, {
      details: { entry: meta.entry, rule: 'replace-root', type: entry.type },
    });
  }
  writeDirectory(state.root, meta, state.verified);
  state.written.mtimeMs = meta.mtime.getTime();
}
