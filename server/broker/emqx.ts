/**
 * EMQX 5 provisioning through its HTTP API (docs/control-plane.md, "EMQX";
 * deploy/emqx/README.md). At enrolment the server writes the device's ACL to
 * the built-in-database authorizer, then its password to the built-in-database
 * authenticator; revocation deletes both and kicks the client. Paths and
 * bodies follow EMQX 5's API (emqx_authn_api: `request_user_create` is
 * `{ user_id, password, is_superuser }`; emqx_authz_api_mnesia: a rule is
 * `{ topic, permission, action }`, a POST takes an array of
 * `{ clientid | username, rules }`, an existing entry answers 409
 * `ALREADY_EXISTS` and PUT replaces it). Tested against a recorded API, not a
 * real EMQX (test/integration/broker-emqx.test.ts).
 */
import { readFile } from 'node:fs/promises';
import { request, type Dispatcher } from 'undici';
import { BootfleetError } from '../../protocol/index.js';
import { deviceAcl } from './acl.js';

export const DEFAULT_EMQX_AUTHENTICATOR = 'password_based:built_in_database';
/** Each API call (connect, headers and body), ms. */
const REQUEST_TIMEOUT_MS = 10_000;
/** An EMQX answer is a small JSON document; anything longer is not read. */
const MAX_ANSWER_BYTES = 64 * 1024;

export interface EmqxSettings {
  /** Base URL of the management API, e.g. http://emqx:18083 (the server adds /api/v5). */
  readonly apiUrl: string;
  /** API key (EMQX `/api/v5/api_key`), sent with its secret as HTTP Basic auth. */
  readonly apiKey: string;
  readonly apiSecretFile: string;
  /** Authenticator id, default `password_based:built_in_database`. */
  readonly authenticator?: string;
  /**
   * What identifies a device: `clientid` (default) binds the login and the ACL to
   * the client id, so no device can take over another's session; `username` needs
   * the authenticator's `user_id_type = username` and leaves client ids unbound.
   */
  readonly userIdType?: 'clientid' | 'username';
}

interface Answer {
  readonly status: number;
  readonly code: string | undefined;
}

/** One EMQX rule (emqx_authz_api_mnesia `rule_item`). */
interface EmqxRule {
  readonly topic: string;
  readonly permission: 'allow' | 'deny';
  readonly action: 'publish' | 'subscribe' | 'all';
}

/** The device ACL of acl.ts as EMQX rules: exact (`eq`) subscriptions, own publishes, and nothing else. */
export function emqxDeviceRules(deviceId: string): EmqxRule[] {
  const acl = deviceAcl(deviceId);
  return [
    ...acl.subscribe.map((topic): EmqxRule => ({ topic: `eq ${topic}`, permission: 'allow', action: 'subscribe' })),
    ...acl.publish.map((topic): EmqxRule => ({ topic, permission: 'allow', action: 'publish' })),
    // Closes the device's list, so that a later, looser source cannot grant it more.
    { topic: '#', permission: 'deny', action: 'all' },
  ];
}

export class EmqxProvisioner {
  private readonly base: string;
  private readonly authenticator: string;
  private readonly kind: 'clients' | 'users';
  private readonly key: 'clientid' | 'username';
  private authorization = '';

  constructor(private readonly settings: EmqxSettings) {
    this.base = `${settings.apiUrl.replace(/\/+$/, '')}/api/v5`;
    this.authenticator = encodeURIComponent(settings.authenticator ?? DEFAULT_EMQX_AUTHENTICATOR);
    const byUsername = settings.userIdType === 'username';
    this.kind = byUsername ? 'users' : 'clients';
    this.key = byUsername ? 'username' : 'clientid';
  }

  /** Reads the API secret and checks that the key works and both built-in databases exist. */
  async start(): Promise<void> {
    const secret = (await readFile(this.settings.apiSecretFile, 'utf8')).trim();
    this.authorization = `Basic ${Buffer.from(`${this.settings.apiKey}:${secret}`, 'utf8').toString('base64')}`;
    await this.expect('GET', `/authentication/${this.authenticator}`, undefined, [200]);
    await this.expect('GET', '/authorization/sources/built_in_database', undefined, [200]);
  }

  /** ACL first: the account never exists without its rules. Idempotent (a leftover entry is replaced). */
  async provision(deviceId: string, password: string): Promise<void> {
    const id = encodeURIComponent(deviceId);
    const entry = { [this.key]: deviceId, rules: emqxDeviceRules(deviceId) };
    const rules = await this.call('POST', `/authorization/sources/built_in_database/rules/${this.kind}`, [entry]);
    if (rules.status === 409) await this.expect('PUT', `/authorization/sources/built_in_database/rules/${this.kind}/${id}`, entry, [204]);
    else check(rules, [204], 'POST rules');
    const user = await this.call('POST', `/authentication/${this.authenticator}/users`, { user_id: deviceId, password, is_superuser: false });
    if (user.status === 409) await this.expect('PUT', `/authentication/${this.authenticator}/users/${id}`, { password, is_superuser: false }, [200]);
    else check(user, [201], 'POST users');
  }

  /** Account first (no new login), then the live connection, then the rules; what is already gone is fine. */
  async revoke(deviceId: string): Promise<void> {
    const id = encodeURIComponent(deviceId);
    await this.expect('DELETE', `/authentication/${this.authenticator}/users/${id}`, undefined, [204, 404]);
    await this.expect('DELETE', `/clients/${id}`, undefined, [204, 404]);
    await this.expect('DELETE', `/authorization/sources/built_in_database/rules/${this.kind}/${id}`, undefined, [204, 404]);
  }

  private async expect(method: Dispatcher.HttpMethod, path: string, body: unknown, ok: readonly number[]): Promise<void> {
    check(await this.call(method, path, body), ok, `${method} ${path}`);
  }

  /** One API call; the answer is hostile: only its status and a bounded `code` string are kept. */
  private async call(method: Dispatcher.HttpMethod, path: string, body: unknown): Promise<Answer> {
    let response: Dispatcher.ResponseData;
    try {
      response = await request(`${this.base}${path}`, {
        method,
        headers: { authorization: this.authorization, accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeout: REQUEST_TIMEOUT_MS,
        bodyTimeout: REQUEST_TIMEOUT_MS,
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      throw new BootfleetError('BOOTFLEET_BROKER_UNAVAILABLE', `EMQX API ${method} ${path} failed: ${(error as Error).message}`, { cause: error });
    }
    return { status: response.statusCode, code: await answerCode(response.body) };
  }
}

/** The `code` of an EMQX error body (`{ code, message }`), read up to MAX_ANSWER_BYTES. */
async function answerCode(body: Dispatcher.ResponseData['body']): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > MAX_ANSWER_BYTES) {
      body.destroy();
      return undefined;
    }
    chunks.push(chunk);
  }
  try {
    const parsed: unknown = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    const code = typeof parsed === 'object' && parsed !== null ? (parsed as { code?: unknown }).code : undefined;
    return typeof code === 'string' && /^[A-Z0-9_]{1,64}$/.test(code) ? code : undefined;
  } catch {
    return undefined;
  }
}

function check(answer: Answer, ok: readonly number[], what: string): void {
  if (ok.includes(answer.status)) return;
  const details = { status: answer.status, ...(answer.code === undefined ? {} : { emqxCode: answer.code }) };
  // A 5xx means EMQX cannot serve now (retry later); anything else refused this request.
  const code = answer.status >= 500 ? 'BOOTFLEET_BROKER_UNAVAILABLE' : 'BOOTFLEET_BROKER_PROVISION_FAILED';
  throw new BootfleetError(code, `EMQX API ${what} answered ${answer.status}${answer.code === undefined ? '' : ` ${answer.code}`}`, { details });
}
