/** Loopback ports and readiness for tests that start servers as separate processes. */
import { freePort } from '../../scripts/lib/free-port.js';

export { freePort };

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
