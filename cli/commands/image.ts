/** `bootfleet image`: sign and verify images in a registry; garbage-collect the embedded registry. */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Command } from 'commander';
import { BootfleetError, parseImageReference, readSigningKey, TrustedKeys } from '../../protocol/index.js';
import { loadServerConfig } from '../../server/config.js';
import type { CliIo } from '../io.js';
import type { RegistryRepository } from '../registry-client.js';

/** Secrets come from the environment or a file, never from argv (visible in `ps`). */
export const TOKEN_ENV = 'BOOTFLEET_REGISTRY_TOKEN';
export const PASSWORD_ENV = 'BOOTFLEET_REGISTRY_PASSWORD';

interface RegistryOpts {
  tokenFile?: string;
  username?: string;
  passwordFile?: string;
  plainHttp?: boolean;
}

function withRegistryOptions(command: Command): Command {
  return command
    .option('--token-file <file>', `file holding a bearer token sent as it is, e.g. a bootfleet API token (default: $${TOKEN_ENV})`)
    .option('--username <name>', 'user name for registries that ask for one (Basic, or the Bearer token flow of Docker Hub, GHCR, Harbor)')
    .option('--password-file <file>', `file holding the password for --username (default: $${PASSWORD_ENV})`)
    .option('--plain-http', 'talk http:// instead of https:// (loopback, tests)');
}

async function readSecret(file: string | undefined, env: string): Promise<string | undefined> {
  if (file === undefined) return process.env[env] === '' ? undefined : process.env[env];
  try {
    return (await readFile(file, 'utf8')).trim();
  } catch (error) {
    throw new BootfleetError('BOOTFLEET_FILE_UNREADABLE', `cannot read ${file}`, { cause: error });
  }
}

async function clientFor(refText: string, opts: RegistryOpts): Promise<{ client: RegistryRepository; ref: ReturnType<typeof parseImageReference> }> {
  const ref = parseImageReference(refText);
  const token = await readSecret(opts.tokenFile, TOKEN_ENV);
  const password = opts.username === undefined ? undefined : await readSecret(opts.passwordFile, PASSWORD_ENV);
  if (opts.username !== undefined && password === undefined) {
    throw new BootfleetError('BOOTFLEET_CLI_USAGE', `--username needs a password: --password-file or $${PASSWORD_ENV}`);
  }
  const credentials = opts.username === undefined || password === undefined ? {} : { credentials: { username: opts.username, password } };
  // Loaded here, not at start-up: the registry client brings undici, which an idle agent never needs.
  const { RegistryRepository } = await import('../registry-client.js');
  return { ref, client: new RegistryRepository(ref, { ...(token === undefined ? {} : { token }), ...credentials, plainHttp: opts.plainHttp === true }) };
}

export function imageCommand(io: CliIo): Command {
  const image = new Command('image').description('sign, verify and garbage-collect images in the embedded registry');

  withRegistryOptions(
    image
      .command('sign')
      .description('sign an image manifest digest; push the bundle as an OCI artifact whose subject is the image')
      .argument('<ref>', 'host[:port]/name:tag or host[:port]/name@sha256:...')
      .requiredOption('-k, --key <file>', "the builder's private key (PEM)"),
  ).action(async (refText: string, opts: RegistryOpts & { key: string }) => {
    const key = await readSigningKey(opts.key);
    const { client, ref } = await clientFor(refText, opts);
    const { signImage } = await import('../image-signing.js');
    try {
      io.out(`${JSON.stringify(await signImage(client, ref, key, new Date()))}\n`);
    } finally {
      await client.close();
    }
  });

  withRegistryOptions(
    image
      .command('verify')
      .description('find the image signatures through the referrers API and verify one with a trusted key')
      .argument('<ref>', 'host[:port]/name:tag or host[:port]/name@sha256:...')
      .requiredOption('-k, --key <file...>', 'trusted public key(s) (PEM)'),
  ).action(async (refText: string, opts: RegistryOpts & { key: string[] }) => {
    const keys = await TrustedKeys.fromFiles(opts.key);
    const { client, ref } = await clientFor(refText, opts);
    const { verifyImage } = await import('../image-signing.js');
    const result = await verifyImage(client, ref, keys).finally(() => client.close());
    io.err(`verified: ${result.image} signed by key ${result.keyId}\n`);
    io.out(`${JSON.stringify(result)}\n`);
  });

  image
    .command('gc')
    .description('remove registry blobs nothing refers to (run with the server stopped)')
    .option('-c, --config <file>', 'server configuration file')
    .option('--data-dir <dir>', 'server state directory (default: ./data)')
    .option('--grace <seconds>', 'keep unreferenced blobs younger than this (pushes in progress)', parseSeconds, 3600)
    .option('--upload-max-age <seconds>', 'cancel upload sessions older than this', parseSeconds, 86_400)
    .option('--dry-run', 'only report what would be removed')
    .action(async (opts: { config?: string; dataDir?: string; grace: number; uploadMaxAge: number; dryRun?: boolean }) => {
      const config = await loadServerConfig(opts.config, opts.dataDir === undefined ? {} : { dataDir: opts.dataDir });
      // Loaded here, not at start-up: the device-side commands never pay for the server's modules.
      const { Level } = await import('level');
      const { collectGarbage, openRegistry } = await import('../../server/registry/index.js');
      const db = new Level<string, string>(join(config.dataDir, 'state'), { valueEncoding: 'utf8' });
      try {
        await db.open();
      } catch (error) {
        throw new BootfleetError('BOOTFLEET_FILE_UNREADABLE', `cannot open the state database in ${config.dataDir} (stop the server first)`, { cause: error });
      }
      try {
        const registry = await openRegistry(config, db);
        const result = await collectGarbage(registry, { graceMs: opts.grace * 1000, uploadMaxAgeMs: opts.uploadMaxAge * 1000, dryRun: opts.dryRun === true, now: Date.now() });
        io.out(`${JSON.stringify({ dryRun: opts.dryRun === true, ...result })}\n`);
      } finally {
        await db.close();
      }
    });
  return image;
}

function parseSeconds(value: string): number {
  if (!/^[0-9]{1,12}$/.test(value)) throw new BootfleetError('BOOTFLEET_CLI_USAGE', `expected seconds as a non-negative integer, got ${JSON.stringify(value)}`);
  return Number(value);
}
