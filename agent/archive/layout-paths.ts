/**
 * Which paths an OCI layout archive may hold (image spec v1.1, "OCI Image
 * Layout": `oci-layout`, `index.json`, `blobs/<alg>/<encoded>`). The archive
 * comes from a USB stick or a technician's laptop and is hostile until
 * parsed: anything else (`..`, absolute paths, other files, other algorithms)
 * is refused, and a blob's name becomes a Digest through `parseDigest`, the
 * only way a digest becomes a path.
 */
import { BootfleetError, parseDigest, type Digest } from '../../protocol/index.js';

export type LayoutPath =
  | { readonly kind: 'directory' }
  | { readonly kind: 'oci-layout' }
  | { readonly kind: 'index' }
  | { readonly kind: 'blob'; readonly digest: Digest };

const BLOB_PATH = /^blobs\/sha256\/([0-9a-f]{64})$/;
const DIRECTORIES: ReadonlySet<string> = new Set(['', '.', 'blobs', 'blobs/sha256']);
const MAX_PATH_BYTES = 256;

/** Classifies one archive entry path; refuses every path outside the layout with BOOTFLEET_ARCHIVE_PATH_UNSAFE. */
export function classifyLayoutPath(raw: string, isDirectory: boolean): LayoutPath {
  // `./x` is how `tar -C dir .` names entries; `x/` is how directories end. Nothing else is rewritten.
  let path = raw.length > MAX_PATH_BYTES ? raw.slice(0, MAX_PATH_BYTES + 1) : raw;
  while (path.startsWith('./')) path = path.slice(2);
  if (isDirectory && path.endsWith('/')) path = path.slice(0, -1);
  if (isDirectory && DIRECTORIES.has(path)) return { kind: 'directory' };
  if (!isDirectory) {
    if (path === 'oci-layout') return { kind: 'oci-layout' };
    if (path === 'index.json') return { kind: 'index' };
    const blob = BLOB_PATH.exec(path);
    if (blob?.[1] !== undefined) return { kind: 'blob', digest: parseDigest(`sha256:${blob[1]}`) };
  }
  throw new BootfleetError('BOOTFLEET_ARCHIVE_PATH_UNSAFE', `archive entry ${JSON.stringify(raw.slice(0, MAX_PATH_BYTES))} is not part of an OCI layout`, {
    details: { entry: raw.slice(0, MAX_PATH_BYTES), directory: isDirectory },
  });
}
