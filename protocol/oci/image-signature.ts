/**
 * Image signatures (`bootfleet image sign`, docs/registry.md, "Signing"): the
 * builder signs the manifest descriptor of an image with the envelope of
 * protocol/envelope; the bundle is stored in the registry as an OCI artifact
 * whose `subject` is the image, so the referrers API finds it.
 */
import { Type, type Static } from 'typebox';
import { compileParser, parseJson } from '../validate.js';
import { MediaType } from './media-types.js';
import { DigestSchema, MediaTypeSchema, SizeSchema } from './schemas.js';

export const IMAGE_SIGNATURE_PAYLOAD_TYPE = 'application/vnd.bootfleet.image-signature.v1+json';
/** Artifact type of the signature manifest (and media type of its one layer). */
export const IMAGE_SIGNATURE_ARTIFACT_TYPE = MediaType.sigstoreBundle;
/** A bundle holds one small payload and one signature; anything larger is refused unread. */
export const IMAGE_SIGNATURE_MAX_BYTES = 64 * 1024;

export const ImageSignaturePayloadSchema = Type.Object({
  /** The signed image manifest: its digest is what the signature binds. */
  image: Type.Object({ mediaType: MediaTypeSchema, digest: DigestSchema, size: SizeSchema }),
});
export type ImageSignaturePayload = Static<typeof ImageSignaturePayloadSchema>;

const parser = compileParser('image signature payload', ImageSignaturePayloadSchema, 'BOOTFLEET_MESSAGE_INVALID');

export function parseImageSignaturePayload(bytes: Uint8Array): ImageSignaturePayload {
  return parser.parse(parseJson(bytes, IMAGE_SIGNATURE_MAX_BYTES, 'image signature payload'));
}
