/**
 * Repository names, tags and request paths of the OCI Distribution Spec v1.1
 * ("Pulling manifests": the <name> and <reference> grammars). Names hold
 * slashes, so the router cannot split them: `parseRegistryPath` reads a path
 * from its end, the way the spec's endpoint table is written.
 */
import { BootfleetError } from '../../protocol/index.js';

/** `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*(\/[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*)*` (distribution spec). */
const NAME_PATTERN = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
/** `[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}` (distribution spec). */
const TAG_PATTERN = /^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$/;
/** Many clients refuse names over 255 characters; so do we, which also bounds database keys. */
export const MAX_NAME_LENGTH = 255;
/** Upload ids are our own random UUIDs; anything else is refused before touching disk. */
const UPLOAD_ID_PATTERN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function parseRepositoryName(input: string): string {
  if (input.length > MAX_NAME_LENGTH || !NAME_PATTERN.test(input)) {
    throw new BootfleetError('BOOTFLEET_REGISTRY_NAME_INVALID', `invalid repository name ${JSON.stringify(input.slice(0, 80))}`, {
      details: { name: input.slice(0, 80) },
    });
  }
  return input;
}

export function isTag(input: string): boolean {
  return TAG_PATTERN.test(input);
}

export function parseTag(input: string): string {
  if (!isTag(input)) {
    throw new BootfleetError('BOOTFLEET_REGISTRY_NAME_INVALID', `invalid tag ${JSON.stringify(input.slice(0, 80))}`, { details: { tag: input.slice(0, 80) } });
  }
  return input;
}

export function isUploadId(input: string): boolean {
  return UPLOAD_ID_PATTERN.test(input);
}

export type RegistryRoute =
  | { readonly kind: 'base' }
  | { readonly kind: 'upload-start'; readonly name: string }
  | { readonly kind: 'upload'; readonly name: string; readonly id: string }
  | { readonly kind: 'blob'; readonly name: string; readonly digest: string }
  | { readonly kind: 'manifest'; readonly name: string; readonly reference: string }
  | { readonly kind: 'tags'; readonly name: string }
  | { readonly kind: 'referrers'; readonly name: string; readonly digest: string };

type Matcher = readonly [RegExp, (name: string, last: string) => RegistryRoute];

/** Tried in order: `<name>/blobs/uploads/...` before `<name>/blobs/<digest>`. */
const MATCHERS: readonly Matcher[] = [
  [/^(.+)\/blobs\/uploads\/$/, (name) => ({ kind: 'upload-start', name })],
  [/^(.+)\/blobs\/uploads\/([^/]+)$/, (name, id) => ({ kind: 'upload', name, id })],
  [/^(.+)\/blobs\/([^/]+)$/, (name, digest) => ({ kind: 'blob', name, digest })],
  [/^(.+)\/manifests\/([^/]+)$/, (name, reference) => ({ kind: 'manifest', name, reference })],
  [/^(.+)\/tags\/list$/, (name) => ({ kind: 'tags', name })],
  [/^(.+)\/referrers\/([^/]+)$/, (name, digest) => ({ kind: 'referrers', name, digest })],
];

/** Parses the path (without query) of a `/v2/` request; the name is validated here. */
export function parseRegistryPath(path: string): RegistryRoute {
  if (path === '/v2/' || path === '/v2') return { kind: 'base' };
  const rest = path.startsWith('/v2/') ? path.slice(4) : undefined;
  if (rest !== undefined) {
    for (const [pattern, build] of MATCHERS) {
      const match = pattern.exec(rest);
      if (match !== null) {
        parseRepositoryName(match[1] ?? '');
        return build(match[1] ?? '', safeDecode(match[2] ?? ''));
      }
    }
  }
  throw new BootfleetError('BOOTFLEET_REGISTRY_NAME_UNKNOWN', 'no registry endpoint at this path');
}

/** Clients may percent-encode the `:` of a digest; a malformed escape stays as sent and fails validation later. */
function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
