/**
 * The device registry's records, as stored in level and served by the API
 * (docs/control-plane.md, "Devices"). Slots and phases are the protocol's.
 */
import { Type, type Static } from 'typebox';
import { CampaignIdSchema, DigestSchema, ErrorCodeSchema, ID_SCHEMA_PATTERN, PHASES, SequenceSchema, SlotSchema, UnixSecondsSchema } from '../../protocol/index.js';

/** Label keys and values, in the style of Kubernetes labels. */
export const LABEL_KEY_PATTERN = '^[a-z0-9]([a-z0-9._/-]{0,62})$';
export const LABEL_VALUE_PATTERN = '^[A-Za-z0-9._-]{0,63}$';
export const MAX_LABELS = 64;
export const MAX_GROUPS = 64;

export const LabelsSchema = Type.Record(Type.String({ pattern: LABEL_KEY_PATTERN }), Type.String({ pattern: LABEL_VALUE_PATTERN }), {
  maxProperties: MAX_LABELS,
});
export const GroupNameSchema = Type.String({ pattern: ID_SCHEMA_PATTERN });
export const GroupsSchema = Type.Array(GroupNameSchema, { maxItems: MAX_GROUPS, uniqueItems: true });

export const LastReportSchema = Type.Object(
  {
    seq: SequenceSchema,
    sentAt: UnixSecondsSchema,
    /** Server clock, Unix seconds. */
    receivedAt: UnixSecondsSchema,
    phase: Type.Enum(PHASES),
    campaign: Type.Optional(CampaignIdSchema),
    desiredSeq: Type.Optional(SequenceSchema),
    error: Type.Optional(Type.Object({ code: ErrorCodeSchema, message: Type.String() }, { additionalProperties: false })),
    agentVersion: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const DeviceSchema = Type.Object(
  {
    id: Type.String({ pattern: ID_SCHEMA_PATTERN }),
    enrolledAt: UnixSecondsSchema,
    /** Name of the enrolment token used (not the token). */
    enrolledWith: Type.String(),
    labels: LabelsSchema,
    groups: GroupsSchema,
    online: Type.Boolean(),
    /** `since` of the presence message that set `online` (the connection's start). */
    presenceSince: Type.Optional(UnixSecondsSchema),
    /** Last time anything arrived from the device, server clock. */
    lastSeenAt: Type.Optional(UnixSecondsSchema),
    lastReport: Type.Optional(LastReportSchema),
    slots: Type.Object(
      { booted: Type.Optional(SlotSchema), staged: Type.Optional(SlotSchema), rollback: Type.Optional(SlotSchema), factory: Type.Optional(SlotSchema) },
      { additionalProperties: false },
    ),
    /** Blobs the device holds, from its last report carrying an inventory. */
    inventory: Type.Array(DigestSchema),
    /** Highest audit entry seq stored as an `audit` event (docs/protocol.md 6.3): each entry is stored once. */
    auditSeq: Type.Optional(SequenceSchema),
  },
  { additionalProperties: false },
);
export type Device = Static<typeof DeviceSchema>;

export const EVENT_KINDS = ['enrolled', 'online', 'offline', 'phase', 'error', 'labels', 'credentials-revoked', 'audit'] as const;

export const DeviceEventSchema = Type.Object(
  {
    /** Unix milliseconds, server clock. */
    at: Type.Integer({ minimum: 0 }),
    kind: Type.Enum(EVENT_KINDS),
    details: Type.Record(Type.String(), Type.Unknown()),
  },
  { additionalProperties: false },
);
export type DeviceEvent = Static<typeof DeviceEventSchema>;
