/**
 * Limits the embedded broker enforces before aedes sees a client's bytes:
 * pre-auth packet size (aedes #831), connect timeout, connections per address.
 * Real sockets on 127.0.0.1; the broker runs in this process so its memory can be measured.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Socket } from 'node:net';
import { deviceTopic } from '../../protocol/index.js';
import { connectDevice, openRawSocket, socketClosed } from '../helpers/mqtt.js';
import { startTestBroker, type TestBroker } from '../helpers/embedded-broker.js';

const MiB = 1024 * 1024;

/** MQTT remaining-length encoding [MQTT-2.2.3]. */
function encodeLength(length: number): Buffer {
  const bytes: number[] = [];
  let rest = length;
  do {
    let byte = rest % 128;
    rest = Math.floor(rest / 128);
    if (rest > 0) byte |= 0x80;
    bytes.push(byte);
  } while (rest > 0);
  return Buffer.from(bytes);
}

describe('embedded broker limits', () => {
  let broker: TestBroker | undefined;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await broker?.destroy();
    broker = undefined;
  });

  it('cuts a pre-auth CONNECT announcing 64 MiB after its header, and the broker does not grow', async () => {
    broker = await startTestBroker();
    global.gc?.();
    const before = process.memoryUsage();
    const socket = await openRawSocket(broker.port);
    sockets.push(socket);
    const closed = socketClosed(socket);
    // A CONNECT fixed header announcing 64 MiB, then body bytes as fast as the socket takes them.
    socket.write(Buffer.concat([Buffer.from([0x10]), encodeLength(64 * MiB)]));
    const chunk = Buffer.alloc(256 * 1024, 0x41);
    for (let i = 0; i < 256 && !socket.destroyed; i += 1) socket.write(chunk);
    await closed;
    global.gc?.();
    const after = process.memoryUsage();
    expect(broker.plane.counters.rejected['pre-auth-too-large']).toBe(1);
    // Bounded: far less than the 64 MiB announced (the test's own 64 MiB of queued writes are freed on close).
    expect(after.heapUsed - before.heapUsed).toBeLessThan(16 * MiB);
    expect(after.arrayBuffers - before.arrayBuffers).toBeLessThan(16 * MiB);
  });

  it('cuts a connection whose first packet is not CONNECT', async () => {
    broker = await startTestBroker();
    const socket = await openRawSocket(broker.port);
    sockets.push(socket);
    const closed = socketClosed(socket);
    socket.write(Buffer.from([0x30, 0x02, 0x00, 0x00]));
    await closed;
    expect(broker.plane.counters.rejected['first-packet-not-connect']).toBe(1);
  });

  it('cuts a packet over maxPacketBytes after authentication', async () => {
    broker = await startTestBroker({ maxPacketBytes: 64 * 1024 });
    const password = await broker.enroll('big');
    const client = await connectDevice({ url: broker.url, clientId: 'big', username: 'big', password });
    client.on('error', () => undefined);
    const closed = new Promise<void>((resolve) => client.once('close', resolve));
    client.publish(deviceTopic('big', 'reports'), Buffer.alloc(128 * 1024), { qos: 0 });
    await closed;
    await client.endAsync(true);
    expect(broker.plane.counters.rejected['packet-too-large']).toBe(1);
  });

  it('closes a connection that sends no CONNECT within connectTimeoutMs', async () => {
    broker = await startTestBroker({ connectTimeoutMs: 300 });
    const socket = await openRawSocket(broker.port);
    sockets.push(socket);
    const elapsed = await socketClosed(socket, 5_000);
    expect(elapsed).toBeGreaterThanOrEqual(200);
  });

  it('refuses connections over maxConnectionsPerAddress and admits again once one closes', async () => {
    broker = await startTestBroker({ maxConnectionsPerAddress: 3, connectTimeoutMs: 20_000 });
    const held = await Promise.all([0, 1, 2].map(() => openRawSocket(broker?.port ?? 0)));
    sockets.push(...held);
    const extra = await openRawSocket(broker.port);
    sockets.push(extra);
    await socketClosed(extra);
    expect(broker.plane.counters.rejected['too-many-connections']).toBe(1);
    const first = held[0];
    if (first === undefined) throw new Error('no socket');
    const firstClosed = socketClosed(first);
    first.destroy();
    await firstClosed;
    const password = await broker.enroll('late');
    // The broker frees the slot when it sees the close, a moment after the client does: retry, bounded.
    const url = broker.url;
    let connected = false;
    for (let attempt = 0; attempt < 50 && !connected; attempt += 1) {
      try {
        const client = await connectDevice({ url, clientId: 'late', username: 'late', password });
        await client.endAsync();
        connected = true;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    expect(connected).toBe(true);
  });
});
