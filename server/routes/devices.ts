/**
 * The device registry over HTTP: list with filters and cursor pagination,
 * show one device with its recent events, change labels and groups, and
 * revoke credentials. Changes are written to the audit log.
 */
import type { FastifyPluginAsync } from 'fastify';
import { Type, type Static } from 'typebox';
import { BootfleetError, ID_SCHEMA_PATTERN, parseDeviceId } from '../../protocol/index.js';
import { DeviceEventSchema, DeviceSchema, GroupNameSchema, LABEL_KEY_PATTERN, LABEL_VALUE_PATTERN, MAX_GROUPS, MAX_LABELS } from '../devices/schemas.js';
import { revokeDevice, type EnrollDeps } from '../identity/enroll.js';
import { actorOf } from './auth.js';
import { AUTH_ERRORS, ErrorBodySchema } from './schemas.js';

const DEFAULT_PAGE = 100;
const MAX_PAGE = 500;

const ListQuerySchema = Type.Object(
  {
    /** `key=value`; repeat for several (all must match). */
    label: Type.Optional(Type.Array(Type.String({ maxLength: 128 }), { maxItems: 16 })),
    group: Type.Optional(GroupNameSchema),
    online: Type.Optional(Type.Boolean()),
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE })),
    cursor: Type.Optional(Type.String({ maxLength: 128 })),
  },
  { additionalProperties: false },
);
const IdParamsSchema = Type.Object({ id: Type.String({ pattern: ID_SCHEMA_PATTERN }) });
const PatchBodySchema = Type.Object(
  {
    /** A null value removes the label. */
    labels: Type.Optional(
      Type.Record(Type.String({ pattern: LABEL_KEY_PATTERN }), Type.Union([Type.String({ pattern: LABEL_VALUE_PATTERN }), Type.Null()]), { maxProperties: MAX_LABELS }),
    ),
    addGroups: Type.Optional(Type.Array(GroupNameSchema, { maxItems: MAX_GROUPS })),
    removeGroups: Type.Optional(Type.Array(GroupNameSchema, { maxItems: MAX_GROUPS })),
  },
  { additionalProperties: false },
);
const ShowQuerySchema = Type.Object({ events: Type.Optional(Type.Integer({ minimum: 0, maximum: 500 })) }, { additionalProperties: false });

export const deviceRoutes: FastifyPluginAsync<EnrollDeps> = (app, deps) => {
  const { registry } = deps;
  app.get<{ Querystring: Static<typeof ListQuerySchema> }>(
    '/api/v1/devices',
    { schema: { tags: ['devices'], summary: 'List devices, filtered, in id order, a page at a time', querystring: ListQuerySchema, response: { 200: Type.Object({ devices: Type.Array(DeviceSchema), nextCursor: Type.Optional(Type.String()) }), ...AUTH_ERRORS } } },
    async (request) => {
      const { label, group, online, limit, cursor } = request.query;
      const after = cursor === undefined ? undefined : decodeCursor(cursor);
      const page = await registry.list({ labels: parseLabelFilters(label ?? []), group, online, after, limit: limit ?? DEFAULT_PAGE });
      const last = page.devices.at(-1);
      return { devices: page.devices, ...(page.more && last !== undefined ? { nextCursor: encodeCursor(last.id) } : {}) };
    },
  );
  app.get<{ Params: Static<typeof IdParamsSchema>; Querystring: Static<typeof ShowQuerySchema> }>(
    '/api/v1/devices/:id',
    {
      schema: {
        tags: ['devices'],
        summary: 'One device and its most recent events',
        params: IdParamsSchema,
        querystring: ShowQuerySchema,
        response: { 200: Type.Object({ device: DeviceSchema, events: Type.Array(DeviceEventSchema) }), 404: ErrorBodySchema, ...AUTH_ERRORS },
      },
    },
    async (request) => {
      const device = await registry.require(request.params.id);
      return { device, events: await registry.history(device.id, request.query.events ?? 20) };
    },
  );
  app.patch<{ Params: Static<typeof IdParamsSchema>; Body: Static<typeof PatchBodySchema> }>(
    '/api/v1/devices/:id',
    { schema: { tags: ['devices'], summary: 'Set or remove labels and groups (operator)', params: IdParamsSchema, body: PatchBodySchema, response: { 200: Type.Object({ device: DeviceSchema }), 404: ErrorBodySchema, ...AUTH_ERRORS } } },
    async (request) => {
      const device = await registry.setLabelsAndGroups(request.params.id, request.body);
      await deps.audit.append({ at: Date.now(), actor: actorOf(request.principal), action: 'device.update', target: device.id, requestId: request.id, details: request.body });
      return { device };
    },
  );
  app.delete<{ Params: Static<typeof IdParamsSchema> }>(
    '/api/v1/devices/:id/credentials',
    { config: { role: 'admin' }, schema: { tags: ['devices'], summary: 'Revoke the device credentials and disconnect it (admin)', params: IdParamsSchema, response: { 204: Type.Null(), 404: ErrorBodySchema, ...AUTH_ERRORS } } },
    async (request, reply) => {
      await revokeDevice(deps, request.params.id, actorOf(request.principal), request.id);
      return reply.code(204).send();
    },
  );
  return Promise.resolve();
};

/** `key=value` filters from the query string. */
function parseLabelFilters(filters: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const filter of filters) {
    const at = filter.indexOf('=');
    const key = filter.slice(0, Math.max(at, 0));
    const value = filter.slice(at + 1);
    if (at <= 0 || !new RegExp(LABEL_KEY_PATTERN).test(key) || !new RegExp(LABEL_VALUE_PATTERN).test(value)) {
      throw new BootfleetError('BOOTFLEET_MESSAGE_INVALID', `label filter ${JSON.stringify(filter)} is not key=value`);
    }
    labels[key] = value;
  }
  return labels;
}

/** Cursors are opaque to clients: the last id of a page, base64url. */
function encodeCursor(id: string): string {
  return Buffer.from(id, 'utf8').toString('base64url');
}

function decodeCursor(cursor: string): string {
  try {
    return parseDeviceId(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch (error) {
    throw new BootfleetError('BOOTFLEET_DEVICE_CURSOR_INVALID', 'the cursor is not one this server returned', { cause: error });
  }
}
