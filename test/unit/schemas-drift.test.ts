import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PUBLISHED_SCHEMAS, renderSchema } from '../../protocol/index.js';

const dir = fileURLToPath(new URL('../../protocol/schemas/', import.meta.url));

describe('protocol/schemas (committed JSON Schemas)', () => {
  it('match the TypeBox definitions; run `npm run schemas` after changing a message', async () => {
    const files = (await readdir(dir)).filter((f) => f.endsWith('.json')).sort();
    expect(files).toEqual(Object.keys(PUBLISHED_SCHEMAS).map((n) => `${n}.json`).sort());
    for (const [name, schema] of Object.entries(PUBLISHED_SCHEMAS)) {
      expect(await readFile(join(dir, `${name}.json`), 'utf8'), name).toBe(renderSchema(name, schema));
    }
  });
});
