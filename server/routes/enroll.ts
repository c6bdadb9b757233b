/** `POST /api/v1/enroll`: a device trades the fleet enrolment token for its own MQTT credentials. */
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from 'typebox';
import { ID_SCHEMA_PATTERN } from '../../protocol/index.js';
import { enrollDevice, type EnrollDeps } from '../identity/enroll.js';
import { ErrorBodySchema } from './schemas.js';

const EnrollBodySchema = Type.Object(
  { token: Type.String({ minLength: 1, maxLength: 256 }), deviceId: Type.String({ pattern: ID_SCHEMA_PATTERN }) },
  { additionalProperties: false },
);
const EndpointsSchema = Type.Object({ tcp: Type.Optional(Type.String()), tls: Type.Optional(Type.String()), ws: Type.Optional(Type.String()) });
const EnrollmentSchema = Type.Object({
  deviceId: Type.String(),
  clientId: Type.String(),
  username: Type.String(),
  /** Shown once; the server keeps only a hash. */
  password: Type.String(),
  broker: EndpointsSchema,
  topics: Type.Object({ subscribe: Type.Array(Type.String()), publish: Type.Array(Type.String()) }),
});

export const enrollRoutes: FastifyPluginAsync<EnrollDeps> = (app, deps) => {
  app.post<{ Body: Static<typeof EnrollBodySchema> }>(
    '/api/v1/enroll',
    {
      config: { auth: 'none' },
      schema: {
        tags: ['enrolment'],
        summary: 'Enrol a device with the fleet enrolment token; answers its MQTT credentials once',
        body: EnrollBodySchema,
        response: { 201: EnrollmentSchema, 400: ErrorBodySchema, 401: ErrorBodySchema, 409: ErrorBodySchema, 502: ErrorBodySchema, 503: ErrorBodySchema },
      },
    },
    async (request, reply) => {
      const enrollment = await enrollDevice(deps, { token: request.body.token, deviceId: request.body.deviceId, requestId: request.id });
      return reply.code(201).header('cache-control', 'no-store').send(enrollment);
    },
  );
  return Promise.resolve();
};
