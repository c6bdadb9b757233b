/** `npm run vectors`: rewrites protocol/vectors/ from the committed test keys (making them if absent). */
import { access, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { generateSigningKey, writeKeyPair } from '../protocol/index.js';
import { buildVectors, VECTOR_KEYS } from './vectors.js';

const root = fileURLToPath(new URL('../../protocol/vectors/', import.meta.url));
const keysDir = join(root, 'keys');
await mkdir(keysDir, { recursive: true });
for (const name of VECTOR_KEYS) {
  const prefix = join(keysDir, name);
  const exists = await access(`${prefix}.key`).then(
    () => true,
    () => false,
  );
  if (!exists) await writeKeyPair(prefix, generateSigningKey(name.includes('ed25519') ? 'ed25519' : 'ecdsa-p256'));
}
const vectors = await buildVectors(root, keysDir);
process.stdout.write(`wrote ${vectors.length} vectors to ${root}\n`);
