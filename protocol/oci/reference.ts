/**
 * Image references as operators type them: `host[:port]/name[:tag][@digest]`
 * (the docker/distribution reference grammar, restricted to what bootfleet
 * needs: the registry host is always explicit). The name and tag follow the
 * OCI distribution spec expressions.
 */
import { parseDigest, type Digest } from '../digest.js';
import { BootfleetError } from '../errors.js';

const HOST_PATTERN = /^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]{1,5})?$/;
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

export function parseImageReference(input: string): ImageReference {
  const fail = (why: string): never => {
    throw new BootfleetError('BOOTFLEET_CLI_USAGE', `invalid image reference ${JSON.stringify(input.slice(0, 200))}: ${why}`);
  };
  if (input.length > 1024) fail('too long');
  const at = input.indexOf('@');
  const digest = at < 0 ? undefined : parseDigest(input.slice(at + 1));
  const withoutDigest = at < 0 ? input : input.slice(0, at);
  const slash = withoutDigest.indexOf('/');
  if (slash < 0) fail('expected host[:port]/name[:tag][@digest]');
  const registry = withoutDigest.slice(0, slash);
  if (!HOST_PATTERN.test(registry)) fail('registry host is not host[:port]');
  const rest = withoutDigest.slice(slash + 1);
  const colon = rest.lastIndexOf(':');
  const name = colon < 0 ? rest : rest.slice(0, colon);
  const tag = colon < 0 ? undefined : rest.slice(colon + 1);
  if (name.length > 255 || !NAME_PATTERN.test(name)) fail('repository name breaks the distribution spec grammar');
  if (tag !== undefined && !TAG_PATTERN.test(tag)) fail('tag breaks the distribution spec grammar');
  if (tag === undefined && digest === undefined) fail('give a tag or a digest');
  return { registry, name, ...(tag === undefined ? {} : { tag }), ...(digest === undefined ? {} : { digest }) };
}

/** What to ask the registry for: the digest when there is one (it pins the content), else the tag. */
export function referenceTarget(ref: ImageReference): string {
  return ref.digest?.value ?? ref.tag ?? '';
}
