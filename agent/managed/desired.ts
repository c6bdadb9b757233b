/**
 * Accepting a desired state (docs/protocol.md section 5, "Verifying a signed
 * message"): the envelope is verified with the server's keys, for this
 * device, now, above the last accepted seq; the same retained message
 * delivered again is ignored silently; an accepted one is recorded and its
 * seq made durable (acceptSequences, fsync) before anything is done for it.
 */
import {
  BootfleetError,
  parseDesiredStatePayload,
  parseJson,
  verifySignedMessage,
  type DesiredState,
  type TrustedKeys,
} from '../../protocol/index.js';
import type { Deployer } from '../deploy/deployer.js';
import type { UpdateTarget } from '../pipeline/context.js';
import { envelopeHash, readDesiredRecord, writeDesiredRecord, type DesiredRecord } from './desired-record.js';

export interface AcceptOptions {
  readonly deviceId: string;
  readonly keys: TrustedKeys;
  readonly deployer: Deployer;
  readonly nowSeconds: number;
}

/** The accepted desired state, or undefined for a redelivery of the one accepted last. Throws the refusal's code. */
export async function acceptDesiredState(envelope: Buffer, options: AcceptOptions): Promise<DesiredState | undefined> {
  const dataDir = options.deployer.dataDir;
  const hash = envelopeHash(envelope);
  const record = await readDesiredRecord(dataDir);
  if (record?.envelopeSha256 === hash) return undefined;
  const last = (await options.deployer.status()).lastDesiredSeq;
  // seq == last is let through the signature check only to be compared with the stored payload.
  const verified = verifySignedMessage('desired-state', envelope, {
    keys: options.keys,
    device: options.deviceId,
    now: options.nowSeconds,
    ...(last === undefined ? {} : { lastSeq: last - 1 }),
  });
  const payload = verified.payload.toString('utf8');
  if (verified.message.seq === last) {
    if (record?.payload === payload) return undefined;
    throw new BootfleetError('BOOTFLEET_SIG_REPLAYED', `sequence ${last} was accepted before with another payload`, { details: { seq: last, lastSeq: last } });
  }
  await writeDesiredRecord(dataDir, { envelopeSha256: hash, seq: verified.message.seq, payload });
  await options.deployer.acceptSequences({ desired: verified.message.seq });
  return verified.message;
}

/** The accepted desired state that did not finish (the agent stopped while working on it), if any. */
export async function unfinishedDesiredState(deployer: Deployer): Promise<{ record: DesiredRecord; message: DesiredState } | undefined> {
  const record = await readDesiredRecord(deployer.dataDir);
  if (record === undefined || record.done !== undefined) return undefined;
  const message = parseDesiredStatePayload(parseJson(record.payload, 512 * 1024, 'stored desired state'));
  // The record is written before the sequence: finish that write if the agent stopped between the two.
  if (((await deployer.status()).lastDesiredSeq ?? 0) < message.seq) await deployer.acceptSequences({ desired: message.seq });
  return { record, message };
}

export async function markDesiredDone(deployer: Deployer, phase: DesiredRecord['done']): Promise<void> {
  const record = await readDesiredRecord(deployer.dataDir);
  if (record !== undefined && phase !== undefined) await writeDesiredRecord(deployer.dataDir, { ...record, done: phase });
}

export function targetOf(message: DesiredState): UpdateTarget {
  return {
    registry: message.image.registry,
    repository: message.image.repository,
    digest: message.image.digest,
    size: message.image.size,
    version: message.image.version,
    layers: message.layers,
    policy: message.policy,
    ...(message.imageSignature === undefined ? {} : { imageSignature: message.imageSignature }),
  };
}
