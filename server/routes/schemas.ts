/** Shapes shared by API routes: the error body every error status answers with. */
import { Type } from 'typebox';

export const ErrorBodySchema = Type.Object(
  {
    /** Stable, documented in docs/errors.md. */
    code: Type.String(),
    message: Type.String(),
    details: Type.Record(Type.String(), Type.Unknown()),
  },
  { description: 'An error: a stable code (docs/errors.md), a message for people, details for programs' },
);

/** Response schemas of the error statuses an authenticated route can answer. */
export const AUTH_ERRORS = { 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema } as const;
