/** `GET /v2/<name>/tags/list` with `n` and `last` (distribution spec, "Listing Tags"), lexical order. */
import { registryError } from '../errors.js';
import { methodNotAllowed, type RequestContext } from './context.js';

/** Without `n`, at most this many tags in one answer; more come through the `Link` header. */
export const MAX_TAGS_PER_PAGE = 10_000;

export async function handleTags(ctx: RequestContext, name: string): Promise<void> {
  if (ctx.request.method !== 'GET' && ctx.request.method !== 'HEAD') methodNotAllowed(ctx.request.method);
  const { meta } = ctx.registry;
  const n = parseCount(ctx.query.get('n'));
  const last = ctx.query.get('last') ?? undefined;
  if (!(await meta.hasRepository(name))) throw registryError('BOOTFLEET_REGISTRY_NAME_UNKNOWN', `repository ${name} is not known`);
  const page = n === 0 ? [] : await meta.listTags(name, n + 1, last);
  const tags = page.slice(0, n);
  const lastTag = tags.at(-1);
  if (page.length > n && lastTag !== undefined) {
    ctx.reply.header('Link', `</v2/${name}/tags/list?n=${n}&last=${encodeURIComponent(lastTag)}>; rel="next"`);
  }
  await ctx.reply.header('Content-Type', 'application/json').send({ name, tags });
}

function parseCount(value: string | null): number {
  if (value === null || value === '') return MAX_TAGS_PER_PAGE;
  if (!/^\d{1,9}$/.test(value)) throw registryError('BOOTFLEET_REGISTRY_NAME_INVALID', 'n must be a non-negative integer');
  return Math.min(Number(value), MAX_TAGS_PER_PAGE);
}
