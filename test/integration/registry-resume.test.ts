/**
 * A chunked upload (PATCH with Content-Range) interrupted twice: once by a
 * client that drops the connection in the middle of a chunk, once by a
 * server restart. The upload continues from the acknowledged offset and
 * the finished blob has the right digest.
 */
import { randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { startServer, type RunningServer } from '../../server/index.js';
import { blobOf, deviceAuth, operatorAuth, registryServerConfig, tempDir } from '../helpers/registry.js';

/** Sends the headers and `sent` bytes of a body announced as `announced` bytes, then drops the connection. */
async function abortedPatch(url: string, range: string, sent: Buffer, announced: number): Promise<void> {
  await new Promise<void>((resolve) => {
    const req = request(url, { method: 'PATCH', headers: { ...operatorAuth, 'content-range': range, 'content-length': announced } });
    req.on('error', () => {
      resolve();
    });
    req.write(sent, () => {
      // Give the server the bytes, then cut the connection as a lost network would.
      setImmediate(() => {
        req.destroy();
        resolve();
      });
    });
  });
}

async function uploadStatus(base: string, location: string): Promise<{ status: number; range: string | null }> {
  const res = await fetch(`${base}${location}`, { headers: operatorAuth });
  return { status: res.status, range: res.headers.get('range') };
}

/** Polls until the upload's Range header says `expected` (the server finishes an aborted request asynchronously). */
async function waitForRange(base: string, location: string, expected: string): Promise<void> {
  const deadline = Date.now() + 5_000;
  for (let i = 0; i < 200 && Date.now() < deadline; i += 1) {
    const { range } = await uploadStatus(base, location);
    if (range === expected) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  expect((await uploadStatus(base, location)).range).toBe(expected);
}

describe('chunked upload across a dropped connection and a server restart', () => {
  let dir: Awaited<ReturnType<typeof tempDir>>;
  let server: RunningServer | undefined;

  beforeEach(async () => {
    dir = await tempDir('bootfleet-reg-resume-');
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
    await dir.remove();
  });

  it('resumes from the acknowledged offset and finishes with the right digest', async () => {
    const config = registryServerConfig(join(dir.path, 'data'));
    const blob = blobOf(randomBytes(3 * 1024 * 1024 + 17));
    const first = blob.bytes.subarray(0, 1024 * 1024);
    const second = blob.bytes.subarray(1024 * 1024, 2 * 1024 * 1024);
    const third = blob.bytes.subarray(2 * 1024 * 1024);
    server = await startServer(config);

    const started = await fetch(`${server.url}/v2/fleet/os/blobs/uploads/`, { method: 'POST', headers: operatorAuth });
    expect(started.status).toBe(202);
    const location = started.headers.get('location') ?? '';
    const patched = await fetch(`${server.url}${location}`, {
      method: 'PATCH',
      headers: { ...operatorAuth, 'content-range': `0-${first.length - 1}`, 'content-type': 'application/octet-stream' },
      body: first,
    });
    expect(patched.status).toBe(202);
    expect(patched.headers.get('range')).toBe(`0-${first.length - 1}`);

    // The second chunk is cut off halfway: the server must not count it.
    await abortedPatch(`${server.url}${location}`, `${first.length}-${first.length + second.length - 1}`, second.subarray(0, 300_000), second.length);
    await waitForRange(server.url, location, `0-${first.length - 1}`);

    await server.close();
    server = await startServer(config);
    expect(await uploadStatus(server.url, location)).toEqual({ status: 204, range: `0-${first.length - 1}` });

    const outOfOrder = await fetch(`${server.url}${location}`, {
      method: 'PATCH',
      headers: { ...operatorAuth, 'content-range': `${first.length + 10}-${first.length + 19}` },
      body: Buffer.alloc(10),
    });
    expect(outOfOrder.status).toBe(416);
    expect(((await outOfOrder.json()) as { errors: { code: string }[] }).errors[0]?.code).toBe('BLOB_UPLOAD_INVALID');

    const resumed = await fetch(`${server.url}${location}`, {
      method: 'PATCH',
      headers: { ...operatorAuth, 'content-range': `${first.length}-${first.length + second.length - 1}` },
      body: second,
    });
    expect(resumed.status).toBe(202);
    const finished = await fetch(`${server.url}${location}?digest=${blob.digest}`, {
      method: 'PUT',
      headers: { ...operatorAuth, 'content-range': `${first.length + second.length}-${blob.size - 1}` },
      body: third,
    });
    expect(finished.status).toBe(201);
    expect(finished.headers.get('docker-content-digest')).toBe(blob.digest);

    const pulled = await fetch(`${server.url}/v2/fleet/os/blobs/${blob.digest}`, { headers: deviceAuth });
    expect(Buffer.from(await pulled.arrayBuffer()).equals(blob.bytes)).toBe(true);
    expect((await uploadStatus(server.url, location)).status).toBe(404);
  });
});
