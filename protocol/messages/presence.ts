/**
 * Presence: whether a device is connected. Device -> server on
 * `bootfleet/v1/devices/<id>/presence`, retained, QoS 1. The device publishes
 * `online: true` after connecting and registers `online: false` as its last
 * will, so the broker publishes it when the connection dies [MQTT-3.1.2-8].
 */
import { Type, type Static } from 'typebox';
import { DeviceIdSchema, UnixSecondsSchema } from './common.js';

export const PRESENCE_MEDIA_TYPE = 'application/vnd.bootfleet.presence.v1+json';
export const PRESENCE_MAX_BYTES = 4 * 1024;

export const PresenceSchema = Type.Object(
  {
    device: DeviceIdSchema,
    online: Type.Boolean(),
    /** When the connection this presence describes was opened (a will is written at connect time). */
    since: UnixSecondsSchema,
    agentVersion: Type.Optional(Type.String({ maxLength: 64 })),
  },
  { additionalProperties: false },
);
export type Presence = Static<typeof PresenceSchema>;
