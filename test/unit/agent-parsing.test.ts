/** Fast, in-memory checks of the agent's edge parsers and retry arithmetic. */
import { describe, expect, it } from 'vitest';
import { backoffDelay, createRateLimiter, DEFAULT_RETRY_POLICY, parseChallenge, parseReference, selectPlatform } from '../../agent/index.js';
import { classifyWhiteout } from '../../agent/unpack/whiteouts.js';
import { childPath, parseEntryPath } from '../../agent/unpack/safe-path.js';

const limits = { maxDepth: 4, maxPathBytes: 64 };

describe('parseReference', () => {
  it('splits host, repository, tag and digest', () => {
    const digest = `sha256:${'a'.repeat(64)}`;
    expect(parseReference('127.0.0.1:5000/fleet/os:v1')).toEqual({ registry: '127.0.0.1:5000', repository: 'fleet/os', tag: 'v1' });
    expect(parseReference(`registry.example.com/os@${digest}`)).toMatchObject({ registry: 'registry.example.com', repository: 'os', digest: { value: digest } });
    expect(parseReference('localhost/os')).toMatchObject({ tag: 'latest' });
  });
  it.each(['os:v1', 'host/OS', 'host/os:bad tag', 'host/../x', 'host/os@sha256:../../x', 'ho st/os'])('refuses %s', (ref) => {
    expect(() => parseReference(ref)).toThrow(expect.objectContaining({ code: expect.stringMatching(/REFERENCE_INVALID|DIGEST_INVALID/) as unknown }));
  });
});

describe('parseChallenge', () => {
  it('reads Bearer and Basic challenges', () => {
    expect(parseChallenge('Bearer realm="https://auth.example/token",service="registry.example",scope="repository:os:pull"')).toEqual({
      scheme: 'bearer',
      params: { realm: 'https://auth.example/token', service: 'registry.example', scope: 'repository:os:pull' },
    });
    expect(parseChallenge('Basic realm="x"')).toMatchObject({ scheme: 'basic' });
  });
  it('refuses a missing or unknown challenge', () => {
    expect(() => parseChallenge(undefined)).toThrow(expect.objectContaining({ code: 'BOOTFLEET_REGISTRY_AUTH_FAILED' }));
    expect(() => parseChallenge('Negotiate abc')).toThrow(expect.objectContaining({ code: 'BOOTFLEET_REGISTRY_AUTH_FAILED' }));
  });
});

describe('selectPlatform', () => {
  const d = (architecture: string, variant?: string) => ({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: `sha256:${architecture.padEnd(64, '0').replace(/[^a-f0-9]/g, '0')}`,
    size: 1,
    platform: { os: 'linux', architecture, ...(variant === undefined ? {} : { variant }) },
  });
  it('picks os, architecture and variant', () => {
    const index = { schemaVersion: 2 as const, manifests: [d('amd64'), d('arm', 'v6'), d('arm', 'v7')] };
    expect(selectPlatform(index, { os: 'linux', architecture: 'arm', variant: 'v7' })).toBe(index.manifests[2]);
    expect(() => selectPlatform(index, { os: 'linux', architecture: 'riscv64' })).toThrow(expect.objectContaining({ code: 'BOOTFLEET_REGISTRY_PLATFORM_MISSING' }));
  });
});

describe('backoffDelay', () => {
  it('grows exponentially within equal jitter and a ceiling', () => {
    expect(backoffDelay(1, DEFAULT_RETRY_POLICY, () => 0)).toBe(250);
    expect(backoffDelay(1, DEFAULT_RETRY_POLICY, () => 1)).toBe(500);
    expect(backoffDelay(4, DEFAULT_RETRY_POLICY, () => 1)).toBe(4000);
    expect(backoffDelay(30, DEFAULT_RETRY_POLICY, () => 1)).toBe(DEFAULT_RETRY_POLICY.maxDelayMs);
  });
});

describe('createRateLimiter', () => {
  it('lets one second of burst through at once, then waits', async () => {
    let now = 0;
    const limiter = createRateLimiter(1000, () => now);
    const started = performance.now();
    await limiter.take(1000);
    expect(performance.now() - started).toBeLessThan(50);
    now = 0;
    const waiting = performance.now();
    await limiter.take(50);
    expect(performance.now() - waiting).toBeGreaterThanOrEqual(40);
  });
});

describe('layer entry names', () => {
  it('normalises ./ and refuses escapes', () => {
    expect(parseEntryPath('./usr/bin/', limits)).toEqual(['usr', 'bin']);
    expect(parseEntryPath('./', limits)).toEqual([]);
    expect(() => parseEntryPath('/etc', limits)).toThrow(expect.objectContaining({ code: 'BOOTFLEET_UNPACK_PATH_UNSAFE' }));
    expect(() => parseEntryPath('a/../../b', limits)).toThrow(expect.objectContaining({ code: 'BOOTFLEET_UNPACK_PATH_UNSAFE' }));
    expect(() => parseEntryPath('a/b/c/d/e', limits)).toThrow(expect.objectContaining({ code: 'BOOTFLEET_UNPACK_TOO_DEEP' }));
    expect(() => parseEntryPath('x'.repeat(65), limits)).toThrow(expect.objectContaining({ code: 'BOOTFLEET_UNPACK_TOO_DEEP' }));
  });
  it('joins a checked component below a normalised directory', () => {
    expect(childPath('/srv/root', 'etc')).toBe('/srv/root/etc');
    expect(childPath('/', 'etc')).toBe('/etc');
  });
  it('classifies whiteouts as the image spec says', () => {
    expect(classifyWhiteout('.wh..wh..opq', 'd/.wh..wh..opq')).toEqual({ kind: 'opaque' });
    expect(classifyWhiteout('.wh.passwd', 'etc/.wh.passwd')).toEqual({ kind: 'whiteout', target: 'passwd' });
    expect(classifyWhiteout('passwd', 'etc/passwd')).toEqual({ kind: 'none' });
    for (const bad of ['.wh.', '.wh..', '.wh...', '.wh..wh.plnk']) {
      expect(() => classifyWhiteout(bad, bad)).toThrow(expect.objectContaining({ code: 'BOOTFLEET_UNPACK_WHITEOUT_INVALID' }));
    }
  });
});

describe('progress output', () => {
  it('writes one JSON object per line, and a bar that ends at 100%', async () => {
    const { jsonLinesProgress } = await import('../../agent/index.js');
    const { progressBar } = await import('../../cli/progress-bar.js');
    const lines: string[] = [];
    const sink = jsonLinesProgress((line) => lines.push(line));
    sink({ event: 'blob-resume', digest: `sha256:${'a'.repeat(64)}`, offset: 5 });
    expect(lines).toEqual([`{"event":"blob-resume","digest":"sha256:${'a'.repeat(64)}","offset":5}\n`]);
    let text = '';
    const bar = progressBar((t) => (text += t));
    bar({ event: 'blob-progress', digest: `sha256:${'b'.repeat(64)}`, done: 10, total: 10, overallDone: 2 * 1024 * 1024, overallTotal: 2 * 1024 * 1024 });
    expect(text).toContain('100% 2.0/2.0 MiB');
  });
});
