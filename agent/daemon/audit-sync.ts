/**
 * Sends the local audit log to the server (issue #5: "Every local action goes
 * into an audit log that is reported to the server when it is next
 * reachable"; docs/agent-daemon.md, "Audit log to the server"). Reports carry
 * the entries the broker has not acknowledged yet (`audit`, docs/protocol.md
 * 6.3); once a report holding them was published while connected, its PUBACK
 * moves the acknowledged mark, persisted in `<data>/audit-acked.json`. A crash
 * between the PUBACK and that write sends the entries again; the server
 * stores each seq once.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { AUDIT_BATCH_MAX, type AuditRecord } from '../../protocol/index.js';
import { writeFileAtomic } from '../content/atomic-write.js';
import { readAuditRecords } from '../deploy/audit-log.js';

export const AUDIT_ACKED_FILE = 'audit-acked.json';

export class AuditSync {
  constructor(private readonly dataDir: string) {}

  /** The highest seq acknowledged; 0 when none (or when the mark cannot be read: sending again is harmless). */
  async acked(): Promise<number> {
    try {
      const value = (JSON.parse(await readFile(join(this.dataDir, AUDIT_ACKED_FILE), 'utf8')) as { acked?: unknown }).acked;
      return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0 ? value : 0;
    } catch {
      return 0;
    }
  }

  /** The oldest entries not acknowledged yet, at most one report's worth. */
  async pending(): Promise<AuditRecord[]> {
    return (await readAuditRecords(this.dataDir, await this.acked(), AUDIT_BATCH_MAX)).records;
  }

  async acknowledge(seq: number): Promise<void> {
    if (seq <= (await this.acked())) return;
    await writeFileAtomic(join(this.dataDir, AUDIT_ACKED_FILE), JSON.stringify({ acked: seq }));
  }
}
