/**
 * The local audit log, `<data>/audit.jsonl`: one JSON object per line for each
 * action taken on the device itself (technician CLI, automatic rollback),
 * kept until it is reported to the server (docs/agent-deployment.md, "Audit log").
 */
import { Type, type Static } from 'typebox';
import { ErrorCodeSchema, SequenceSchema } from '../messages/common.js';
import { compileParser } from '../validate.js';
import { DeploymentIdSchema, UnixMillisSchema } from './schema.js';

export const AUDIT_LINE_MAX_BYTES = 8 * 1024;

export const AuditEntrySchema = Type.Object(
  {
    atMs: UnixMillisSchema,
    /** Who acted: the technician CLI, or the agent on its own (automatic rollback). */
    actor: Type.Enum(['local-cli', 'agent'] as const),
    action: Type.String({ pattern: '^[a-z][a-z-]{0,31}$' }),
    result: Type.Enum(['ok', 'refused', 'failed'] as const),
    from: Type.Optional(DeploymentIdSchema),
    to: Type.Optional(DeploymentIdSchema),
    code: Type.Optional(ErrorCodeSchema),
    reason: Type.Optional(Type.String({ maxLength: 1024 })),
    /** User name of the technician, when known. */
    user: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);
export type AuditEntry = Static<typeof AuditEntrySchema>;

export const auditEntryParser = compileParser('audit entry', AuditEntrySchema);

/** Audit entries one report carries at most (docs/protocol.md 6.3): 64 lines of at most 8 KiB stay far below REPORT_MAX_BYTES. */
export const AUDIT_BATCH_MAX = 64;

/**
 * An audit entry as a report carries it to the server: the entry and its
 * `seq`, its line number in `audit.jsonl` (1-based, every line counted, that
 * file is append-only). The server stores each seq once (idempotence).
 */
export const AuditRecordSchema = Type.Object({ seq: SequenceSchema, ...AuditEntrySchema.properties }, { additionalProperties: false });
export type AuditRecord = Static<typeof AuditRecordSchema>;
