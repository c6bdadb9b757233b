/**
 * Campaign records as stored in level and served by the API
 * (docs/campaigns.md). Image target, layers, policy and phases are the
 * protocol's; only the campaign's own bookkeeping is defined here.
 */
import { Type, type Static } from 'typebox';
import {
  CampaignIdSchema,
  DeviceIdSchema,
  DigestSchema,
  ImageTargetSchema,
  MaintenanceWindowSchema,
  MediaTypeSchema,
  PHASES,
  SequenceSchema,
  SizeSchema,
  UnixSecondsSchema,
  VersionSchema,
} from '../../protocol/index.js';
import { GroupNameSchema, LabelsSchema } from '../devices/schemas.js';

export const CAMPAIGN_STATES = ['draft', 'running', 'paused', 'completed', 'aborted'] as const;
export type CampaignState = (typeof CAMPAIGN_STATES)[number];

/** What the campaign's devices are doing, from the server's side. */
export const DEVICE_CAMPAIGN_STATES = ['pending', 'issued', 'in-progress', 'succeeded', 'failed', 'reverted'] as const;
export type DeviceCampaignState = (typeof DEVICE_CAMPAIGN_STATES)[number];

/** Largest campaign: bounds the frozen device list and every status answer. */
export const MAX_CAMPAIGN_DEVICES = 100_000;

export const SelectorSchema = Type.Object(
  {
    /** All must match. */
    labels: Type.Optional(LabelsSchema),
    /** Any may match. */
    groups: Type.Optional(Type.Array(GroupNameSchema, { maxItems: 64, uniqueItems: true })),
    /** Any may match. */
    ids: Type.Optional(Type.Array(DeviceIdSchema, { maxItems: 10_000, uniqueItems: true })),
  },
  { additionalProperties: false },
);
export type Selector = Static<typeof SelectorSchema>;

const Fraction = Type.Number({ minimum: 0, maximum: 1 });

/** The body of `POST /api/v1/campaigns`. */
export const CreateCampaignSchema = Type.Object(
  {
    id: CampaignIdSchema,
    /** `host[:port]/name:tag` or `.../name@sha256:...` in the embedded registry; the host is what devices pull from. */
    image: Type.String({ minLength: 3, maxLength: 1024 }),
    /** Overrides the image's `org.opencontainers.image.version` label. */
    version: Type.Optional(VersionSchema),
    selector: SelectorSchema,
    /** Cumulative percentages of the targeted devices, strictly growing, ending at 100. */
    waves: Type.Optional(Type.Array(Type.Number({ exclusiveMinimum: 0, maximum: 100 }), { minItems: 1, maxItems: 32 })),
    /** Instead of `waves`: an exponential rate, `first` percent then multiplied by `factor` each wave up to 100. */
    waveGrowth: Type.Optional(
      Type.Object({ first: Type.Number({ exclusiveMinimum: 0, maximum: 100 }), factor: Type.Number({ minimum: 1.1, maximum: 100 }) }, { additionalProperties: false }),
    ),
    /** Fraction of a wave's devices that must have succeeded before the next wave starts. */
    successThreshold: Type.Optional(Fraction),
    /** Fraction of a wave's devices failed that pauses the campaign by itself. */
    failureThreshold: Type.Optional(Fraction),
    revertOnFailure: Type.Optional(Type.Boolean()),
    startAt: Type.Optional(UnixSecondsSchema),
    maintenanceWindows: Type.Optional(Type.Array(MaintenanceWindowSchema, { maxItems: 16 })),
    deadline: Type.Optional(UnixSecondsSchema),
    downloadOnly: Type.Optional(Type.Boolean()),
    allowDowngrade: Type.Optional(Type.Boolean()),
    healthTimeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 86_400 })),
    /** A soak window after the first all-green round of checks: the device commits (succeeds) only at its end. */
    soakSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400 })),
    /** Devices between issue and a final report at once; absent: no cap. */
    maxConcurrentActivations: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_CAMPAIGN_DEVICES })),
    /** A device silent this long after its desired state or its last report counts as failed. */
    deviceTimeoutSeconds: Type.Optional(Type.Integer({ minimum: 1, maximum: 30 * 86_400 })),
    /** Lifetime of each signed desired state; re-issued at half-life while the campaign runs. */
    desiredStateTtlSeconds: Type.Optional(Type.Integer({ minimum: 2, maximum: 30 * 86_400 })),
  },
  { additionalProperties: false },
);
export type CreateCampaign = Static<typeof CreateCampaignSchema>;

export const CampaignSettingsSchema = Type.Object(
  {
    waves: Type.Array(Type.Number()),
    successThreshold: Type.Number(),
    failureThreshold: Type.Number(),
    revertOnFailure: Type.Boolean(),
    startAt: Type.Optional(UnixSecondsSchema),
    maintenanceWindows: Type.Optional(Type.Array(MaintenanceWindowSchema)),
    deadline: Type.Optional(UnixSecondsSchema),
    downloadOnly: Type.Boolean(),
    allowDowngrade: Type.Boolean(),
    healthTimeoutSeconds: Type.Integer(),
    soakSeconds: Type.Optional(Type.Integer()),
    maxConcurrentActivations: Type.Optional(Type.Integer()),
    deviceTimeoutSeconds: Type.Integer(),
    desiredStateTtlSeconds: Type.Integer(),
  },
  { additionalProperties: false },
);
export type CampaignSettings = Static<typeof CampaignSettingsSchema>;

export const CampaignLayerSchema = Type.Object({ digest: DigestSchema, size: SizeSchema, mediaType: MediaTypeSchema }, { additionalProperties: false });
export type CampaignLayer = Static<typeof CampaignLayerSchema>;

export const PauseReasonSchema = Type.Object(
  {
    kind: Type.Enum(['manual', 'failure-threshold'] as const),
    message: Type.String(),
    /** Unix seconds. */
    at: UnixSecondsSchema,
    failed: Type.Optional(Type.Integer({ minimum: 0 })),
    total: Type.Optional(Type.Integer({ minimum: 0 })),
  },
  { additionalProperties: false },
);
export type PauseReason = Static<typeof PauseReasonSchema>;

export const CampaignSchema = Type.Object(
  {
    id: CampaignIdSchema,
    state: Type.Enum(CAMPAIGN_STATES),
    createdAt: UnixSecondsSchema,
    createdBy: Type.String(),
    /** As the operator wrote it; `target.digest` is what it resolved to, once, at creation. */
    image: Type.String(),
    target: ImageTargetSchema,
    layers: Type.Array(CampaignLayerSchema),
    /** The builder's signature bundle found through the referrers API at creation, passed on to devices. */
    imageSignature: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
    selector: SelectorSchema,
    settings: CampaignSettingsSchema,
    /** Index into `settings.waves` of the wave being rolled out. */
    currentWave: Type.Integer({ minimum: 0 }),
    startedAt: Type.Optional(UnixSecondsSchema),
    finishedAt: Type.Optional(UnixSecondsSchema),
    pauseReason: Type.Optional(PauseReasonSchema),
    /** Failures already seen when the campaign was last resumed: the threshold counts only new ones. */
    failuresAcknowledged: Type.Integer({ minimum: 0 }),
    /** Devices frozen at start, in rollout order. */
    deviceCount: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type Campaign = Static<typeof CampaignSchema>;

export const DeviceProgressSchema = Type.Object(
  {
    device: DeviceIdSchema,
    /** Index of the wave this device belongs to. */
    wave: Type.Integer({ minimum: 0 }),
    state: Type.Enum(DEVICE_CAMPAIGN_STATES),
    phase: Type.Optional(Type.Enum(PHASES)),
    desiredSeq: Type.Optional(SequenceSchema),
    issuedAt: Type.Optional(UnixSecondsSchema),
    expiresAt: Type.Optional(UnixSecondsSchema),
    /** Seq of the last report that changed this record: a report not above it changes nothing. */
    lastReportSeq: Type.Optional(SequenceSchema),
    /** Server clock, Unix seconds: last issue or report, for the device timeout. */
    lastActivityAt: Type.Optional(UnixSecondsSchema),
    /** Why the device counts as failed (error code, `timeout`, `rolled-back`). */
    reason: Type.Optional(Type.String()),
    missingBytes: SizeSchema,
    missingLayers: Type.Integer({ minimum: 0 }),
    rollbackCommandSeq: Type.Optional(SequenceSchema),
  },
  { additionalProperties: false },
);
export type DeviceProgress = Static<typeof DeviceProgressSchema>;
