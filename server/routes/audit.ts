/** `GET /api/v1/audit`: the most recent operator actions (admin only). */
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from 'typebox';
import type { AuditLog } from '../identity/audit-log.js';
import { AUTH_ERRORS } from './schemas.js';

const AuditEntrySchema = Type.Object({
  at: Type.Integer(),
  actor: Type.String(),
  action: Type.String(),
  target: Type.String(),
  requestId: Type.Optional(Type.String()),
  details: Type.Optional(Type.Record(Type.String(), Type.Unknown())),
});
const QuerySchema = Type.Object({ limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })) }, { additionalProperties: false });

export const auditRoutes: FastifyPluginAsync<{ audit: AuditLog }> = (app, { audit }) => {
  app.get<{ Querystring: Static<typeof QuerySchema> }>(
    '/api/v1/audit',
    {
      config: { role: 'admin' },
      schema: {
        tags: ['audit'],
        summary: 'The most recent operator actions (admin)',
        querystring: QuerySchema, response: { 200: Type.Object({ entries: Type.Array(AuditEntrySchema) }), ...AUTH_ERRORS },
      },
    },
    async (request) => ({ entries: await audit.recent(request.query.limit ?? 100) }),
  );
  return Promise.resolve();
};
