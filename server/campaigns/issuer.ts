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
import { InventoryPlanner } from './plan.js';
import type { Campaign } from './schemas.js';
import { signedName, type DesiredStates, type SignedState } from './desired-states.js';
import type { CampaignStore } from './store.js';

export interface IssuerDeps {
  readonly plane: Pick<ControlPlane, 'publish' | 'publishMany'>;
  readonly key: SigningKey;
  readonly store: CampaignStore;
  /** Where desired states signed ahead are stored (and, with the embedded broker, retained: desired-states.ts). */
  readonly desired: DesiredStates;
}

export interface Issued {
  readonly seq: number;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

export interface Target {
  readonly device: string;
  readonly inventory: readonly string[];
}

export class Issuer {
  constructor(private readonly deps: IssuerDeps) {}

  /**
   * Signs ahead (docs/control-plane.md, "Scale"): signs the campaign's
   * desired state for each device and stores it unpublished, so that
   * starting the campaign only publishes. Each message still names its
   * device and its own new sequence; `desiredStates` uses it only while it
   * is still exactly what would be signed now (see `reusable`).
   */
  async prepare(campaign: Campaign, targets: readonly Target[], now: number): Promise<void> {
    const signed = await this.sign(campaign, targets, now, new InventoryPlanner(campaign.layers));
    await this.deps.desired.put(signed);
  }

  /**
   * Publishes the campaign's desired state for each device, signed ahead
   * when still valid or signed now; `now` in Unix seconds. Sequences are
   * allocated for the whole batch at once, and the batch is published as
   * one (`publishMany`: one store of the retained messages, then each
   * handed to its device): a wave of thousands is a few batch writes, then
   * signing (CPU bound, about 55 us each here) and handing to the broker.
   * A state signed ahead is published with its stored name, so the embedded
   * broker records a pointer to it rather than a copy (desired-states.ts).
   */
  async desiredStates(campaign: Campaign, targets: readonly Target[], now: number, planner = new InventoryPlanner(campaign.layers)): Promise<Issued[]> {
    const devices = targets.map((t) => t.device);
    const current = await this.deps.store.currentSeqs(devices, 'desired');
    const prepared = await this.deps.desired.signedAhead(campaign.id, devices, current);
    const states: (SignedState | undefined)[] = targets.map((t, i) => reusable(campaign, planner.of(t.inventory).entriesJson, prepared[i], current[i] ?? 0, now));
    const fresh = await this.sign(
      campaign,
      targets.filter((_, i) => states[i] === undefined),
      now,
      planner,
    );
    let next = 0;
    const chosen = states.map((state) => {
      const picked = state ?? fresh[next++];
      if (picked === undefined) throw new Error('a desired state was neither signed ahead nor signed now');
      return picked;
    });
    const spec = TOPIC_SPECS.desired;
    const options = { qos: spec.qos, retain: spec.retain };
    await this.deps.plane.publishMany(
      // `stored` always set (undefined when signed now): one object shape, no spread per device.
      chosen.map((state, i) => ({ topic: deviceTopic(state.device, 'desired'), payload: state.bundle, options, stored: states[i] === undefined ? undefined : signedName(state) })),
    );
    // A bundle signed ahead and used stays stored while its campaign is open or it is the device's retained
    // desired state (desired-states.ts, `sweep`): no deletion per device on the way to the last one.
    return chosen.map((state) => ({ seq: state.seq, issuedAt: state.issuedAt, expiresAt: state.expiresAt }));
  }

  private async sign(campaign: Campaign, targets: readonly Target[], now: number, planner: InventoryPlanner): Promise<SignedState[]> {
    if (targets.length === 0) return [];
    const seqs = await this.deps.store.nextSeqs(
      targets.map((t) => t.device),
      'desired',
    );
    const signed = targets.map(({ device, inventory }, index) => {
      const { entries, entriesJson } = planner.of(inventory);
      const message: DesiredState = {
        device,
        seq: seqs[index] ?? 0,
        issuedAt: now,
        expiresAt: now + campaign.settings.desiredStateTtlSeconds,
        campaign: campaign.id,
        image: campaign.target,
        layers: [...entries],
        policy: policyOf(campaign),
        ...(campaign.imageSignature === undefined ? {} : { imageSignature: campaign.imageSignature }),
      };
      const state = { device, campaign: campaign.id, seq: message.seq, issuedAt: message.issuedAt, expiresAt: message.expiresAt, layers: entriesJson };
      return { state, json: JSON.stringify(signDeviceMessage('desired-state', message, this.deps.key)) };
    });
    // Bytes once, here: stored ahead and published as they are (no UTF-8 encoding per publish or per store).
    const bundles = utf8Views(signed.map((s) => s.json));
    return signed.map(({ state }, i) => {
      const bundle = bundles[i];
      if (bundle === undefined) throw new Error('a signed desired state has no bytes');
      return { ...state, bundle };
    });
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
    await this.withdrawMany([device]);
  }

  /** `withdraw` for many devices, as one `publishMany`. */
  async withdrawMany(devices: readonly string[]): Promise<void> {
    const options = { qos: 1, retain: true } as const;
    await this.deps.plane.publishMany(devices.map((device) => ({ topic: deviceTopic(device, 'desired'), payload: Buffer.alloc(0), options })));
  }
}

/**
 * A desired state signed ahead is published only if it is what would be
 * signed now, bar the signing time: no sequence was allocated for the
 * device since (so it is still the device's newest, [protocol: seq only
 * grows]), its layer list matches the device's inventory now, and it has
 * more than half its lifetime left (the re-issue threshold, rollout.ts).
 */
function reusable(campaign: Campaign, layersJson: string, state: SignedState | undefined, currentSeq: number, now: number): SignedState | undefined {
  if (state === undefined || state.seq !== currentSeq) return undefined;
  if (state.expiresAt - now <= campaign.settings.desiredStateTtlSeconds / 2 || state.issuedAt > now) return undefined;
  return state.layers === layersJson ? state : undefined;
}

function policyOf(campaign: Campaign): UpdatePolicy {
  const s = campaign.settings;
  return {
    downloadOnly: s.downloadOnly,
    allowDowngrade: s.allowDowngrade,
    healthTimeoutSeconds: s.healthTimeoutSeconds,
    ...(s.soakSeconds === undefined ? {} : { soakSeconds: s.soakSeconds }),
    ...(s.deadline === undefined ? {} : { deadline: s.deadline }),
    ...(s.maintenanceWindows === undefined ? {} : { maintenanceWindows: s.maintenanceWindows }),
  };
}

/**
 * The texts as UTF-8, each an exact view of one allocation made for all of
 * them. `Buffer.from` takes a string under 4 KiB from Node's shared 8 KiB
 * pool, and a view that is kept keeps its whole pool slab alive, with the
 * garbage of whatever else was allocated from it: the desired states of
 * 10,000 devices signed ahead and kept in memory (16 MB of bundles) held
 * 43 MB of slabs (docs/control-plane.md, "Twelfth round"). What one
 * signing made lives and dies together: its campaign keeps it in memory
 * and forgets it at once.
 */
function utf8Views(texts: readonly string[]): Buffer[] {
  const lengths = texts.map((text) => Buffer.byteLength(text, 'utf8'));
  const slab = Buffer.allocUnsafeSlow(lengths.reduce((sum, length) => sum + length, 0));
  let offset = 0;
  return texts.map((text, i) => {
    const length = lengths[i] ?? 0;
    slab.write(text, offset, length, 'utf8');
    offset += length;
    return slab.subarray(offset - length, offset);
  });
}
