/**
 * What staging needs from the content side (issue #4: registry client,
 * resumable fetch, safe unpack): the image's manifest and version, and a way
 * to fill an empty directory with the image's root tree. The unpacker plugs
 * in as a StageSource; `directoryStageSource` copies a tree already on disk
 * (an unpacked image, a USB stick, test fixtures).
 */
import { cp } from 'node:fs/promises';

export interface StageSource {
  /** Digest of `manifestBytes`; staging recomputes and compares it. */
  readonly manifestDigest: string;
  readonly manifestBytes: Uint8Array;
  /** Dotted numeric version of the image (protocol/version.ts). */
  readonly version: string;
  /** Fills `rootDir`, which exists and is empty, with the deployment's tree. */
  populate(rootDir: string): Promise<void>;
}

export interface DirectorySourceOptions {
  readonly manifestDigest: string;
  readonly manifestBytes: Uint8Array;
  readonly version: string;
}

/**
 * Copies `dir` as is: modes kept, symlinks copied as links (never followed).
 * `rootDir` exists and is empty; Node 24's fs.cp refuses an existing
 * destination directory when errorOnExist is set, so only `force: false` guards here.
 */
export function directoryStageSource(dir: string, options: DirectorySourceOptions): StageSource {
  return {
    ...options,
    populate: (rootDir) => cp(dir, rootDir, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true, errorOnExist: false, force: false }),
  };
}
