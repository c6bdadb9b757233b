/**
 * The systemd units in deploy/systemd pass `systemd-analyze verify` with no
 * warning (unknown keys, keys in the wrong section, missing executables are
 * reported on stderr even when the exit status is 0). The units name
 * /usr/bin/node, where the Debian package installs it; on a machine whose
 * node lives elsewhere (a CI runner's tool cache) that one complaint is
 * expected and ignored.
 */
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { requireTool } from '../helpers/tools.js';

const analyze = requireTool('systemd-analyze');
const dir = fileURLToPath(new URL('../../deploy/systemd/', import.meta.url));
const units = readdirSync(dir).filter((name) => /\.(service|timer)$/.test(name));

describe.skipIf(analyze.skip)('systemd units', () => {
  it.each(units)('%s verifies cleanly', async (unit) => {
    const output = await promisify(execFile)(analyze.path ?? 'systemd-analyze', ['verify', `${dir}${unit}`], { timeout: 20_000 }).then(
      ({ stdout, stderr }) => stdout + stderr,
      (error: unknown) => {
        const failed = error as { stdout?: string; stderr?: string };
        return `${failed.stdout ?? ''}${failed.stderr ?? ''}`;
      },
    );
    const complaints = output.split('\n').filter((line) => line.trim() !== '' && !/Command \/usr\/bin\/node is not executable/.test(line));
    expect(complaints).toEqual([]);
  });
});
