/**
 * The embedded broker's identity and access hooks (aedes `preConnect`,
 * `authenticate`, `authorizePublish`, `authorizeSubscribe`,
 * `authorizeForward`), all from the rules in acl.ts.
 */
import type { AedesOptions, Client } from 'aedes';
import type { Logger } from 'pino';
import { parseDeviceId, type DeviceId } from '../../protocol/index.js';
import type { DeviceCredentials } from '../identity/device-credentials.js';
import { mayPublish, mayReceive, maySubscribe } from './acl.js';
import type { BrokerCounters } from './control-plane.js';
import { connectionGuard } from './packet-guard.js';

type Hooks = Required<Pick<AedesOptions, 'preConnect' | 'authenticate' | 'authorizePublish' | 'authorizeSubscribe' | 'authorizeForward'>>;

/** Called when a device proved its identity with a client certificate (it has no enrolment record otherwise). */
export type CertificateLogin = (deviceId: DeviceId) => Promise<void>;

/** What certificate logins need beyond the TLS handshake. */
export interface CertificatePolicy {
  readonly onCertificateLogin?: CertificateLogin | undefined;
  /** A revoked device's certificate still chains to the CA: this list refuses it. */
  readonly isCertificateRevoked?: ((deviceId: string) => boolean) | undefined;
}

export function deviceAccessHooks(credentials: DeviceCredentials, counters: BrokerCounters, logger: Logger, certificates: CertificatePolicy = {}): Hooks {
  return {
    preConnect: (_client, packet, callback) => {
      // A will is published later without a new check when it comes from the persisted state of a
      // previous broker process (aedes streamWill): refuse at CONNECT a will on anything but the own presence topic.
      const will = packet.will;
      const allowed = will === undefined || (typeof packet.clientId === 'string' && safeMayPublish(packet.clientId, will.topic));
      if (allowed) {
        callback(null, true);
        return;
      }
      counters.publishDenied += 1;
      // An error (not just `false`) makes aedes close the connection at once.
      callback(new Error('last will on a topic the device may not publish'), false);
    },
    authenticate: (client, username, password, done) => {
      authenticateDevice(credentials, client, username, password, certificates).then(
        (ok) => {
          if (!ok) counters.authFailures += 1;
          done(null, ok);
        },
        (error: unknown) => {
          logger.error({ err: error }, 'device authentication failed with an internal error');
          done(null, false);
        },
      );
    },
    authorizePublish: (client, packet, callback) => {
      // client is null for the server's own publishes, which never come through this hook's checks.
      if (client !== null && !mayPublish(client.id, packet.topic)) {
        counters.publishDenied += 1;
        callback(new Error('publish not authorized'));
        return;
      }
      callback(null);
    },
    authorizeSubscribe: (client, subscription, callback) => {
      if (!maySubscribe(client.id, subscription.topic)) {
        counters.subscribeDenied += 1;
        // A null subscription answers SUBACK 0x80 (failure) [MQTT-3.9.3] and keeps the connection.
        callback(null, null);
        return;
      }
      callback(null, subscription);
    },
    authorizeForward: (client, packet) => (mayReceive(client.id, packet.topic) ? packet : null),
  };
}

async function authenticateDevice(
  credentials: DeviceCredentials,
  client: Client,
  username: string | undefined,
  password: Buffer | undefined,
  certificates: CertificatePolicy,
): Promise<boolean> {
  let id: DeviceId;
  try {
    id = parseDeviceId(client.id);
  } catch {
    return false;
  }
  const guard = connectionGuard(client.conn);
  if (guard === undefined) return false;
  // [MQTT-3.1.3-8] identity: the client id is the device id, and the proof is a certificate for it or its password.
  const byCertificate = guard.identity === id && certificates.isCertificateRevoked?.(id) !== true;
  const proven = byCertificate || (username === id && (await credentials.verify(id, password)));
  if (!proven) return false;
  if (byCertificate) await certificates.onCertificateLogin?.(id);
  guard.scanner.markAuthenticated();
  return true;
}

function safeMayPublish(clientId: string, topic: string): boolean {
  try {
    return mayPublish(parseDeviceId(clientId), topic);
  } catch {
    return false;
  }
}

