/** Shared by the demo, the benchmarks and the tests: one way to pick a loopback port for a child process. */
import { createServer } from 'node:net';

/** A port free on 127.0.0.1 right now (for a child process that cannot listen on port 0 and report it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        resolve(typeof address === 'object' && address !== null ? address.port : 0);
      });
    });
  });
}
