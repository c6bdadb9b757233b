/** Real mqtt.js clients and raw sockets for broker tests; every helper is bounded in time. */
import { connect as connectTcp, type Socket } from 'node:net';
import mqtt, { ErrorWithSubackPacket, type IClientOptions, type MqttClient } from 'mqtt';

export interface DeviceLogin {
  readonly url: string;
  readonly clientId: string;
  readonly username?: string;
  readonly password?: string;
  readonly clean?: boolean;
  readonly will?: IClientOptions['will'];
  /** For mqtts: the CA to trust, and a client certificate for mTLS. */
  readonly tls?: { readonly ca: Buffer; readonly key?: Buffer; readonly cert?: Buffer };
}

/** Connects once (no reconnect); rejects with the broker's refusal, or when the broker closes the socket first. */
export async function connectDevice(login: DeviceLogin): Promise<MqttClient> {
  const client = mqtt.connect(login.url, {
    clientId: login.clientId,
    username: login.username,
    password: login.password,
    clean: login.clean ?? true,
    will: login.will,
    reconnectPeriod: 0,
    connectTimeout: 5_000,
    protocolVersion: 4,
    ...(login.tls === undefined ? {} : { ca: login.tls.ca, key: login.tls.key, cert: login.tls.cert, rejectUnauthorized: true }),
  });
  return new Promise((resolve, reject) => {
    const fail = (error: Error): void => {
      cleanup();
      client.end(true);
      reject(error);
    };
    const onError = (error: Error): void => {
      fail(error);
    };
    const onClose = (): void => {
      fail(new Error('connection closed before CONNACK'));
    };
    const onConnect = (): void => {
      cleanup();
      resolve(client);
    };
    const cleanup = (): void => {
      client.off('error', onError);
      client.off('close', onClose);
      client.off('connect', onConnect);
    };
    client.on('error', onError);
    client.on('close', onClose);
    client.on('connect', onConnect);
  });
}

/** Collects the messages a client receives. */
export function collect(client: MqttClient): { topic: string; payload: string; retain: boolean }[] {
  const seen: { topic: string; payload: string; retain: boolean }[] = [];
  client.on('message', (topic, payload, packet) => {
    seen.push({ topic, payload: payload.toString('utf8'), retain: packet.retain });
  });
  return seen;
}

/** Polls `check` every 20 ms until it is true, failing after `timeoutMs`. */
export async function waitFor(check: () => boolean, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export function openRawSocket(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connectTcp({ host: '127.0.0.1', port }, () => {
      socket.off('error', reject);
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Resolves when the peer has closed the socket, with how long it took; rejects after `timeoutMs`. */
export function socketClosed(socket: Socket, timeoutMs = 5_000): Promise<number> {
  const started = Date.now();
  return new Promise((resolve, reject) => {
    if (socket.destroyed) {
      resolve(0);
      return;
    }
    const timer = setTimeout(() => {
      reject(new Error(`socket still open after ${timeoutMs} ms`));
    }, timeoutMs);
    socket.on('error', () => undefined);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Date.now() - started);
    });
  });
}

/** The QoS granted per filter, 128 for a refused one (mqtt.js rejects a SUBACK holding any refusal). */
export async function subscribeGrants(client: MqttClient, filters: string[]): Promise<number[]> {
  try {
    const grants = await client.subscribeAsync(filters, { qos: 1 });
    return grants.map((g) => g.qos);
  } catch (error) {
    if (error instanceof ErrorWithSubackPacket) {
      const granted: unknown[] = error.packet.granted;
      return granted.map((g) => (typeof g === 'number' ? g : -1));
    }
    throw error;
  }
}
