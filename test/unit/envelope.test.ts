import { describe, expect, it } from 'vitest';
import {
  COMMAND_PAYLOAD_TYPE,
  DESIRED_STATE_PAYLOAD_TYPE,
  generateSigningKey,
  openEnvelope,
  publicKeyFromPem,
  publicKeyPem,
  signDeviceMessage,
  signEnvelope,
  TrustedKeys,
  verifySignedMessage,
  type Command,
  type SigningKey,
} from '../../protocol/index.js';
import { sampleDesiredState } from '../helpers/messages.js';
import { thrownCode } from '../helpers/thrown-code.js';

const NOW = 1_795_000_000;

function trust(...keys: SigningKey[]): TrustedKeys {
  return new TrustedKeys(keys.map((k) => publicKeyFromPem(publicKeyPem(k))));
}

const codeOf = thrownCode;

describe.each(['ecdsa-p256', 'ed25519'] as const)('signed envelope with %s', (algorithm) => {
  const key = generateSigningKey(algorithm);
  const keys = trust(key);

  it('round-trips a desired state and returns the verified payload', () => {
    const message = sampleDesiredState({ issuedAt: NOW, expiresAt: NOW + 3600 });
    const bundle = signDeviceMessage('desired-state', message, key);
    const verified = verifySignedMessage('desired-state', JSON.stringify(bundle), { keys, device: 'dev-1', now: NOW + 10, lastSeq: 6 });
    expect(verified.message).toEqual(message);
    expect(verified.keyId).toBe(key.keyId);
  });

  it('refuses a tampered payload', () => {
    const bundle = signDeviceMessage('desired-state', sampleDesiredState({ issuedAt: NOW, expiresAt: NOW + 3600 }), key);
    const payload = Buffer.from(bundle.dsseEnvelope?.payload ?? '', 'base64').toString().replace('"seq":7', '"seq":9');
    const tampered = { ...bundle, dsseEnvelope: { ...bundle.dsseEnvelope, payload: Buffer.from(payload).toString('base64') } };
    expect(codeOf(() => verifySignedMessage('desired-state', JSON.stringify(tampered), { keys, device: 'dev-1', now: NOW }))).toBe('BOOTFLEET_SIG_INVALID');
  });

  it('checks the payload type itself', () => {
    const bundle = signEnvelope(Buffer.from('{}'), COMMAND_PAYLOAD_TYPE, key);
    expect(codeOf(() => openEnvelope(JSON.stringify(bundle), { keys, payloadType: DESIRED_STATE_PAYLOAD_TYPE, maxBytes: 65_536 }))).toBe(
      'BOOTFLEET_SIG_PAYLOAD_TYPE',
    );
  });
});

describe('signed message claims', () => {
  const key = generateSigningKey('ecdsa-p256');
  const keys = trust(key);
  const command: Command = { device: 'dev-1', seq: 3, issuedAt: NOW, expiresAt: NOW + 600, id: 'cmd-1', command: 'rollback' };
  const signed = JSON.stringify(signDeviceMessage('command', command, key));
  const verify = (opts: Partial<{ device: string; now: number; lastSeq: number }>) => () =>
    verifySignedMessage('command', signed, { keys, device: 'dev-1', now: NOW, ...opts });

  it('accepts a valid command', () => {
    expect(verify({})().message.command).toBe('rollback');
  });
  it('refuses another device', () => {
    expect(codeOf(verify({ device: 'dev-2' }))).toBe('BOOTFLEET_SIG_WRONG_DEVICE');
  });
  it('refuses an expired message, with clock skew', () => {
    expect(verify({ now: NOW + 600 + 299 })().message.seq).toBe(3);
    expect(codeOf(verify({ now: NOW + 600 + 300 }))).toBe('BOOTFLEET_SIG_EXPIRED');
  });
  it('refuses a message from the future', () => {
    expect(codeOf(verify({ now: NOW - 301 }))).toBe('BOOTFLEET_SIG_NOT_YET_VALID');
  });
  it('refuses a replayed or lower sequence', () => {
    expect(codeOf(verify({ lastSeq: 3 }))).toBe('BOOTFLEET_SIG_REPLAYED');
    expect(codeOf(verify({ lastSeq: 4 }))).toBe('BOOTFLEET_SIG_REPLAYED');
    expect(verify({ lastSeq: 2 })().message.seq).toBe(3);
  });
  it('refuses an untrusted key', () => {
    expect(codeOf(() => verifySignedMessage('command', signed, { keys: trust(generateSigningKey('ed25519')), device: 'dev-1', now: NOW }))).toBe(
      'BOOTFLEET_SIG_KEY_UNKNOWN',
    );
  });
  it('refuses to sign a message that breaks its schema', () => {
    expect(codeOf(() => signDeviceMessage('command', { ...command, command: 'format-disk' } as unknown as Command, key))).toBe('BOOTFLEET_MESSAGE_INVALID');
  });
});

describe('bundle shape', () => {
  const key = generateSigningKey('ed25519');
  const keys = trust(key);
  const good = signEnvelope(Buffer.from('{}'), COMMAND_PAYLOAD_TYPE, key);
  const open = (bundle: unknown) => () => openEnvelope(JSON.stringify(bundle), { keys, payloadType: COMMAND_PAYLOAD_TYPE, maxBytes: 65_536 });

  it('accepts the signed bundle and an empty keyid', () => {
    expect(open(good)().keyId).toBe(key.keyId);
    const env = good.dsseEnvelope;
    expect(open({ ...good, dsseEnvelope: { ...env, signatures: [{ sig: env?.signatures[0]?.sig, keyid: '' }] } })().keyId).toBe(key.keyId);
  });
  it.each([
    ['a message-signature bundle', { ...good, dsseEnvelope: undefined, messageSignature: { messageDigest: { algorithm: 'SHA2_256', digest: 'AAAA' }, signature: 'AAAA' } }],
    ['a certificate instead of a key hint', { ...good, verificationMaterial: { certificate: { rawBytes: 'AAAA' } } }],
    ['a keyid that disagrees with the hint', { ...good, dsseEnvelope: { ...good.dsseEnvelope, signatures: [{ sig: good.dsseEnvelope?.signatures[0]?.sig, keyid: 'ff' }] } }],
    ['no signature', { ...good, dsseEnvelope: { ...good.dsseEnvelope, signatures: [] } }],
    ['no content', { mediaType: good.mediaType, verificationMaterial: good.verificationMaterial }],
    ['a JSON array', [good]],
  ])('refuses %s', (_name, bundle) => {
    expect(codeOf(open(bundle))).toBe('BOOTFLEET_SIG_BUNDLE_INVALID');
  });
});
