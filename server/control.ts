/**
 * The control plane as one unit for start.ts: the broker (embedded or
 * external), device credentials, the device registry and its ingest, the
 * audit log, and the tokens that guard the API.
 */
import type { Level } from 'level';
import type { Logger } from 'pino';
import { allDevicesFilter } from '../protocol/index.js';
import { defaultBrokerConfig } from './broker/config.js';
import type { ControlPlane } from './broker/control-plane.js';
import { startEmbeddedBroker } from './broker/embedded.js';
import { startExternalBroker } from './broker/external.js';
import { DeviceIngest } from './devices/ingest.js';
import { DeviceRegistry } from './devices/registry.js';
import { AuditLog } from './identity/audit-log.js';
import { DeviceCredentials } from './identity/device-credentials.js';
import type { EnrollDeps } from './identity/enroll.js';
import { CertificateRevocations } from './identity/revocations.js';
import { TokenVerifier } from './identity/tokens.js';
import type { ServerConfig } from './config.js';
import type { RetainedSource } from './broker/retained-source.js';
import type { ServerMetrics } from './metrics.js';

export interface ControlServices extends EnrollDeps {
  readonly ingest: DeviceIngest;
  close(): Promise<void>;
}

/**
 * `retained`: the store of signed desired states, opened; the embedded
 * broker keeps devices' retained desired states there (retained-source.ts).
 */
export async function startControl(config: ServerConfig, db: Level, logger: Logger, metrics?: ServerMetrics, retained?: RetainedSource): Promise<ControlServices> {
  const brokerConfig = config.broker ?? defaultBrokerConfig();
  const credentials = new DeviceCredentials(db);
  const registry = new DeviceRegistry(db);
  // Before the broker starts: no device message can change a record during the count.
  await registry.trackCounts();
  const audit = new AuditLog(db);
  const revocations = new CertificateRevocations(db);
  await revocations.load();
  const tokens = new TokenVerifier(config.auth ?? { apiTokens: [], enrollmentTokens: [] });
  const brokerLogger = logger.child({ component: 'broker' });
  const plane: ControlPlane =
    brokerConfig.mode === 'embedded'
      ? await startEmbeddedBroker({
          config: brokerConfig,
          db,
          credentials,
          logger: brokerLogger,
          ...(retained === undefined ? {} : { retained }),
          isCertificateRevoked: (id) => revocations.isRevoked(id),
          onCertificateLogin: async (id) => {
            await registry.enroll(id, 'mtls');
          },
        })
      : await startExternalBroker({ config: brokerConfig, logger: brokerLogger });
  const ingest = new DeviceIngest(registry, logger.child({ component: 'ingest' }));
  for (const kind of ['reports', 'presence'] as const) {
    await plane.onDeviceMessage(allDevicesFilter(kind), (topic, payload) => {
      // Counted as received before parsing: a message the ingest drops still crossed the wire.
      metrics?.mqttMessage('in', kind);
      return ingest.handle(topic, payload);
    });
  }
  logger.info({ mode: plane.mode, endpoints: plane.endpoints }, 'mqtt control plane ready');
  return { plane, credentials, registry, audit, tokens, revocations, ingest, close: () => plane.close() };
}
