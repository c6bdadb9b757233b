/** Liveness and readiness (Kubernetes-style probes; systemd and load balancers use them too). */
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';

const StatusSchema = Type.Object({ status: Type.String() });

export interface HealthOptions {
  /** Whether every dependency (state database, key) is open. */
  readonly isReady: () => boolean;
}

export const healthRoutes: FastifyPluginAsync<HealthOptions> = (app, options) => {
  app.get('/healthz', { schema: { tags: ['health'], summary: 'Liveness: the process answers', response: { 200: StatusSchema } } }, () => ({ status: 'ok' }));
  const readySchema = { tags: ['health'], summary: 'Readiness: state database, key and broker are open', response: { 200: StatusSchema, 503: StatusSchema } };
  app.get('/readyz', { schema: readySchema }, async (_request, reply) => {
    if (options.isReady()) return { status: 'ready' };
    return reply.code(503).send({ status: 'starting' });
  });
  return Promise.resolve();
};
