/**
 * `bootfleet device revoke` against a real server whose embedded broker has
 * a TLS listener taking client certificates (made with the openssl CLI for
 * this run): the revoked device is disconnected, its certificate is refused
 * at CONNECT from then on, across a server restart too, and a password device
 * loses its password but may enrol again.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ExitCode } from '../../cli/exit-codes.js';
import { captureCli, type CliRun } from '../helpers/cli-capture.js';
import { makeFleetCerts, type Pem } from '../helpers/certs.js';
import { connectDevice, waitFor } from '../helpers/mqtt.js';
import { startTestServer, TOKENS, type TestServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';

const openssl = requireTool('openssl');

describe.skipIf(openssl.skip)('bootfleet device revoke', () => {
  let dir = '';
  let ca: Pem;
  let device: Pem;
  let tls: { host: string; port: number; certFile: string; keyFile: string; caFile: string };
  let t: TestServer | undefined;
  const clients: MqttClient[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'bootfleet-revoke-'));
    const tool = openssl.path ?? 'openssl';
    const certs = await makeFleetCerts(tool, dir, 'rv-cert');
    ({ ca, device } = certs);
    tls = { host: '127.0.0.1', port: 0, certFile: certs.server.certFile, keyFile: certs.server.keyFile, caFile: ca.certFile };
    t = await startTestServer({ tls }, join(dir, 'server'));
  });
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.endAsync(true)));
    await t?.destroy();
    await rm(dir, { recursive: true, force: true });
  });

  const server = (): TestServer => {
    if (t === undefined) throw new Error('no server');
    return t;
  };
  const cli = (args: string[], token: string): Promise<CliRun> => captureCli([...args, '--server', server().url, '--token', token]);
  const byCertificate = (): Promise<MqttClient> =>
    connectDevice({ url: server().server.control.plane.endpoints.tls ?? '', clientId: 'rv-cert', tls: { ca: ca.cert, key: device.key, cert: device.cert } });

  it('disconnects a certificate device and refuses its certificate from then on, across a restart', async () => {
    const first = await byCertificate();
    clients.push(first);
    expect((await server().api('GET', '/api/v1/devices/rv-cert', { token: TOKENS.viewer })).body).toMatchObject({ device: { enrolledWith: 'mtls' } });

    const refused = await cli(['device', 'revoke', 'rv-cert'], TOKENS.operator);
    expect(refused.code).toBe(ExitCode.failure);
    expect(refused.err).toContain('BOOTFLEET_AUTH_FORBIDDEN');
    expect(first.connected).toBe(true);

    const revoked = await cli(['device', 'revoke', 'rv-cert'], TOKENS.admin);
    expect(revoked).toMatchObject({ code: ExitCode.ok });
    expect(JSON.parse(revoked.out)).toEqual({ device: 'rv-cert', revoked: true });
    await waitFor(() => !first.connected, 5_000, 'the revoked device to be disconnected');
    const failures = server().server.control.plane.counters.authFailures;
    await expect(byCertificate()).rejects.toBeDefined();
    expect(server().server.control.plane.counters.authFailures).toBe(failures + 1);
    const audit = (await server().api('GET', '/api/v1/audit', { token: TOKENS.admin })).body as { entries: { action: string; target: string }[] };
    expect(audit.entries).toContainEqual(expect.objectContaining({ action: 'device.revoke-credentials', target: 'rv-cert' }));

    // The list is in level: a restarted server still refuses the certificate.
    const data = server().dir;
    await server().stop();
    t = await startTestServer({ tls }, data);
    await expect(byCertificate()).rejects.toBeDefined();
  });

  it('deletes a password device credentials; it may enrol again and log in with the new password only', async () => {
    const enrol = async (): Promise<string> => {
      const { status, body } = await server().api('POST', '/api/v1/enroll', { token: null, body: { token: TOKENS.enrollment, deviceId: 'rv-pw' } });
      expect(status).toBe(201);
      return (body as { password: string }).password;
    };
    const url = server().mqttUrl;
    const old = await enrol();
    const client = await connectDevice({ url, clientId: 'rv-pw', username: 'rv-pw', password: old });
    clients.push(client);
    expect((await cli(['device', 'revoke', 'rv-pw'], TOKENS.admin)).code).toBe(ExitCode.ok);
    await waitFor(() => !client.connected, 5_000, 'the revoked device to be disconnected');
    await expect(connectDevice({ url, clientId: 'rv-pw', username: 'rv-pw', password: old })).rejects.toBeDefined();
    const renewed = await enrol();
    const again = await connectDevice({ url, clientId: 'rv-pw', username: 'rv-pw', password: renewed });
    clients.push(again);
    expect(again.connected).toBe(true);
  });

  it('answers a device that does not exist with its code', async () => {
    const missing = await cli(['device', 'revoke', 'nobody'], TOKENS.admin);
    expect(missing.code).toBe(ExitCode.failure);
    expect(missing.err).toContain('BOOTFLEET_DEVICE_NOT_FOUND');
  });
});
