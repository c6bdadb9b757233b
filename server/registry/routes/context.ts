/** What every registry handler gets: the registry, the request and reply, the parsed query. */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Role } from '../auth.js';
import { registryError } from '../errors.js';
import type { BlobByteMeter, Registry } from '../registry.js';

export interface RequestContext {
  readonly registry: Registry;
  readonly request: FastifyRequest;
  readonly reply: FastifyReply;
  readonly query: URLSearchParams;
  readonly role: Role;
  /** Absent: nothing is counted. */
  readonly metrics: BlobByteMeter | undefined;
}

export function methodNotAllowed(method: string): never {
  throw registryError('BOOTFLEET_REGISTRY_UNSUPPORTED', `${method} is not supported on this endpoint`);
}

export function requireDeleteAllowed(ctx: RequestContext): void {
  if (!ctx.registry.config.allowDelete) throw registryError('BOOTFLEET_REGISTRY_UNSUPPORTED', 'deletion is switched off (registry.allowDelete)');
}
