/**
 * The device's MQTT session (docs/protocol.md section 3, "Connecting"):
 * client id = device id, the enrolled credentials, a persistent session
 * (MQTT 3.1.1 cleanSession = 0) so QoS 1 commands sent while the device was
 * offline arrive when it is back, a retained `online: false` presence as the
 * last will [MQTT-3.1.2-8], subscriptions to its own desired state and
 * commands at QoS 1, then a retained `online: true`. mqtt.js's own fixed
 * reconnect period is off: reconnects back off exponentially with jitter, so
 * a fleet does not come back in lock-step after a broker restart.
 */
import mqtt, { type MqttClient } from 'mqtt';
import { deviceTopic, type TopicKind } from '../../protocol/index.js';
import { backoffDelay } from '../fetch/backoff.js';
import type { DaemonLog } from '../daemon/log.js';
import { AGENT_VERSION } from '../daemon/report-builder.js';

export interface SessionOptions {
  readonly url: string;
  readonly deviceId: string;
  readonly username: string;
  readonly password: string;
  readonly reconnectMinMs?: number;
  readonly reconnectMaxMs?: number;
  readonly log: DaemonLog;
  readonly onMessage: (kind: 'desired' | 'commands', payload: Buffer) => void;
  /** Called after each reconnect (not the first connect) once subscribed and announced online. */
  readonly onReconnected?: () => void;
}

export class MqttSession {
  private client: MqttClient | undefined;
  private attempt = 0;
  private connections = 0;
  private timer: NodeJS.Timeout | undefined;
  private stopping = false;
  /**
   * When the connection being opened (or open) was opened, Unix seconds: the `since` of every presence
   * it carries (the online one, the will, a clean stop's offline one; docs/protocol.md 6.4), so the
   * server can tell a late message of an older connection from the newer connection's.
   */
  private since = 0;

  constructor(private readonly options: SessionOptions) {}

  start(): void {
    this.since = nowSeconds();
    const client = mqtt.connect(this.options.url, {
      clientId: this.options.deviceId,
      username: this.options.username,
      password: this.options.password,
      clean: false,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 10_000,
      // mqtt-packet otherwise builds, at the first packet written, a table of 65 536 two-byte Buffers for the
      // 16-bit numbers it writes: 6 MiB of heap (a heap snapshot of the daemon), for a few packets a minute.
      writeCache: false,
      will: { topic: this.topic('presence'), payload: Buffer.from(this.presence(false, this.since)), qos: 1, retain: true },
    });
    this.client = client;
    client.on('connect', (connack) => {
      this.attempt = 0;
      this.options.log('mqtt-connected', { sessionPresent: connack.sessionPresent });
      void this.afterConnect(client);
    });
    client.on('message', (topic, payload) => {
      if (topic === this.topic('desired')) this.options.onMessage('desired', payload);
      else if (topic === this.topic('commands')) this.options.onMessage('commands', payload);
    });
    client.on('error', (error) => {
      this.options.log('mqtt-error', { message: error.message });
    });
    client.on('close', () => {
      this.scheduleReconnect(client);
    });
  }

  /** True while connected to the broker. */
  get connected(): boolean {
    return this.client?.connected === true;
  }

  /**
   * Publishes at the topic's QoS and retain flag. Resolves true on PUBACK,
   * false when nothing was acknowledged. While offline nothing is queued: the
   * end-to-end test of a server restart (test/integration/e2e-embedded.test.ts)
   * saw reports kept in mqtt.js's offline store never reach the server after
   * the reconnect, and every later report stuck behind them. Instead, after
   * each reconnect the session calls `onReconnected` and the daemon reports
   * where the device stands, once (audit entries ride along until acknowledged).
   */
  publish(kind: 'reports' | 'presence', payload: string): Promise<boolean> {
    const client = this.client;
    if (client === undefined) return Promise.resolve(false);
    const retain = kind === 'presence';
    if (!client.connected) {
      this.options.log('mqtt-offline', { dropped: kind });
      return Promise.resolve(false);
    }
    // Reports go out one at a time: a PUBACK lost with its connection must not hold every later one.
    // A refused publish is not an acknowledgement: the audit mark must not move for it.
    const acked = client.publishAsync(this.topic(kind), payload, { qos: 1, retain }).then(() => true, () => false);
    return withTimeout(acked, PUBACK_TIMEOUT_MS).then((settled) => {
      if (settled) return acked;
      this.options.log('mqtt-puback-timeout', { kind });
      return false;
    });
  }

  /** Bounded: a broker that does not answer cannot hold the agent's shutdown (2_000 ms per step). */
  async stop(): Promise<void> {
    this.stopping = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    const client = this.client;
    if (client === undefined) return;
    if (client.connected) {
      // A clean stop says so itself (the will is only for a connection that dies), with the connection's own
      // `since`: a stop's offline presence stamped with the time of the stop could reach the server after
      // the online presence of the agent started next, in the same second, and leave the device offline.
      await withTimeout(this.publish('presence', this.presence(false, this.since)), STOP_STEP_MS);
    }
    if (!(await withTimeout(client.endAsync(), STOP_STEP_MS))) await client.endAsync(true);
  }

  private async afterConnect(client: MqttClient): Promise<void> {
    try {
      await client.subscribeAsync({ [this.topic('desired')]: { qos: 1 }, [this.topic('commands')]: { qos: 1 } });
      await client.publishAsync(this.topic('presence'), this.presence(true, this.since), { qos: 1, retain: true });
      this.connections += 1;
      if (this.connections > 1) this.options.onReconnected?.();
    } catch (error) {
      this.options.log('mqtt-error', { message: error instanceof Error ? error.message : String(error) });
    }
  }

  private scheduleReconnect(client: MqttClient): void {
    if (this.stopping || this.timer !== undefined) return;
    this.attempt += 1;
    const base = this.options.reconnectMinMs ?? 1_000;
    const delay = backoffDelay(this.attempt, { baseDelayMs: base, maxDelayMs: this.options.reconnectMaxMs ?? 60_000, maxConsecutiveFailures: 0, maxTotalFailures: 0 });
    this.options.log('mqtt-reconnect', { attempt: this.attempt, delayMs: delay });
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.stopping) return;
      // The will describes the connection being opened (docs/protocol.md 6.4).
      this.since = nowSeconds();
      if (client.options.will !== undefined) client.options.will.payload = Buffer.from(this.presence(false, this.since));
      client.reconnect();
    }, delay);
  }

  private topic(kind: TopicKind): string {
    return deviceTopic(this.options.deviceId, kind);
  }

  private presence(online: boolean, since: number): string {
    return JSON.stringify({ device: this.options.deviceId, online, since, agentVersion: AGENT_VERSION });
  }
}

const STOP_STEP_MS = 2_000;
/** A report not acknowledged within this time is given up; the next report or the periodic one says it again. */
const PUBACK_TIMEOUT_MS = 10_000;

/** True when `promise` settled within `ms`; its failure counts as settled (shutdown goes on regardless). */
async function withTimeout(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => {
      resolve(false);
    }, ms);
  });
  try {
    return await Promise.race([promise.then(() => true, () => true), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function nowSeconds(): number {
  return Math.floor(Date.now() / 1000);
}
