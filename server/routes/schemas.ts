/** Shapes shared by API routes: the error body every error status answers with. */
import { Type } from 'typebox';

export const ErrorBodySchema = Type.Object({
  code: Type.String(),
  message: Type.String(),
  details: Type.Record(Type.String(), Type.Unknown()),
});

/** Response schemas of the error statuses an authenticated route can answer. */
export const AUTH_ERRORS = { 400: ErrorBodySchema, 401: ErrorBodySchema, 403: ErrorBodySchema } as const;
