/**
 * MQTT topic layout, version 1 (docs/protocol.md, "Topics").
 *
 *   bootfleet/v1/devices/<device-id>/desired   server -> device, retained, QoS 1
 *   bootfleet/v1/devices/<device-id>/commands  server -> device, QoS 1
 *   bootfleet/v1/devices/<device-id>/reports   device -> server, QoS 1
 *   bootfleet/v1/devices/<device-id>/presence  device -> server, retained, QoS 1, last will
 *
 * The major version is a topic level so that a v2 agent and a v1 agent can
 * share a broker during a migration.
 */
import { BootfleetError } from './errors.js';
import { parseDeviceId, type DeviceId } from './ids.js';

export const TOPIC_ROOT = 'bootfleet';
export const PROTOCOL_VERSION = 'v1';

export const TOPIC_KINDS = ['desired', 'commands', 'reports', 'presence'] as const;
export type TopicKind = (typeof TOPIC_KINDS)[number];

export interface TopicSpec {
  readonly qos: 0 | 1;
  readonly retain: boolean;
  readonly direction: 'server-to-device' | 'device-to-server';
}

export const TOPIC_SPECS: Readonly<Record<TopicKind, TopicSpec>> = {
  desired: { qos: 1, retain: true, direction: 'server-to-device' },
  commands: { qos: 1, retain: false, direction: 'server-to-device' },
  reports: { qos: 1, retain: false, direction: 'device-to-server' },
  presence: { qos: 1, retain: true, direction: 'device-to-server' },
};

/** MQTT allows 65,535 bytes of topic name; ours are far shorter, so anything longer is hostile. */
const MAX_TOPIC_LENGTH = 256;

export function deviceTopic(deviceId: string, kind: TopicKind): string {
  const id = parseDeviceId(deviceId);
  return `${TOPIC_ROOT}/${PROTOCOL_VERSION}/devices/${id}/${kind}`;
}

/** The subscription filter a server uses to receive one kind from every device. */
export function allDevicesFilter(kind: TopicKind): string {
  return `${TOPIC_ROOT}/${PROTOCOL_VERSION}/devices/+/${kind}`;
}

export interface ParsedTopic {
  readonly deviceId: DeviceId;
  readonly kind: TopicKind;
}

/** Parses a concrete topic name (never a filter). */
export function parseTopic(topic: unknown): ParsedTopic {
  if (typeof topic !== 'string' || topic.length === 0 || topic.length > MAX_TOPIC_LENGTH) {
    throw new BootfleetError('BOOTFLEET_TOPIC_INVALID', 'topic must be a non-empty string of at most 256 characters');
  }
  if (topic.includes('+') || topic.includes('#') || topic.includes('\u0000')) {
    // [MQTT-4.7.3-2] wildcards are not allowed in topic names; NUL is never valid [MQTT-4.7.3-2].
    throw new BootfleetError('BOOTFLEET_TOPIC_INVALID', `topic ${JSON.stringify(topic)} contains a wildcard or NUL`);
  }
  const levels = topic.split('/');
  if (levels.length !== 5 || levels[0] !== TOPIC_ROOT || levels[1] !== PROTOCOL_VERSION || levels[2] !== 'devices') {
    throw new BootfleetError('BOOTFLEET_TOPIC_INVALID', `topic ${JSON.stringify(topic)} is not under ${TOPIC_ROOT}/${PROTOCOL_VERSION}/devices/`);
  }
  const kind = levels[4];
  if (!isTopicKind(kind)) {
    throw new BootfleetError('BOOTFLEET_TOPIC_INVALID', `topic ${JSON.stringify(topic)} has unknown kind ${JSON.stringify(kind)}`);
  }
  try {
    return { deviceId: parseDeviceId(levels[3]), kind };
  } catch (error) {
    throw new BootfleetError('BOOTFLEET_TOPIC_INVALID', `topic ${JSON.stringify(topic)} has an invalid device id`, { cause: error });
  }
}

function isTopicKind(value: string | undefined): value is TopicKind {
  return (TOPIC_KINDS as readonly (string | undefined)[]).includes(value);
}
