/**
 * Durable replace of a small file for the content store and the daemon's
 * records, readable by others (0644): agent/deploy/durable-fs.ts's
 * writeFileAtomic (temporary sibling, fsync, rename, fsync of the directory).
 */
import { writeFileAtomic as writeDurably } from '../deploy/durable-fs.js';

export { fsyncPath as fsyncDirectory } from '../deploy/durable-fs.js';

export function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  return writeDurably(path, data, { mode: 0o644 });
}
