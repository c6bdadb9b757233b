/**
 * Access configuration (README, "Server configuration", `auth`). Tokens are
 * stored as SHA-256 hashes: they are 256-bit random strings made by
 * `bootfleet server token`, so a fast hash is enough and every API call
 * can check one without a key-stretching cost.
 */
import { Type, type Static } from 'typebox';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

/** `sha256:` and 64 lowercase hex digits. */
export const TOKEN_HASH_PATTERN = '^sha256:[0-9a-f]{64}$';

export const ApiTokenConfigSchema = Type.Object(
  {
    /** Who holds the token; written to the audit log. */
    name: Type.String({ minLength: 1, maxLength: 64 }),
    role: Type.Enum(ROLES),
    hash: Type.String({ pattern: TOKEN_HASH_PATTERN }),
  },
  { additionalProperties: false },
);

export const EnrollmentTokenConfigSchema = Type.Object(
  {
    /** Which fleet or batch the token is for; recorded on each device it enrols. */
    name: Type.String({ minLength: 1, maxLength: 64 }),
    hash: Type.String({ pattern: TOKEN_HASH_PATTERN }),
  },
  { additionalProperties: false },
);

export const AuthConfigSchema = Type.Object(
  {
    apiTokens: Type.Array(ApiTokenConfigSchema, { maxItems: 1024 }),
    enrollmentTokens: Type.Array(EnrollmentTokenConfigSchema, { maxItems: 1024 }),
  },
  { additionalProperties: false },
);
export type AuthConfig = Static<typeof AuthConfigSchema>;
export type ApiTokenConfig = Static<typeof ApiTokenConfigSchema>;
