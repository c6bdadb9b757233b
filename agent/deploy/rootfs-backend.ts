/**
 * The `rootfs` backend (the default): the system runs the tree the `current`
 * symlink points at. Switching writes a new link and renames it over the old
 * one, so `current` names the old tree or the new one, never neither
 * (rename(2) is atomic). The link is relative when it lives under the data
 * directory, so a data directory can be copied or moved whole.
 */
import { readlink } from 'node:fs/promises';
import { dirname, relative, resolve, sep } from 'node:path';
import type { DeploymentRef } from '../../protocol/index.js';
import { runActivationCommand, type ActivationBackend, type ActivationCommand } from './backend.js';
import { spawnCommand, type CommandRunner } from './command-runner.js';
import { deploymentRoot, deploymentsDir } from './deployments.js';
import { replaceSymlink } from './durable-fs.js';

export interface RootfsBackendOptions {
  readonly dataDir: string;
  /** Path of the `current` link; `<dataDir>/current` by default. */
  readonly currentLink?: string;
  readonly activation?: ActivationCommand;
  readonly runner?: CommandRunner;
}

export function currentLinkPath(options: { dataDir: string; currentLink?: string }): string {
  return options.currentLink ?? resolve(options.dataDir, 'current');
}

export function rootfsBackend(options: RootfsBackendOptions): ActivationBackend {
  const link = currentLinkPath(options);
  const runner = options.runner ?? spawnCommand;
  return {
    name: 'rootfs',
    async current() {
      let target: string;
      try {
        target = await readlink(link);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
        throw error;
      }
      const rel = relative(resolve(deploymentsDir(options.dataDir)), resolve(dirname(link), target)).split(sep);
      return rel.length === 2 && rel[1] === 'root' ? rel[0] : undefined;
    },
    async switchTo(target: DeploymentRef) {
      const root = resolve(deploymentRoot(options.dataDir, target.id));
      const inside = !relative(resolve(options.dataDir), resolve(dirname(link))).startsWith('..');
      await replaceSymlink(link, inside ? relative(dirname(link), root) : root);
    },
    activate: () => runActivationCommand(runner, options.activation),
  };
}
