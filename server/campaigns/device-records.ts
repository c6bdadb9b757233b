/**
 * The compact forms of a campaign's device records (store.ts), for the two
 * moments when every device of a wave changes at once: the start freezes
 * the devices (all `pending`), and the start's step issues them their first
 * desired state. One JSON array of tuples instead of a JSON record per
 * device: one value to build and one LevelDB operation instead of 10,000
 * (docs/campaigns.md, "Persistence"). A device's own `d!` record, written
 * for any later change, supersedes both.
 */
import type { DeviceProgress } from './schemas.js';

/** A device frozen at start: [device, wave, missingBytes, missingLayers]; its state is `pending`. */
export type FrozenEntry = [string, number, number, number];

/** A device's first issue: [device, wave, desiredSeq, issuedAt, expiresAt, lastActivityAt, missingBytes, missingLayers]. */
export type FirstIssueEntry = [string, number, number, number, number, number, number, number];

/** Devices per first-issue record: bounds one value (about 100 bytes a device). */
export const FIRST_ISSUE_CHUNK = 1_024;

/** The entry of a device frozen at start; undefined when it is not a plain pending record. */
export function frozenEntry(d: DeviceProgress): FrozenEntry | undefined {
  if (d.state !== 'pending' || !onlyFields(d, 5)) return undefined;
  return [d.device, d.wave, d.missingBytes, d.missingLayers];
}

export function fromFrozen([device, wave, missingBytes, missingLayers]: FrozenEntry): DeviceProgress {
  return { device, wave, state: 'pending', missingBytes, missingLayers };
}

/**
 * The entry of a device just issued its first desired state (rollout.ts,
 * `firstIssue`); undefined for any other record, which is then written as
 * the device's own record.
 */
export function firstIssueEntry(d: DeviceProgress): FirstIssueEntry | undefined {
  const { desiredSeq, issuedAt, expiresAt, lastActivityAt } = d;
  if (d.state !== 'issued' || desiredSeq === undefined || issuedAt === undefined || expiresAt === undefined || lastActivityAt === undefined) return undefined;
  if (!onlyFields(d, 9)) return undefined;
  return [d.device, d.wave, desiredSeq, issuedAt, expiresAt, lastActivityAt, d.missingBytes, d.missingLayers];
}

/** Field for field what rollout.ts `firstIssue` builds, in its order. */
export function fromFirstIssue([device, wave, desiredSeq, issuedAt, expiresAt, lastActivityAt, missingBytes, missingLayers]: FirstIssueEntry): DeviceProgress {
  return { device, wave, state: 'issued', missingBytes, missingLayers, desiredSeq, issuedAt, expiresAt, lastActivityAt };
}

/** No field beyond those the entry keeps (a `phase`, a `reason`...): such a record is written whole. */
function onlyFields(d: DeviceProgress, count: number): boolean {
  let fields = 0;
  for (const key in d) if (Object.hasOwn(d, key) && (d as unknown as Record<string, unknown>)[key] !== undefined) fields += 1;
  return fields === count;
}
