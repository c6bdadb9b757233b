import { afterEach, describe, expect, it, vi } from 'vitest';
import { findTool, requireTool } from '../helpers/tools.js';

describe('requireTool', () => {
  afterEach(() => {
    vi.unstubAllEnvs();
  });
  it('finds a tool every machine has', () => {
    expect(findTool('sh')).toMatch(/\/sh$/);
    expect(requireTool('sh').skip).toBe(false);
  });
  it('skips a missing tool outside CI and fails it in CI', () => {
    vi.stubEnv('CI', 'false');
    expect(requireTool('bootfleet-no-such-tool').skip).toBe(true);
    vi.stubEnv('CI', 'true');
    expect(() => requireTool('bootfleet-no-such-tool')).toThrow(/required in CI/);
  });
});
