/**
 * The registry over real HTTP on 127.0.0.1: every spec error code produced by
 * a real request, Range, cross-repository mount, the referrers API, deletion
 * behind its switch, anonymous pull, and TOOMANYREQUESTS.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MediaType } from '../../protocol/index.js';
import { blobOf, deviceAuth, imageOf, operatorAuth, pushBlob, pushImage } from '../helpers/registry.js';
import { useRegistryServer } from '../helpers/registry-server.js';

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly code: string | undefined;
  readonly body: Buffer;
}

async function call(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: Buffer | string): Promise<Answer> {
  const res = await fetch(`${base}${path}`, { method, headers, ...(body === undefined ? {} : { body }) });
  const bytes = Buffer.from(await res.arrayBuffer());
  let code: string | undefined;
  if (res.headers.get('content-type')?.startsWith('application/json') === true && bytes.length > 0) {
    code = (JSON.parse(bytes.toString('utf8')) as { errors?: { code: string }[] }).errors?.[0]?.code;
  }
  return { status: res.status, headers: res.headers, code, body: bytes };
}

describe('registry over HTTP', () => {
  const reg = useRegistryServer('bootfleet-reg-http-');

  it('answers each client mistake with the spec error code and status', async () => {
    const layer = blobOf('layer for errors');
    const manifest = await pushImage(reg.url, 'errs', [layer], {}, 'v1');
    const cases: [string, Promise<Answer>, number][] = [
      ['BLOB_UNKNOWN', call(reg.url, 'GET', `/v2/errs/blobs/${blobOf('absent').digest}`, deviceAuth), 404],
      ['BLOB_UPLOAD_UNKNOWN', call(reg.url, 'GET', '/v2/errs/blobs/uploads/00000000-0000-4000-8000-000000000000', operatorAuth), 404],
      ['DIGEST_INVALID', call(reg.url, 'GET', '/v2/errs/blobs/sha256:notadigest', deviceAuth), 400],
      ['MANIFEST_INVALID', call(reg.url, 'PUT', '/v2/errs/manifests/bad', { ...operatorAuth, 'content-type': MediaType.ociManifest }, '{"schemaVersion":2}'), 400],
      ['MANIFEST_BLOB_UNKNOWN', call(reg.url, 'PUT', '/v2/errs/manifests/orphan', operatorAuth, imageOf([blobOf('never pushed')]).manifest.bytes), 400],
      ['MANIFEST_UNKNOWN', call(reg.url, 'GET', '/v2/errs/manifests/nope', deviceAuth), 404],
      ['NAME_INVALID', call(reg.url, 'GET', '/v2/Errs/tags/list', deviceAuth), 400],
      ['NAME_UNKNOWN', call(reg.url, 'GET', '/v2/never/pushed/tags/list', deviceAuth), 404],
      ['UNAUTHORIZED', call(reg.url, 'GET', '/v2/errs/manifests/v1'), 401],
      ['DENIED', call(reg.url, 'POST', '/v2/errs/blobs/uploads/', deviceAuth), 403],
      ['UNSUPPORTED', call(reg.url, 'DELETE', `/v2/errs/manifests/${manifest.digest}`, operatorAuth), 405],
      ['SIZE_INVALID', call(reg.url, 'PUT', '/v2/errs/manifests/huge', operatorAuth, Buffer.alloc(4 * 1024 * 1024 + 1, 32)), 413],
    ];
    for (const [code, answer, status] of cases) {
      const res = await answer;
      expect({ code: res.code, status: res.status }, code).toEqual({ code, status });
    }
    const unauthorized = await call(reg.url, 'GET', '/v2/errs/manifests/v1');
    expect(unauthorized.headers.get('www-authenticate')).toMatch(/^Basic realm="bootfleet-registry"/);
  });

  it('refuses content that does not match its digest and leaves nothing behind', async () => {
    const claimed = blobOf('what the client claims');
    const res = await call(reg.url, 'POST', `/v2/errs/blobs/uploads/?digest=${claimed.digest}`, operatorAuth, 'something else');
    expect({ status: res.status, code: res.code }).toEqual({ status: 400, code: 'DIGEST_INVALID' });
    const blobs = await readdir(join(reg.dir, 'data', 'registry', 'blobs', 'sha256'));
    expect(blobs).not.toContain(claimed.digest.slice(7));
    expect(await readdir(join(reg.dir, 'data', 'registry', 'uploads'))).toEqual([]);
    expect((await call(reg.url, 'HEAD', `/v2/errs/blobs/${claimed.digest}`, deviceAuth)).status).toBe(404);
  });

  it('serves one Range with 206 and Content-Range, and 416 outside the blob', async () => {
    const blob = blobOf(Buffer.from(Array.from({ length: 4096 }, (_, i) => i % 251)));
    await pushBlob(reg.url, 'ranges', blob);
    const part = await call(reg.url, 'GET', `/v2/ranges/blobs/${blob.digest}`, { ...deviceAuth, range: 'bytes=100-199' });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 100-199/4096');
    expect(part.body.equals(blob.bytes.subarray(100, 200))).toBe(true);
    const tail = await call(reg.url, 'GET', `/v2/ranges/blobs/${blob.digest}`, { ...deviceAuth, range: 'bytes=-96' });
    expect(tail.body.equals(blob.bytes.subarray(4000))).toBe(true);
    const outside = await call(reg.url, 'GET', `/v2/ranges/blobs/${blob.digest}`, { ...deviceAuth, range: 'bytes=5000-' });
    expect({ status: outside.status, code: outside.code }).toEqual({ status: 416, code: 'RANGE_INVALID' });
    expect(outside.headers.get('content-range')).toBe('bytes */4096');
    const head = await call(reg.url, 'HEAD', `/v2/ranges/blobs/${blob.digest}`, deviceAuth);
    expect(head.headers.get('content-length')).toBe('4096');
    expect(head.headers.get('etag')).toBe(`"${blob.digest}"`);
    expect(head.headers.get('accept-ranges')).toBe('bytes');
    expect((await call(reg.url, 'GET', `/v2/ranges/blobs/${blob.digest}`, { ...deviceAuth, 'if-none-match': `"${blob.digest}"` })).status).toBe(304);
  });

  it('survives a client that goes away in the middle of a download', async () => {
    const blob = blobOf(Buffer.alloc(5 * 1024 * 1024, 9));
    await pushBlob(reg.url, 'ranges', blob);
    const controller = new AbortController();
    const res = await fetch(`${reg.url}/v2/ranges/blobs/${blob.digest}`, { headers: deviceAuth, signal: controller.signal });
    const reader = res.body?.getReader();
    await reader?.read();
    controller.abort();
    await reader?.cancel().catch(() => undefined);
    const again = await call(reg.url, 'GET', `/v2/ranges/blobs/${blob.digest}`, { ...deviceAuth, range: 'bytes=-10' });
    expect(again.status).toBe(206);
    expect(again.body.equals(blob.bytes.subarray(blob.size - 10))).toBe(true);
  });

  it('mounts a blob from another repository, and starts an upload when the source lacks it', async () => {
    const blob = blobOf('shared layer');
    await pushBlob(reg.url, 'mount/src', blob);
    const mounted = await call(reg.url, 'POST', `/v2/mount/dst/blobs/uploads/?mount=${blob.digest}&from=mount/src`, operatorAuth);
    expect(mounted.status).toBe(201);
    expect(mounted.headers.get('docker-content-digest')).toBe(blob.digest);
    expect((await call(reg.url, 'HEAD', `/v2/mount/dst/blobs/${blob.digest}`, deviceAuth)).status).toBe(200);
    const fallback = await call(reg.url, 'POST', `/v2/mount/dst/blobs/uploads/?mount=${blobOf('elsewhere').digest}&from=mount/src`, operatorAuth);
    expect(fallback.status).toBe(202);
    expect(fallback.headers.get('location')).toMatch(/^\/v2\/mount\/dst\/blobs\/uploads\/[0-9a-f-]{36}$/);
    expect((await call(reg.url, 'DELETE', fallback.headers.get('location') ?? '', operatorAuth)).status).toBe(204);
  });

  it('lists referrers of a subject, filtered by artifactType', async () => {
    const subject = await pushImage(reg.url, 'refs', [blobOf('subject layer')], {}, 'v1');
    const descriptor = { mediaType: MediaType.ociManifest, digest: subject.digest, size: subject.size };
    const empty = blobOf('{}');
    await pushBlob(reg.url, 'refs', empty);
    const pushed: string[] = [];
    for (const artifactType of ['application/vnd.example.sbom', 'application/vnd.example.signature']) {
      const artifact = blobOf(JSON.stringify({
        schemaVersion: 2,
        mediaType: MediaType.ociManifest,
        artifactType,
        config: { mediaType: MediaType.ociEmpty, digest: empty.digest, size: empty.size },
        layers: [{ mediaType: MediaType.ociEmpty, digest: empty.digest, size: empty.size }],
        subject: descriptor,
        annotations: { 'org.example.kind': artifactType },
      }));
      const res = await call(reg.url, 'PUT', `/v2/refs/manifests/${artifact.digest}`, { ...operatorAuth, 'content-type': MediaType.ociManifest }, artifact.bytes);
      expect(res.status).toBe(201);
      expect(res.headers.get('oci-subject')).toBe(subject.digest);
      pushed.push(artifact.digest);
    }
    const all = await call(reg.url, 'GET', `/v2/refs/referrers/${subject.digest}`, deviceAuth);
    expect(all.headers.get('content-type')).toBe(MediaType.ociIndex);
    const index = JSON.parse(all.body.toString()) as { manifests: { digest: string; artifactType: string; annotations: Record<string, string> }[] };
    expect(index.manifests.map((m) => m.digest).sort()).toEqual([...pushed].sort());
    const filtered = await call(reg.url, 'GET', `/v2/refs/referrers/${subject.digest}?artifactType=application/vnd.example.signature`, deviceAuth);
    expect(filtered.headers.get('oci-filters-applied')).toBe('artifactType');
    const only = JSON.parse(filtered.body.toString()) as typeof index;
    expect(only.manifests).toHaveLength(1);
    expect(only.manifests[0]).toMatchObject({ artifactType: 'application/vnd.example.signature', annotations: { 'org.example.kind': 'application/vnd.example.signature' } });
    const none = await call(reg.url, 'GET', `/v2/refs/referrers/${blobOf('no such subject').digest}`, deviceAuth);
    expect(JSON.parse(none.body.toString())).toEqual({ schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [] });
  });
});

describe('registry settings: anonymous pull, deletion, upload session limit', () => {
  const reg = useRegistryServer('bootfleet-reg-settings-', { anonymousPull: true, allowDelete: true, maxUploadSessions: 2 });

  it('lets anyone pull but only an operator push', async () => {
    const manifest = await pushImage(reg.url, 'open', [blobOf('public layer')], {}, 'v1');
    const pulled = await call(reg.url, 'GET', '/v2/open/manifests/v1');
    expect(pulled.status).toBe(200);
    expect(pulled.headers.get('docker-content-digest')).toBe(manifest.digest);
    expect((await call(reg.url, 'POST', '/v2/open/blobs/uploads/')).status).toBe(401);
  });

  it('deletes tags and manifests when deletion is on', async () => {
    const manifest = await pushImage(reg.url, 'del', [blobOf('to delete')], {}, 'v1');
    expect((await call(reg.url, 'DELETE', '/v2/del/manifests/v1', operatorAuth)).status).toBe(202);
    expect((await call(reg.url, 'GET', '/v2/del/manifests/v1')).status).toBe(404);
    expect((await call(reg.url, 'GET', `/v2/del/manifests/${manifest.digest}`)).status).toBe(200);
    expect((await call(reg.url, 'DELETE', `/v2/del/manifests/${manifest.digest}`, operatorAuth)).status).toBe(202);
    expect((await call(reg.url, 'GET', `/v2/del/manifests/${manifest.digest}`)).code).toBe('MANIFEST_UNKNOWN');
  });

  it('answers TOOMANYREQUESTS when too many uploads are open', async () => {
    const statuses: number[] = [];
    let last: Answer | undefined;
    for (let i = 0; i < 3; i += 1) {
      last = await call(reg.url, 'POST', '/v2/busy/blobs/uploads/', operatorAuth);
      statuses.push(last.status);
    }
    expect(statuses).toEqual([202, 202, 429]);
    expect(last?.code).toBe('TOOMANYREQUESTS');
  });
});
