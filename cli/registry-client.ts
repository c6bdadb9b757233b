/**
 * A small OCI Distribution client for the CLI (image sign/verify). Every
 * answer is hostile input: bodies are bounded, manifests and blobs are checked
 * against the digest they were fetched by before anything reads them.
 */
import {
  BootfleetError,
  digestOf,
  MAX_MANIFEST_BYTES,
  MediaType,
  registryErrorCode,
  parseImageIndex,
  verifyDigest,
  type Descriptor,
  type Digest,
  type ImageIndex,
  type ImageReference,
} from '../protocol/index.js';

export interface RegistryClientOptions {
  readonly token?: string;
  /** http:// instead of https:// (loopback and tests). */
  readonly plainHttp: boolean;
}

const ACCEPT_MANIFESTS = [MediaType.ociManifest, MediaType.ociIndex, MediaType.dockerManifest, MediaType.dockerManifestList].join(', ');

export interface FetchedManifest {
  readonly bytes: Buffer;
  readonly descriptor: { mediaType: string; digest: string; size: number };
}

export class RegistryClient {
  private readonly base: string;

  constructor(
    private readonly ref: Pick<ImageReference, 'registry' | 'name'>,
    private readonly options: RegistryClientOptions,
  ) {
    this.base = `${options.plainHttp ? 'http' : 'https'}://${ref.registry}/v2/${ref.name}`;
  }

  /** Fetches a manifest by tag or digest; by digest, the bytes must hash to it. */
  async manifest(target: string, expected?: Digest): Promise<FetchedManifest> {
    const res = await this.request('GET', `${this.base}/manifests/${target}`, { accept: ACCEPT_MANIFESTS });
    const bytes = await readBounded(res, MAX_MANIFEST_BYTES);
    const digest = expected === undefined ? digestOf(bytes) : verifyDigest(bytes, expected);
    const mediaType = (res.headers.get('content-type') ?? MediaType.ociManifest).split(';')[0]?.trim() ?? MediaType.ociManifest;
    return { bytes, descriptor: { mediaType, digest: digest.value, size: bytes.byteLength } };
  }

  async blob(digest: Digest, maxBytes: number): Promise<Buffer> {
    const res = await this.request('GET', `${this.base}/blobs/${digest.value}`, {});
    const bytes = await readBounded(res, maxBytes);
    verifyDigest(bytes, digest);
    return bytes;
  }

  /** POST then PUT with the digest (distribution spec, "POST then PUT"): the upload every registry supports. */
  async pushBlob(bytes: Buffer): Promise<Digest> {
    const digest = digestOf(bytes);
    const started = await this.request('POST', `${this.base}/blobs/uploads/`, {});
    await started.arrayBuffer();
    const location = started.headers.get('location');
    if (location === null) throw new BootfleetError('BOOTFLEET_INTERNAL', `registry ${this.ref.registry} started an upload without a Location`);
    // Location may be absolute (Distribution) or a path (bootfleet); it may carry its own query.
    const url = new URL(location, this.base);
    url.searchParams.set('digest', digest.value);
    const res = await this.request('PUT', url.toString(), { 'content-type': 'application/octet-stream' }, bytes);
    await res.arrayBuffer();
    return digest;
  }

  /** PUT by digest, or by `tag`; returns the `OCI-Subject` header (absent: the registry does not index referrers). */
  async putManifest(bytes: Buffer, mediaType: string, tag?: string): Promise<string | undefined> {
    const res = await this.request('PUT', `${this.base}/manifests/${tag ?? digestOf(bytes).value}`, { 'content-type': mediaType }, bytes);
    await res.arrayBuffer();
    return res.headers.get('oci-subject') ?? undefined;
  }

  /** The referrers API; undefined when the registry does not have it (404, as Distribution 2.8 answers). */
  async referrers(subject: string, artifactType: string): Promise<Descriptor[] | undefined> {
    const url = `${this.base}/referrers/${subject}?artifactType=${encodeURIComponent(artifactType)}`;
    const res = await this.send('GET', url, { accept: MediaType.ociIndex });
    if (res.status === 404) {
      await res.arrayBuffer();
      return undefined;
    }
    if (!res.ok) throw await registryFailure(res, `GET ${this.ref.name}/referrers`);
    return parseImageIndex(await readBounded(res, MAX_MANIFEST_BYTES)).manifests;
  }

  /** An image index by tag (the referrers tag schema), undefined when the tag does not exist. */
  async indexByTag(tag: string): Promise<ImageIndex | undefined> {
    const res = await this.send('GET', `${this.base}/manifests/${tag}`, { accept: MediaType.ociIndex });
    if (res.status === 404) {
      await res.arrayBuffer();
      return undefined;
    }
    if (!res.ok) throw await registryFailure(res, `GET ${this.ref.name}/manifests/${tag}`);
    return parseImageIndex(await readBounded(res, MAX_MANIFEST_BYTES));
  }

  private async request(method: string, url: string, headers: Record<string, string>, body?: Buffer): Promise<Response> {
    const res = await this.send(method, url, headers, body);
    if (res.ok) return res;
    throw await registryFailure(res, `${method} ${new URL(url).pathname}`);
  }

  private async send(method: string, url: string, headers: Record<string, string>, body?: Buffer): Promise<Response> {
    const auth: Record<string, string> = this.options.token === undefined ? {} : { authorization: `Bearer ${this.options.token}` };
    try {
      return await fetch(url, { method, headers: { ...headers, ...auth }, ...(body === undefined ? {} : { body }) });
    } catch (error) {
      throw new BootfleetError('BOOTFLEET_INTERNAL', `cannot reach registry ${this.ref.registry}: ${(error as Error).message}`, { cause: error });
    }
  }
}

async function registryFailure(res: Response, what: string): Promise<BootfleetError> {
  let specCode = '';
  try {
    const body = JSON.parse((await readBounded(res, 64 * 1024)).toString('utf8')) as { errors?: { code?: unknown }[] };
    specCode = typeof body.errors?.[0]?.code === 'string' ? body.errors[0].code : '';
  } catch {
    // not a spec error body; the status says enough
  }
  const code = registryErrorCode(specCode) ?? 'BOOTFLEET_INTERNAL';
  return new BootfleetError(code, `${what}: registry answered ${res.status} ${specCode}`.trim(), { details: { status: res.status, specCode } });
}

async function readBounded(res: Response, limit: number): Promise<Buffer> {
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > limit) throw new BootfleetError('BOOTFLEET_MESSAGE_TOO_LARGE', `registry answer of ${declared} bytes exceeds ${limit}`);
  const chunks: Buffer[] = [];
  let size = 0;
  if (res.body === null) return Buffer.alloc(0);
  for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
    size += chunk.byteLength;
    if (size > limit) throw new BootfleetError('BOOTFLEET_MESSAGE_TOO_LARGE', `registry answer exceeds ${limit} bytes`);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}
