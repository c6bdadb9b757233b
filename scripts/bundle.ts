/**
 * `npm run build`, second step: bundles the `bootfleet` executable
 * (cli/main.ts) with rolldown into dist/bundle/, the artefact that ships
 * (package.json `bin`, deploy/systemd units, deploy/ Containerfiles).
 *
 * Why (issues #4 and #5, docs/agent-content.md "Memory"): tsc's output is about
 * 900 ES modules, and Node spends most of an agent's start-up, and several MiB
 * of its resident memory, loading them one by one. The bundle is a few dozen
 * chunks. Dynamic `import()`s stay chunks of their own, so `bootfleet agent ...`
 * never loads the server (fastify, aedes, level) and the daemon loads the
 * pipeline only when an update comes.
 *
 * Kept out of the bundle, resolved from node_modules at run time:
 *   - `level` / `classic-level`: a native addon found through its own
 *     `__dirname` (node-gyp-build), which a bundle would break;
 *   - the sigstore libraries: protocol/envelope/sigstore-modules.ts loads them
 *     with `createRequire` on first use, out of rolldown's sight on purpose.
 * Source maps (without the sources' text) sit next to each chunk:
 * `node --enable-source-maps` turns stack traces back into our file names.
 */
import { rm } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { build, type Plugin, type RolldownOutput } from 'rolldown';

/** The repository root (this file runs as dist/scripts/bundle.js). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BUNDLE_DIR = `${ROOT}dist/bundle`;
/** Packages loaded from node_modules, not bundled (reasons above). */
export const EXTERNAL: readonly RegExp[] = [/^level(\/|$)/, /^classic-level(\/|$)/, /^@sigstore\//];

/**
 * Every chunk must be pure ASCII. V8 keeps each module's source text for as
 * long as the process lives, and a source with a single character above
 * U+00FF is stored two bytes a character: mqtt.js, undici and our protocol
 * chunk held 4.4 MiB of source that way in the agent's heap (issues #4, #5).
 * `charset: 'ascii'` escapes code; what it leaves is legal comments (an
 * author's name in a licence line): their letters become `\u` escapes, still
 * readable, the licence kept. A chunk that is still not ASCII fails the build.
 */
const NON_ASCII = /[^\0-\x7f]/g;
const FIRST_NON_ASCII = /[^\0-\x7f]/;
const LEGAL_COMMENT = /\/\*![\s\S]*?\*\//g;
const escapeNonAscii = (text: string): string => text.replace(NON_ASCII, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
export const asciiChunks: Plugin = {
  name: 'bootfleet-ascii-chunks',
  renderChunk(code, chunk) {
    if (!FIRST_NON_ASCII.test(code)) return null;
    const escaped = code.replace(LEGAL_COMMENT, escapeNonAscii);
    const left = FIRST_NON_ASCII.exec(escaped);
    if (left !== null) throw new Error(`bundle chunk ${chunk.fileName} keeps a non-ASCII character at offset ${String(left.index)}: V8 would hold its source as two-byte text`);
    return { code: escaped, map: null };
  },
};

/** Bundles the CLI into `outDir` (emptied first). */
export function bundleCli(outDir: string = BUNDLE_DIR): Promise<RolldownOutput> {
  return bundleEntry(`${ROOT}cli/main.ts`, outDir);
}

/**
 * Bundles one entry (an absolute path to a source file) into
 * `outDir` as `main.js` plus its chunks, the way the CLI ships; the recovery
 * benchmark bundles its crash worker with it.
 */
export async function bundleEntry(entry: string, outDir: string): Promise<RolldownOutput> {
  // Chunk names carry a content hash: stale chunks of an earlier build would pile up.
  await rm(outDir, { recursive: true, force: true });
  return build({
    input: { main: entry },
    platform: 'node',
    logLevel: 'warn',
    external: [...EXTERNAL],
    plugins: [asciiChunks],
    output: {
      dir: outDir,
      format: 'esm',
      sourcemap: true,
      sourcemapExcludeSources: true,
      charset: 'ascii',
      minify: { compress: false, mangle: false, codegen: { removeWhitespace: true } },
      // JSDoc would stay in every loaded chunk's source text, in the heap (see asciiChunks).
      comments: { legal: true, annotation: true, jsdoc: false },
      entryFileNames: '[name].js',
      chunkFileNames: 'chunks/[name]-[hash].js',
    },
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  const out = await bundleCli();
  const chunks = out.output.filter((o) => o.type === 'chunk');
  const bytes = chunks.reduce((sum, c) => sum + c.code.length, 0);
  process.stdout.write(`bundle: ${String(chunks.length)} chunks, ${(bytes / 1024 / 1024).toFixed(1)} MiB, in ${BUNDLE_DIR} (${String(Date.now() - started)} ms)\n`);
}
