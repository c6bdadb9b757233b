import { describe, expect, it } from 'vitest';
import { formatImageReference, parseImageReference, referenceTarget, registryErrorCode, registrySpecCode } from '../../protocol/index.js';

const DIGEST = `sha256:${'a'.repeat(64)}`;

describe('parseImageReference', () => {
  it('reads host, port, name, tag and digest', () => {
    expect(parseImageReference('127.0.0.1:5000/fleet/os:v1')).toEqual({ registry: '127.0.0.1:5000', name: 'fleet/os', tag: 'v1' });
    const pinned = parseImageReference(`registry.example.com/os@${DIGEST}`);
    expect(pinned).toMatchObject({ registry: 'registry.example.com', name: 'os' });
    expect(referenceTarget(pinned)).toBe(DIGEST);
  });
  it('refuses references without a registry, with bad names, or without tag and digest', () => {
    for (const bad of ['os:v1', 'host/UPPER:v1', 'host/os', 'host/os:-tag', `host/os@sha256:../../x`]) {
      expect(() => parseImageReference(bad), bad).toThrow(expect.objectContaining({ code: expect.stringMatching(/BOOTFLEET_(CLI_USAGE|DIGEST_INVALID)/) as unknown }));
    }
  });
});

describe('parseImageReference options (the agent and the CLI share one grammar)', () => {
  it('gives a default tag only when asked, and keeps the error code asked for', () => {
    expect(parseImageReference('localhost/os', { defaultTag: 'latest' })).toEqual({ registry: 'localhost', name: 'os', tag: 'latest' });
    expect(parseImageReference(`localhost/os@${DIGEST}`, { defaultTag: 'latest' })).not.toHaveProperty('tag');
    expect(() => parseImageReference('os', { code: 'BOOTFLEET_REGISTRY_REFERENCE_INVALID' })).toThrow(expect.objectContaining({ code: 'BOOTFLEET_REGISTRY_REFERENCE_INVALID' }));
  });
  it('reads IPv6 literals, with a dotted IPv4 tail too', () => {
    expect(parseImageReference('[::ffff:127.0.0.1]:5000/os:v1')).toMatchObject({ registry: '[::ffff:127.0.0.1]:5000' });
    expect(parseImageReference('[::1]:5000/os:v1')).toMatchObject({ registry: '[::1]:5000' });
  });
  it('formats what it parsed back to the same text', () => {
    for (const text of ['127.0.0.1:5000/fleet/os:v1', `registry.example.com/os:v2@${DIGEST}`]) expect(formatImageReference(parseImageReference(text))).toBe(text);
  });
});

describe('registry spec codes', () => {
  it('map both ways', () => {
    expect(registrySpecCode('BOOTFLEET_REGISTRY_MANIFEST_BLOB_UNKNOWN')).toBe('MANIFEST_BLOB_UNKNOWN');
    expect(registrySpecCode('BOOTFLEET_INTERNAL')).toBe('UNKNOWN');
    expect(registryErrorCode('TOOMANYREQUESTS')).toBe('BOOTFLEET_REGISTRY_TOO_MANY_REQUESTS');
    expect(registryErrorCode('NOPE')).toBeUndefined();
  });
});
