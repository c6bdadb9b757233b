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
  /** SIGKILL, as a crash would; the configuration and dynamic-security file stay for `restart`. */
  kill(): Promise<void>;
  /** Starts it again on the same port with the same accounts (after `kill`). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** One Mosquitto process on `port`, waited for until it accepts connections (bounded). */
async function launch(mosquittoPath: string, confPath: string, port: number): Promise<{ child: ChildProcess; exited: Promise<void>; stderr: () => string }> {
  const child: ChildProcess = spawn(mosquittoPath, ['-c', confPath], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString('utf8');
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => { resolve(); }));
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      (await openRawSocket(port)).destroy();
      return { child, exited, stderr: () => stderr };
    } catch {
      if (Date.now() > deadline || child.exitCode !== null) {
        child.kill('SIGKILL');
        await exited;
        throw new Error(`mosquitto did not start on port ${port}: ${stderr}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
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
  let running: Awaited<ReturnType<typeof launch>> | undefined;
  const halt = async (signal: NodeJS.Signals): Promise<void> => {
    const current = running;
    if (current === undefined || current.child.exitCode !== null || current.child.signalCode !== null) return;
    current.child.kill(signal);
    const timer = setTimeout(() => current.child.kill('SIGKILL'), 5_000);
    await current.exited;
    clearTimeout(timer);
  };
  const stop = async (): Promise<void> => {
    await halt('SIGTERM');
    await rm(dir, { recursive: true, force: true });
  };
  const restart = async (): Promise<void> => {
    await halt('SIGKILL');
    running = await launch(mosquittoPath, join(dir, 'mosquitto.conf'), port);
  };
  try {
    running = await launch(mosquittoPath, join(dir, 'mosquitto.conf'), port);
  } catch (error) {
    await stop();
    throw error;
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
  return { url: `mqtt://127.0.0.1:${port}`, serverUser: 'bootfleet', serverPasswordFile: join(dir, 'server.password'), kill: () => halt('SIGKILL'), restart, stop };
}
