/** `bootfleet keys`: make signing keys, sign JSON into a bundle, verify a bundle. */
import { readFile, writeFile } from 'node:fs/promises';
import { Command, Option } from 'commander';
import {
  BootfleetError,
  canonicalJson,
  generateSigningKey,
  KEY_ALGORITHMS,
  openEnvelope,
  parseJson,
  readSigningKey,
  signEnvelope,
  SIGNED_KINDS,
  TrustedKeys,
  verifySignedMessage,
  writeKeyPair,
  type KeyAlgorithm,
  type SignedKind,
} from '../../protocol/index.js';
import type { CliIo } from '../io.js';

/** A JSON file to sign is read whole; bound it so a wrong path cannot exhaust memory. */
const MAX_INPUT_BYTES = 4 * 1024 * 1024;
const GENERIC_PAYLOAD_TYPE = 'application/json';

export function keysCommand(io: CliIo): Command {
  const keys = new Command('keys').description('make signing keys; sign and verify bundles offline');

  keys
    .command('generate')
    .description('write a new key pair: <prefix>.key (private, mode 0600) and <prefix>.pub')
    .requiredOption('-o, --out <prefix>', 'path prefix of the two files')
    .addOption(new Option('-a, --algorithm <name>', 'key algorithm').choices(KEY_ALGORITHMS).default('ecdsa-p256'))
    .action(async (opts: { out: string; algorithm: KeyAlgorithm }) => {
      const key = generateSigningKey(opts.algorithm);
      const paths = await writeKeyPair(opts.out, key);
      io.out(`${JSON.stringify({ keyId: key.keyId, algorithm: key.algorithm, ...paths })}\n`);
    });

  keys
    .command('sign')
    .description('sign a JSON file into a sigstore v0.3 DSSE bundle (canonical JSON payload)')
    .argument('<file>', 'JSON file to sign')
    .requiredOption('-k, --key <file>', 'private key (PEM)')
    .option('-t, --payload-type <type>', 'DSSE payload type', GENERIC_PAYLOAD_TYPE)
    .addOption(new Option('--kind <kind>', 'check the file as this device message kind and use its payload type').choices(Object.keys(SIGNED_KINDS)))
    .option('-o, --out <file>', 'write the bundle here instead of stdout')
    .action(async (file: string, opts: { key: string; payloadType: string; kind?: SignedKind; out?: string }) => {
      const value = parseJson(await readInput(file), MAX_INPUT_BYTES, file);
      const key = await readSigningKey(opts.key);
      let payloadType = opts.payloadType;
      if (opts.kind !== undefined) {
        SIGNED_KINDS[opts.kind].parse(value);
        payloadType = SIGNED_KINDS[opts.kind].payloadType;
      }
      const bundle = `${JSON.stringify(signEnvelope(Buffer.from(canonicalJson(value)), payloadType, key))}\n`;
      if (opts.out === undefined) io.out(bundle);
      else await writeFile(opts.out, bundle, { flag: 'wx' });
    });

  keys
    .command('verify')
    .description('verify a bundle offline against trusted public keys; prints the verified payload')
    .argument('<bundle>', 'bundle file')
    .requiredOption('-k, --key <file...>', 'trusted public key(s) (PEM)')
    .option('-t, --payload-type <type>', 'expected DSSE payload type', GENERIC_PAYLOAD_TYPE)
    .addOption(new Option('--kind <kind>', 'verify as a device message: also checks device, expiry and sequence').choices(Object.keys(SIGNED_KINDS)))
    .option('--device <id>', 'with --kind: the device the message must be for')
    .option('--last-seq <n>', 'with --kind: highest sequence already accepted', parseInteger)
    .option('--now <unix-seconds>', 'with --kind: verify as of this time', parseInteger)
    .action(async (file: string, opts: { key: string[]; payloadType: string; kind?: SignedKind; device?: string; lastSeq?: number; now?: number }) => {
      const trusted = await TrustedKeys.fromFiles(opts.key);
      const input = await readInput(file);
      if (opts.kind === undefined) {
        const opened = openEnvelope(input, { keys: trusted, payloadType: opts.payloadType, maxBytes: MAX_INPUT_BYTES });
        io.err(`verified: signed by key ${opened.keyId}\n`);
        io.out(`${opened.payload.toString('utf8')}\n`);
        return;
      }
      if (opts.device === undefined) throw new BootfleetError('BOOTFLEET_CLI_USAGE', '--kind needs --device <id>');
      const verified = verifySignedMessage(opts.kind, input, {
        keys: trusted,
        device: opts.device,
        now: opts.now ?? Math.floor(Date.now() / 1000),
        ...(opts.lastSeq === undefined ? {} : { lastSeq: opts.lastSeq }),
      });
      io.err(`verified: ${opts.kind} for ${opts.device}, seq ${verified.message.seq}, signed by key ${verified.keyId}\n`);
      io.out(`${verified.payload.toString('utf8')}\n`);
    });

  return keys;
}

async function readInput(path: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (error) {
    throw new BootfleetError('BOOTFLEET_FILE_UNREADABLE', `cannot read ${path}`, { cause: error, details: { path } });
  }
}

function parseInteger(value: string): number {
  if (!/^[0-9]{1,15}$/.test(value)) throw new BootfleetError('BOOTFLEET_CLI_USAGE', `expected a non-negative integer, got ${JSON.stringify(value)}`);
  return Number(value);
}
