/**
 * A real Mosquitto for external-broker tests: temporary config and
 * dynamic-security file (made with `mosquitto_ctrl dynsec init`), a free
 * loopback port, started and stopped by the test.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { findTool } from './tools.js';
import { openRawSocket } from './mqtt.js';
import { freePort } from './ports.js';

const PROVISION_SCRIPT = fileURLToPath(new URL('../../deploy/mosquitto/provision-server.sh', import.meta.url));
export const DYNSEC_PLUGIN = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';

export interface RunningMosquitto {
  readonly url: string;
  /** The server's account, made by deploy/mosquitto/provision-server.sh. */
  readonly serverUser: string;
  /** File holding its password (what the server's `broker.passwordFile` names). */
  readonly serverPasswordFile: string;
  stop(): Promise<void>;
}


export async function startMosquitto(mosquittoPath: string): Promise<RunningMosquitto> {
  const dir = await mkdtemp(join(tmpdir(), 'bootfleet-mosquitto-'));
  const ctrl = findTool('mosquitto_ctrl');
  if (ctrl === undefined) throw new Error('mosquitto_ctrl is missing (Debian package mosquitto-clients)');
  const password = 'admin-test-password';
  await promisify(execFile)(ctrl, ['dynsec', 'init', join(dir, 'dynsec.json'), 'admin', password]);
  await writeFile(join(dir, 'admin.password'), `${password}\n`, { mode: 0o600 });
  const port = await freePort();
  const conf = [
    // Started as root, mosquitto drops to user `mosquitto`, which cannot read our 0700 temp dir: stay who we are.
    `user ${userInfo().username}`,
    'per_listener_settings false',
    'allow_anonymous false',
    `listener ${port} 127.0.0.1`,
    `plugin ${DYNSEC_PLUGIN}`,
    `plugin_opt_config_file ${join(dir, 'dynsec.json')}`,
    'persistence false',
    'log_dest stderr',
    'log_type error',
    '',
  ].join('\n');
  await writeFile(join(dir, 'mosquitto.conf'), conf);
  const child: ChildProcess = spawn(mosquittoPath, ['-c', join(dir, 'mosquitto.conf')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      (await openRawSocket(port)).destroy();
      break;
    } catch {
      if (Date.now() > deadline || child.exitCode !== null) {
        await stop();
        throw new Error(`mosquitto did not start on port ${port}: ${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
  // The server's own account, made as an operator would: with the deploy script.
  const serverPassword = 'server-test-password';
  try {
    await promisify(execFile)('sh', [PROVISION_SCRIPT, '127.0.0.1', String(port), 'admin', password, 'bootfleet', serverPassword]);
  } catch (error) {
    await stop();
    throw error;
  }
  await writeFile(join(dir, 'server.password'), `${serverPassword}\n`, { mode: 0o600 });
  return { url: `mqtt://127.0.0.1:${port}`, serverUser: 'bootfleet', serverPasswordFile: join(dir, 'server.password'), stop };
}
