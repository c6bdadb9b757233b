/**
 * The OCI Distribution Spec v1.1 error codes ("Error Codes") and the
 * bootfleet code each corresponds to. The registry answers with the spec
 * code; a client reading a registry's error turns it back into ours.
 */
import type { ErrorCode } from '../errors.js';

export const REGISTRY_SPEC_CODES = {
  BOOTFLEET_REGISTRY_BLOB_UNKNOWN: 'BLOB_UNKNOWN',
  BOOTFLEET_REGISTRY_BLOB_UPLOAD_INVALID: 'BLOB_UPLOAD_INVALID',
  BOOTFLEET_REGISTRY_CHUNK_OUT_OF_ORDER: 'BLOB_UPLOAD_INVALID',
  BOOTFLEET_REGISTRY_BLOB_UPLOAD_UNKNOWN: 'BLOB_UPLOAD_UNKNOWN',
  BOOTFLEET_DIGEST_INVALID: 'DIGEST_INVALID',
  BOOTFLEET_REGISTRY_MANIFEST_BLOB_UNKNOWN: 'MANIFEST_BLOB_UNKNOWN',
  BOOTFLEET_REGISTRY_MANIFEST_INVALID: 'MANIFEST_INVALID',
  BOOTFLEET_REGISTRY_MANIFEST_UNKNOWN: 'MANIFEST_UNKNOWN',
  BOOTFLEET_REGISTRY_NAME_INVALID: 'NAME_INVALID',
  BOOTFLEET_REGISTRY_NAME_UNKNOWN: 'NAME_UNKNOWN',
  BOOTFLEET_REGISTRY_SIZE_INVALID: 'SIZE_INVALID',
  BOOTFLEET_REGISTRY_TOO_LARGE: 'SIZE_INVALID',
  BOOTFLEET_REGISTRY_RANGE_UNSATISFIABLE: 'RANGE_INVALID',
  BOOTFLEET_REGISTRY_UNAUTHORIZED: 'UNAUTHORIZED',
  BOOTFLEET_REGISTRY_DENIED: 'DENIED',
  BOOTFLEET_REGISTRY_UNSUPPORTED: 'UNSUPPORTED',
  BOOTFLEET_REGISTRY_TOO_MANY_REQUESTS: 'TOOMANYREQUESTS',
} as const satisfies Partial<Record<ErrorCode, string>>;

/** The spec code for one of our codes; `UNKNOWN` (Distribution's catch-all) for the rest. */
export function registrySpecCode(code: ErrorCode): string {
  return (REGISTRY_SPEC_CODES as Partial<Record<ErrorCode, string>>)[code] ?? 'UNKNOWN';
}

/** Our code for a spec code read from a registry's answer (the first one listed wins). */
export function registryErrorCode(specCode: string): ErrorCode | undefined {
  for (const [ours, spec] of Object.entries(REGISTRY_SPEC_CODES)) if (spec === specCode) return ours as ErrorCode;
  return undefined;
}
