/**
 * External-broker provisioning: how enrolment gives a device its account and
 * ACL in the broker, and revocation takes them away. One implementation per
 * broker API: Mosquitto's dynamic-security plugin over MQTT (dynsec.ts) and
 * EMQX 5's HTTP API (emqx.ts); `none` leaves accounts to the operator.
 */
import type { MqttClient } from 'mqtt';
import { BootfleetError } from '../../protocol/index.js';
import type { BrokerConfig } from './config.js';
import { alreadyExists, deviceRoleAcls, deviceRoleName, DynsecClient } from './dynsec.js';
import { EmqxProvisioner } from './emqx.js';

export interface BrokerProvisioner {
  provision(deviceId: string, password: string): Promise<void>;
  revoke(deviceId: string): Promise<void>;
  close(): void;
}

/** The provisioner the configuration names, checked against the broker before the server starts. */
export async function startProvisioner(config: BrokerConfig, client: MqttClient): Promise<BrokerProvisioner | undefined> {
  switch (config.provisioning ?? 'none') {
    case 'none':
      return undefined;
    case 'mosquitto-dynsec':
      return startMosquittoProvisioner(client);
    case 'emqx-http': {
      if (config.emqx === undefined) throw new BootfleetError('BOOTFLEET_CONFIG_INVALID', 'broker.emqx is required when broker.provisioning is emqx-http');
      const emqx = new EmqxProvisioner(config.emqx);
      await emqx.start();
      return { provision: (id, password) => emqx.provision(id, password), revoke: (id) => emqx.revoke(id), close: () => undefined };
    }
  }
}

/**
 * Checks the dynamic-security link at start. The server's account and its
 * `bootfleet-server` role are made beforehand (deploy/mosquitto/provision-server.sh):
 * Mosquitto 2.0.11 kicks a client whose roles change and the answer is lost,
 * so the server never edits its own account.
 */
async function startMosquittoProvisioner(client: MqttClient): Promise<BrokerProvisioner> {
  const dynsec = new DynsecClient(client);
  await dynsec.start();
  await dynsec.run([{ command: 'getDefaultACLAccess' }]);
  const notFound = (r: { error?: unknown }): boolean => typeof r.error === 'string' && /not found/i.test(r.error);
  return {
    async provision(deviceId, password) {
      const rolename = deviceRoleName(deviceId);
      await dynsec.run([{ command: 'createRole', rolename, acls: deviceRoleAcls(deviceId) }], alreadyExists);
      await dynsec.run([{ command: 'createClient', username: deviceId, password, clientid: deviceId, roles: [{ rolename }] }]);
    },
    async revoke(deviceId) {
      await dynsec.run([{ command: 'deleteClient', username: deviceId }], notFound);
      await dynsec.run([{ command: 'deleteRole', rolename: deviceRoleName(deviceId) }], notFound);
    },
    close: () => {
      dynsec.close();
    },
  };
}
