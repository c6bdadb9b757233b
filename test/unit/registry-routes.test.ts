import { Level } from 'level';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { generateSigningKey, MediaType } from '../../protocol/index.js';
import { buildApp } from '../../server/app.js';
import { parseRegistryPath } from '../../server/registry/names.js';
import { openRegistry } from '../../server/registry/index.js';
import { parseRange } from '../../server/registry/routes/blobs.js';
import { parseContentRange } from '../../server/registry/routes/uploads.js';
import { blobOf, deviceAuth, imageOf, operatorAuth, registryServerConfig, tempDir, type Blob } from '../helpers/registry.js';

describe('registry path parsing', () => {
  it('reads names with slashes from the end of the path', () => {
    expect(parseRegistryPath('/v2/')).toEqual({ kind: 'base' });
    expect(parseRegistryPath('/v2/a/b/c/manifests/latest')).toEqual({ kind: 'manifest', name: 'a/b/c', reference: 'latest' });
    expect(parseRegistryPath('/v2/a/blobs/uploads/')).toEqual({ kind: 'upload-start', name: 'a' });
    expect(parseRegistryPath('/v2/x/blobs/uploads/123')).toEqual({ kind: 'upload', name: 'x', id: '123' });
    expect(parseRegistryPath('/v2/x/tags/list')).toEqual({ kind: 'tags', name: 'x' });
    expect(parseRegistryPath('/v2/x/referrers/sha256%3Aab')).toEqual({ kind: 'referrers', name: 'x', digest: 'sha256:ab' });
  });
  it('refuses names outside the spec grammar and unknown endpoints', () => {
    expect(() => parseRegistryPath('/v2/Upper/tags/list')).toThrow(expect.objectContaining({ code: 'BOOTFLEET_REGISTRY_NAME_INVALID' }));
    expect(() => parseRegistryPath('/v2/a//b/tags/list')).toThrow(expect.objectContaining({ code: 'BOOTFLEET_REGISTRY_NAME_INVALID' }));
    expect(() => parseRegistryPath('/v2/a/whatever')).toThrow(expect.objectContaining({ code: 'BOOTFLEET_REGISTRY_NAME_UNKNOWN' }));
  });
});

describe('Range and Content-Range parsing', () => {
  it('takes one byte range and clips it', () => {
    expect(parseRange('bytes=0-9', 100)).toEqual({ start: 0, end: 9 });
    expect(parseRange('bytes=90-', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=-10', 100)).toEqual({ start: 90, end: 99 });
    expect(parseRange('bytes=50-500', 100)).toEqual({ start: 50, end: 99 });
    expect(parseRange('bytes=0-1,5-6', 100)).toBeUndefined();
    expect(() => parseRange('bytes=100-', 100)).toThrow(expect.objectContaining({ code: 'BOOTFLEET_REGISTRY_RANGE_UNSATISFIABLE' }));
  });
  it('reads chunk ranges in the spec form', () => {
    expect(parseContentRange('0-99', '100')).toEqual({ start: 0, end: 99 });
    expect(() => parseContentRange('0-99', '50')).toThrow(expect.objectContaining({ code: 'BOOTFLEET_REGISTRY_SIZE_INVALID' }));
    expect(() => parseContentRange('x', undefined)).toThrow(expect.objectContaining({ code: 'BOOTFLEET_REGISTRY_BLOB_UPLOAD_INVALID' }));
  });
});

describe('registry routes through app.inject', () => {
  let app: FastifyInstance;
  let db: Level;
  let dir: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    dir = await tempDir('bootfleet-reg-unit-');
    db = new Level<string, string>(`${dir.path}/state`, { valueEncoding: 'utf8' });
    await db.open();
    const registry = await openRegistry(registryServerConfig(dir.path, { allowDelete: true }), db);
    app = await buildApp({ signingKey: generateSigningKey('ecdsa-p256'), isReady: () => true, registry });
  });
  afterAll(async () => {
    await app.close();
    await db.close();
    await dir.remove();
  });

  /** A monolithic blob upload (distribution spec, "Single POST") as an operator, the body sent as `contentType`. */
  const postBlob = (repo: string, blob: Blob, contentType: string): Promise<LightMyRequestResponse> =>
    app.inject({ method: 'POST', url: `/v2/${repo}/blobs/uploads/?digest=${blob.digest}`, headers: { ...operatorAuth, 'content-type': contentType }, payload: blob.bytes });

  it('challenges a caller without credentials and accepts Bearer and Basic tokens', async () => {
    const anonymous = await app.inject({ method: 'GET', url: '/v2/' });
    expect(anonymous.statusCode).toBe(401);
    expect(anonymous.headers['www-authenticate']).toMatch(/^Basic realm=/);
    expect(anonymous.json()).toMatchObject({ errors: [{ code: 'UNAUTHORIZED' }] });
    expect((await app.inject({ method: 'GET', url: '/v2/', headers: operatorAuth })).statusCode).toBe(200);
    expect((await app.inject({ method: 'GET', url: '/v2/', headers: deviceAuth })).statusCode).toBe(200);
    const wrong = await app.inject({ method: 'GET', url: '/v2/', headers: { authorization: 'Bearer nope' } });
    expect(wrong.statusCode).toBe(401);
  });

  it('answers 404 for reading a reference that cannot be a tag, 400 for pushing one (conformance suite)', async () => {
    const read = await app.inject({ method: 'GET', url: '/v2/r/manifests/.INVALID_MANIFEST_NAME', headers: deviceAuth });
    expect(read.statusCode).toBe(404);
    expect(read.json()).toMatchObject({ errors: [{ code: 'MANIFEST_UNKNOWN' }] });
    const push = await app.inject({ method: 'PUT', url: '/v2/r/manifests/.bad', headers: operatorAuth, payload: '{}' });
    expect(push.json()).toMatchObject({ errors: [{ code: 'NAME_INVALID' }] });
  });

  it('refuses a push with a device token (DENIED)', async () => {
    const res = await app.inject({ method: 'POST', url: '/v2/r/blobs/uploads/', headers: deviceAuth });
    expect(res.statusCode).toBe(403);
    expect(res.json()).toMatchObject({ errors: [{ code: 'DENIED' }] });
  });

  it('pushes a blob monolithically and serves it whole, by range and by HEAD', async () => {
    const blob = blobOf('hello registry');
    const put = await postBlob('r', blob, 'application/octet-stream');
    expect(put.statusCode).toBe(201);
    expect(put.headers['docker-content-digest']).toBe(blob.digest);
    const whole = await app.inject({ method: 'GET', url: `/v2/r/blobs/${blob.digest}`, headers: deviceAuth });
    expect(whole.statusCode).toBe(200);
    expect(whole.rawPayload.equals(blob.bytes)).toBe(true);
    expect(whole.headers['accept-ranges']).toBe('bytes');
    expect(whole.headers.etag).toBe(`"${blob.digest}"`);
    const part = await app.inject({ method: 'GET', url: `/v2/r/blobs/${blob.digest}`, headers: { ...deviceAuth, range: 'bytes=6-' } });
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-range']).toBe(`bytes 6-13/14`);
    expect(part.body).toBe('registry');
    const head = await app.inject({ method: 'HEAD', url: `/v2/r/blobs/${blob.digest}`, headers: deviceAuth });
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe('14');
    expect(head.body).toBe('');
  });

  it('accepts a JSON body as a blob (no Fastify JSON parsing on registry routes)', async () => {
    const blob = blobOf('{"not":"parsed"}');
    const put = await postBlob('r', blob, 'application/json');
    expect(put.statusCode).toBe(201);
  });

  it('stores a manifest, lists tags with pagination, refuses missing blobs', async () => {
    const layer = blobOf('layer');
    const image = imageOf([layer]);
    for (const blob of [layer, image.config]) {
      const res = await app.inject({ method: 'POST', url: `/v2/img/blobs/uploads/?digest=${blob.digest}`, headers: operatorAuth, payload: blob.bytes });
      expect(res.statusCode).toBe(201);
    }
    for (const tag of ['b', 'a', 'c']) {
      const res = await app.inject({
        method: 'PUT',
        url: `/v2/img/manifests/${tag}`,
        headers: { ...operatorAuth, 'content-type': MediaType.ociManifest },
        payload: image.manifest.bytes,
      });
      expect(res.statusCode).toBe(201);
      expect(res.headers['docker-content-digest']).toBe(image.manifest.digest);
    }
    const page = await app.inject({ method: 'GET', url: '/v2/img/tags/list?n=2', headers: deviceAuth });
    expect(page.json()).toEqual({ name: 'img', tags: ['a', 'b'] });
    expect(page.headers.link).toBe('</v2/img/tags/list?n=2&last=b>; rel="next"');
    const rest = await app.inject({ method: 'GET', url: '/v2/img/tags/list?n=2&last=b', headers: deviceAuth });
    expect(rest.json()).toEqual({ name: 'img', tags: ['c'] });
    const get = await app.inject({ method: 'GET', url: '/v2/img/manifests/a', headers: deviceAuth });
    expect(get.headers['content-type']).toBe(MediaType.ociManifest);
    expect(get.rawPayload.equals(image.manifest.bytes)).toBe(true);
    const orphan = imageOf([blobOf('never pushed')]);
    const bad = await app.inject({ method: 'PUT', url: '/v2/img/manifests/x', headers: operatorAuth, payload: orphan.manifest.bytes });
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ errors: [{ code: 'MANIFEST_BLOB_UNKNOWN' }] });
  });
});
