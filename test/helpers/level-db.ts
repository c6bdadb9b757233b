/**
 * A real level database in a fresh scratch directory for each test of the calling file or `describe`:
 * opened before each test, closed after it; the directory is removed with it (temp-dir.ts).
 */
import { join } from 'node:path';
import { Level } from 'level';
import { afterEach, beforeEach } from 'vitest';
import { useTempDir } from './temp-dir.js';

/** Returns the current test's open database (`<scratch>/state`). */
export function useLevelDb(prefix: string): () => Level {
  const dir = useTempDir(prefix);
  let db: Level | undefined;
  beforeEach(async () => {
    db = new Level(join(dir(), 'state'));
    await db.open();
  });
  afterEach(async () => {
    await db?.close();
    db = undefined;
  });
  return () => {
    if (db === undefined) throw new Error('the database exists only inside a test');
    return db;
  };
}
