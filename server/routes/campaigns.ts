/**
 * Campaigns over HTTP (docs/campaigns.md, "API"): create, list, show with
 * counts, the lifecycle actions, the delta plan, and a server-sent events
 * stream. Viewers read; operators change, and every change is audited.
 */
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type Static, type TSchema } from 'typebox';
import { CampaignIdSchema, compileParser } from '../../protocol/index.js';
import { CampaignSchema, CampaignStatusSchema, CreateCampaignSchema, type Campaign, type CampaignManager } from '../campaigns/index.js';
import type { AuditLog } from '../identity/audit-log.js';
import { actorOf } from './auth.js';
import { AUTH_ERRORS, ErrorBodySchema } from './schemas.js';

export interface CampaignRouteDeps {
  readonly campaigns: CampaignManager;
  readonly audit: AuditLog;
}

const IdParamsSchema = Type.Object({ id: CampaignIdSchema });
type IdParams = Static<typeof IdParamsSchema>;
const CampaignAnswer = Type.Object({ campaign: CampaignSchema });
const PlanSchema = Type.Object({
  campaign: CampaignIdSchema,
  devices: Type.Array(Type.Object({ device: Type.String(), missingLayers: Type.Integer(), missingBytes: Type.Integer() })),
  totalLayers: Type.Integer(),
  imageBytes: Type.Integer(),
  totalMissingBytes: Type.Integer(),
  distinctMissingBytes: Type.Integer(),
});
const { id: _id, ...applyFields } = CreateCampaignSchema.properties;
const ApplyBodySchema = Type.Object(applyFields, { additionalProperties: false });

/**
 * Campaign bodies are validated strictly: Fastify's default Ajv drops unknown
 * properties, and a misspelt `failureTreshold` silently falling back to its
 * default would be a dangerous campaign. An unknown field is a 400 here.
 */
function strictValidator({ schema }: { schema: unknown }): (data: unknown) => { value: unknown } | { error: Error } {
  const parser = compileParser('campaign request', schema as TSchema);
  return (data) => {
    try {
      return { value: parser.parse(data) };
    } catch (error) {
      return { error: error as Error };
    }
  };
}
const ACTIONS = ['start', 'pause', 'resume', 'abort'] as const;
/** Comment line sent on an idle event stream so proxies keep it open (ms). */
const HEARTBEAT_MS = 15_000;

export const campaignRoutes: FastifyPluginAsync<CampaignRouteDeps> = (app, deps) => {
  const { campaigns } = deps;
  const streams = new Set<FastifyReply['raw']>();
  // Open event streams never go idle: end them, or closing the server would wait for them.
  app.addHook('preClose', (done) => {
    for (const stream of streams) stream.end();
    done();
  });
  const audit = (request: FastifyRequest, action: string, target: string, details?: Record<string, unknown>): Promise<void> =>
    deps.audit.append({ at: Date.now(), actor: actorOf(request.principal), action, target, requestId: request.id, ...(details === undefined ? {} : { details }) });

  app.post<{ Body: Static<typeof CreateCampaignSchema> }>(
    '/api/v1/campaigns',
    { validatorCompiler: strictValidator, schema: { tags: ['campaigns'], summary: 'Create a draft campaign; a tag is resolved to its digest now (operator)', body: CreateCampaignSchema, response: { 201: CampaignAnswer, 404: ErrorBodySchema, 409: ErrorBodySchema, ...AUTH_ERRORS } } },
    async (request, reply) => {
      const campaign = await campaigns.create(request.body, actorOf(request.principal));
      await audit(request, 'campaign.create', campaign.id, { image: campaign.image, digest: campaign.target.digest });
      return reply.code(201).send({ campaign });
    },
  );
  // GitOps (`bootfleet apply`): create when absent, 200 unchanged when identical, 409 when it differs.
  app.put<{ Params: IdParams; Body: Static<typeof ApplyBodySchema> }>(
    '/api/v1/campaigns/:id',
    { validatorCompiler: strictValidator, schema: { tags: ['campaigns'], summary: 'Create when absent, unchanged when identical (GitOps apply; operator)', params: IdParamsSchema, body: ApplyBodySchema, response: { 200: CampaignAnswer, 201: CampaignAnswer, 404: ErrorBodySchema, 409: ErrorBodySchema, ...AUTH_ERRORS } } },
    async (request, reply) => {
      const { campaign, created } = await campaigns.apply({ ...request.body, id: request.params.id }, actorOf(request.principal));
      if (created) await audit(request, 'campaign.create', campaign.id, { image: campaign.image, digest: campaign.target.digest, via: 'apply' });
      return reply.code(created ? 201 : 200).send({ campaign });
    },
  );
  app.get('/api/v1/campaigns', { schema: { tags: ['campaigns'], summary: 'List campaigns', response: { 200: Type.Object({ campaigns: Type.Array(CampaignSchema) }), ...AUTH_ERRORS } } }, async () => ({
    campaigns: await campaigns.list(),
  }));
  app.get<{ Params: IdParams }>(
    '/api/v1/campaigns/:id',
    { schema: { tags: ['campaigns'], summary: 'A campaign with counts per state, phase and wave, and each device', params: IdParamsSchema, response: { 200: CampaignStatusSchema, 404: ErrorBodySchema, ...AUTH_ERRORS } } },
    async (request) => campaigns.status(request.params.id),
  );
  app.get<{ Params: IdParams }>(
    '/api/v1/campaigns/:id/plan',
    { schema: { tags: ['campaigns'], summary: 'Layers and bytes each targeted device lacks (delta plan)', params: IdParamsSchema, response: { 200: PlanSchema, 404: ErrorBodySchema, ...AUTH_ERRORS } } },
    async (request) => ({ campaign: request.params.id, ...(await campaigns.plan(request.params.id)) }),
  );
  for (const action of ACTIONS) {
    app.post<{ Params: IdParams }>(
      `/api/v1/campaigns/:id/${action}`,
      { schema: { tags: ['campaigns'], summary: `${action[0]?.toUpperCase() ?? ''}${action.slice(1)} the campaign (operator)`, params: IdParamsSchema, response: { 200: CampaignAnswer, 404: ErrorBodySchema, 409: ErrorBodySchema, ...AUTH_ERRORS } } },
      async (request) => {
        const campaign = await act(campaigns, action, request.params.id, actorOf(request.principal));
        await audit(request, `campaign.${action}`, campaign.id, { state: campaign.state });
        return { campaign };
      },
    );
  }
  app.get<{ Params: IdParams }>(
    '/api/v1/campaigns/:id/events',
    { schema: { tags: ['campaigns'], summary: 'Server-sent events of the campaign', params: IdParamsSchema, response: { 200: Type.String({ description: 'text/event-stream: one `data:` JSON line per event' }), 404: ErrorBodySchema, ...AUTH_ERRORS } } },
    (request, reply) => streamEvents(campaigns, request.params.id, reply, streams),
  );
  return Promise.resolve();
};

function act(campaigns: CampaignManager, action: (typeof ACTIONS)[number], id: string, actor: string): Promise<Campaign> {
  switch (action) {
    case 'start':
      return campaigns.start(id);
    case 'pause':
      return campaigns.pause(id, actor);
    case 'resume':
      return campaigns.resume(id);
    case 'abort':
      return campaigns.abort(id);
  }
}

/**
 * Server-sent events (HTML Living Standard, "Server-sent events"): one
 * `data:` line of JSON per campaign event, first a status snapshot, then
 * every state, wave and device change of this campaign until the client
 * leaves; none missed between the snapshot and the first event
 * (`CampaignManager.watch`). An unknown campaign is a 404 before anything
 * is streamed.
 */
async function streamEvents(campaigns: CampaignManager, id: string, reply: FastifyReply, streams: Set<FastifyReply['raw']>): Promise<void> {
  const out = reply.raw;
  const send = (event: { readonly type: string; readonly campaign: string }): void => {
    out.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
  };
  let heartbeat: NodeJS.Timeout | undefined;
  const stop = await campaigns.watch(
    id,
    (status) => {
      reply.hijack();
      streams.add(out);
      out.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-store', connection: 'keep-alive' });
      const snapshot = { campaign: id, type: 'status', counts: status.counts, state: status.campaign.state, wave: status.campaign.currentWave };
      send(snapshot);
      heartbeat = setInterval(() => out.write(': keep-alive\n\n'), HEARTBEAT_MS);
    },
    send,
  );
  const close = (): void => {
    clearInterval(heartbeat);
    streams.delete(out);
    stop();
  };
  if (out.destroyed) close();
  else out.once('close', close);
}
