/**
 * Commands: one-off actions. Server -> device on
 * `bootfleet/v1/devices/<id>/commands`, QoS 1, not retained, always signed
 * (payload type COMMAND_PAYLOAD_TYPE). docs/protocol.md, "Commands".
 */
import { Type, type Static } from 'typebox';
import { DeviceIdSchema, SequenceSchema, UnixSecondsSchema } from './common.js';
import { ID_SCHEMA_PATTERN } from '../ids.js';

export const COMMAND_PAYLOAD_TYPE = 'application/vnd.bootfleet.command.v1+json';
export const COMMAND_MAX_BYTES = 16 * 1024;

export const COMMAND_NAMES = ['rollback', 'check-now', 'factory-reset'] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export const CommandSchema = Type.Object(
  {
    device: DeviceIdSchema,
    seq: SequenceSchema,
    issuedAt: UnixSecondsSchema,
    expiresAt: UnixSecondsSchema,
    /** Unique per command; the device echoes it in the report that answers it. */
    id: Type.String({ pattern: ID_SCHEMA_PATTERN }),
    command: Type.Enum(COMMAND_NAMES),
    reason: Type.Optional(Type.String({ maxLength: 1024 })),
  },
  { additionalProperties: false },
);
export type Command = Static<typeof CommandSchema>;
