/**
 * The embedded broker's other listeners: TLS with a password, TLS with a
 * client certificate (mTLS, CN = device id), and MQTT over WebSocket.
 * Certificates are made with the openssl CLI for this run.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { allDevicesFilter, deviceTopic } from '../../protocol/index.js';
import { startTestBroker, type TestBroker } from '../helpers/embedded-broker.js';
import { makeCa, makeCert, makeFleetCerts, type Pem } from '../helpers/certs.js';
import { connectDevice, waitFor } from '../helpers/mqtt.js';
import { requireTool } from '../helpers/tools.js';
import { startTestServer, TOKENS } from '../helpers/server.js';

const openssl = requireTool('openssl');

describe.skipIf(openssl.skip)('embedded broker over TLS, mTLS and WebSocket', () => {
  let dir = '';
  let broker: TestBroker | undefined;
  let ca: Pem;
  let device: Pem;
  let rogue: Pem;
  let serverPem: Pem;
  const received: string[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bootfleet-certs-'));
    const tool = openssl.path ?? 'openssl';
    ({ ca, device, server: serverPem } = await makeFleetCerts(tool, dir, 'mtls-dev'));
    const rogueCa = await makeCa(tool, dir, 'rogue-ca');
    rogue = await makeCert(tool, dir, rogueCa, 'rogue', 'mtls-dev', 'extendedKeyUsage=clientAuth');
    broker = await startTestBroker({
      tls: { host: '127.0.0.1', port: 0, certFile: serverPem.certFile, keyFile: serverPem.keyFile, caFile: ca.certFile },
      ws: { host: '127.0.0.1', port: 0 },
    });
    await broker.plane.onDeviceMessage(allDevicesFilter('reports'), (_topic, payload) => {
      received.push(payload.toString('utf8'));
      return Promise.resolve();
    });
  });
  afterAll(async () => {
    await broker?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  const tlsUrl = (): string => broker?.plane.endpoints.tls ?? '';

  it('accepts a device with a client certificate for its id, without a password', async () => {
    const client = await connectDevice({ url: tlsUrl(), clientId: 'mtls-dev', tls: { ca: ca.cert, key: device.key, cert: device.cert } });
    await client.publishAsync(deviceTopic('mtls-dev', 'reports'), 'over-mtls', { qos: 1 });
    await waitFor(() => received.includes('over-mtls'), 5_000, 'report over mTLS');
    await client.endAsync();
  });

  it('refuses the certificate for another client id, and a certificate from another CA', async () => {
    await expect(connectDevice({ url: tlsUrl(), clientId: 'someone-else', tls: { ca: ca.cert, key: device.key, cert: device.cert } })).rejects.toBeDefined();
    await expect(connectDevice({ url: tlsUrl(), clientId: 'mtls-dev', tls: { ca: ca.cert, key: rogue.key, cert: rogue.cert } })).rejects.toBeDefined();
  });

  it('accepts a password over TLS and over WebSocket', async () => {
    if (broker === undefined) throw new Error('no broker');
    const password = await broker.enroll('pw-dev');
    const overTls = await connectDevice({ url: tlsUrl(), clientId: 'pw-dev', username: 'pw-dev', password, tls: { ca: ca.cert } });
    await overTls.endAsync();
    const overWs = await connectDevice({ url: broker.plane.endpoints.ws ?? '', clientId: 'pw-dev', username: 'pw-dev', password });
    await overWs.publishAsync(deviceTopic('pw-dev', 'reports'), 'over-ws', { qos: 1 });
    await waitFor(() => received.includes('over-ws'), 5_000, 'report over WebSocket');
    await overWs.endAsync();
  });

  it('puts the packet guard on TLS and WebSocket connections too: a first packet that is not CONNECT is cut', async () => {
    if (broker === undefined) throw new Error('no broker');
    const counters = broker.plane.counters;
    const before = counters.rejected['first-packet-not-connect'] ?? 0;
    // A PUBLISH before any CONNECT [MQTT-3.1.0-1], raw over each transport.
    const notConnect = Buffer.from([0x30, 0x02, 0x00, 0x00]);
    const tlsUrlParts = new URL(tlsUrl());
    const overTls = tlsConnect({ host: tlsUrlParts.hostname, port: Number(tlsUrlParts.port), ca: ca.cert });
    const tlsClosed = new Promise<void>((resolve) => overTls.once('close', () => { resolve(); }));
    overTls.on('error', () => undefined);
    overTls.once('secureConnect', () => overTls.write(notConnect));
    const overWs = new WebSocket(broker.plane.endpoints.ws ?? '', 'mqtt');
    const wsClosed = new Promise<void>((resolve) => overWs.once('close', () => { resolve(); }));
    overWs.on('error', () => undefined);
    overWs.once('open', () => { overWs.send(notConnect); });
    await Promise.all([tlsClosed, wsClosed]);
    await waitFor(() => (counters.rejected['first-packet-not-connect'] ?? 0) === before + 2, 5_000, 'both connections cut by the guard');
  });

  it('registers a device that logged in with its certificate, so the server keeps its reports', async () => {
    const t = await startTestServer({ tls: { host: '127.0.0.1', port: 0, certFile: serverPem.certFile, keyFile: serverPem.keyFile, caFile: ca.certFile } });
    try {
      const client = await connectDevice({ url: t.server.control.plane.endpoints.tls ?? '', clientId: 'mtls-dev', tls: { ca: ca.cert, key: device.key, cert: device.cert } });
      const report = { device: 'mtls-dev', seq: 1, sentAt: 1_795_000_000, phase: 'idle', slots: {} };
      await client.publishAsync(deviceTopic('mtls-dev', 'reports'), JSON.stringify(report), { qos: 1 });
      await waitFor(() => t.server.control.ingest.counters.reportsStored === 1, 5_000, 'report from the mTLS device');
      await client.endAsync();
      expect(await t.api('GET', '/api/v1/devices/mtls-dev', { token: TOKENS.viewer })).toMatchObject({ status: 200, body: { device: { enrolledWith: 'mtls', lastReport: { seq: 1 } } } });
    } finally {
      await t.destroy();
    }
  });
});
