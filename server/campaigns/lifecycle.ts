/**
 * The campaign lifecycle as data (docs/campaigns.md, "Lifecycle"):
 *
 *   draft --start--> running --pause--> paused --resume--> running
 *   running --complete--> completed      draft | running | paused --abort--> aborted
 *
 * Every persisted change of `state` goes through `verifyCampaignTransition`,
 * which refuses an impossible change before anything is written (as bootc's
 * verify_transition does for deployments).
 */
import { BootfleetError } from '../../protocol/index.js';
import type { CampaignState } from './schemas.js';

export const CAMPAIGN_ACTIONS = ['start', 'pause', 'resume', 'abort', 'complete'] as const;
export type CampaignAction = (typeof CAMPAIGN_ACTIONS)[number];

const TRANSITIONS: Readonly<Record<CampaignAction, { readonly from: readonly CampaignState[]; readonly to: CampaignState }>> = {
  start: { from: ['draft'], to: 'running' },
  pause: { from: ['running'], to: 'paused' },
  resume: { from: ['paused'], to: 'running' },
  abort: { from: ['draft', 'running', 'paused'], to: 'aborted' },
  complete: { from: ['running'], to: 'completed' },
};

/** The state `action` leads to from `current`; throws BOOTFLEET_CAMPAIGN_TRANSITION_INVALID when impossible. */
export function verifyCampaignTransition(current: CampaignState, action: CampaignAction): CampaignState {
  const rule = TRANSITIONS[action];
  if (!rule.from.includes(current)) {
    throw new BootfleetError('BOOTFLEET_CAMPAIGN_TRANSITION_INVALID', `cannot ${action} a campaign that is ${current}`, {
      details: { state: current, action, allowedFrom: rule.from },
    });
  }
  return rule.to;
}

/** States in which the campaign's engine works on it (issues desired state, counts reports, checks timeouts). */
export function isActive(state: CampaignState): boolean {
  return state === 'running' || state === 'paused';
}
