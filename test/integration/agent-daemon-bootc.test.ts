/**
 * The daemon with `deploy.backend: "bootc"`: its deployments hold an OCI
 * image layout that it hands to `bootc switch --transport oci <root>`.
 * bootc needs a bootc-booted host, so this test runs the real daemon
 * (`agent run --once`, autonomous mode, the embedded registry of a real
 * server) against a RECORDING STAND-IN for bootc (a shell script that logs its
 * argv and answers `status --format=json` in bootc's host-v1 shape from what
 * it was told to switch to), and checks the layout it was given with the
 * real skopeo, which verifies every blob while copying it.
 */
import { execFile } from 'node:child_process';
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCliProcess } from '../helpers/cli-process.js';
import { layerOf, pushTestImage, writeJson } from '../helpers/agent-daemon.js';
import { useDaemonFleet } from '../helpers/daemon-fleet.js';
import { requireTool } from '../helpers/tools.js';

const run = promisify(execFile);
const skopeo = requireTool('skopeo');
const REPO = 'fleet/bootc';

/** Logs argv; `switch --transport oci <dir>` becomes the staged image; `status` prints it as bootc would. */
function fakeBootc(dir: string): string {
  return `#!/bin/sh
echo "$*" >> ${dir}/bootc.log
entry() { if [ -s "$1" ]; then printf '{"image":{"image":{"image":"%s","transport":"oci"}}}' "$(cat "$1")"; else printf null; fi; }
case "$1" in
  status) printf '{"apiVersion":"org.containers.bootc/v1","kind":"BootcHost","status":{"booted":%s,"staged":%s,"rollback":null}}\\n' "$(entry ${dir}/booted)" "$(entry ${dir}/staged)" ;;
  switch) printf '%s' "$4" > ${dir}/staged ;;
  *) exit 1 ;;
esac
`;
}

describe.skipIf(skopeo.skip)('agent daemon with the bootc backend (recording stand-in for bootc)', () => {
  const harness = useDaemonFleet('bootfleet-bootc-');

  beforeAll(async () => {
    await writeFile(join(harness.dir, 'bootc'), fakeBootc(harness.dir));
    await chmod(join(harness.dir, 'bootc'), 0o755);
  });

  it('stages an OCI layout of the image and switches bootc to it, first install and update', async () => {
    const { fleet, dir } = harness;
    const dataDir = join(dir, 'agent');
    const config = join(dir, 'agent.json');
    await writeJson(config, {
      deviceId: 'bootc-1',
      deploy: { dataDir, backend: 'bootc', bootcPath: join(dir, 'bootc') },
      registry: harness.registryConfig(),
      autonomous: { image: `${fleet.registry}/${REPO}:stable` },
    });
    const images = [];
    for (const version of ['1', '2']) {
      images.push(await pushTestImage(fleet, REPO, [layerOf({ 'usr/bin/app': 'app' }), layerOf({ 'etc/version': version })], 'stable'));
      const once = await runCliProcess(['agent', 'run', '--once', '--config', config]);
      expect(once.code, once.stdout + once.stderr).toBe(0);
      const status = JSON.parse((await runCliProcess(['agent', 'status', '--json', '--config', config])).stdout) as { backend: string; current: string; booted: { id: string; manifestDigest: string } };
      expect(status.backend).toBe('bootc');
      expect(status.current).toBe(status.booted.id);
      const root = join(dataDir, 'deployments', status.booted.id, 'root');
      const switches = (await readFile(join(dir, 'bootc.log'), 'utf8')).trim().split('\n').filter((l) => l.startsWith('switch'));
      expect(switches).toHaveLength(Number(version));
      expect(switches.at(-1)).toBe(`switch --transport oci ${root}`);
      // The layout bootc is given holds exactly the pushed image, every blob intact.
      await run(skopeo.path ?? 'skopeo', ['copy', '--preserve-digests', `oci:${root}`, `oci:${join(dir, `copy-${version}`)}:x`], { timeout: 60_000 });
      const copied = JSON.parse(await readFile(join(dir, `copy-${version}`, 'index.json'), 'utf8')) as { manifests: { digest: string }[] };
      expect(copied.manifests[0]?.digest).toBe(images.at(-1)?.manifest.digest);
      expect(status.booted.manifestDigest).toBe(images.at(-1)?.manifest.digest);
    }
  }, 60_000);
});
