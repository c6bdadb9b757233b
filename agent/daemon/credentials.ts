/**
 * The device's broker credentials, as `POST /api/v1/enroll` returned them
 * (docs/control-plane.md, "Enrolment"), kept in a file of mode 0600.
 */
import { open } from 'node:fs/promises';
import { Type, type Static } from 'typebox';
import { BootfleetError, compileParser, parseJson } from '../../protocol/index.js';
import { readFileOrThrow } from './config.js';

export const DeviceCredentialsSchema = Type.Object(
  {
    deviceId: Type.String({ minLength: 1, maxLength: 128 }),
    username: Type.String({ minLength: 1, maxLength: 256 }),
    password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: true },
);
export type DeviceCredentials = Static<typeof DeviceCredentialsSchema>;

const parser = compileParser('device credentials', DeviceCredentialsSchema, 'BOOTFLEET_CONFIG_INVALID');

export async function readDeviceCredentials(path: string): Promise<DeviceCredentials> {
  return parser.parse(parseJson(await readFileOrThrow(path), 64 * 1024, path));
}

/** Writes the enrolment answer; refuses to replace an existing file (the password cannot be fetched again). */
export async function writeDeviceCredentials(path: string, value: unknown): Promise<DeviceCredentials> {
  const credentials = parser.parse(value);
  let handle;
  try {
    handle = await open(path, 'wx', 0o600);
  } catch (error) {
    throw new BootfleetError('BOOTFLEET_KEY_EXISTS', `cannot create ${path}: it exists or is not writable`, { cause: error, details: { path } });
  }
  try {
    await handle.writeFile(`${JSON.stringify(value, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  return credentials;
}
