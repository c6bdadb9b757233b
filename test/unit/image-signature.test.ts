import { describe, expect, it } from 'vitest';
import {
  canonicalJson,
  generateSigningKey,
  IMAGE_SIGNATURE_MAX_BYTES,
  IMAGE_SIGNATURE_PAYLOAD_TYPE,
  MediaType,
  openEnvelope,
  parseImageSignaturePayload,
  signEnvelope,
  TrustedKeys,
} from '../../protocol/index.js';

const image = { mediaType: MediaType.ociManifest, digest: `sha256:${'b'.repeat(64)}`, size: 1234 };

describe('image signature payload', () => {
  it('round-trips through a signed envelope and parses back to the image descriptor', () => {
    const key = generateSigningKey('ecdsa-p256');
    const bundle = JSON.stringify(signEnvelope(Buffer.from(canonicalJson({ image })), IMAGE_SIGNATURE_PAYLOAD_TYPE, key));
    const opened = openEnvelope(bundle, { keys: new TrustedKeys([key]), payloadType: IMAGE_SIGNATURE_PAYLOAD_TYPE, maxBytes: IMAGE_SIGNATURE_MAX_BYTES });
    expect(parseImageSignaturePayload(opened.payload)).toEqual({ image });
  });
  it('refuses a payload without a valid image digest', () => {
    expect(() => parseImageSignaturePayload(Buffer.from(JSON.stringify({ image: { ...image, digest: 'sha256:../../x' } })))).toThrow(
      expect.objectContaining({ code: 'BOOTFLEET_MESSAGE_INVALID' }),
    );
    expect(() => parseImageSignaturePayload(Buffer.from('not json'))).toThrow(expect.objectContaining({ code: 'BOOTFLEET_JSON_INVALID' }));
  });
});
