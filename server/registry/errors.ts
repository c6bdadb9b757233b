/**
 * Registry errors on the wire: OCI Distribution Spec v1.1, "Error Codes".
 * Inside bootfleet they are BootfleetErrors with BOOTFLEET_REGISTRY_* codes;
 * at the HTTP edge they become `{ errors: [{ code, message, detail }] }` with
 * the spec's code, so that skopeo, podman and the conformance suite read them.
 */
import { BootfleetError, registrySpecCode, type ErrorCode } from '../../protocol/index.js';

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
    const code = registrySpecCode(error.code);
    return { status: error.status, body: { errors: [{ code, message: error.message, detail: { bootfleetCode: error.code, ...error.details } }] } };
  }
  const status = typeof (error as { statusCode?: unknown }).statusCode === 'number' ? (error as { statusCode: number }).statusCode : 500;
  const message = status >= 500 ? 'internal error' : (error as Error).message;
  return { status, body: { errors: [{ code: status === 413 ? 'SIZE_INVALID' : 'UNKNOWN', message, detail: {} }] } };
}

export function registryError(code: ErrorCode, message: string, details?: Record<string, unknown>): BootfleetError {
  return new BootfleetError(code, message, details === undefined ? {} : { details });
}
