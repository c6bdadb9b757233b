/**
 * Enrolment: a device proves it belongs to the fleet with an enrolment
 * token and receives its own MQTT credentials, once. The password is
 * stored only as a scrypt hash (device-credentials.ts); in external-broker
 * mode the broker gets the account and ACL too.
 */
import { parseDeviceId } from '../../protocol/index.js';
import { deviceAcl } from '../broker/acl.js';
import type { ControlPlane } from '../broker/control-plane.js';
import type { DeviceRegistry } from '../devices/registry.js';
import type { AuditLog } from './audit-log.js';
import type { DeviceCredentials } from './device-credentials.js';
import type { CertificateRevocations } from './revocations.js';
import type { TokenVerifier } from './tokens.js';

export interface EnrollDeps {
  readonly tokens: TokenVerifier;
  readonly credentials: DeviceCredentials;
  readonly registry: DeviceRegistry;
  readonly plane: ControlPlane;
  readonly audit: AuditLog;
  /** Certificates refused at CONNECT (embedded broker, mTLS). */
  readonly revocations: CertificateRevocations;
}

export interface Enrollment {
  readonly deviceId: string;
  readonly clientId: string;
  readonly username: string;
  readonly password: string;
  readonly broker: Readonly<{ tcp?: string; tls?: string; ws?: string }>;
  readonly topics: { subscribe: string[]; publish: string[] };
}

export async function enrollDevice(deps: EnrollDeps, request: { token: string; deviceId: string; requestId?: string }): Promise<Enrollment> {
  const tokenName = deps.tokens.enrollmentTokenName(request.token);
  const id = parseDeviceId(request.deviceId);
  const password = await deps.credentials.issueNew(id);
  try {
    await deps.plane.provisionDevice(id, password);
  } catch (error) {
    await deps.credentials.revoke(id);
    throw error;
  }
  await deps.registry.enroll(id, tokenName);
  await deps.audit.append({ at: Date.now(), actor: `enrollment:${tokenName}`, action: 'device.enroll', target: id, ...(request.requestId === undefined ? {} : { requestId: request.requestId }) });
  return { deviceId: id, clientId: id, username: id, password, broker: deps.plane.endpoints, topics: deviceAcl(id) };
}

/**
 * Removes a device's credentials (broker account included) so that it must
 * enrol again, refuses its client certificate from now on, and disconnects it.
 * The certificate is listed first: the disconnected device cannot log in again
 * with it in between.
 */
export async function revokeDevice(deps: EnrollDeps, id: string, actor: string, requestId?: string): Promise<void> {
  const device = await deps.registry.require(id);
  const deviceId = parseDeviceId(device.id);
  await deps.revocations.revoke(deviceId, actor);
  await deps.plane.revokeDevice(deviceId);
  await deps.credentials.revoke(deviceId);
  await deps.registry.recordEvent(deviceId, { kind: 'credentials-revoked', details: { by: actor } });
  await deps.audit.append({ at: Date.now(), actor, action: 'device.revoke-credentials', target: deviceId, ...(requestId === undefined ? {} : { requestId }) });
}
