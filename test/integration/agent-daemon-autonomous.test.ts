/**
 * The agent daemon in autonomous mode (no server section): it tracks a tag of
 * a real registry (the bootfleet server's embedded one, over HTTP), polls it
 * with jitter, and applies a new push of the tag through the same pipeline.
 * The agent is a real child process; the `current` link is checked on disk.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateSigningKey, writeKeyPair } from '../../protocol/index.js';
import { runCliProcess } from '../helpers/cli-process.js';
import { OPERATOR_TOKEN } from '../helpers/registry.js';
import { currentVersion, eventually, fileCheck, layerOf, pushTestImage, tracking, waitForVersion, writeJson } from '../helpers/agent-daemon.js';
import { useDaemonFleet } from '../helpers/daemon-fleet.js';

const REPO = 'fleet/kiosk';

describe('agent daemon, autonomous mode', () => {
  const harness = useDaemonFleet('bootfleet-autonomous-');

  it('installs the tracked tag, then picks up and applies a new push of it', async () => {
    const { fleet, dir } = harness;
    const dataDir = join(dir, 'agent');
    const base = layerOf({ 'usr/bin/kiosk': 'kiosk' });
    const v1 = await pushTestImage(fleet, REPO, [base, layerOf({ 'etc/version': '1' })], 'stable');
    const configPath = join(dir, 'agent.json');
    await writeJson(configPath, {
      deviceId: 'kiosk-1',
      deploy: { dataDir, healthChecks: [fileCheck('tree', `${dataDir}/current/usr/bin/kiosk`)] },
      registry: harness.registryConfig(),
      autonomous: { image: `${fleet.registry}/${REPO}:stable`, pollIntervalSeconds: 0.3, jitterSeconds: 0.2, randomDelaySeconds: 0.5 },
    });
    const running = harness.start(configPath);
    await waitForVersion(dataDir, '1', 'v1 installed');

    const v2 = await pushTestImage(fleet, REPO, [base, layerOf({ 'etc/version': '2' })], 'stable');
    await waitForVersion(dataDir, '2', 'v2 applied');
    // Two successes: the first install, then the update (after its probation).
    await eventually(() => (running.lines.filter((l) => l.event === 'phase' && l.phase === 'succeeded').length >= 2 ? true : undefined), 'v2 succeeded');
    // A wait before activating the update comes only from its random delay (the first install
    // never waits). The converse is not checked: a delay drawn in [0, 500] ms may already have
    // passed while the image was unpacked and staged, and then there is nothing left to wait.
    // Read after the second success: the lines before it have all arrived.
    const delay = running.lines.filter((l) => l.event === 'update').at(-1)?.randomDelayMs as number;
    const phases = running.lines.filter((l) => l.event === 'phase').map((l) => l.phase);
    if (phases.lastIndexOf('waiting') > phases.indexOf('succeeded')) expect(delay).toBeGreaterThan(0);
    expect(delay).toBeGreaterThanOrEqual(0);
    expect(delay).toBeLessThanOrEqual(500);
    await eventually(async () => {
      const state = JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8')) as { booted?: { manifestDigest: string }; rollback?: { manifestDigest: string }; probation?: unknown };
      return state.probation === undefined && state.booted?.manifestDigest === v2.manifest.digest ? state : undefined;
    }, 'v2 committed').then((state) => {
      expect(state.rollback?.manifestDigest).toBe(v1.manifest.digest);
    });
    // SIGTERM stops it cleanly.
    expect(await running.kill('SIGTERM')).toBe(0);
    expect(running.lines.at(-1)?.event).toBe('agent-stop');
  }, 40_000);

  it('with builder keys configured, applies an image only once it carries a signature by one of them (referrers API)', async () => {
    const { fleet, dir } = harness;
    const dataDir = join(dir, 'signed-agent');
    const image = `${fleet.registry}/${REPO}:signed`;
    await pushTestImage(fleet, REPO, [layerOf({ 'usr/bin/kiosk': 'kiosk', 'etc/version': 's1' })], 'signed');
    const builder = await writeKeyPair(join(dir, 'builder'), generateSigningKey('ecdsa-p256'));
    await writeFile(join(dir, 'operator.token'), OPERATOR_TOKEN, { mode: 0o600 });
    const configPath = join(dir, 'signed-agent.json');
    await writeJson(configPath, {
      deviceId: 'kiosk-2',
      deploy: { dataDir },
      registry: harness.registryConfig(),
      builderKeyFiles: [builder.publicPath],
      autonomous: tracking(image),
    });
    const signed = harness.start(configPath);
    await eventually(() => (signed.lines.some((l) => l.event === 'phase' && l.phase === 'failed' && l.code === 'BOOTFLEET_SIG_MISSING') ? true : undefined), 'unsigned image refused');
    expect(await currentVersion(dataDir)).toBeUndefined();
    const sign = await runCliProcess(['image', 'sign', image, '-k', builder.privatePath, '--token-file', join(dir, 'operator.token'), '--plain-http']);
    expect(sign.code, sign.stderr).toBe(0);
    await waitForVersion(dataDir, 's1', 'signed image installed');
  }, 40_000);

  it('with --once polls a single time, updates and exits 0; exits 1 when the tag cannot be resolved', async () => {
    const { fleet, dir } = harness;
    const dataDir = join(dir, 'once-agent');
    const config = (tag: string) => ({
      deviceId: 'kiosk-3',
      deploy: { dataDir },
      registry: harness.registryConfig(),
      autonomous: { image: `${fleet.registry}/${REPO}:${tag}` },
    });
    await writeJson(join(dir, 'once.json'), config('stable'));
    const once = await runCliProcess(['agent', 'run', '--once', '--config', join(dir, 'once.json')]);
    expect(once.code, once.stderr).toBe(0);
    expect(await currentVersion(dataDir)).toBe('2');
    await writeJson(join(dir, 'missing.json'), config('no-such-tag'));
    const missing = await runCliProcess(['agent', 'run', '--once', '--config', join(dir, 'missing.json')]);
    expect(missing.code).toBe(1);
    expect(missing.stdout).toContain('BOOTFLEET_REGISTRY_NOT_FOUND');
  }, 30_000);

  it('stops on SIGTERM within its grace period even in the middle of a probation', async () => {
    const { fleet, dir } = harness;
    const dataDir = join(dir, 'probe-agent');
    await pushTestImage(fleet, REPO, [layerOf({ 'etc/version': 'p1', 'etc/ok': 'yes' })], 'probe');
    const configPath = join(dir, 'probe.json');
    await writeJson(configPath, {
      deviceId: 'kiosk-4',
      deploy: {
        dataDir,
        healthTimeoutSeconds: 600,
        healthChecks: [fileCheck('ok', `${dataDir}/current/etc/ok`, 1_000)],
      },
      registry: harness.registryConfig(),
      autonomous: tracking(`${fleet.registry}/${REPO}:probe`),
    });
    const probing = harness.start(configPath);
    await waitForVersion(dataDir, 'p1', 'p1 installed');
    await pushTestImage(fleet, REPO, [layerOf({ 'etc/version': 'p2' })], 'probe');
    // The first install passes through `probation` too (trivially): wait for the second one.
    await eventually(() => (probing.lines.filter((l) => l.event === 'phase' && l.phase === 'probation').length >= 2 ? true : undefined), 'p2 on probation');
    const started = Date.now();
    expect(await probing.kill('SIGTERM', 15_000)).toBe(0);
    expect(Date.now() - started).toBeLessThan(10_000);
    // Still on probation on disk: the next start counts a boot and carries it on.
    const state = JSON.parse(await readFile(join(dataDir, 'state.json'), 'utf8')) as { probation?: { boots: number } };
    expect(state.probation).toBeDefined();
  }, 40_000);
});
