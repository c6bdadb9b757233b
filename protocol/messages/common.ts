/**
 * Building blocks shared by the v1 messages (docs/protocol.md, "Messages").
 * Times are integer Unix seconds (UTC): unambiguous and trivial in C.
 */
import { Type, type Static } from 'typebox';
import { ID_SCHEMA_PATTERN } from '../ids.js';
import { DigestSchema, MediaTypeSchema, SizeSchema } from '../oci/schemas.js';

export const DeviceIdSchema = Type.String({ pattern: ID_SCHEMA_PATTERN, description: 'device id (docs/protocol.md, "Identifiers")' });
export const CampaignIdSchema = Type.String({ pattern: ID_SCHEMA_PATTERN });
/** Unix time in seconds; up to year 9999. */
export const UnixSecondsSchema = Type.Integer({ minimum: 0, maximum: 253_402_300_799 });
/** A counter that only grows; 2^53 - 1 leaves room for a message a millisecond for 285,000 years. */
export const SequenceSchema = Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER });

/** Dotted numeric version, 1 to 4 parts (`42`, `2026.11.2`); compared part by part (version.ts). */
export const VERSION_SCHEMA_PATTERN = '^(0|[1-9][0-9]{0,14})(\\.(0|[1-9][0-9]{0,14})){0,3}$';
export const VersionSchema = Type.String({ pattern: VERSION_SCHEMA_PATTERN });

/** host, host:port, IPv4:port or [IPv6]:port, as in an image reference. */
export const REGISTRY_SCHEMA_PATTERN = '^(\\[[0-9A-Fa-f:.]+\\]|[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*)(:[0-9]{1,5})?$';
/** OCI distribution spec repository name ("Pulling manifests", <name>). */
export const REPOSITORY_SCHEMA_PATTERN = '^[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*(\\/[a-z0-9]+((\\.|_|__|-+)[a-z0-9]+)*)*$';

export const ImageTargetSchema = Type.Object(
  {
    registry: Type.String({ pattern: REGISTRY_SCHEMA_PATTERN, maxLength: 255 }),
    repository: Type.String({ pattern: REPOSITORY_SCHEMA_PATTERN, maxLength: 255 }),
    digest: DigestSchema,
    /** Byte length of the manifest: a signed length against endless data. */
    size: Type.Integer({ minimum: 1, maximum: 4 * 1024 * 1024 }),
    mediaType: MediaTypeSchema,
    version: VersionSchema,
  },
  { additionalProperties: false },
);
export type ImageTarget = Static<typeof ImageTargetSchema>;

export const LayerEntrySchema = Type.Object(
  {
    digest: DigestSchema,
    size: SizeSchema,
    mediaType: MediaTypeSchema,
    /** True when the device's last reported inventory lacks this blob. */
    missing: Type.Boolean(),
  },
  { additionalProperties: false },
);
export type LayerEntry = Static<typeof LayerEntrySchema>;

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

export const MaintenanceWindowSchema = Type.Object(
  {
    days: Type.Array(Type.Enum(WEEKDAYS), { minItems: 1, maxItems: 7, uniqueItems: true }),
    /** Local start time, 24-hour `HH:MM`. */
    start: Type.String({ pattern: '^([01][0-9]|2[0-3]):[0-5][0-9]$' }),
    durationMinutes: Type.Integer({ minimum: 1, maximum: 7 * 24 * 60 }),
    /** IANA time zone name, e.g. `Europe/Paris`. */
    timeZone: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_+\\-/]+$' }),
  },
  { additionalProperties: false },
);
export type MaintenanceWindow = Static<typeof MaintenanceWindowSchema>;

export const UpdatePolicySchema = Type.Object(
  {
    /** Stage only; activate on a later desired state without downloadOnly. */
    downloadOnly: Type.Boolean(),
    allowDowngrade: Type.Boolean(),
    /** Probation deadline after activation: every required health check must pass within it, else rollback. */
    healthTimeoutSeconds: Type.Integer({ minimum: 1, maximum: 86_400 }),
    /** Activate no later than this time, even outside a maintenance window. */
    deadline: Type.Optional(UnixSecondsSchema),
    maintenanceWindows: Type.Optional(Type.Array(MaintenanceWindowSchema, { maxItems: 16 })),
    /** Failed attempts (rollbacks) at this image before the device stops trying it (default 3; docs/protocol.md 6.1). */
    maxAttempts: Type.Optional(Type.Integer({ minimum: 1, maximum: 100 })),
    /**
     * Soak window (docs/protocol.md 7): after the first all-green round of required checks the deployment stays on
     * probation this long, checks still running; a required failure in it rolls back; the commit comes at its end.
     */
    soakSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 86_400 })),
  },
  { additionalProperties: false },
);
export type UpdatePolicy = Static<typeof UpdatePolicySchema>;

export const SlotSchema = Type.Object(
  { digest: DigestSchema, version: Type.Optional(VersionSchema) },
  { additionalProperties: false },
);
export type Slot = Static<typeof SlotSchema>;

/** Error codes as carried in reports: bootfleet's own or an agent's, upper snake case. */
export const ErrorCodeSchema = Type.String({ pattern: '^[A-Z][A-Z0-9_]{0,63}$' });

export { MediaTypeSchema };
