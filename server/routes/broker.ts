/**
 * `GET /api/v1/broker`: the control plane's state for operators (the same
 * counters are in `/metrics`): broker mode and endpoints, connected clients,
 * connections cut by the packet guard, refused logins and ACL denials, and
 * ingest counts.
 */
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { ControlServices } from '../control.js';
import { AUTH_ERRORS } from './schemas.js';

const CountsSchema = Type.Record(Type.String(), Type.Integer());
const BrokerStateSchema = Type.Object({
  mode: Type.String(),
  endpoints: Type.Object({ tcp: Type.Optional(Type.String()), tls: Type.Optional(Type.String()), ws: Type.Optional(Type.String()) }),
  /** Embedded mode only; 0 for an external broker (ask the broker). */
  connectedClients: Type.Integer(),
  broker: Type.Object({ authFailures: Type.Integer(), publishDenied: Type.Integer(), subscribeDenied: Type.Integer(), rejected: CountsSchema }),
  ingest: Type.Object({ reportsStored: Type.Integer(), reportsDuplicate: Type.Integer(), presenceApplied: Type.Integer(), dropped: CountsSchema }),
});

export const brokerRoutes: FastifyPluginAsync<{ control: ControlServices }> = (app, { control }) => {
  app.get('/api/v1/broker', { schema: { tags: ['broker'], summary: 'Broker mode, endpoints, refusals and ingest counts', response: { 200: BrokerStateSchema, ...AUTH_ERRORS } } }, () => ({
    mode: control.plane.mode,
    endpoints: control.plane.endpoints,
    connectedClients: control.plane.connectedClients(),
    broker: control.plane.counters,
    ingest: control.ingest.counters,
  }));
  return Promise.resolve();
};
