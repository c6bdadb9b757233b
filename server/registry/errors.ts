/**
 * Registry errors on the wire: OCI Distribution Spec v1.1, "Error Codes".
 * Inside bootfleet they are BootfleetErrors with BOOTFLEET_REGISTRY_* codes;
 * at the HTTP edge they become `{ errors: [{ code, message, detail }] }` with
 * the spec's code, so that skopeo, podman and the conformance suite read them.
 */
import { BootfleetError, type ErrorCode } from '../../protocol/index.js';

/** Spec code for each of our codes; anything unlisted is the spec's catch-all. */
const SPEC_CODES: Partial<Record<ErrorCode, string>> = {
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
};

export interface SpecErrorBody {
  readonly errors: readonly { readonly code: string; readonly message: string; readonly detail: unknown }[];
}

export interface WireError {
  readonly status: number;
  readonly body: SpecErrorBody;
}

/** The status and spec body for any error thrown while serving a registry request. */
export function toWireError(error: unknown): WireError {
  if (error instanceof BootfleetError) {
    const code = SPEC_CODES[error.code] ?? 'UNKNOWN';
    return { status: error.status, body: { errors: [{ code, message: error.message, detail: { bootfleetCode: error.code, ...error.details } }] } };
  }
  const status = typeof (error as { statusCode?: unknown }).statusCode === 'number' ? (error as { statusCode: number }).statusCode : 500;
  const message = status >= 500 ? 'internal error' : (error as Error).message;
  return { status, body: { errors: [{ code: status === 413 ? 'SIZE_INVALID' : 'UNKNOWN', message, detail: {} }] } };
}

export function registryError(code: ErrorCode, message: string, details?: Record<string, unknown>): BootfleetError {
  return new BootfleetError(code, message, details === undefined ? {} : { details });
}
