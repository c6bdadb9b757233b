/** Device ACL against the embedded aedes broker over real TCP on 127.0.0.1. */
import { allDevicesFilter } from '../../protocol/index.js';
import { aclSuite } from '../helpers/acl-suite.js';
import { startTestBroker } from '../helpers/embedded-broker.js';

aclSuite('embedded broker: device access control', async () => {
  const broker = await startTestBroker();
  const received: { topic: string; payload: string }[] = [];
  for (const kind of ['reports', 'presence'] as const) {
    await broker.plane.onDeviceMessage(allDevicesFilter(kind), (topic, payload) => {
      received.push({ topic, payload: payload.toString('utf8') });
      return Promise.resolve();
    });
  }
  return {
    url: broker.url,
    enroll: (id) => broker.enroll(id),
    publish: (topic, payload, options) => broker.plane.publish(topic, payload, options),
    received,
    stop: () => broker.destroy(),
  };
});
