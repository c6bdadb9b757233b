/**
 * The last desired state this device accepted, kept next to the state file
 * (`<data>/desired.json`): the hash of the envelope as received, its seq, the
 * exact verified payload, and the phase it ended in once it is finished.
 * A retained desired state delivered again on reconnect is recognised by it
 * and ignored (docs/protocol.md section 5); one accepted but unfinished when
 * the agent stopped (a kill during a download) is resumed at the next start.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Type, type Static } from 'typebox';
import { BootfleetError, compileParser, parseJson, PHASES } from '../../protocol/index.js';
import { writeFileAtomic } from '../content/atomic-write.js';

export const DesiredRecordSchema = Type.Object(
  {
    envelopeSha256: Type.String({ pattern: '^[0-9a-f]{64}$' }),
    seq: Type.Integer({ minimum: 1, maximum: Number.MAX_SAFE_INTEGER }),
    /** The verified payload, verbatim (canonical JSON). */
    payload: Type.String({ maxLength: 512 * 1024 }),
    done: Type.Optional(Type.Enum(PHASES)),
  },
  { additionalProperties: false },
);
export type DesiredRecord = Static<typeof DesiredRecordSchema>;

const parser = compileParser('desired-state record', DesiredRecordSchema, 'BOOTFLEET_STATE_CORRUPT');

function recordPath(dataDir: string): string {
  return join(dataDir, 'desired.json');
}

export function envelopeHash(envelope: Uint8Array): string {
  return createHash('sha256').update(envelope).digest('hex');
}

export async function readDesiredRecord(dataDir: string): Promise<DesiredRecord | undefined> {
  let bytes: Buffer;
  try {
    bytes = await readFile(recordPath(dataDir));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new BootfleetError('BOOTFLEET_STATE_CORRUPT', `${recordPath(dataDir)} cannot be read`, { cause: error });
  }
  return parser.parse(parseJson(bytes, 1024 * 1024, recordPath(dataDir)));
}

export async function writeDesiredRecord(dataDir: string, record: DesiredRecord): Promise<void> {
  await writeFileAtomic(recordPath(dataDir), JSON.stringify(parser.parse(record)));
}
