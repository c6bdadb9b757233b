/**
 * What the Prometheus metrics cost on the HTTP hot path: the same app with
 * and without `/metrics` and its per-request timing hook, answering GET
 * /healthz (the cheapest route, so the hook's share is the largest) over real
 * loopback sockets, in alternating rounds. The figure is CPU time of this
 * process (server and load generator alike) per request, not wall time: on a
 * machine shared with other work, wall-clock throughput swung by +-30% between
 * identical runs, while CPU time per request is what the hook adds. Then the
 * time of one scrape with 10,000 devices counted (docs/control-plane.md, "Metrics").
 *
 *   npm run build && node dist/bench/metrics-overhead.js
 *   BENCH_REQUESTS=5000 BENCH_ROUNDS=15 (short alternating rounds: load from elsewhere hits both alike)
 */
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Pool } from 'undici';
import { generateSigningKey } from '../protocol/index.js';
import { buildApp } from '../server/app.js';
import { ServerMetrics } from '../server/metrics.js';
import { emitResults, median, result } from './harness.js';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? '') || 5_000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? '') || 15;
/** Requests in flight at once, over this many keep-alive connections. */
const CONCURRENCY = 32;

async function startApp(withMetrics: boolean): Promise<{ url: string; close: () => Promise<void> }> {
  const metrics = withMetrics ? { metrics: new ServerMetrics(), public: true } : undefined;
  const app = await buildApp({ signingKey: generateSigningKey('ed25519'), isReady: () => true, ...(metrics === undefined ? {} : { metrics }) });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}`, close: () => app.close() };
}

/** CPU microseconds of this process per request, for `REQUESTS` GETs of /healthz, `CONCURRENCY` at a time. */
async function round(pool: Pool): Promise<number> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < REQUESTS) {
      next += 1;
      const { statusCode, body } = await pool.request({ method: 'GET', path: '/healthz' });
      await body.dump();
      if (statusCode !== 200) throw new Error(`/healthz answered ${statusCode}`);
    }
  };
  const start = process.cpuUsage();
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  const used = process.cpuUsage(start);
  return (used.user + used.system) / REQUESTS;
}

async function scrapeMs(): Promise<number> {
  const metrics = new ServerMetrics();
  metrics.observe({ devices: () => Promise.resolve({ enrolled: 10_000, online: 9_000 }), connectedClients: () => 9_000 });
  const times: number[] = [];
  for (let i = 0; i < 20; i += 1) {
    const start = performance.now();
    await metrics.text();
    times.push(performance.now() - start);
  }
  return median(times);
}

const measured = await startApp(true);
const bare = await startApp(false);
const pools = { measured: new Pool(measured.url, { connections: CONCURRENCY }), bare: new Pool(bare.url, { connections: CONCURRENCY }) };
const ours: number[] = [];
const baseline: number[] = [];
try {
  await round(pools.measured);
  await round(pools.bare);
  for (let i = 0; i < ROUNDS; i += 1) {
    ours.push(await round(pools.measured));
    baseline.push(await round(pools.bare));
  }
} finally {
  await Promise.all([pools.measured.close(), pools.bare.close()]);
  await Promise.all([measured.close(), bare.close()]);
}
const withMetrics = median(ours);
const without = median(baseline);
const scrape = await scrapeMs();
process.stdout.write(`GET /healthz, ${REQUESTS} requests x ${ROUNDS} rounds, ${CONCURRENCY} in flight\n`);
process.stdout.write(`  with metrics     ${withMetrics.toFixed(1)} CPU µs/request\n  without metrics  ${without.toFixed(1)} CPU µs/request\n  ratio            ${(withMetrics / without).toFixed(3)}\n`);
process.stdout.write(`one scrape (process metrics, 10,000 devices counted): ${scrape.toFixed(2)} ms\n`);
emitResults([
  result('HTTP request CPU with metrics (GET /healthz, server and client)', withMetrics, 'µs/request', 'the same app without metrics', without, false, 'target <= 1.1'),
]);
