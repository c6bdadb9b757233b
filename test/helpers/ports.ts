/** Loopback ports and readiness for tests that start servers as separate processes. */
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

/** Polls `<base>/readyz` until it answers 200; bounded to 15 s and 600 tries. */
export async function waitUntilReady(base: string): Promise<void> {
  const deadline = Date.now() + 15_000;
  for (let i = 0; i < 600 && Date.now() < deadline; i += 1) {
    try {
      if ((await fetch(`${base}/readyz`)).status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`server at ${base} did not come up`);
}
