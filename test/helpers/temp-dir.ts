/**
 * A fresh scratch directory for each test of the calling file or `describe`: made before each test
 * (beforeEach), removed after it (afterEach) whatever the test left in it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach } from 'vitest';

/** Returns the path of the current test's directory (`<tmpdir>/<prefix>XXXXXX`). */
export function useTempDir(prefix: string): () => string {
  let path: string | undefined;
  beforeEach(async () => {
    path = await mkdtemp(join(tmpdir(), prefix));
  });
  afterEach(async () => {
    if (path !== undefined) await rm(path, { recursive: true, force: true });
    path = undefined;
  });
  return () => {
    if (path === undefined) throw new Error('the scratch directory exists only inside a test');
    return path;
  };
}
