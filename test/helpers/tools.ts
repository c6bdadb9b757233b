/**
 * External tools the integration tests drive (skopeo, umoci, mosquitto,
 * docker-registry). Outside CI a missing tool skips its tests with a visible
 * message; with CI=true it fails them, so CI can never pass by skipping.
 */
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const EXTRA_DIRS = ['/usr/sbin', '/usr/local/sbin', '/sbin'];

/** Absolute path of an executable on PATH (or in an sbin directory), or undefined. */
export function findTool(name: string): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), ...EXTRA_DIRS].filter((d) => d !== '');
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here; keep looking
    }
  }
  return undefined;
}

export interface ToolCheck {
  /** Path of the tool when present. */
  readonly path: string | undefined;
  /** True when the tests needing it must be skipped (never in CI). */
  readonly skip: boolean;
}

/**
 * Use as `const skopeo = requireTool('skopeo'); describe.skipIf(skopeo.skip)(...)`.
 * Throws in CI when the tool is missing, which fails the test file.
 */
export function requireTool(name: string): ToolCheck {
  const path = findTool(name);
  if (path !== undefined) return { path, skip: false };
  if (process.env.CI === 'true') {
    throw new Error(`${name} is required in CI (CI=true) but is not installed; .ci/run installs it with apt-get`);
  }
  console.warn(`SKIPPING tests that need ${name}: it is not installed (apt-get install ${name})`);
  return { path: undefined, skip: true };
}
