/** The benchmarks start the agent and the server as their systemd units do: flags and environment read from the units. */
import { describe, expect, it } from 'vitest';
import { readUnit, unitLaunch } from '../../bench/lib/unit-launch.js';

describe('unitLaunch', () => {
  it("reads the agent unit's node flags and environment", () => {
    const launch = unitLaunch(readUnit('bootfleet-agent.service'));
    expect(launch.flags).toEqual(expect.arrayContaining(['--max-semi-space-size=1', '--expose-gc']));
    expect(launch.flags.every((flag) => flag.startsWith('--'))).toBe(true);
    expect(launch.env).toMatchObject({ MALLOC_ARENA_MAX: '1' });
  });
  it("reads the server unit's: --expose-gc (its heap collector) and two malloc arenas", () => {
    const launch = unitLaunch(readUnit('bootfleet-server.service'));
    expect(launch.flags).toEqual(['--expose-gc', '--heap-growing-percent=25']);
    expect(launch.env).toMatchObject({ MALLOC_ARENA_MAX: '2', NODE_ENV: 'production' });
  });
  it('refuses a unit that does not run node, and names a unit it cannot find', () => {
    expect(() => unitLaunch('[Service]\nExecStart=/bin/true\n')).toThrow(/ExecStart/);
    expect(() => readUnit('no-such.service')).toThrow(/deploy\/systemd\/no-such.service not found/);
  });
});
