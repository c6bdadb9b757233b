import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  checkDowngrade,
  compareVersions,
  compileParser,
  isPhaseTransitionAllowed,
  parseJson,
  parsePresence,
  parseReport,
  parseVersion,
  PHASES,
  PHASE_TRANSITIONS,
  desiredStateParser,
  type Report,
} from '../../protocol/index.js';
import { Type } from 'typebox';
import { sampleDesiredState } from '../helpers/messages.js';
import { thrownCode } from '../helpers/thrown-code.js';

const code = thrownCode;

const report: Report = {
  device: 'dev-1',
  seq: 12,
  sentAt: 1_795_000_100,
  phase: 'downloading',
  campaign: 'spring-rollout',
  desiredSeq: 7,
  progress: { doneBytes: 1000, totalBytes: 5000 },
  slots: { booted: { digest: `sha256:${'a'.repeat(64)}`, version: '2026.10.1' } },
  inventory: [`sha256:${'b'.repeat(64)}`],
};

describe('reports and presence', () => {
  it('parse from bytes as they arrive', () => {
    expect(parseReport(Buffer.from(JSON.stringify(report)))).toEqual(report);
    expect(parsePresence('{"device":"dev-1","online":false,"since":1795000000}').online).toBe(false);
  });
  it('refuse unknown fields, bad phases, hostile digests and oversized input', () => {
    expect(code(() => parseReport(JSON.stringify({ ...report, admin: true })))).toBe('BOOTFLEET_MESSAGE_INVALID');
    expect(code(() => parseReport(JSON.stringify({ ...report, phase: 'pwned' })))).toBe('BOOTFLEET_MESSAGE_INVALID');
    expect(code(() => parseReport(JSON.stringify({ ...report, inventory: ['sha256:../../etc'] })))).toBe('BOOTFLEET_MESSAGE_INVALID');
    expect(code(() => parseReport(JSON.stringify({ ...report, inventory: [report.inventory?.[0], report.inventory?.[0]] })))).toBe(
      'BOOTFLEET_MESSAGE_INVALID',
    );
    expect(code(() => parseReport(Buffer.alloc(600 * 1024, 0x20)))).toBe('BOOTFLEET_MESSAGE_TOO_LARGE');
    expect(code(() => parsePresence('not json'))).toBe('BOOTFLEET_JSON_INVALID');
  });
  it('name the offending path in the error details', () => {
    try {
      parseReport(JSON.stringify({ ...report, seq: 0 }));
      expect.unreachable();
    } catch (error) {
      expect((error as { details: { problems: string[] } }).details.problems.join()).toContain('/seq');
    }
  });
});

describe('desired state schema', () => {
  it('accepts the sample and refuses a bad maintenance window', () => {
    const sample = sampleDesiredState({
      policy: {
        downloadOnly: true,
        allowDowngrade: false,
        healthTimeoutSeconds: 60,
        maintenanceWindows: [{ days: ['sat', 'sun'], start: '02:00', durationMinutes: 120, timeZone: 'Europe/Paris' }],
      },
    });
    expect(desiredStateParser.check(sample)).toBe(true);
    const bad = { ...sample, policy: { ...sample.policy, maintenanceWindows: [{ days: ['sat'], start: '25:00', durationMinutes: 1, timeZone: 'UTC' }] } };
    expect(desiredStateParser.check(bad)).toBe(false);
  });
  it.each([
    ['registry with a path', { registry: 'evil.example/x' }],
    ['uppercase repository', { repository: 'Fleet/OS' }],
    ['version with a leading zero', { version: '01.2' }],
  ])('refuses an image target with %s', (_name, patch) => {
    const sample = sampleDesiredState();
    expect(desiredStateParser.check({ ...sample, image: { ...sample.image, ...patch } })).toBe(false);
  });
  it('accepts IPv6 and port registries', () => {
    const sample = sampleDesiredState();
    expect(desiredStateParser.check({ ...sample, image: { ...sample.image, registry: '[::1]:5000' } })).toBe(true);
    expect(desiredStateParser.check({ ...sample, image: { ...sample.image, registry: '127.0.0.1:5000' } })).toBe(true);
  });
});

describe('versions', () => {
  it('compare part by part, missing parts as zero', () => {
    expect(compareVersions('2026.11.2', '2026.11.10')).toBe(-1);
    expect(compareVersions('2', '1.99')).toBe(1);
    expect(compareVersions('1.2', '1.2.0')).toBe(0);
  });
  it.each([['1.2.3.4.5'], ['v1'], ['1..2'], ['01'], [''], ['1.-2']])('refuse %j', (v) => {
    expect(code(() => parseVersion(v))).toBe('BOOTFLEET_VERSION_INVALID');
  });
});

describe('downgrade rule', () => {
  it('refuses a lower version unless allowed', () => {
    expect(code(() => checkDowngrade('2026.11.2', '2026.10.9', false))).toBe('BOOTFLEET_DOWNGRADE_REFUSED');
    expect(code(() => checkDowngrade('2026.11.2', '2026.10.9', true))).toBe('no error');
    expect(code(() => checkDowngrade('2026.11.2', '2026.11.2', false))).toBe('no error');
    expect(code(() => checkDowngrade(undefined, '1', false))).toBe('no error');
  });
});

describe('phase transitions', () => {
  it('cover every phase and allow repeats', () => {
    expect(Object.keys(PHASE_TRANSITIONS).sort()).toEqual([...PHASES].sort());
    expect(isPhaseTransitionAllowed('downloading', 'downloading')).toBe(true);
    expect(isPhaseTransitionAllowed('probation', 'succeeded')).toBe(true);
    expect(isPhaseTransitionAllowed('idle', 'succeeded')).toBe(false);
  });
});

describe('canonical JSON', () => {
  it('sorts keys, drops undefined, keeps arrays in order', () => {
    expect(canonicalJson({ b: 1, a: [3, { d: null, c: 'x' }], e: undefined })).toBe('{"a":[3,{"c":"x","d":null}],"b":1}');
    expect(canonicalJson(true)).toBe('true');
  });
  it('refuses what JSON cannot hold', () => {
    expect(() => canonicalJson(Number.NaN)).toThrow(TypeError);
    expect(() => canonicalJson(() => 1)).toThrow(TypeError);
  });
});

describe('validation helpers', () => {
  it('compileParser can use another code', () => {
    const parser = compileParser('thing', Type.Object({ a: Type.String() }), 'BOOTFLEET_CONFIG_INVALID');
    expect(code(() => parser.parse({}))).toBe('BOOTFLEET_CONFIG_INVALID');
    expect(parser.parse({ a: 'x' })).toEqual({ a: 'x' });
  });
  it('parseJson bounds size for strings and bytes', () => {
    expect(parseJson(new Uint8Array(Buffer.from('[1]')), 3, 'x')).toEqual([1]);
    expect(code(() => parseJson('[1,2]', 3, 'x'))).toBe('BOOTFLEET_MESSAGE_TOO_LARGE');
  });
});
