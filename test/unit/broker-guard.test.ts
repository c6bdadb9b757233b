/** The MQTT fixed-header scanner and the device ACL, in memory. */
import { describe, expect, it } from 'vitest';
import { FixedHeaderScanner } from '../../server/broker/packet-guard.js';
import { deviceAcl, mayPublish, mayReceive, maySubscribe, soleReceiver } from '../../server/broker/acl.js';

const limits = { maxPacketBytes: 1000, maxPreAuthBytes: 100 };

describe('FixedHeaderScanner', () => {
  it('accepts a small CONNECT split across chunks, then larger packets once authenticated', () => {
    const scanner = new FixedHeaderScanner(limits);
    expect(scanner.scan(Buffer.from([0x10]))).toBeUndefined();
    expect(scanner.scan(Buffer.from([0x03, 1, 2]))).toBeUndefined();
    expect(scanner.scan(Buffer.from([3]))).toBeUndefined();
    scanner.markAuthenticated();
    expect(scanner.scan(Buffer.from([0x30, 0xe8, 0x06]))).toBeUndefined();
  });

  it('rejects by the announced length, before the body arrives', () => {
    expect(new FixedHeaderScanner(limits).scan(Buffer.from([0x10, 0xff, 0x7f]))).toBe('pre-auth-too-large');
    const authenticated = new FixedHeaderScanner(limits);
    authenticated.scan(Buffer.from([0x10, 0x00]));
    authenticated.markAuthenticated();
    expect(authenticated.scan(Buffer.from([0x30, 0xe9, 0x07]))).toBe('packet-too-large');
  });

  it('rejects a first packet that is not CONNECT, a five-byte length and too many pre-auth bytes', () => {
    expect(new FixedHeaderScanner(limits).scan(Buffer.from([0x30, 0x00]))).toBe('first-packet-not-connect');
    const long = new FixedHeaderScanner({ maxPacketBytes: 1e9, maxPreAuthBytes: 1e9 });
    expect(long.scan(Buffer.from([0x10, 0x80, 0x80, 0x80, 0x80]))).toBe('malformed-length');
    const chatty = new FixedHeaderScanner(limits);
    expect(chatty.scan(Buffer.from([0x10, 0x00]))).toBeUndefined();
    expect(chatty.scan(Buffer.alloc(99, 0xc0))).toBe('pre-auth-too-large');
  });
});

describe('device ACL', () => {
  it('allows only the device own topics, exactly spelled', () => {
    expect(deviceAcl('d1')).toEqual({
      subscribe: ['bootfleet/v1/devices/d1/desired', 'bootfleet/v1/devices/d1/commands'],
      publish: ['bootfleet/v1/devices/d1/reports', 'bootfleet/v1/devices/d1/presence'],
    });
    expect(maySubscribe('d1', 'bootfleet/v1/devices/d1/desired')).toBe(true);
    expect(maySubscribe('d1', 'bootfleet/v1/devices/+/desired')).toBe(false);
    expect(maySubscribe('d1', 'bootfleet/v1/devices/d1/#')).toBe(false);
    expect(maySubscribe('d1', 'bootfleet/v1/devices/d1/reports')).toBe(false);
    expect(mayPublish('d1', 'bootfleet/v1/devices/d1/reports')).toBe(true);
    expect(mayPublish('d1', 'bootfleet/v1/devices/d2/reports')).toBe(false);
    expect(mayPublish('d1', '$SYS/broker/x')).toBe(false);
    expect(mayReceive('d1', 'bootfleet/v1/devices/d2/desired')).toBe(false);
    expect(mayReceive('d1', 'bootfleet/v1/devices/d1/commands')).toBe(true);
  });

  it('names the one device that may receive a topic: its own read topics only', () => {
    expect(soleReceiver('bootfleet/v1/devices/d1/desired')).toBe('d1');
    expect(soleReceiver('bootfleet/v1/devices/d1/commands')).toBe('d1');
    for (const topic of ['bootfleet/v1/devices/d1/reports', 'bootfleet/v1/devices/d1/presence', 'bootfleet/v1/devices/+/desired', 'bootfleet/v1/devices/d1/desired/x', '$SYS/broker/x', 'bootfleet/v1/devices/bad id/desired']) {
      expect(soleReceiver(topic)).toBeUndefined();
    }
    // Consistent with the delivery check: the device it names may receive the topic.
    expect(mayReceive(soleReceiver('bootfleet/v1/devices/d7/desired') ?? '', 'bootfleet/v1/devices/d7/desired')).toBe(true);
  });
});
