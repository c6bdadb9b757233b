/**
 * `bootfleet agent` content commands (issue #4): pull an
 * image into the local content store, unpack it, list and collect the store.
 * Registry credentials come from the environment, never from argv (which
 * other users can read in /proc).
 */
import { Command } from 'commander';
import type { ContentStore, Credentials, Platform, ProgressSink, PullOptions } from '../../agent/content-api.js';
import { BootfleetError, isDigest, MediaType, type Descriptor } from '../../protocol/index.js';
import { processIo, type CliIo } from '../io.js';
import { progressBar } from '../progress-bar.js';
import { asTechnician, withWaitOption, type WaitOption } from './agent-lock.js';

/**
 * The agent's content code (undici, tar, the registry client) is loaded when
 * a content command runs, not when the CLI starts: the other commands, and the
 * daemon, do not carry it (docs/agent-content.md, "Memory").
 */
const contentApi = () => import('../../agent/content-api.js');

function usage(message: string): BootfleetError {
  return new BootfleetError('BOOTFLEET_CLI_USAGE', message);
}

export function positiveInt(name: string): (value: string) => number {
  return (value) => {
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n <= 0) throw usage(`${name} must be a positive integer, got ${JSON.stringify(value)}`);
    return n;
  };
}

export function parsePlatform(value: string): Platform {
  const [os, architecture, variant] = value.split('/');
  if (os === undefined || os === '' || architecture === undefined || architecture === '') throw usage(`--platform must be os/arch[/variant], got ${JSON.stringify(value)}`);
  return { os, architecture, ...(variant === undefined ? {} : { variant }) };
}

export function credentialsFromEnv(username: string | undefined): Credentials | undefined {
  const user = username ?? process.env.BOOTFLEET_REGISTRY_USERNAME;
  if (user === undefined) return undefined;
  const password = process.env.BOOTFLEET_REGISTRY_PASSWORD;
  if (password === undefined) throw usage('a registry user name needs BOOTFLEET_REGISTRY_PASSWORD in the environment');
  return { username: user, password };
}

interface PullFlags {
  dataDir: string;
  username?: string;
  platform?: Platform;
  plainHttp?: boolean;
  stallTimeout?: number;
  maxRate?: number;
  json?: boolean;
}

async function progressSink(io: CliIo, json: boolean): Promise<ProgressSink> {
  const { jsonLinesProgress } = await contentApi();
  const tty = io === processIo && process.stdout.isTTY && !json;
  return tty ? progressBar((text) => { io.err(text); }) : jsonLinesProgress((line) => { io.out(line); });
}

function pullCommand(io: CliIo): Command {
  const command = new Command('pull')
    .description('fetch the blobs of an image the store lacks, resumably, and verify them (JSON-lines progress, or a bar on a terminal)')
    .argument('<ref>', 'image reference host[:port]/name[:tag][@sha256:...]')
    .requiredOption('-d, --data-dir <dir>', 'agent data directory (content store under <dir>/content)')
    .option('--username <user>', 'registry user (or BOOTFLEET_REGISTRY_USERNAME); password from BOOTFLEET_REGISTRY_PASSWORD')
    .option('--platform <os/arch[/variant]>', 'platform to pick from an image index (default: this machine)', parsePlatform)
    .option('--plain-http', 'use http:// even for a non-loopback registry')
    .option('--stall-timeout <ms>', 'no byte for this long counts as a cut (default 30000)', positiveInt('--stall-timeout'))
    .option('--max-rate <bytes/s>', 'bandwidth cap for metered links', positiveInt('--max-rate'))
    .option('--json', 'JSON-lines progress even on a terminal');
  return withWaitOption(command).action(async (ref: string, flags: PullFlags & WaitOption) => {
    await asTechnician(flags.dataDir, 'pull', flags.wait, async () => {
      const { ContentStore, pullImage } = await contentApi();
      const store = await ContentStore.open(flags.dataDir);
      const credentials = credentialsFromEnv(flags.username);
      const options: PullOptions = {
        progress: await progressSink(io, flags.json === true),
        ...(credentials === undefined ? {} : { credentials }),
        ...(flags.platform === undefined ? {} : { platform: flags.platform }),
        ...(flags.plainHttp === true ? { plainHttp: true } : {}),
        ...(flags.stallTimeout === undefined ? {} : { stallTimeoutMs: flags.stallTimeout }),
        ...(flags.maxRate === undefined ? {} : { bandwidthBytesPerSecond: flags.maxRate }),
      };
      await pullImage(store, ref, options);
    });
  });
}

async function manifestFor(store: ContentStore, ref: string): Promise<Descriptor> {
  if (isDigest(ref)) return { mediaType: MediaType.ociManifest, digest: ref, size: (await store.readBytes({ digest: ref, size: 0 }, 4 * 1024 * 1024)).length };
  const found = await store.resolveRef(ref);
  if (found === undefined) throw new BootfleetError('BOOTFLEET_REGISTRY_NOT_FOUND', `no image named ${JSON.stringify(ref)} in the store; pull it first`);
  return found;
}

function unpackCommand(io: CliIo): Command {
  return new Command('unpack')
    .description('unpack a pulled image into a new directory with the safe layer applier')
    .argument('<ref>', 'the reference it was pulled by, or its manifest digest')
    .requiredOption('-d, --data-dir <dir>', 'agent data directory')
    .requiredOption('--dest <dir>', 'directory to create (must not exist)')
    .option('--allow-devices', 'create device nodes and FIFOs (needs root)')
    .option('--json', 'JSON-lines progress')
    .action(async (ref: string, flags: { dataDir: string; dest: string; allowDevices?: boolean; json?: boolean }) => {
      const { ContentStore, jsonLinesProgress, unpackImage } = await contentApi();
      const store = await ContentStore.open(flags.dataDir);
      const manifest = await manifestFor(store, ref);
      await unpackImage(store, manifest, flags.dest, {
        allowDevices: flags.allowDevices === true,
        ...(flags.json === true ? { progress: jsonLinesProgress((line) => { io.out(line); }) } : {}),
      });
    });
}

/** Adds the content commands (pull, unpack, inventory, gc) to the `agent` group (cli/commands/agent.ts). */
export function addContentAgentCommands(agent: Command, io: CliIo): void {
  agent.addCommand(pullCommand(io));
  agent.addCommand(unpackCommand(io));
  agent
    .command('inventory')
    .description('list the verified blobs in the content store as JSON (digest, size)')
    .requiredOption('-d, --data-dir <dir>', 'agent data directory')
    .action(async (flags: { dataDir: string }) => {
      const { ContentStore, listInventory } = await contentApi();
      io.out(`${JSON.stringify(await listInventory(await ContentStore.open(flags.dataDir)))}\n`);
    });
  withWaitOption(agent.command('gc').description('remove blobs no image named in the store refers to').requiredOption('-d, --data-dir <dir>', 'agent data directory')).action(
    async (flags: { dataDir: string } & WaitOption) => {
      const { ContentStore, collectGarbage } = await contentApi();
      const removed = await asTechnician(flags.dataDir, 'gc', flags.wait, async () => collectGarbage(await ContentStore.open(flags.dataDir)));
      io.out(`${JSON.stringify(removed)}\n`);
    },
  );
}
