/**
 * Signed messages from a campaign to one device (docs/protocol.md, "Desired
 * state" and "Commands"): built from the campaign and the device's last
 * inventory, numbered with the device's own growing sequence, signed with
 * the server key and published through the control plane (from inside the
 * embedded broker, or as the server's client of an external one).
 *
 *   desired state  -> bootfleet/v1/devices/<id>/desired, retained, QoS 1
 *   rollback       -> bootfleet/v1/devices/<id>/commands, QoS 1
 */
import {
  deviceTopic,
  signDeviceMessage,
  TOPIC_SPECS,
  type Command,
  type DesiredState,
  type SigningKey,
  type UpdatePolicy,
} from '../../protocol/index.js';
import type { ControlPlane } from '../broker/control-plane.js';
import { layerEntries } from './plan.js';
import type { Campaign } from './schemas.js';
import type { CampaignStore } from './store.js';

export interface IssuerDeps {
  readonly plane: Pick<ControlPlane, 'publish'>;
  readonly key: SigningKey;
  readonly store: CampaignStore;
}

export interface Issued {
  readonly seq: number;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

export class Issuer {
  constructor(private readonly deps: IssuerDeps) {}

  /**
   * Signs and publishes the campaign's desired state for each device; `now`
   * in Unix seconds. Sequences are allocated for all at once, and the
   * publications run concurrently: a wave of thousands is one batch write,
   * then signing (CPU bound, about 55 us each here) and handing to the broker.
   */
  async desiredStates(campaign: Campaign, targets: readonly { device: string; inventory: readonly string[] }[], now: number): Promise<Issued[]> {
    const seqs = await this.deps.store.nextSeqs(
      targets.map((t) => t.device),
      'desired',
    );
    const spec = TOPIC_SPECS.desired;
    return Promise.all(
      targets.map(async ({ device, inventory }, index) => {
        const message: DesiredState = {
          device,
          seq: seqs[index] ?? 0,
          issuedAt: now,
          expiresAt: now + campaign.settings.desiredStateTtlSeconds,
          campaign: campaign.id,
          image: campaign.target,
          layers: layerEntries(campaign.layers, inventory),
          policy: policyOf(campaign),
          ...(campaign.imageSignature === undefined ? {} : { imageSignature: campaign.imageSignature }),
        };
        const bundle = signDeviceMessage('desired-state', message, this.deps.key);
        await this.deps.plane.publish(deviceTopic(device, 'desired'), JSON.stringify(bundle), { qos: spec.qos, retain: spec.retain });
        return { seq: message.seq, issuedAt: message.issuedAt, expiresAt: message.expiresAt };
      }),
    );
  }

  /**
   * Sends a signed `rollback` command, then clears the retained desired state
   * (an empty retained message deletes it, [MQTT-3.3.1-10]) so that a device
   * reconnecting later is not handed the image it was told to leave.
   */
  async rollback(campaign: Campaign, device: string, reason: string, now: number): Promise<Issued> {
    const seq = await this.deps.store.nextSeq(device, 'command');
    const command: Command = {
      device,
      seq,
      issuedAt: now,
      expiresAt: now + campaign.settings.desiredStateTtlSeconds,
      id: `rollback.${seq}`,
      command: 'rollback',
      reason: reason.slice(0, 1024),
    };
    const bundle = signDeviceMessage('command', command, this.deps.key);
    const spec = TOPIC_SPECS.commands;
    await this.deps.plane.publish(deviceTopic(device, 'commands'), JSON.stringify(bundle), { qos: spec.qos, retain: spec.retain });
    await this.withdraw(device);
    return { seq, issuedAt: command.issuedAt, expiresAt: command.expiresAt };
  }

  /** Clears the device's retained desired state: an empty retained message deletes it [MQTT-3.3.1-10]. */
  async withdraw(device: string): Promise<void> {
    await this.deps.plane.publish(deviceTopic(device, 'desired'), Buffer.alloc(0), { qos: 1, retain: true });
  }
}

function policyOf(campaign: Campaign): UpdatePolicy {
  const s = campaign.settings;
  return {
    downloadOnly: s.downloadOnly,
    allowDowngrade: s.allowDowngrade,
    healthTimeoutSeconds: s.healthTimeoutSeconds,
    ...(s.deadline === undefined ? {} : { deadline: s.deadline }),
    ...(s.maintenanceWindows === undefined ? {} : { maintenanceWindows: s.maintenanceWindows }),
  };
}
