/** The memory and recovery benchmarks start the agent as its systemd unit does: flags and environment read from the unit. */
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { agentLaunch } from '../../bench/agent-memory.js';

describe('agentLaunch', () => {
  it("reads the shipped unit's node flags and environment", async () => {
    const unit = await readFile(new URL('../../deploy/systemd/bootfleet-agent.service', import.meta.url), 'utf8');
    const launch = agentLaunch(unit);
    expect(launch.flags).toEqual(expect.arrayContaining(['--max-semi-space-size=1', '--expose-gc']));
    expect(launch.flags.every((flag) => flag.startsWith('--'))).toBe(true);
    expect(launch.env).toMatchObject({ MALLOC_ARENA_MAX: '1' });
  });
  it('refuses a unit that does not run node', () => {
    expect(() => agentLaunch('[Service]\nExecStart=/bin/true\n')).toThrow(/ExecStart/);
  });
});
