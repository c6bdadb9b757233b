/**
 * Every benchmark script `npm run bench` runs, in one place. Each is a
 * standalone script (its own process: no benchmark shares a heap or an event
 * loop with another) that ends with `emitResults` (bench/harness.ts). `quick`
 * holds the sizes of a short run (`npm run bench -- --quick`); the defaults are
 * the sizes each script documents.
 */
export interface BenchScript {
  /** What `--only` names. */
  readonly name: string;
  /** The built script, relative to dist/bench/. */
  readonly file: string;
  readonly description: string;
  /** Environment for a quick run (smaller sizes, fewer rounds). */
  readonly quick: Readonly<Record<string, string>>;
}

export const BENCH_SCRIPTS: readonly BenchScript[] = [
  {
    name: 'envelope',
    file: 'envelope.js',
    description: 'verifying a signed desired state against a bare crypto.verify of the same bytes',
    quick: { BENCH_ROUND_MS: '50' },
  },
  {
    name: 'registry-blobs',
    file: 'registry-blobs.js',
    description: 'blob download throughput of the embedded registry against node:http, Distribution and nginx; server RSS under load (docs/registry.md)',
    quick: { BENCH_BLOB_MIB: '64', BENCH_ROUNDS: '2', BENCH_MEMORY_CLIENTS: '4', BENCH_MEMORY_MIB: '128' },
  },
  {
    name: 'agent-content',
    file: 'agent-content.js',
    description: 'agent: bytes on the wire for a 1-of-10-layer update, fetch + unpack against curl | tar -xz, peak RSS (docs/agent-content.md)',
    quick: { BENCH_LAYER_MB: '32', BENCH_RSS_MB: '128' },
  },
  {
    name: 'campaign-fleet',
    file: 'campaign-fleet.js',
    description: 'fleet simulator: campaign start to the last device notified against a bare Mosquitto, report ingestion, server RSS (docs/campaigns.md)',
    quick: { BENCH_DEVICES: '200', BENCH_ROUNDS: '2' },
  },
  {
    name: 'agent-archive',
    file: 'agent-archive.js',
    description: 'agent apply --archive (parse, verify every blob, import) against tar -xf + sha256sum of the same archive (docs/agent-deployment.md)',
    quick: { BENCH_ARCHIVE_MB: '32' },
  },
  {
    name: 'metrics-overhead',
    file: 'metrics-overhead.js',
    description: 'CPU per API request with Prometheus metrics against the same app without them (docs/control-plane.md, "Metrics")',
    quick: { BENCH_REQUESTS: '2000', BENCH_ROUNDS: '3' },
  },
  {
    name: 'agent-recovery',
    file: 'agent-recovery.js',
    description: 'agent: time from a SIGKILL mid-transition to a restarted agent that recovered a consistent state, bundled as shipped and as tsc output, against a bare node start (docs/agent-daemon.md)',
    quick: { BENCH_TRIALS: '7', BENCH_TREE_FILES: '100', BENCH_DAEMON_RESTARTS: '3' },
  },
  {
    name: 'undici-body-rss',
    file: 'undici-body-rss.js',
    description: 'peak RSS of an undici request() GET of a large blob, with and without --liftoff-only, against node:http and a bare node (docs/agent-content.md, "Memory")',
    quick: { BENCH_UNDICI_MB: '256', BENCH_UNDICI_ROUNDS: '1' },
  },
];
