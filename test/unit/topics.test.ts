import { describe, expect, it } from 'vitest';
import { allDevicesFilter, deviceTopic, parseCampaignId, parseDeviceId, parseTopic, TOPIC_SPECS } from '../../protocol/index.js';

describe('device topics', () => {
  it('builds and parses every kind', () => {
    for (const kind of ['desired', 'commands', 'reports', 'presence'] as const) {
      const topic = deviceTopic('dev-1', kind);
      expect(topic).toBe(`bootfleet/v1/devices/dev-1/${kind}`);
      expect(parseTopic(topic)).toEqual({ deviceId: 'dev-1', kind });
    }
  });
  it('states QoS and retain per kind', () => {
    expect(TOPIC_SPECS.desired).toEqual({ qos: 1, retain: true, direction: 'server-to-device' });
    expect(TOPIC_SPECS.presence.retain).toBe(true);
    expect(TOPIC_SPECS.commands.retain).toBe(false);
  });
  it('gives servers a filter over all devices', () => {
    expect(allDevicesFilter('reports')).toBe('bootfleet/v1/devices/+/reports');
  });
  it.each([
    ['single-level wildcard', 'bootfleet/v1/devices/+/reports'],
    ['multi-level wildcard', 'bootfleet/v1/devices/#'],
    ['empty level', 'bootfleet/v1/devices//reports'],
    ['dollar-prefixed id', 'bootfleet/v1/devices/$SYS/reports'],
    ['wrong version', 'bootfleet/v2/devices/dev-1/reports'],
    ['wrong root', 'other/v1/devices/dev-1/reports'],
    ['unknown kind', 'bootfleet/v1/devices/dev-1/secrets'],
    ['extra level', 'bootfleet/v1/devices/dev-1/reports/x'],
    ['NUL', 'bootfleet/v1/devices/dev\u00001/reports'],
    ['over-long id', `bootfleet/v1/devices/${'a'.repeat(65)}/reports`],
    ['over-long topic', `bootfleet/v1/devices/dev-1/${'x'.repeat(300)}`],
    ['empty', ''],
  ])('parseTopic refuses %s', (_name, topic) => {
    expect(() => parseTopic(topic)).toThrow(expect.objectContaining({ code: 'BOOTFLEET_TOPIC_INVALID' }));
  });
  it('refuses a non-string topic', () => {
    expect(() => parseTopic(undefined)).toThrow(expect.objectContaining({ code: 'BOOTFLEET_TOPIC_INVALID' }));
  });
  it.each([['+'], ['#'], ['a/b'], [''], ['$SYS'], ['a'.repeat(65)], ['-leading'], ['.hidden'], ['spa ce']])('deviceTopic refuses id %j', (id) => {
    expect(() => deviceTopic(id, 'desired')).toThrow(expect.objectContaining({ code: 'BOOTFLEET_ID_INVALID' }));
  });
});

describe('ids', () => {
  it('accepts ids up to 64 characters', () => {
    expect(parseDeviceId('a'.repeat(64))).toBe('a'.repeat(64));
    expect(parseCampaignId('rollout_2026.11-a')).toBe('rollout_2026.11-a');
  });
  it('refuses non-strings', () => {
    expect(() => parseDeviceId(7)).toThrow(expect.objectContaining({ code: 'BOOTFLEET_ID_INVALID' }));
  });
});
