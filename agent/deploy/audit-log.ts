/**
 * Appends to and reads the local audit log (protocol/agent-state/audit.ts).
 * Each append is one write of one line, then fsync: a crash can at worst
 * leave a torn last line, which the reader skips and reports as such.
 */
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { auditEntryParser, type AuditEntry, type AuditRecord } from '../../protocol/index.js';

export const AUDIT_FILE = 'audit.jsonl';

export async function appendAudit(dataDir: string, entry: AuditEntry): Promise<void> {
  const line = `${JSON.stringify(auditEntryParser.parse(entry))}\n`;
  const handle = await open(join(dataDir, AUDIT_FILE), 'a', 0o600);
  try {
    await handle.write(line);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** What the agent itself records (`actor: 'agent'`); absent facts are left out, a reason is cut to the schema's 1,024 characters. */
export interface AgentAuditFacts {
  readonly atMs: number;
  readonly action: string;
  readonly result: AuditEntry['result'];
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  readonly code?: AuditEntry['code'];
  readonly reason?: string | undefined;
}

export function appendAgentAudit(dataDir: string, facts: AgentAuditFacts): Promise<void> {
  return appendAudit(dataDir, {
    atMs: facts.atMs,
    actor: 'agent',
    action: facts.action,
    result: facts.result,
    ...(facts.from === undefined ? {} : { from: facts.from }),
    ...(facts.to === undefined ? {} : { to: facts.to }),
    ...(facts.code === undefined ? {} : { code: facts.code }),
    ...(facts.reason === undefined ? {} : { reason: facts.reason.slice(0, 1024) }),
  });
}

export interface AuditLog {
  readonly entries: AuditEntry[];
  /** Lines that do not parse (a torn write after a crash); never silently dropped from the count. */
  readonly unreadable: number;
}

export async function readAudit(dataDir: string): Promise<AuditLog> {
  const records = await readAuditRecords(dataDir, 0, Number.MAX_SAFE_INTEGER);
  return { entries: records.records.map(({ seq: _seq, ...entry }) => entry), unreadable: records.unreadable };
}

/**
 * The entries after line `afterSeq`, at most `limit`, each with its `seq`:
 * its line number (1-based; every non-empty line counts, an unreadable one
 * too), stable because the file is only ever appended to.
 */
export async function readAuditRecords(dataDir: string, afterSeq: number, limit: number): Promise<{ records: AuditRecord[]; unreadable: number }> {
  let text: string;
  try {
    text = await readFile(join(dataDir, AUDIT_FILE), 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { records: [], unreadable: 0 };
    throw error;
  }
  const records: AuditRecord[] = [];
  let unreadable = 0;
  let seq = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    seq += 1;
    if (seq <= afterSeq || records.length >= limit) continue;
    try {
      records.push({ seq, ...auditEntryParser.parse(JSON.parse(line)) });
    } catch {
      unreadable += 1;
    }
  }
  return { records, unreadable };
}
