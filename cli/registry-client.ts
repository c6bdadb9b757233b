/**
 * One repository of a registry, as `bootfleet image sign` and `verify` use it:
 * read manifests and blobs, push blobs and manifests, list referrers. Built on
 * the agent's registry client (agent/registry/client.ts), so the CLI and the
 * agent share one HTTP stack, one auth negotiation (anonymous, Basic, Bearer
 * challenge with push scope) and one set of limits. Every answer is hostile
 * input: bodies are bounded, manifests and blobs are checked against the
 * digest they were fetched by before anything reads them.
 */
import type { Credentials } from '../agent/registry/auth.js';
import { expectStatus, RegistryClient } from '../agent/registry/client.js';
import { readBodyLimited, type HttpResponse } from '../agent/registry/http.js';
import {
  BootfleetError,
  digestOf,
  MAX_MANIFEST_BYTES,
  MediaType,
  parseImageIndex,
  verifyDigest,
  type Descriptor,
  type Digest,
  type ImageIndex,
  type ImageReference,
} from '../protocol/index.js';

export interface RegistryRepositoryOptions {
  /** A bearer token sent as it is (an operator's API token for the embedded registry). */
  readonly token?: string;
  /** User name and password, sent as the 401 challenge asks (Basic, or for a Bearer token). */
  readonly credentials?: Credentials;
  /** http:// instead of https:// (loopback and tests). */
  readonly plainHttp: boolean;
}

export interface FetchedManifest {
  readonly bytes: Buffer;
  readonly descriptor: { mediaType: string; digest: string; size: number };
}

export class RegistryRepository {
  private readonly client: RegistryClient;
  private readonly name: string;

  constructor(ref: Pick<ImageReference, 'registry' | 'name'>, options: RegistryRepositoryOptions) {
    this.name = ref.name;
    this.client = new RegistryClient(ref.registry, {
      plainHttp: options.plainHttp,
      ...(options.token === undefined ? {} : { bearerToken: options.token }),
      ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    });
  }

  close(): Promise<void> {
    return this.client.close();
  }

  /** Fetches a manifest by tag or digest; by digest, the bytes must hash to it. */
  async manifest(target: string, expected?: Digest): Promise<FetchedManifest> {
    const fetched = await this.client.getManifest(this.name, expected ?? target);
    const mediaType = fetched.descriptor.mediaType === '' ? MediaType.ociManifest : fetched.descriptor.mediaType;
    return { bytes: fetched.bytes, descriptor: { mediaType, digest: fetched.descriptor.digest, size: fetched.bytes.length } };
  }

  async blob(digest: Digest, maxBytes: number): Promise<Buffer> {
    const res = await this.ok(await this.client.getBlob(this.name, digest, 0), `GET blob ${digest.value}`);
    const bytes = await readBodyLimited(res, maxBytes, `blob ${digest.value}`);
    verifyDigest(bytes, digest);
    return bytes;
  }

  /** POST then PUT with the digest (distribution spec, "POST then PUT"): the upload every registry supports. */
  async pushBlob(bytes: Buffer): Promise<Digest> {
    const digest = digestOf(bytes);
    const started = await this.ok(await this.client.send('POST', this.name, 'blobs/uploads/'), 'POST blobs/uploads/');
    await started.body.dump();
    const location = started.headers.location;
    if (typeof location !== 'string') throw new BootfleetError('BOOTFLEET_REGISTRY_RESPONSE_INVALID', `registry ${this.client.registry} started an upload without a Location`);
    // Location may be absolute (Distribution) or a path (bootfleet); it may carry its own query.
    const url = new URL(location, this.client.urlFor(this.name, ''));
    url.searchParams.set('digest', digest.value);
    const res = await this.client.send('PUT', this.name, url.toString(), { headers: { 'content-type': 'application/octet-stream' }, body: bytes });
    await (await this.ok(res, 'PUT blob upload')).body.dump();
    return digest;
  }

  /** PUT by digest, or by `tag`; returns the `OCI-Subject` header (absent: the registry does not index referrers). */
  async putManifest(bytes: Buffer, mediaType: string, tag?: string): Promise<string | undefined> {
    const res = await this.client.send('PUT', this.name, `manifests/${tag ?? digestOf(bytes).value}`, { headers: { 'content-type': mediaType }, body: bytes });
    await (await this.ok(res, 'PUT manifest')).body.dump();
    const subject = res.headers['oci-subject'];
    return typeof subject === 'string' ? subject : undefined;
  }

  /** The referrers API; undefined when the registry does not have it (404, as Distribution 2.8 answers). */
  async referrers(subject: string, artifactType: string): Promise<Descriptor[] | undefined> {
    const res = await this.client.get(this.name, `referrers/${subject}?artifactType=${encodeURIComponent(artifactType)}`, { accept: MediaType.ociIndex });
    return (await this.indexOrUndefined(res, `GET referrers/${subject}`))?.manifests;
  }

  /** An image index by tag (the referrers tag schema), undefined when the tag does not exist. */
  async indexByTag(tag: string): Promise<ImageIndex | undefined> {
    const res = await this.client.get(this.name, `manifests/${tag}`, { accept: MediaType.ociIndex });
    return this.indexOrUndefined(res, `GET manifests/${tag}`);
  }

  private async indexOrUndefined(res: HttpResponse, what: string): Promise<ImageIndex | undefined> {
    if (res.statusCode === 404) {
      await res.body.dump();
      return undefined;
    }
    return parseImageIndex(await readBodyLimited(await this.ok(res, what), MAX_MANIFEST_BYTES, what));
  }

  /** The response when it is a 2xx; else the registry's spec error code as ours (agent/registry/client.ts `expectStatus`, `spec`). */
  private ok(res: HttpResponse, what: string): Promise<HttpResponse> {
    return expectStatus(res, '2xx', `${this.name}: ${what}`, 'spec');
  }
}
