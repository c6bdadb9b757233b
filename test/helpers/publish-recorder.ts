/** An in-memory stand-in for the control plane's publishing side (unit tests): records each message, as published one by one. */
import { publishEach, type ControlPlane, type PublishOptions } from '../../server/broker/control-plane.js';

export function recorder(record: (topic: string, payload: Buffer | string, options: PublishOptions) => void): Pick<ControlPlane, 'publish' | 'publishMany'> {
  const plane: Pick<ControlPlane, 'publish' | 'publishMany'> = {
    publish: (topic, payload, options) => {
      record(topic, payload, options);
      return Promise.resolve();
    },
    publishMany: (messages) => publishEach(plane, messages),
  };
  return plane;
}
