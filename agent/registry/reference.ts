/**
 * Image references for the agent: protocol/oci/reference.ts's parser (the one
 * grammar), with the agent's defaults: `latest` when no tag or digest is
 * given (as docker pulls), errors coded BOOTFLEET_REGISTRY_REFERENCE_INVALID,
 * and the repository named as the distribution spec names it. Parsed at the
 * edge: the result's fields are safe to put in a URL path.
 */
import { formatImageReference, parseImageReference, type Digest } from '../../protocol/index.js';

export interface ImageReference {
  /** `host[:port]` as written. */
  readonly registry: string;
  readonly repository: string;
  readonly tag?: string;
  readonly digest?: Digest;
}

export function parseReference(input: string): ImageReference {
  const { name, ...rest } = parseImageReference(input, { defaultTag: 'latest', code: 'BOOTFLEET_REGISTRY_REFERENCE_INVALID' });
  return { ...rest, repository: name };
}

export function formatReference(ref: ImageReference): string {
  const { repository, ...rest } = ref;
  return formatImageReference({ ...rest, name: repository });
}
