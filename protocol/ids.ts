/**
 * Identifier rules shared by devices and campaigns. An id is used as one MQTT
 * topic level and as one file-name component, so it must be safe in both:
 * no MQTT wildcards (`+`, `#`), no `/`, no leading `$` (reserved for broker
 * topics, [MQTT-4.7.2-1]), no NUL, not empty, at most 64 characters.
 */
import { BootfleetError } from './errors.js';

export const ID_MAX_LENGTH = 64;
export const ID_SCHEMA_PATTERN = '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$';
const ID_PATTERN = new RegExp(ID_SCHEMA_PATTERN);

declare const deviceIdBrand: unique symbol;
export type DeviceId = string & { readonly [deviceIdBrand]: true };

export function parseDeviceId(input: unknown): DeviceId {
  return parseId(input, 'device id') as DeviceId;
}

export function parseCampaignId(input: unknown): string {
  return parseId(input, 'campaign id');
}

function parseId(input: unknown, what: string): string {
  if (typeof input !== 'string') {
    throw new BootfleetError('BOOTFLEET_ID_INVALID', `${what} must be a string, got ${typeof input}`);
  }
  if (input.length === 0) throw new BootfleetError('BOOTFLEET_ID_INVALID', `${what} is empty`);
  if (input.length > ID_MAX_LENGTH) {
    throw new BootfleetError('BOOTFLEET_ID_INVALID', `${what} is ${input.length} characters, limit ${ID_MAX_LENGTH}`);
  }
  if (!ID_PATTERN.test(input)) {
    throw new BootfleetError(
      'BOOTFLEET_ID_INVALID',
      `${what} ${JSON.stringify(input)} must start with a letter or digit and hold only letters, digits, '.', '_' and '-'`,
    );
  }
  return input;
}
