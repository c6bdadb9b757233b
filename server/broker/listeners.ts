/**
 * Network listeners of the embedded broker: TCP, TLS and WebSocket. Each
 * accepted connection passes the per-address cap, then the packet guard,
 * and only then reaches aedes.
 */
import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { createServer as createHttpServer, type IncomingMessage } from 'node:http';
import { readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { WebSocketServer, createWebSocketStream } from 'ws';
import type { BrokerConfig } from './config.js';
import { guardConnection, type GuardRejection, type PacketLimits } from './packet-guard.js';

export interface ConnectionSink {
  readonly limits: PacketLimits;
  readonly maxConnectionsPerAddress: number;
  /** Hands a guarded connection to the broker. */
  handle(connection: Duplex, request?: IncomingMessage): void;
  /** See `GuardOptions.onPuback`. */
  readonly onPuback?: (connection: Duplex) => boolean;
  onReject(reason: GuardRejection | 'too-many-connections'): void;
}

export interface Listeners {
  readonly tcp?: AddressInfo;
  readonly tls?: AddressInfo;
  readonly ws?: AddressInfo;
  close(): Promise<void>;
}

/** Counts open connections per remote address. */
class AddressCounter {
  private readonly open = new Map<string, number>();

  /** Takes a slot for `address`, or returns false when it has none left. */
  acquire(address: string, max: number): boolean {
    const count = this.open.get(address) ?? 0;
    if (count >= max) return false;
    this.open.set(address, count + 1);
    return true;
  }

  release(address: string): void {
    const count = (this.open.get(address) ?? 1) - 1;
    if (count <= 0) this.open.delete(address);
    else this.open.set(address, count);
  }
}

export async function startListeners(config: BrokerConfig, sink: ConnectionSink): Promise<Listeners> {
  const counter = new AddressCounter();
  const servers: { close(cb: () => void): unknown }[] = [];
  const sockets = new Set<Duplex>();
  const admit = (socket: Socket, stream: Duplex, request?: IncomingMessage, identity?: string): void => {
    const address = socket.remoteAddress ?? 'unknown';
    if (!counter.acquire(address, sink.maxConnectionsPerAddress)) {
      sink.onReject('too-many-connections');
      socket.destroy();
      return;
    }
    sockets.add(stream);
    socket.once('close', () => {
      counter.release(address);
      sockets.delete(stream);
    });
    guardConnection(stream, {
      limits: sink.limits,
      onReject: (reason) => {
        sink.onReject(reason);
      },
      identity,
      ...(sink.onPuback === undefined ? {} : { onPuback: sink.onPuback }),
    });
    sink.handle(stream, request);
  };
  const result: { tcp?: AddressInfo; tls?: AddressInfo; ws?: AddressInfo } = {};
  if (config.tcp !== undefined) {
    const server = createTcpServer((socket) => {
      admit(socket, socket);
    });
    servers.push(server);
    result.tcp = await listen(server, config.tcp.host, config.tcp.port);
  }
  if (config.tls !== undefined) {
    const tls = config.tls;
    const [cert, key, ca] = await Promise.all([readFile(tls.certFile), readFile(tls.keyFile), tls.caFile === undefined ? undefined : readFile(tls.caFile)]);
    // requestCert without rejectUnauthorized: a device may use a client certificate or a password.
    const server = createTlsServer({ cert, key, ca, requestCert: ca !== undefined, rejectUnauthorized: false }, (socket) => {
      admit(socket, socket, undefined, certificateIdentity(socket));
    });
    servers.push(server);
    result.tls = await listen(server, tls.host, tls.port);
  }
  if (config.ws !== undefined) {
    const http = createHttpServer((_request, response) => {
      response.writeHead(404).end();
    });
    const wss = new WebSocketServer({ server: http, path: '/mqtt', maxPayload: sink.limits.maxPacketBytes });
    wss.on('connection', (socket, request) => {
      admit(request.socket, createWebSocketStream(socket), request);
    });
    servers.push(wss, http);
    result.ws = await listen(http, config.ws.host, config.ws.port);
  }
  return {
    ...result,
    async close() {
      for (const stream of sockets) stream.destroy();
      await Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => { resolve(); }))));
    },
  };
}

/** The common name of a client certificate that chains to the configured CA, if any. */
function certificateIdentity(socket: TLSSocket): string | undefined {
  if (!socket.authorized) return undefined;
  const subject = socket.getPeerCertificate().subject as Record<string, string | string[] | undefined> | undefined;
  const cn = subject?.CN;
  return typeof cn === 'string' ? cn : undefined;
}

function listen(server: Server, host: string, port: number): Promise<AddressInfo> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server.address() as AddressInfo);
    });
  });
}
