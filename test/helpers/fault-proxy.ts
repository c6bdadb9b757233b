/**
 * A fault-injecting TCP proxy on 127.0.0.1 between the agent and a registry.
 * Faults apply to the server-to-client direction of each connection: cut
 * after N bytes, stall (stop forwarding, keep the socket open), throttle,
 * flip one byte, reset. Bytes forwarded to clients are counted, per
 * connection and in total, so tests can assert what crossed the "link".
 */
import { createServer, connect, type Server, type Socket } from 'node:net';

export interface Faults {
  /** Close each connection after it forwarded this many bytes to the client. */
  cutEveryBytes?: number;
  /** Stop forwarding (socket stays open) after this many bytes on a connection. */
  stallAfterBytes?: number;
  /** Forward at most this many bytes per second per connection. */
  throttleBytesPerSecond?: number;
  /** Flip the byte at this offset of the total server-to-client stream (once). */
  flipByteAt?: number;
  /** Reset (RST) each connection after this many bytes. */
  resetAfterBytes?: number;
}

export interface FaultProxy {
  readonly host: string;
  /** Bytes forwarded to clients so far, all connections together. */
  bytesToClients(): number;
  connections(): number;
  /** Change the faults for connections from now on (and running ones, for stall/throttle). */
  setFaults(faults: Faults): void;
  close(): Promise<void>;
}

export async function startFaultProxy(upstreamHost: string, initial: Faults = {}): Promise<FaultProxy> {
  const [host, portText] = upstreamHost.split(':');
  let faults: Faults = { ...initial };
  let total = 0;
  let count = 0;
  let flipped = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    count++;
    const upstream = connect(Number(portText), host ?? '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    let sent = 0;
    let stalled = false;
    const kill = (): void => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', kill);
    upstream.on('error', kill);
    client.on('close', kill);
    upstream.on('close', () => client.end());
    client.pipe(upstream);
    upstream.on('data', (data: Buffer) => {
      if (stalled) return;
      let chunk = data;
      const limits = [faults.cutEveryBytes, faults.stallAfterBytes, faults.resetAfterBytes].filter((n): n is number => n !== undefined);
      const limit = limits.length > 0 ? Math.min(...limits) : Infinity;
      if (sent + chunk.length > limit) chunk = chunk.subarray(0, Math.max(0, limit - sent));
      if (faults.flipByteAt !== undefined && !flipped && total <= faults.flipByteAt && faults.flipByteAt < total + chunk.length) {
        chunk = Buffer.from(chunk);
        const at = faults.flipByteAt - total;
        chunk[at] = (chunk[at] ?? 0) ^ 0xff;
        flipped = true;
      }
      sent += chunk.length;
      total += chunk.length;
      if (chunk.length > 0) client.write(chunk);
      if (sent >= limit) {
        if (faults.stallAfterBytes !== undefined && sent >= faults.stallAfterBytes) {
          stalled = true;
          upstream.pause();
        } else if (faults.resetAfterBytes !== undefined && sent >= faults.resetAfterBytes) {
          client.resetAndDestroy();
          upstream.destroy();
        } else {
          kill();
        }
        return;
      }
      const rate = faults.throttleBytesPerSecond;
      if (rate !== undefined) {
        upstream.pause();
        setTimeout(() => upstream.resume(), (chunk.length / rate) * 1000);
      }
    });
  });
  server.on('connection', (socket) => {
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no address');
  return {
    host: `127.0.0.1:${address.port}`,
    bytesToClients: () => total,
    connections: () => count,
    setFaults: (next) => {
      faults = { ...next };
    },
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => { resolve(); }));
    },
  };
}
