/**
 * "All agent HTTP goes through this client": no global fetch, no node:http,
 * and undici's request is called in one file only (agent/registry/http.ts).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = new URL('../../agent/', import.meta.url).pathname;

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
}

describe('agent HTTP boundary', () => {
  for (const file of sources(root)) {
    const name = relative(root, file);
    it(`${name} makes no HTTP request of its own`, () => {
      const text = readFileSync(file, 'utf8');
      expect(text).not.toMatch(/\bfetch\s*\(/);
      expect(text).not.toMatch(/from 'node:https?'/);
      if (name !== 'registry/http.ts') expect(text).not.toMatch(/import \{[^}]*\brequest\b[^}]*\} from 'undici'/);
    });
  }
});
