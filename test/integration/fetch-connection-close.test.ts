/**
 * A server that writes a whole response with `Connection: close` and closes
 * the socket at once, so the FIN can arrive while the agent is still writing
 * the body: the situation in which undici 7 crashes the process when its
 * parser is paused (nodejs/undici#5360; timing-dependent, not reproduced
 * deterministically here). The agent never pauses a body (transfer.ts); these
 * tests check the blob arrives, at full speed and under a bandwidth cap,
 * which the agent applies between range requests.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ContentStore, downloadBlob, RegistryClient } from '../../agent/index.js';
import { digestOf, MediaType } from '../../protocol/index.js';

const blob = randomBytes(6 * 1024 * 1024);
const digest = digestOf(blob);
let server: Server;
let host: string;
let work: string;
let requests = 0;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'bf-close-'));
  server = createServer((socket) => {
    socket.once('data', (data: Buffer) => {
      requests++;
      const range = /range: bytes=(\d+)-(\d*)/i.exec(data.toString('latin1'));
      const start = range === null ? 0 : Number(range[1]);
      const end = range === null || range[2] === '' ? blob.length : Number(range[2]) + 1;
      const status = range === null ? '200 OK' : '206 Partial Content';
      const extra = range === null ? '' : `Content-Range: bytes ${start}-${end - 1}/${blob.length}\r\n`;
      socket.write(`HTTP/1.1 ${status}\r\nContent-Length: ${end - start}\r\n${extra}Connection: close\r\n\r\n`);
      socket.end(blob.subarray(start, end));
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  host = `127.0.0.1:${address.port}`;
});
afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => { resolve(); }));
  rmSync(work, { recursive: true, force: true });
});

describe('a server that closes the connection right after the body', () => {
  for (const cap of [undefined, 4 * 1024 * 1024]) {
    it(`delivers the blob ${cap === undefined ? 'at full speed' : 'under a bandwidth cap'}`, async () => {
      const store = await ContentStore.open(join(work, String(cap)));
      const client = new RegistryClient(host);
      try {
        const descriptor = { mediaType: MediaType.ociLayerTar, digest: digest.value, size: blob.length };
        const result = await downloadBlob({ client, repository: 'x/y' }, store, descriptor, cap === undefined ? {} : { bandwidthBytesPerSecond: cap });
        expect(result.wireBytes).toBe(blob.length);
        expect(await store.has(descriptor)).toBe(true);
      } finally {
        await client.close();
      }
    });
  }
  it('used range requests under the cap', () => {
    expect(requests).toBeGreaterThanOrEqual(3);
  });
});
