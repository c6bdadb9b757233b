/**
 * Image references `host[:port]/path[:tag][@digest]` (distribution spec,
 * "Pulling manifests": the name and tag grammars). The host is required: an
 * agent never guesses a default registry. Parsed at the edge: the result's
 * fields are safe to put in a URL path.
 */
import { BootfleetError, parseDigest, type Digest } from '../../protocol/index.js';

const NAME_COMPONENT = '[a-z0-9]+(?:(?:\\.|_|__|-+)[a-z0-9]+)*';
const NAME_PATTERN = new RegExp(`^${NAME_COMPONENT}(?:/${NAME_COMPONENT})*$`);
const TAG_PATTERN = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
const HOST_PATTERN = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$/;

export interface ImageReference {
  /** `host[:port]` as written. */
  readonly registry: string;
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: Digest;
}

function invalid(input: string, why: string): BootfleetError {
  return new BootfleetError('BOOTFLEET_REGISTRY_REFERENCE_INVALID', `image reference ${JSON.stringify(input.slice(0, 300))}: ${why}`, {
    details: { reference: input.slice(0, 300) },
  });
}

export function parseReference(input: string): ImageReference {
  if (input.length > 1024) throw invalid(input, 'longer than 1024 characters');
  const at = input.indexOf('@');
  const digest = at === -1 ? undefined : parseDigest(input.slice(at + 1));
  const rest = at === -1 ? input : input.slice(0, at);
  const slash = rest.indexOf('/');
  if (slash === -1) throw invalid(input, 'the registry host is missing');
  const registry = rest.slice(0, slash);
  if (!HOST_PATTERN.test(registry)) throw invalid(input, 'the registry host is malformed');
  let path = rest.slice(slash + 1);
  let tag: string | undefined;
  const colon = path.lastIndexOf(':');
  if (colon !== -1) {
    tag = path.slice(colon + 1);
    path = path.slice(0, colon);
    if (!TAG_PATTERN.test(tag)) throw invalid(input, 'the tag is malformed');
  }
  if (path.length > 255 || !NAME_PATTERN.test(path)) throw invalid(input, 'the repository name is malformed');
  if (tag === undefined && digest === undefined) tag = 'latest';
  return { registry, repository: path, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) };
}

export function formatReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.repository}${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest.value}`}`;
}
