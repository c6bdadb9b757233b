/** `npm run schemas`: writes protocol/schemas/<name>.json from the TypeBox definitions. */
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PUBLISHED_SCHEMAS, renderSchema } from '../protocol/index.js';

const dir = fileURLToPath(new URL('../../protocol/schemas/', import.meta.url));
await mkdir(dir, { recursive: true });
for (const [name, schema] of Object.entries(PUBLISHED_SCHEMAS)) {
  await writeFile(join(dir, `${name}.json`), renderSchema(name, schema));
}
process.stdout.write(`wrote ${Object.keys(PUBLISHED_SCHEMAS).length} schemas to ${dir}\n`);
