/**
 * The state file `<data>/state.json` (docs/agent-deployment.md, "State
 * file"). Reads parse and check every invariant: a corrupt file is
 * BOOTFLEET_STATE_CORRUPT, never silently replaced by an empty state, since
 * that would forget the factory and rollback slots. Writes go through
 * `verifyTransition` first and then `writeFileAtomic`, so the file on disk is
 * always one complete, valid state: the old one or the new one.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  agentStateParser,
  BootfleetError,
  initialAgentState,
  parseJson,
  STATE_MAX_BYTES,
  verifyState,
  verifyTransition,
  type AgentState,
} from '../../protocol/index.js';
import { crashPoint } from './crash-point.js';
import { writeFileAtomic } from './durable-fs.js';

export const STATE_FILE = 'state.json';

export function statePath(dataDir: string): string {
  return join(dataDir, STATE_FILE);
}

/** The current state; a device never written to is in the initial, unprovisioned state. */
export async function readState(dataDir: string): Promise<AgentState> {
  let bytes: Buffer;
  try {
    bytes = await readFile(statePath(dataDir));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return initialAgentState();
    throw new BootfleetError('BOOTFLEET_FILE_UNREADABLE', `cannot read ${statePath(dataDir)}`, { cause: error });
  }
  try {
    const state = agentStateParser.parse(parseJson(bytes, STATE_MAX_BYTES, 'state file'));
    verifyState(state);
    return state;
  } catch (error) {
    const cause = error instanceof BootfleetError ? error : undefined;
    throw new BootfleetError('BOOTFLEET_STATE_CORRUPT', `${statePath(dataDir)} is not a valid agent state: ${cause?.message ?? String(error)}`, {
      cause: error,
      details: { path: statePath(dataDir), ...(cause === undefined ? {} : { reason: cause.code }) },
    });
  }
}

/**
 * Replaces `prev` with `next` on disk. `label` names the step for the crash
 * hook (`<label>:state-temp` after the temporary file is durable,
 * `<label>:state` after the rename). Refuses, writing nothing, when the
 * transition is impossible or when the file no longer holds `prev` (another
 * process changed it meanwhile).
 */
export async function writeState(dataDir: string, prev: AgentState, next: AgentState, label: string): Promise<AgentState> {
  verifyTransition(prev, next);
  const parsed = agentStateParser.parse(next);
  const onDisk = await readState(dataDir);
  if (onDisk.generation !== prev.generation) {
    throw new BootfleetError('BOOTFLEET_TRANSITION_INVALID', `the state changed meanwhile (generation ${onDisk.generation}, expected ${prev.generation})`, {
      details: { reason: 'concurrent change' },
    });
  }
  try {
    await mkdir(dataDir, { recursive: true });
    await writeFileAtomic(statePath(dataDir), `${JSON.stringify(parsed, null, 2)}\n`, {
      afterTempWritten: () => {
        crashPoint(`${label}:state-temp`);
      },
    });
  } catch (error) {
    throw new BootfleetError('BOOTFLEET_STATE_WRITE_FAILED', `cannot write ${statePath(dataDir)}`, { cause: error });
  }
  crashPoint(`${label}:state`);
  return parsed;
}
