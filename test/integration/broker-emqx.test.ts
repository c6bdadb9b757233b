/**
 * EMQX provisioning (`broker.provisioning: emqx-http`), tested against a
 * recorded API, not a real EMQX (test/helpers/fake-emqx.ts: a real HTTP
 * server that checks each request against EMQX 5's documented shapes).
 * First the provisioner alone over real HTTP, then a whole server joined to
 * a real Mosquitto for its MQTT link while it provisions devices in the fake
 * EMQX at enrolment and removes them at revocation.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { deviceTopic } from '../../protocol/index.js';
import { pino } from 'pino';
import { EmqxProvisioner } from '../../server/broker/emqx.js';
import { startExternalBroker } from '../../server/broker/external.js';
import { startFakeEmqx, type FakeEmqx } from '../helpers/fake-emqx.js';
import { startMosquitto, type RunningMosquitto } from '../helpers/mosquitto.js';
import { freePort } from '../helpers/ports.js';
import { startTestServer, TOKENS, type TestServer } from '../helpers/server.js';
import { requireTool } from '../helpers/tools.js';

const KEY = 'bootfleet-provisioner';
const SECRET = 'emqx-api-secret-for-tests';
const AUTHN = '/api/v5/authentication/password_based%3Abuilt_in_database';
const RULES = '/api/v5/authorization/sources/built_in_database/rules';

const deviceRules = (id: string): unknown[] => [
  { topic: `eq ${deviceTopic(id, 'desired')}`, permission: 'allow', action: 'subscribe' },
  { topic: `eq ${deviceTopic(id, 'commands')}`, permission: 'allow', action: 'subscribe' },
  { topic: deviceTopic(id, 'reports'), permission: 'allow', action: 'publish' },
  { topic: deviceTopic(id, 'presence'), permission: 'allow', action: 'publish' },
  { topic: '#', permission: 'deny', action: 'all' },
];

describe('EmqxProvisioner against the recorded EMQX API', () => {
  let emqx: FakeEmqx;
  let dir: string;
  let secretFile: string;
  beforeEach(async () => {
    emqx = await startFakeEmqx(KEY, SECRET);
    dir = await mkdtemp(join(tmpdir(), 'bootfleet-emqx-'));
    secretFile = join(dir, 'secret');
    await writeFile(secretFile, `${SECRET}\n`, { mode: 0o600 });
  });
  afterEach(async () => {
    await emqx.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('checks the key and both built-in databases at start, then writes the ACL before the account, bound to the client id', async () => {
    const provisioner = new EmqxProvisioner({ apiUrl: `${emqx.url}/`, apiKey: KEY, apiSecretFile: secretFile });
    await provisioner.start();
    await provisioner.provision('d1', 'pw-1');
    expect(emqx.calls).toEqual([
      { method: 'GET', path: AUTHN, body: undefined },
      { method: 'GET', path: '/api/v5/authorization/sources/built_in_database', body: undefined },
      { method: 'POST', path: `${RULES}/clients`, body: [{ clientid: 'd1', rules: deviceRules('d1') }] },
      { method: 'POST', path: `${AUTHN}/users`, body: { user_id: 'd1', password: 'pw-1', is_superuser: false } },
    ]);
    expect(emqx.users.get('d1')).toBe('pw-1');
  });

  it('replaces a leftover account and ACL (409 ALREADY_EXISTS, then PUT), and revokes idempotently, kicking the client', async () => {
    const provisioner = new EmqxProvisioner({ apiUrl: emqx.url, apiKey: KEY, apiSecretFile: secretFile });
    await provisioner.start();
    await provisioner.provision('d2', 'old');
    emqx.calls.length = 0;
    await provisioner.provision('d2', 'new');
    expect(emqx.calls.map((c) => `${c.method} ${c.path}`)).toEqual([`POST ${RULES}/clients`, `PUT ${RULES}/clients/d2`, `POST ${AUTHN}/users`, `PUT ${AUTHN}/users/d2`]);
    expect(emqx.users.get('d2')).toBe('new');
    emqx.connected.add('d2');
    emqx.calls.length = 0;
    await provisioner.revoke('d2');
    expect(emqx.calls.map((c) => `${c.method} ${c.path}`)).toEqual([`DELETE ${AUTHN}/users/d2`, 'DELETE /api/v5/clients/d2', `DELETE ${RULES}/clients/d2`]);
    expect([emqx.users.has('d2'), emqx.rules.has('clients/d2'), emqx.connected.has('d2')]).toEqual([false, false, false]);
    // Already gone everywhere (404s): still a success.
    await provisioner.revoke('d2');
  });

  it('keys the ACL on the user name when told (userIdType: username)', async () => {
    const provisioner = new EmqxProvisioner({ apiUrl: emqx.url, apiKey: KEY, apiSecretFile: secretFile, userIdType: 'username' });
    await provisioner.start();
    await provisioner.provision('d3', 'pw');
    expect(emqx.calls.at(-2)).toEqual({ method: 'POST', path: `${RULES}/users`, body: [{ username: 'd3', rules: deviceRules('d3') }] });
    await provisioner.revoke('d3');
    expect(emqx.calls.at(-1)).toMatchObject({ method: 'DELETE', path: `${RULES}/users/d3` });
  });

  it('fails with stable codes: a refused key, an EMQX error, an unreachable API', async () => {
    await writeFile(secretFile, 'wrong-secret');
    await expect(new EmqxProvisioner({ apiUrl: emqx.url, apiKey: KEY, apiSecretFile: secretFile }).start()).rejects.toMatchObject({
      code: 'BOOTFLEET_BROKER_PROVISION_FAILED',
      details: { status: 401, emqxCode: 'BAD_API_KEY_OR_SECRET' },
    });
    await writeFile(secretFile, SECRET);
    const provisioner = new EmqxProvisioner({ apiUrl: emqx.url, apiKey: KEY, apiSecretFile: secretFile, authenticator: 'password_based:built_in_database' });
    await provisioner.start();
    emqx.failures.set(`POST ${AUTHN}/users`, 500);
    await expect(provisioner.provision('d4', 'pw')).rejects.toMatchObject({ code: 'BOOTFLEET_BROKER_UNAVAILABLE', details: { status: 500 } });
    const closed = new EmqxProvisioner({ apiUrl: `http://127.0.0.1:${await freePort()}`, apiKey: KEY, apiSecretFile: secretFile });
    await expect(closed.start()).rejects.toMatchObject({ code: 'BOOTFLEET_BROKER_UNAVAILABLE' });
  });
});

const mosquitto = requireTool('mosquitto');

describe.skipIf(mosquitto.skip)('a server provisioning devices in EMQX (MQTT through a real Mosquitto)', () => {
  let broker: RunningMosquitto | undefined;
  let emqx: FakeEmqx | undefined;
  let t: TestServer | undefined;
  let dir = '';
  beforeAll(async () => {
    broker = await startMosquitto(mosquitto.path ?? 'mosquitto');
    emqx = await startFakeEmqx(KEY, SECRET);
    dir = await mkdtemp(join(tmpdir(), 'bootfleet-emqx-server-'));
    await writeFile(join(dir, 'secret'), SECRET, { mode: 0o600 });
    t = await startTestServer({
      mode: 'external',
      url: broker.url,
      username: broker.serverUser,
      passwordFile: broker.serverPasswordFile,
      provisioning: 'emqx-http',
      emqx: { apiUrl: emqx.url, apiKey: KEY, apiSecretFile: join(dir, 'secret') },
    });
  });
  afterAll(async () => {
    await t?.destroy();
    await emqx?.stop();
    await broker?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('gives an enrolled device its EMQX account and ACL, removes them on revocation, and undoes a failed enrolment', async () => {
    if (t === undefined || emqx === undefined) throw new Error('setup failed');
    const enrolled = await t.api('POST', '/api/v1/enroll', { token: null, body: { token: TOKENS.enrollment, deviceId: 'em1' } });
    expect(enrolled.status).toBe(201);
    expect(emqx.users.get('em1')).toBe((enrolled.body as { password: string }).password);
    expect(emqx.rules.get('clients/em1')).toEqual(deviceRules('em1'));

    emqx.connected.add('em1');
    expect((await t.api('DELETE', '/api/v1/devices/em1/credentials', { token: TOKENS.admin })).status).toBe(204);
    expect([emqx.users.has('em1'), emqx.rules.has('clients/em1'), emqx.connected.has('em1')]).toEqual([false, false, false]);

    // EMQX refuses the account: the enrolment fails and leaves nothing behind, so it can be tried again.
    emqx.failures.set(`POST ${AUTHN}/users`, 400);
    expect(await t.api('POST', '/api/v1/enroll', { token: null, body: { token: TOKENS.enrollment, deviceId: 'em2' } })).toMatchObject({
      status: 502,
      body: { code: 'BOOTFLEET_BROKER_PROVISION_FAILED' },
    });
    emqx.failures.clear();
    expect((await t.api('POST', '/api/v1/enroll', { token: null, body: { token: TOKENS.enrollment, deviceId: 'em2' } })).status).toBe(201);
    expect(emqx.users.has('em2')).toBe(true);
  });

  it('refuses to start when EMQX refuses the API key', async () => {
    if (broker === undefined || emqx === undefined) throw new Error('setup failed');
    await writeFile(join(dir, 'bad-secret'), 'nope');
    const config = {
      mode: 'external' as const,
      url: broker.url,
      username: broker.serverUser,
      passwordFile: broker.serverPasswordFile,
      provisioning: 'emqx-http' as const,
      emqx: { apiUrl: emqx.url, apiKey: KEY, apiSecretFile: join(dir, 'bad-secret') },
    };
    await expect(startExternalBroker({ config, logger: pino({ level: 'silent' }) })).rejects.toMatchObject({ code: 'BOOTFLEET_BROKER_PROVISION_FAILED' });
    await expect(startExternalBroker({ config: { ...config, emqx: undefined }, logger: pino({ level: 'silent' }) })).rejects.toMatchObject({ code: 'BOOTFLEET_CONFIG_INVALID' });
  });
});
