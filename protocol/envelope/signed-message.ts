/**
 * Signed device messages (desired state, commands): an opened envelope plus
 * the claims every such message carries (docs/protocol.md, "Security properties"):
 *   device     -> defeats mix-and-match: a message for one device is useless to another
 *   seq        -> defeats replay and rollback: only a higher sequence is accepted
 *   expiresAt  -> defeats freeze: a withheld or stale message stops being accepted
 *   issuedAt   -> bounds clock trouble: a message from the future is refused
 */
import { BootfleetError } from '../errors.js';
import {
  COMMAND_MAX_BYTES,
  COMMAND_PAYLOAD_TYPE,
  DESIRED_STATE_MAX_BYTES,
  DESIRED_STATE_PAYLOAD_TYPE,
  parseCommandPayload,
  parseDesiredStatePayload,
  type Command,
  type DesiredState,
} from '../messages/index.js';
import { parseJson } from '../validate.js';
import type { SigningKey, TrustedKeys } from './keys.js';
import { openEnvelope } from './open.js';
import { signMessage, type SerializedBundle } from './sign.js';

/** Tolerated clock difference between server and device, in seconds. */
export const DEFAULT_CLOCK_SKEW_SECONDS = 300;

interface SignedKindSpec<T> {
  readonly payloadType: string;
  readonly maxBytes: number;
  readonly parse: (value: unknown) => T;
}

export const SIGNED_KINDS = {
  'desired-state': {
    payloadType: DESIRED_STATE_PAYLOAD_TYPE,
    maxBytes: DESIRED_STATE_MAX_BYTES,
    parse: parseDesiredStatePayload,
  } satisfies SignedKindSpec<DesiredState>,
  command: {
    payloadType: COMMAND_PAYLOAD_TYPE,
    maxBytes: COMMAND_MAX_BYTES,
    parse: parseCommandPayload,
  } satisfies SignedKindSpec<Command>,
} as const;

export type SignedKind = keyof typeof SIGNED_KINDS;
export type SignedPayload<K extends SignedKind> = ReturnType<(typeof SIGNED_KINDS)[K]['parse']>;

export interface VerifyMessageOptions {
  readonly keys: TrustedKeys;
  /** The device doing the verifying. */
  readonly device: string;
  /** Current time, Unix seconds. */
  readonly now: number;
  /** Highest sequence accepted before for this kind; the message must be above it. */
  readonly lastSeq?: number;
  readonly clockSkewSeconds?: number;
  /** Overrides the kind's default size limit. */
  readonly maxBytes?: number;
}

export interface VerifiedMessage<T> {
  readonly message: T;
  readonly keyId: string;
  /** The exact signed bytes, for storing next to the state they produced. */
  readonly payload: Buffer;
}

export function verifySignedMessage<K extends SignedKind>(
  kind: K,
  input: string | Uint8Array,
  options: VerifyMessageOptions,
): VerifiedMessage<SignedPayload<K>> {
  const spec = SIGNED_KINDS[kind] as SignedKindSpec<SignedPayload<K>>;
  const maxBytes = options.maxBytes ?? spec.maxBytes;
  const opened = openEnvelope(input, { keys: options.keys, payloadType: spec.payloadType, maxBytes });
  // Only the verified payload is parsed (never a second copy from elsewhere in the bundle).
  const message = spec.parse(parseJson(opened.payload, maxBytes, `${kind} payload`));
  checkClaims(message, options);
  return { message, keyId: opened.keyId, payload: opened.payload };
}

interface Claims {
  readonly device: string;
  readonly seq: number;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

function checkClaims(claims: Claims, options: VerifyMessageOptions): void {
  const skew = options.clockSkewSeconds ?? DEFAULT_CLOCK_SKEW_SECONDS;
  if (claims.device !== options.device) {
    throw new BootfleetError('BOOTFLEET_SIG_WRONG_DEVICE', `message is for device ${JSON.stringify(claims.device)}, this is ${JSON.stringify(options.device)}`, {
      details: { addressedTo: claims.device },
    });
  }
  if (claims.expiresAt <= claims.issuedAt) {
    throw new BootfleetError('BOOTFLEET_MESSAGE_INVALID', 'message expires before it is issued');
  }
  if (options.now >= claims.expiresAt + skew) {
    throw new BootfleetError('BOOTFLEET_SIG_EXPIRED', `message expired at ${claims.expiresAt}, now is ${options.now}`, {
      details: { expiresAt: claims.expiresAt, now: options.now },
    });
  }
  if (claims.issuedAt > options.now + skew) {
    throw new BootfleetError('BOOTFLEET_SIG_NOT_YET_VALID', `message is issued at ${claims.issuedAt}, in the future (now ${options.now})`, {
      details: { issuedAt: claims.issuedAt, now: options.now },
    });
  }
  if (options.lastSeq !== undefined && claims.seq <= options.lastSeq) {
    throw new BootfleetError('BOOTFLEET_SIG_REPLAYED', `sequence ${claims.seq} is not above the last accepted ${options.lastSeq}`, {
      details: { seq: claims.seq, lastSeq: options.lastSeq },
    });
  }
}

/** Signs a device message of the given kind after checking it against its schema. */
export function signDeviceMessage<K extends SignedKind>(kind: K, message: SignedPayload<K>, key: SigningKey): SerializedBundle {
  const spec = SIGNED_KINDS[kind];
  spec.parse(message);
  return signMessage(message, spec.payloadType, key);
}
