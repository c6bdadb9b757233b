/** The systemd units in deploy/ parse and reference what exists: `systemd-analyze verify`. */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { requireTool } from '../helpers/tools.js';

const analyze = requireTool('systemd-analyze');
const dir = fileURLToPath(new URL('../../deploy/systemd/', import.meta.url));
const units = readdirSync(dir).filter((f) => /\.(service|timer)$/.test(f));

describe.skipIf(analyze.skip)('deploy/systemd units', () => {
  it('exist for the server and the agent', () => {
    expect(units).toEqual(expect.arrayContaining(['bootfleet-server.service', 'bootfleet-agent.service']));
  });
  it.each(units)('%s passes systemd-analyze verify', (unit) => {
    // An unknown setting only prints a warning with exit 0, so stderr must be empty too.
    const result = spawnSync(analyze.path ?? 'systemd-analyze', ['verify', join(dir, unit)], { encoding: 'utf8', timeout: 20_000 });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });
});
