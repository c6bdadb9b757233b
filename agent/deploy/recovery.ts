/**
 * Recovery at start-up (docs/agent-deployment.md, "Recovery"). The state file
 * is the commit point of every switch: it holds either no intent (the slots
 * are the truth; the backend is re-pointed at `booted` if it disagrees, which
 * only happens after an interrupted provisioning) or an intent, which is
 * finished when its target deployment is complete and undone otherwise.
 * Running recovery twice, or being killed during it, is harmless: each step
 * is idempotent and ends in a durable state.
 */
import { isBootfleetError, type AgentState, type PendingTransition } from '../../protocol/index.js';
import { crashPoint } from './crash-point.js';
import { collectGarbage, verifyDeployment } from './deployments.js';
import { finishSwitch, refById, type Deployer } from './deployer.js';
import { writeState } from './state-store.js';

export interface RecoveryResult {
  /** none: nothing to do; finished/undone: an interrupted switch; relinked: the backend pointed elsewhere. */
  readonly outcome: 'none' | 'finished' | 'undone' | 'relinked';
  readonly interrupted?: PendingTransition;
  /** Deployment directories deleted because no slot referenced them. */
  readonly removed: readonly string[];
  readonly state: AgentState;
}

export async function recover(deployer: Deployer): Promise<RecoveryResult> {
  let state = await deployer.status();
  let outcome: RecoveryResult['outcome'] = 'none';
  const interrupted = state.pending;
  if (interrupted !== undefined) {
    if (await isComplete(deployer, state, interrupted.target)) {
      state = await finishSwitch(deployer, state, interrupted);
      outcome = 'finished';
    } else {
      state = await undo(deployer, state);
      outcome = 'undone';
    }
    crashPoint(`recover:${outcome}`);
    await deployer.backend.activate();
  } else if (state.booted !== undefined && (await deployer.backend.current()) !== state.booted.id) {
    await deployer.backend.switchTo(state.booted, 'recover');
    outcome = 'relinked';
    await deployer.backend.activate();
  }
  const removed = await collectGarbage(deployer.dataDir, state);
  return { outcome, removed, state, ...(interrupted === undefined ? {} : { interrupted }) };
}

async function isComplete(deployer: Deployer, state: AgentState, id: string): Promise<boolean> {
  try {
    await verifyDeployment(deployer.dataDir, refById(state, id));
    return true;
  } catch (error) {
    if (isBootfleetError(error, 'BOOTFLEET_DEPLOYMENT_INCOMPLETE')) return false;
    throw error;
  }
}

/** Returns to the booted deployment of the state (the intent never changed the slots) and drops the intent. */
async function undo(deployer: Deployer, state: AgentState): Promise<AgentState> {
  const { booted } = state;
  if (booted !== undefined && (await deployer.backend.current()) !== booted.id) await deployer.backend.switchTo(booted, 'recover');
  crashPoint('recover:relinked');
  const next: AgentState = { ...state, generation: state.generation + 1 };
  delete next.pending;
  return writeState(deployer.dataDir, state, next, 'recover');
}
