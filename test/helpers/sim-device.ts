/**
 * A light simulated agent for campaign tests: a real mqtt.js client with its
 * own enrolled credentials, which verifies every desired state and command
 * with the server's public key (as an agent does) and publishes reports.
 */
import type { MqttClient } from 'mqtt';
import {
  deviceTopic,
  isBootfleetError,
  publicKeyFromPem,
  TrustedKeys,
  verifySignedMessage,
  type Command,
  type DesiredState,
  type Phase,
  type Report,
} from '../../protocol/index.js';
import { imageOf, pushBuiltImage, type Blob } from './registry.js';
import { connectDevice } from './mqtt.js';
import { TOKENS, type TestServer } from './server.js';

export class SimDevice {
  /** Verified desired states, in arrival order. */
  readonly desired: DesiredState[] = [];
  readonly commands: Command[] = [];
  /** Codes of messages that failed verification. */
  readonly refused: string[] = [];
  private client: MqttClient | undefined;
  private seq = 0;
  inventory: string[];
  booted: string;

  constructor(
    readonly id: string,
    private readonly password: string,
    private readonly keys: TrustedKeys,
    options: { inventory: string[]; booted: string },
  ) {
    this.inventory = options.inventory;
    this.booted = options.booted;
  }

  /** Connects to `mqttUrl` and subscribes to its desired-state and command topics. */
  async connect(mqttUrl: string): Promise<void> {
    const client = await connectDevice({ url: mqttUrl, clientId: this.id, username: this.id, password: this.password });
    client.on('error', () => undefined);
    client.on('message', (topic, payload) => {
      this.receive(topic, payload);
    });
    await client.subscribeAsync([deviceTopic(this.id, 'desired'), deviceTopic(this.id, 'commands')], { qos: 1 });
    this.client = client;
  }

  async disconnect(): Promise<void> {
    await this.client?.endAsync(true);
    this.client = undefined;
  }

  lastDesired(): DesiredState | undefined {
    return this.desired.at(-1);
  }

  /** Publishes a report about the last desired state; returns it so a test can send it again. */
  async report(phase: Phase, options: { booted?: string; error?: string; campaign?: string } = {}): Promise<Report> {
    this.seq += 1;
    const last = this.lastDesired();
    const campaign = options.campaign ?? last?.campaign;
    const report: Report = {
      device: this.id,
      seq: this.seq,
      sentAt: Math.floor(Date.now() / 1000),
      phase,
      ...(campaign === undefined ? {} : { campaign }),
      ...(last === undefined ? {} : { desiredSeq: last.seq }),
      slots: { booted: { digest: options.booted ?? this.booted } },
      inventory: this.inventory,
      ...(options.error === undefined ? {} : { error: { code: options.error, message: 'simulated failure' } }),
    };
    await this.send(report);
    return report;
  }

  async send(report: Report): Promise<void> {
    if (this.client === undefined) throw new Error(`${this.id} is not connected`);
    await this.client.publishAsync(deviceTopic(this.id, 'reports'), JSON.stringify(report), { qos: 1 });
  }

  private receive(topic: string, payload: Buffer): void {
    // An empty retained message is the server clearing the topic, not a message.
    if (payload.byteLength === 0) return;
    const now = Math.floor(Date.now() / 1000);
    try {
      if (topic === deviceTopic(this.id, 'desired')) {
        const verified = verifySignedMessage('desired-state', payload, { keys: this.keys, device: this.id, now, lastSeq: this.lastDesired()?.seq });
        this.desired.push(verified.message);
      } else {
        const verified = verifySignedMessage('command', payload, { keys: this.keys, device: this.id, now, lastSeq: this.commands.at(-1)?.seq });
        this.commands.push(verified.message);
      }
    } catch (error) {
      this.refused.push(isBootfleetError(error) ? error.code : String(error));
    }
  }
}

/** The server's public keys, fetched as provisioning does. */
export async function serverKeys(t: Pick<TestServer, 'api'>): Promise<TrustedKeys> {
  const { body } = await t.api('GET', '/api/v1/signing-keys', { token: null });
  return new TrustedKeys((body as { keys: { publicKeyPem: string }[] }).keys.map((k) => publicKeyFromPem(k.publicKeyPem)));
}

/** Enrols `id`, labels it, connects it and publishes a first idle report with its inventory. */
export async function enrollSimDevice(
  t: Pick<TestServer, 'api' | 'mqttUrl'>,
  keys: TrustedKeys,
  id: string,
  options: { labels?: Record<string, string>; inventory?: string[]; booted: string },
): Promise<SimDevice> {
  const { status, body } = await t.api('POST', '/api/v1/enroll', { token: null, body: { token: TOKENS.enrollment, deviceId: id } });
  if (status !== 201) throw new Error(`enrolment of ${id} answered ${status}`);
  if (options.labels !== undefined) await t.api('PATCH', `/api/v1/devices/${id}`, { token: TOKENS.operator, body: { labels: options.labels } });
  const device = new SimDevice(id, (body as { password: string }).password, keys, { inventory: options.inventory ?? [], booted: options.booted });
  await device.connect(t.mqttUrl);
  await device.report('idle');
  return device;
}

/** An image with a version label in its config, pushed to the embedded registry; returns its manifest and layers. */
export function pushVersionedImage(base: string, repo: string, layers: Blob[], version: string, tag: string): Promise<Blob> {
  const image = imageOf(layers, {}, { configFields: { config: { Labels: { 'org.opencontainers.image.version': version } } } });
  return pushBuiltImage(base, repo, layers, image, tag);
}
