/**
 * `GET /metrics` (Prometheus text exposition format 0.0.4) and the hook that
 * times every HTTP request. The endpoint needs a viewer token like the API
 * (Prometheus sends it with `authorization: { credentials_file: ... }`),
 * unless the configuration says `metrics.public: true` for a scraper on a
 * trusted network that cannot send one.
 */
import { performance } from 'node:perf_hooks';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { ServerMetrics } from '../metrics.js';
import { AUTH_ERRORS } from './schemas.js';

export interface MetricsRouteOptions {
  readonly metrics: ServerMetrics;
  /** No token needed (`metrics.public` in the configuration). */
  readonly public: boolean;
}

export const metricsRoutes: FastifyPluginAsync<MetricsRouteOptions> = (app, options) => {
  app.get(
    '/metrics',
    {
      config: options.public ? { auth: 'none' } : { auth: 'token', role: 'viewer' },
      schema: {
        tags: ['operations'],
        summary: 'Prometheus metrics (text exposition format)',
        response: { 200: Type.String({ description: 'text/plain; version=0.0.4' }), ...AUTH_ERRORS },
      },
    },
    async (_request, reply) => {
      const text = await options.metrics.text();
      return reply.header('content-type', options.metrics.contentType).header('cache-control', 'no-store').send(text);
    },
  );
  return Promise.resolve();
};

/**
 * Times every request from arrival until its response is closed, which also
 * covers replies that bypass Fastify's send path (blob downloads, event
 * streams). The route label is the route's pattern, never the raw URL, so
 * the label set stays bounded; requests no route matched share one label.
 */
export function installHttpMetrics(app: FastifyInstance, metrics: ServerMetrics): void {
  app.addHook('onRequest', (request, reply, done) => {
    const started = performance.now();
    reply.raw.once('close', () => {
      metrics.httpRequest(request.method, request.routeOptions.url ?? 'unmatched', reply.raw.statusCode, (performance.now() - started) / 1000);
    });
    done();
  });
}
