/**
 * Reports: what a device is doing and holds. Device -> server on
 * `bootfleet/v1/devices/<id>/reports`, QoS 1, not retained, JSON
 * (REPORT_MEDIA_TYPE). docs/protocol.md, "Reports".
 */
import { Type, type Static } from 'typebox';
import { CampaignIdSchema, DeviceIdSchema, ErrorCodeSchema, SequenceSchema, SlotSchema, UnixSecondsSchema } from './common.js';
import { DigestSchema, SizeSchema } from '../oci/schemas.js';
import { ID_SCHEMA_PATTERN } from '../ids.js';
import { AUDIT_BATCH_MAX, AuditRecordSchema } from '../agent-state/audit.js';

export const REPORT_MEDIA_TYPE = 'application/vnd.bootfleet.report.v1+json';
export const REPORT_MAX_BYTES = 512 * 1024;
export const INVENTORY_MAX_ITEMS = 4096;

/** The update phases a device reports; the state machine is in docs/protocol.md and phases.ts. */
export const PHASES = [
  'idle',
  'waiting',
  'downloading',
  'verifying',
  'staging',
  'staged',
  'activating',
  'probation',
  'succeeded',
  'rolling-back',
  'rolled-back',
  'failed',
] as const;
export type Phase = (typeof PHASES)[number];

export const HealthResultSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 128 }),
    required: Type.Boolean(),
    ok: Type.Boolean(),
    /** Last bytes the check printed, truncated by the agent. */
    output: Type.String({ maxLength: 4096 }),
    durationMs: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type HealthResult = Static<typeof HealthResultSchema>;

export const ReportSchema = Type.Object(
  {
    device: DeviceIdSchema,
    /** Grows by one per report; the server drops a report whose seq it has seen (idempotence). */
    seq: SequenceSchema,
    sentAt: UnixSecondsSchema,
    phase: Type.Enum(PHASES),
    campaign: Type.Optional(CampaignIdSchema),
    /** The desired-state seq this report is about. */
    desiredSeq: Type.Optional(SequenceSchema),
    /** The command this report answers. */
    commandId: Type.Optional(Type.String({ pattern: ID_SCHEMA_PATTERN })),
    progress: Type.Optional(Type.Object({ doneBytes: SizeSchema, totalBytes: SizeSchema }, { additionalProperties: false })),
    slots: Type.Object(
      {
        booted: Type.Optional(SlotSchema),
        staged: Type.Optional(SlotSchema),
        rollback: Type.Optional(SlotSchema),
        factory: Type.Optional(SlotSchema),
      },
      { additionalProperties: false },
    ),
    inventory: Type.Optional(Type.Array(DigestSchema, { maxItems: INVENTORY_MAX_ITEMS, uniqueItems: true })),
    health: Type.Optional(Type.Array(HealthResultSchema, { maxItems: 64 })),
    error: Type.Optional(Type.Object({ code: ErrorCodeSchema, message: Type.String({ maxLength: 2048 }) }, { additionalProperties: false })),
    agentVersion: Type.Optional(Type.String({ maxLength: 64 })),
    /** Local audit entries the broker has not acknowledged yet, in seq order (docs/protocol.md 6.3, "Audit entries"). */
    audit: Type.Optional(Type.Array(AuditRecordSchema, { maxItems: AUDIT_BATCH_MAX })),
  },
  { additionalProperties: false },
);
export type Report = Static<typeof ReportSchema>;
