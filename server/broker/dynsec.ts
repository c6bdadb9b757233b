/**
 * Mosquitto's dynamic-security plugin, driven over MQTT: commands are
 * published to `$CONTROL/dynamic-security/v1` and answered on
 * `.../v1/response`, matched by `correlationData` (mosquitto
 * plugins/dynamic-security/README.md). The server provisions each enrolled
 * device as a client whose username and client id are the device id, with
 * its own role holding the device ACL of acl.ts.
 */
import { randomUUID } from 'node:crypto';
import type { MqttClient } from 'mqtt';
import { BootfleetError } from '../../protocol/index.js';
import { deviceAcl } from './acl.js';

export const DYNSEC_TOPIC = '$CONTROL/dynamic-security/v1';
export const DYNSEC_RESPONSE_TOPIC = `${DYNSEC_TOPIC}/response`;
const RESPONSE_TIMEOUT_MS = 10_000;

type DynsecCommand = Record<string, unknown> & { command: string };
interface DynsecResponse {
  command?: unknown;
  error?: unknown;
  correlationData?: unknown;
}

export function deviceRoleName(deviceId: string): string {
  return `bootfleet-device-${deviceId}`;
}

/** The dynamic-security ACL entries of one device (the same rules as acl.ts). */
export function deviceRoleAcls(deviceId: string): Record<string, unknown>[] {
  const acl = deviceAcl(deviceId);
  return [
    ...acl.publish.map((topic) => ({ acltype: 'publishClientSend', topic, allow: true })),
    ...acl.subscribe.flatMap((topic) => [
      { acltype: 'subscribeLiteral', topic, allow: true },
      { acltype: 'publishClientReceive', topic, allow: true },
      { acltype: 'unsubscribeLiteral', topic, allow: true },
    ]),
  ];
}

export class DynsecClient {
  private readonly pending = new Map<string, { resolve: (r: DynsecResponse) => void; timer: NodeJS.Timeout }>();

  constructor(private readonly client: MqttClient) {}

  async start(): Promise<void> {
    this.client.on('message', (topic, payload) => {
      if (topic === DYNSEC_RESPONSE_TOPIC) this.onResponse(payload);
    });
    await this.client.subscribeAsync(DYNSEC_RESPONSE_TOPIC, { qos: 1 });
  }

  /** Sends commands in one message; fails with the first error unless the command's error is tolerated. */
  async run(commands: DynsecCommand[], tolerate: (response: DynsecResponse) => boolean = () => false): Promise<void> {
    const tagged = commands.map((c) => ({ ...c, correlationData: randomUUID() }));
    const answers = tagged.map(
      (c) =>
        new Promise<DynsecResponse>((resolve) => {
          const timer = setTimeout(() => {
            this.pending.delete(c.correlationData);
            resolve({ command: c.command, error: 'timeout' });
          }, RESPONSE_TIMEOUT_MS);
          this.pending.set(c.correlationData, { resolve, timer });
        }),
    );
    await this.client.publishAsync(DYNSEC_TOPIC, JSON.stringify({ commands: tagged }), { qos: 1 });
    for (const response of await Promise.all(answers)) {
      if (typeof response.error === 'string' && !tolerate(response)) {
        const code = response.error === 'timeout' ? 'BOOTFLEET_BROKER_UNAVAILABLE' : 'BOOTFLEET_BROKER_PROVISION_FAILED';
        throw new BootfleetError(code, `mosquitto dynamic-security ${String(response.command)}: ${response.error}`, { details: { command: response.command } });
      }
    }
  }

  close(): void {
    for (const { timer } of this.pending.values()) clearTimeout(timer);
    this.pending.clear();
  }

  private onResponse(payload: Buffer): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload.toString('utf8'));
    } catch {
      return;
    }
    const responses = (parsed as { responses?: unknown }).responses;
    if (!Array.isArray(responses)) return;
    for (const response of responses as DynsecResponse[]) {
      if (typeof response.correlationData !== 'string') continue;
      const waiter = this.pending.get(response.correlationData);
      if (waiter === undefined) continue;
      clearTimeout(waiter.timer);
      this.pending.delete(response.correlationData);
      waiter.resolve(response);
    }
  }
}

/** "Already exists" answers make setup idempotent across restarts. */
export function alreadyExists(response: DynsecResponse): boolean {
  return typeof response.error === 'string' && /already exists|already has/i.test(response.error);
}
