/**
 * API authentication: every route under /api/ needs a bearer token, except
 * those marked `config: { auth: 'none' }` (enrolment, which checks its own
 * token); a route elsewhere needs one when marked `config: { auth: 'token' }`
 * (`/metrics`). A route's needed role is `config.role`, else viewer for reads and
 * operator for writes (docs/control-plane.md, "Roles").
 */
import type { FastifyInstance } from 'fastify';
import { BootfleetError } from '../../protocol/index.js';
import type { Role } from '../identity/config.js';
import { roleAtLeast, type Principal, type TokenVerifier } from '../identity/tokens.js';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** Role needed for this route. */
    role?: Role;
    /**
     * `none`: the route authenticates its caller itself (or is public);
     * `token`: a token is needed even outside /api/ (`/metrics`).
     */
    auth?: 'none' | 'token';
  }
  interface FastifyRequest {
    /** The operator behind the request's token, once authenticated. */
    principal: Principal | null;
  }
}

const READ_METHODS = new Set(['GET', 'HEAD']);

export function installApiAuth(app: FastifyInstance, tokens: TokenVerifier): void {
  app.decorateRequest('principal', null);
  app.addHook('onRequest', async (request) => {
    const config = request.routeOptions.config;
    if (!request.url.startsWith('/api/') && config.auth !== 'token') return;
    if (config.auth === 'none') return;
    const principal = tokens.authenticate(request.headers.authorization);
    const needed = config.role ?? (READ_METHODS.has(request.method) ? 'viewer' : 'operator');
    if (!roleAtLeast(principal.role, needed)) {
      throw new BootfleetError('BOOTFLEET_AUTH_FORBIDDEN', `this call needs the ${needed} role; the token has ${principal.role}`, {
        details: { needed, role: principal.role },
      });
    }
    request.principal = principal;
    await Promise.resolve();
  });
}

/** The acting operator's name, for the audit log. */
export function actorOf(principal: Principal | null): string {
  return principal === null ? 'anonymous' : `token:${principal.name}`;
}
