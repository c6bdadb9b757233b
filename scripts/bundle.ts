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
import { build, type RolldownOutput } from 'rolldown';

/** The repository root (this file runs as dist/scripts/bundle.js). */
export const ROOT = fileURLToPath(new URL('../..', import.meta.url));
export const BUNDLE_DIR = `${ROOT}dist/bundle`;
/** Packages loaded from node_modules, not bundled (reasons above). */
export const EXTERNAL: readonly RegExp[] = [/^level(\/|$)/, /^classic-level(\/|$)/, /^@sigstore\//];

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
    output: {
      dir: outDir,
      format: 'esm',
      sourcemap: true,
      sourcemapExcludeSources: true,
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
