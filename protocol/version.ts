/**
 * Image versions are dotted numeric strings (`2026.11.2`): easy to compare in
 * any language, and what the downgrade floor is checked against. Missing
 * trailing parts count as 0, so `1.2` equals `1.2.0`.
 */
import { BootfleetError } from './errors.js';
import { VERSION_SCHEMA_PATTERN } from './messages/common.js';

const VERSION_PATTERN = new RegExp(VERSION_SCHEMA_PATTERN);

export function parseVersion(input: unknown): readonly number[] {
  if (typeof input !== 'string' || !VERSION_PATTERN.test(input)) {
    throw new BootfleetError('BOOTFLEET_VERSION_INVALID', `invalid version ${JSON.stringify(input)}: expected 1 to 4 dot-separated numbers`);
  }
  return input.split('.').map(Number);
}

/** Negative when a < b, 0 when equal, positive when a > b. */
export function compareVersions(a: string, b: string): number {
  const pa = parseVersion(a);
  const pb = parseVersion(b);
  for (let i = 0; i < 4; i += 1) {
    const diff = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (diff !== 0) return Math.sign(diff);
  }
  return 0;
}

/**
 * The downgrade rule (docs/protocol.md, 6.1): a target below the booted
 * version is refused unless the signed policy allows it. Equal is allowed
 * (re-deploying the same version, for example a rebuilt image).
 */
export function checkDowngrade(booted: string | undefined, target: string, allowDowngrade: boolean): void {
  if (booted === undefined || allowDowngrade) return;
  if (compareVersions(target, booted) < 0) {
    throw new BootfleetError('BOOTFLEET_DOWNGRADE_REFUSED', `target version ${target} is below the booted version ${booted}`, {
      details: { booted, target },
    });
  }
}
