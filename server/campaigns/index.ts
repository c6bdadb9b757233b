/** server/campaigns: update campaigns, their waves and their signed desired state (docs/campaigns.md). */
export { CampaignManager, DEFAULT_TICK_MS, type CampaignManagerDeps } from './manager.js';
export { CampaignStatusSchema, type CampaignStatus } from './status.js';
export type { CampaignEvent } from './rollout.js';
export * from './schemas.js';
export type { CampaignPlan } from './plan.js';
