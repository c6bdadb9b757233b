/** Request bodies on registry routes: never parsed by Fastify, read here as streams or bounded buffers. */
import type { IncomingMessage } from 'node:http';
import { registryError } from './errors.js';
import type { BlobByteMeter } from './registry.js';

/** Reads a whole body that must stay under `limit` bytes (manifests); refuses early on Content-Length. */
export async function readBounded(raw: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(raw.headers['content-length'] ?? '0');
  if (declared > limit) throw registryError('BOOTFLEET_REGISTRY_TOO_LARGE', `body of ${declared} bytes exceeds ${limit}`, { limit });
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of raw as AsyncIterable<Buffer>) {
    size += chunk.byteLength;
    if (size > limit) throw registryError('BOOTFLEET_REGISTRY_TOO_LARGE', `body exceeds ${limit} bytes`, { limit });
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

/** The body as a stream of chunks, for blobs (never buffered); each chunk is counted when `meter` is given. */
export function bodyStream(raw: IncomingMessage, meter?: BlobByteMeter): AsyncIterable<Uint8Array> {
  const source = raw as AsyncIterable<Uint8Array>;
  return meter === undefined ? source : counted(source, meter);
}

async function* counted(source: AsyncIterable<Uint8Array>, meter: BlobByteMeter): AsyncIterable<Uint8Array> {
  for await (const chunk of source) {
    meter.blobBytes('received', chunk.byteLength);
    yield chunk;
  }
}
