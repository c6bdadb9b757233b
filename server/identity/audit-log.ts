/**
 * The audit log: one entry per operator action (enrolment, label change,
 * credential revocation, ...), append-only in level, keyed by time so that
 * listing is in order. Entries are never rewritten.
 */
import type { Level } from 'level';

export interface AuditEntry {
  /** Unix milliseconds. */
  readonly at: number;
  /** Token name of the operator, or `enrollment:<token name>` for a device enrolling itself. */
  readonly actor: string;
  readonly action: string;
  readonly target: string;
  readonly requestId?: string;
  readonly details?: Readonly<Record<string, unknown>>;
}

export class AuditLog {
  private readonly store;
  private counter = 0;

  constructor(db: Level) {
    this.store = db.sublevel('audit', { valueEncoding: 'utf8' });
  }

  async append(entry: AuditEntry): Promise<void> {
    // Time first for ordering; a per-process counter keeps two entries in one millisecond apart.
    this.counter = (this.counter + 1) % 1_000_000;
    const key = `${String(entry.at).padStart(15, '0')}-${String(this.counter).padStart(6, '0')}-${process.pid}`;
    await this.store.put(key, JSON.stringify(entry));
  }

  /** The most recent entries, newest first. */
  async recent(limit: number): Promise<AuditEntry[]> {
    const entries: AuditEntry[] = [];
    // Written only by append() above: our own JSON, not input from the network.
    for await (const value of this.store.values({ reverse: true, limit })) entries.push(JSON.parse(value) as AuditEntry);
    return entries;
  }
}
