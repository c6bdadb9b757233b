/**
 * How a shipped systemd unit (deploy/systemd/) starts node: the flags of its
 * ExecStart and its Environment= lines (the reasons are written there), read
 * from the unit itself so that a benchmark's figures are the unit's,
 * whatever it says.
 */
import { existsSync, readFileSync } from 'node:fs';

export interface UnitLaunch {
  /** Node's own flags, before the script. */
  readonly flags: string[];
  readonly env: Record<string, string>;
}

export function unitLaunch(unitText: string): UnitLaunch {
  const exec = /^ExecStart=\S*node((?:\s+--\S+)*)\s/m.exec(unitText);
  if (exec === null) throw new Error('the unit has no ExecStart running node');
  const flags = (exec[1] ?? '').trim().split(/\s+/).filter((flag) => flag !== '');
  const env: Record<string, string> = {};
  for (const [, name, value] of unitText.matchAll(/^Environment=([A-Z_][A-Z0-9_]*)=(\S*)$/gm)) env[name ?? ''] = value ?? '';
  return { flags, env };
}

/** deploy/systemd/<name>, found upwards from this module (bench/lib/ in the sources, dist/bench/lib/ when built). */
export function readUnit(name: string): string {
  for (const up of ['../../', '../../../']) {
    const unit = new URL(`${up}deploy/systemd/${name}`, import.meta.url);
    if (existsSync(unit)) return readFileSync(unit, 'utf8');
  }
  throw new Error(`deploy/systemd/${name} not found above bench/lib/`);
}
