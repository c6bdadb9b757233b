/**
 * The registry as one Fastify plugin under `/v2/`. Repository names hold
 * slashes, so one wildcard route hands the path to `parseRegistryPath` and
 * dispatches to the handler of each resource (routes/). Inside this plugin's
 * scope Fastify parses no body at all: blobs are streamed from the request,
 * manifests read with a 4 MiB bound, and errors leave in the spec's format.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { CHALLENGE, type Access } from './auth.js';
import { registryError, toWireError } from './errors.js';
import { parseRegistryPath, type RegistryRoute } from './names.js';
import type { BlobByteMeter, Registry } from './registry.js';
import { handleBlob } from './routes/blobs.js';
import type { RequestContext } from './routes/context.js';
import { handleManifest } from './routes/manifests.js';
import { handleReferrers } from './routes/referrers.js';
import { handleTags } from './routes/tags.js';
import { handleUpload, handleUploadStart } from './routes/uploads.js';

export interface RegistryPluginOptions {
  readonly registry: Registry;
  readonly metrics?: BlobByteMeter;
}

const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

export const registryPlugin: FastifyPluginAsync<RegistryPluginOptions> = (app, { registry, metrics }) => {
  app.removeAllContentTypeParsers();
  // Leave every body unread: handlers consume `request.raw` themselves.
  app.addContentTypeParser('*', (_request, _payload, done) => {
    done(null, undefined);
  });
  app.setErrorHandler((error, request, reply) => {
    const wire = toWireError(error);
    if (wire.status >= 500) request.log.error({ err: error }, 'registry request failed');
    if (wire.status === 401) void reply.header('WWW-Authenticate', CHALLENGE);
    return reply.code(wire.status).header('Content-Type', 'application/json').send(wire.body);
  });
  const handler = (request: FastifyRequest, reply: FastifyReply): Promise<void> => serve(registry, metrics, request, reply);
  app.route({ method: [...METHODS], url: '/v2/', handler, exposeHeadRoute: false });
  app.route({ method: [...METHODS], url: '/v2/*', handler, exposeHeadRoute: false });
  return Promise.resolve();
};

async function serve(registry: Registry, metrics: BlobByteMeter | undefined, request: FastifyRequest, reply: FastifyReply): Promise<void> {
  reply.header('Docker-Distribution-API-Version', 'registry/2.0');
  const url = request.raw.url ?? '/';
  const queryAt = url.indexOf('?');
  const path = queryAt < 0 ? url : url.slice(0, queryAt);
  const query = new URLSearchParams(queryAt < 0 ? '' : url.slice(queryAt + 1));
  const role = await registry.auth.identify(request.headers.authorization);
  const route = parseRegistryPath(path);
  const ctx: RequestContext = { registry, request, reply, query, role, metrics };
  if (route.kind === 'base') {
    // Always challenge a caller without credentials here, even with anonymous pull:
    // clients (containers/image, docker) send stored credentials only after a challenge.
    if (role === 'anonymous') throw registryError('BOOTFLEET_REGISTRY_UNAUTHORIZED', 'credentials needed');
    await reply.header('Content-Type', 'application/json').send({});
    return;
  }
  registry.auth.authorize(role, accessFor(request.method));
  await dispatch(ctx, route);
}

function accessFor(method: string): Access {
  return method === 'GET' || method === 'HEAD' ? 'pull' : 'push';
}

async function dispatch(ctx: RequestContext, route: Exclude<RegistryRoute, { kind: 'base' }>): Promise<void> {
  switch (route.kind) {
    case 'upload-start':
      return handleUploadStart(ctx, route.name);
    case 'upload':
      return handleUpload(ctx, route.name, route.id);
    case 'blob':
      return handleBlob(ctx, route.name, route.digest);
    case 'manifest':
      return handleManifest(ctx, route.name, route.reference);
    case 'tags':
      return handleTags(ctx, route.name);
    case 'referrers':
      return handleReferrers(ctx, route.name, route.digest);
  }
}
