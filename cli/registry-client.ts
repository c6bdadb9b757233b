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
  verifyDigest,
  type Descriptor,
  type Digest,
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
    const res = await this.request('GET', `/manifests/${target}`, { accept: ACCEPT_MANIFESTS });
    const bytes = await readBounded(res, MAX_MANIFEST_BYTES);
    const digest = expected === undefined ? digestOf(bytes) : verifyDigest(bytes, expected);
    const mediaType = (res.headers.get('content-type') ?? MediaType.ociManifest).split(';')[0]?.trim() ?? MediaType.ociManifest;
    return { bytes, descriptor: { mediaType, digest: digest.value, size: bytes.byteLength } };
  }

  async blob(digest: Digest, maxBytes: number): Promise<Buffer> {
    const res = await this.request('GET', `/blobs/${digest.value}`, {});
    const bytes = await readBounded(res, maxBytes);
    verifyDigest(bytes, digest);
    return bytes;
  }

  async pushBlob(bytes: Buffer): Promise<Digest> {
    const digest = digestOf(bytes);
    await this.request('POST', `/blobs/uploads/?digest=${digest.value}`, { 'content-type': 'application/octet-stream' }, bytes);
    return digest;
  }

  /** PUT by digest; returns the `OCI-Subject` header (absent: the registry does not index referrers). */
  async putManifest(bytes: Buffer, mediaType: string): Promise<string | undefined> {
    const res = await this.request('PUT', `/manifests/${digestOf(bytes).value}`, { 'content-type': mediaType }, bytes);
    await res.arrayBuffer();
    return res.headers.get('oci-subject') ?? undefined;
  }

  async referrers(subject: string, artifactType: string): Promise<Descriptor[]> {
    const res = await this.request('GET', `/referrers/${subject}?artifactType=${encodeURIComponent(artifactType)}`, { accept: MediaType.ociIndex });
    const text = (await readBounded(res, MAX_MANIFEST_BYTES)).toString('utf8');
    const parsed = JSON.parse(text) as { manifests?: unknown };
    return Array.isArray(parsed.manifests) ? (parsed.manifests as Descriptor[]) : [];
  }

  private async request(method: string, path: string, headers: Record<string, string>, body?: Buffer): Promise<Response> {
    const auth: Record<string, string> = this.options.token === undefined ? {} : { authorization: `Bearer ${this.options.token}` };
    let res: Response;
    try {
      res = await fetch(`${this.base}${path}`, { method, headers: { ...headers, ...auth }, ...(body === undefined ? {} : { body }) });
    } catch (error) {
      throw new BootfleetError('BOOTFLEET_INTERNAL', `cannot reach registry ${this.ref.registry}: ${(error as Error).message}`, { cause: error });
    }
    if (res.ok) return res;
    throw await registryFailure(res, `${method} ${this.ref.name}${path.split('?')[0] ?? ''}`);
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
