/**
 * The device ACL, one set of rules for every broker (docs/control-plane.md,
 * "Access control"; deploy/ holds the same rules for Mosquitto and EMQX).
 * A device may subscribe only to its own `desired` and `commands` topics,
 * with exact names (no wildcards), and publish only its own `reports` and
 * `presence`. Everything else is refused, `$SYS/` included.
 */
import { deviceTopic, parseTopic, type DeviceId, type TopicKind } from '../../protocol/index.js';

/** Topic kinds a device reads: the server-to-device ones. */
const DEVICE_READS: readonly TopicKind[] = ['desired', 'commands'];
/** Topic kinds a device writes: the device-to-server ones. */
const DEVICE_WRITES: readonly TopicKind[] = ['reports', 'presence'];

/** Whether `deviceId` may subscribe with this filter: only its own read topics, spelled exactly. */
export function maySubscribe(deviceId: string, filter: string): boolean {
  return DEVICE_READS.some((kind) => deviceTopic(deviceId, kind) === filter);
}

/** Whether `deviceId` may publish to `topic`. */
export function mayPublish(deviceId: string, topic: string): boolean {
  return DEVICE_WRITES.some((kind) => deviceTopic(deviceId, kind) === topic);
}

/**
 * Whether a message on `topic` may be delivered to `deviceId`. Checked on
 * every delivery, retained ones included (aedes #719: retained messages
 * once reached clients whose subscription the ACL had refused).
 */
export function mayReceive(deviceId: string, topic: string): boolean {
  return maySubscribe(deviceId, topic);
}

/**
 * The device that alone may receive messages on `topic`, when it is a
 * device's own read topic (`mayReceive` holds for that device and no
 * other); undefined for any other topic. One parse, for the broker's
 * per-message path (direct-delivery.ts).
 */
export function soleReceiver(topic: string): DeviceId | undefined {
  try {
    const { deviceId, kind } = parseTopic(topic);
    return DEVICE_READS.includes(kind) ? deviceId : undefined;
  } catch {
    return undefined;
  }
}

/** The topics a device may use, for enrolment answers and broker provisioning. */
export function deviceAcl(deviceId: string): { subscribe: string[]; publish: string[] } {
  return {
    subscribe: DEVICE_READS.map((kind) => deviceTopic(deviceId, kind)),
    publish: DEVICE_WRITES.map((kind) => deviceTopic(deviceId, kind)),
  };
}

