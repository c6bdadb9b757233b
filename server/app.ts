/**
 * The HTTP application: Fastify with one plugin per resource and one error
 * handler that turns every BootfleetError into `{ code, message }` with its status.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { BootfleetError, type SigningKey } from '../protocol/index.js';
import { healthRoutes } from './routes/health.js';
import { keysRoutes } from './routes/keys.js';
// --- embedded OCI registry (issue #3)
import { registryPlugin, type Registry } from './registry/index.js';
import type { ControlServices } from './control.js';
import { installApiAuth } from './routes/auth.js';
import { auditRoutes } from './routes/audit.js';
import { brokerRoutes } from './routes/broker.js';
import { deviceRoutes } from './routes/devices.js';
import { enrollRoutes } from './routes/enroll.js';
import { TokenVerifier } from './identity/tokens.js';
import type { CampaignManager } from './campaigns/index.js';
import { campaignRoutes } from './routes/campaigns.js';
import type { ServerMetrics } from './metrics.js';
import { installHttpMetrics, metricsRoutes } from './routes/metrics.js';
import { openApiRoutes, registerOpenApi } from './routes/openapi.js';

export interface AppDeps {
  readonly signingKey: SigningKey;
  readonly isReady: () => boolean;
  /** Absent: no request logging (unit tests). */
  readonly logger?: FastifyBaseLogger;
  /** --- embedded OCI registry (issue #3): absent, no `/v2/` routes. */
  readonly registry?: Registry;
  /** Control plane (issue #6): enrolment, devices, audit. Absent: /api/ is closed (no tokens). */
  readonly control?: ControlServices;
  /** Campaigns (issue #6); needs `control` for the audit log. */
  readonly campaigns?: CampaignManager;
  /** Prometheus metrics (issue #6): absent, no `/metrics` and no request timing. */
  readonly metrics?: { readonly metrics: ServerMetrics; readonly public: boolean };
}

export async function buildApp(deps: AppDeps): Promise<FastifyInstance> {
  const common = {
    // Request bodies of the API are small JSON documents; blobs have their own routes and limits.
    bodyLimit: 1024 * 1024,
    requestIdHeader: 'x-request-id',
  };
  const app = deps.logger === undefined ? Fastify({ ...common, logger: false }) : Fastify({ ...common, loggerInstance: deps.logger });
  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof BootfleetError) {
      return reply.code(error.status).send(error.toJSON());
    }
    const status = typeof (error as { statusCode?: unknown }).statusCode === 'number' ? (error as { statusCode: number }).statusCode : 500;
    const code = status === 400 ? 'BOOTFLEET_MESSAGE_INVALID' : 'BOOTFLEET_INTERNAL';
    if (status >= 500) app.log.error({ err: error }, 'request failed');
    return reply.code(status).send({ code, message: status >= 500 ? 'internal error' : (error as Error).message, details: {} });
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(new BootfleetError('BOOTFLEET_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0] ?? ''}`).toJSON()),
  );
  // --- Operations (issue #6): request timing first, so that refused requests are timed too;
  // the OpenAPI generator before any route, so that it sees them all.
  if (deps.metrics !== undefined) installHttpMetrics(app, deps.metrics.metrics);
  await registerOpenApi(app);
  // --- Control plane (issue #6): every /api/ call is authenticated (routes/auth.ts). ---
  installApiAuth(app, deps.control?.tokens ?? new TokenVerifier({ apiTokens: [], enrollmentTokens: [] }));
  if (deps.control !== undefined) {
    await app.register(enrollRoutes, deps.control);
    await app.register(deviceRoutes, deps.control);
    await app.register(auditRoutes, { audit: deps.control.audit });
    await app.register(brokerRoutes, { control: deps.control });
    if (deps.campaigns !== undefined) await app.register(campaignRoutes, { campaigns: deps.campaigns, audit: deps.control.audit });
  }
  // --- end control plane ---
  await app.register(healthRoutes, { isReady: deps.isReady });
  await app.register(keysRoutes, { signingKey: deps.signingKey });
  if (deps.metrics !== undefined) await app.register(metricsRoutes, deps.metrics);
  await app.register(openApiRoutes);
  // --- embedded OCI registry (issue #3): its own body handling and error format, in its own scope.
  if (deps.registry !== undefined) await app.register(registryPlugin, { registry: deps.registry, metrics: deps.metrics?.metrics });
  return app;
}
