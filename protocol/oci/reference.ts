/**
 * Image references as operators type them: `host[:port]/name[:tag][@digest]`
 * (the docker/distribution reference grammar, restricted to what bootfleet
 * needs: the registry host is always explicit). The name and tag follow the
 * OCI distribution spec expressions.
 */
import { parseDigest, type Digest } from '../digest.js';
import { BootfleetError, type ErrorCode } from '../errors.js';

// An IPv6 literal may end in dotted IPv4 (RFC 4291 section 2.2, e.g. [::ffff:127.0.0.1]).
const HOST_PATTERN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]{1,5})?$/;
const NAME_PATTERN = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const TAG_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;

export interface ImageReference {
  /** `host[:port]` of the registry. */
  readonly registry: string;
  /** Repository name inside the registry. */
  readonly name: string;
  readonly tag?: string;
  readonly digest?: Digest;
}

export interface ParseImageReferenceOptions {
  /**
   * The tag a reference with neither tag nor digest gets (the agent tracks
   * `latest` as docker does); without it such a reference is refused, as an
   * operator's campaign must say what it means.
   */
  readonly defaultTag?: string;
  /** The code of the error (the CLI's usage error, the agent's registry error). */
  readonly code?: ErrorCode;
}

/** The one parser of image references (CLI, server and agent). */
export function parseImageReference(input: string, options: ParseImageReferenceOptions = {}): ImageReference {
  const fail = (why: string): never => {
    const shown = input.slice(0, 200);
    throw new BootfleetError(options.code ?? 'BOOTFLEET_CLI_USAGE', `invalid image reference ${JSON.stringify(shown)}: ${why}`, { details: { reference: shown } });
  };
  if (input.length > 1024) fail('longer than 1024 characters');
  const at = input.indexOf('@');
  const digest = at < 0 ? undefined : parseDigest(input.slice(at + 1));
  const withoutDigest = at < 0 ? input : input.slice(0, at);
  const slash = withoutDigest.indexOf('/');
  if (slash < 0) fail('expected host[:port]/name[:tag][@digest]: the registry host is missing');
  const registry = withoutDigest.slice(0, slash);
  if (!HOST_PATTERN.test(registry)) fail('registry host is not host[:port]');
  const rest = withoutDigest.slice(slash + 1);
  const colon = rest.lastIndexOf(':');
  const name = colon < 0 ? rest : rest.slice(0, colon);
  const written = colon < 0 ? undefined : rest.slice(colon + 1);
  if (written !== undefined && !TAG_PATTERN.test(written)) fail('tag breaks the distribution spec grammar');
  if (name.length > 255 || !NAME_PATTERN.test(name)) fail('repository name breaks the distribution spec grammar');
  const tag = written ?? (digest === undefined ? options.defaultTag : undefined);
  if (tag === undefined && digest === undefined) fail('give a tag or a digest');
  return { registry, name, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) };
}

/** `host[:port]/name[:tag][@digest]`, as parsed. */
export function formatImageReference(ref: ImageReference): string {
  return `${ref.registry}/${ref.name}${ref.tag === undefined ? '' : `:${ref.tag}`}${ref.digest === undefined ? '' : `@${ref.digest.value}`}`;
}

/** What to ask the registry for: the digest when there is one (it pins the content), else the tag. */
export function referenceTarget(ref: ImageReference): string {
  return ref.digest?.value ?? ref.tag ?? '';
}
