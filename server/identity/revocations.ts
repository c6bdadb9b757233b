/**
 * Devices whose client certificates are refused (docs/control-plane.md,
 * "Access control"). A certificate cannot be taken back from a device the
 * way a password is deleted, and the server reads no CRL: revoking a device
 * puts its id on this list, in level, and the embedded broker refuses a
 * certificate login for a listed id at CONNECT. The list is kept in memory
 * too, so the check at CONNECT costs a set lookup, not a database read.
 * Password enrolment is unaffected: a revoked device may enrol again with the
 * fleet token and log in with its new password, never with the old certificate.
 */
import type { Level } from 'level';
import type { DeviceId } from '../../protocol/index.js';

export interface Revocation {
  /** Unix milliseconds. */
  readonly at: number;
  readonly by: string;
}

export class CertificateRevocations {
  private readonly store;
  private readonly ids = new Set<string>();

  constructor(db: Level) {
    this.store = db.sublevel('revoked-certificates', { valueEncoding: 'utf8' });
  }

  /** Reads the list once at start; call before the broker accepts connections. */
  async load(): Promise<void> {
    for await (const id of this.store.keys()) this.ids.add(id);
  }

  /** Lists the id (idempotent; the first revocation's time and actor are kept). */
  async revoke(deviceId: DeviceId, by: string, at: number = Date.now()): Promise<void> {
    if (this.ids.has(deviceId)) return;
    await this.store.put(deviceId, JSON.stringify({ at, by } satisfies Revocation));
    this.ids.add(deviceId);
  }

  isRevoked(deviceId: string): boolean {
    return this.ids.has(deviceId);
  }
}
