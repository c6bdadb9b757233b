/**
 * Issue #5 (daemon idle RSS): the daemon's start-up module graph leaves the
 * sigstore libraries out (~9 MiB, docs/agent-daemon.md "Memory"); they load at
 * the first signed envelope, which still verifies. A fresh node process imports
 * the built daemon (dist/, as `bootfleet agent run` does) and reports which
 * sigstore packages its require cache holds before and after one envelope.
 */
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const DIST = fileURLToPath(new URL('../../dist/', import.meta.url));

const SCRIPT = `
import { createRequire } from 'node:module';
const cache = createRequire(import.meta.url).cache;
const sigstore = () => [...new Set(Object.keys(cache).flatMap((k) => /node_modules\\/(@sigstore\\/[^/]+)/.exec(k)?.[1] ?? []))].sort();
await import(${JSON.stringify(`${DIST}agent/daemon/run-managed.js`)});
const p = await import(${JSON.stringify(`${DIST}protocol/index.js`)});
const atStart = sigstore();
const key = p.generateSigningKey('ed25519');
const keys = new p.TrustedKeys([key]);
const bundle = p.signEnvelope(Buffer.from('{}'), 'application/json', key);
const opened = p.openEnvelope(JSON.stringify(bundle), { keys, payloadType: 'application/json', maxBytes: 65536 });
let tamperedCode;
try {
  p.openEnvelope(JSON.stringify({ ...bundle, dsseEnvelope: { ...bundle.dsseEnvelope, payload: Buffer.from('{"a":1}').toString('base64') } }), { keys, payloadType: 'application/json', maxBytes: 65536 });
} catch (error) { tamperedCode = error.code; }
console.log(JSON.stringify({ atStart, afterEnvelope: sigstore(), payload: opened.payload.toString('utf8'), tamperedCode }));
`;

describe('agent daemon start-up modules (issue #5)', () => {
  it('loads sigstore at the first envelope, not at start-up, and still verifies', async () => {
    const { stdout } = await run(process.execPath, ['--input-type=module', '-e', SCRIPT], { cwd: DIST, timeout: 30_000 });
    const report = JSON.parse(stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
    expect(report.atStart).toEqual([]);
    expect(report.afterEnvelope).toEqual(expect.arrayContaining(['@sigstore/bundle', '@sigstore/core', '@sigstore/verify']));
    expect(report.payload).toBe('{}');
    expect(report.tamperedCode).toBe('BOOTFLEET_SIG_INVALID');
  });
});
