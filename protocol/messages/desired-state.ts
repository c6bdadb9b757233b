/**
 * Desired state: what one device should run. Server -> device on
 * `bootfleet/v1/devices/<id>/desired`, retained, QoS 1, always signed
 * (payload type DESIRED_STATE_PAYLOAD_TYPE). docs/protocol.md, "Desired state".
 */
import { Type, type Static } from 'typebox';
import { CampaignIdSchema, DeviceIdSchema, ImageTargetSchema, LayerEntrySchema, SequenceSchema, UnixSecondsSchema, UpdatePolicySchema } from './common.js';
import { MAX_LAYERS } from '../oci/schemas.js';

export const DESIRED_STATE_PAYLOAD_TYPE = 'application/vnd.bootfleet.desired-state.v1+json';
/** Largest signed desired-state envelope an agent accepts, in bytes. */
export const DESIRED_STATE_MAX_BYTES = 512 * 1024;

export const DesiredStateSchema = Type.Object(
  {
    device: DeviceIdSchema,
    seq: SequenceSchema,
    issuedAt: UnixSecondsSchema,
    expiresAt: UnixSecondsSchema,
    campaign: CampaignIdSchema,
    image: ImageTargetSchema,
    layers: Type.Array(LayerEntrySchema, { maxItems: MAX_LAYERS }),
    policy: UpdatePolicySchema,
    /** The builder's signature of the image (a serialized sigstore bundle), when the campaign carries one. */
    imageSignature: Type.Optional(Type.Object({}, { additionalProperties: true })),
  },
  { additionalProperties: false },
);
export type DesiredState = Static<typeof DesiredStateSchema>;
