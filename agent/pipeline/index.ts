/** agent/pipeline: the update pipeline as named steps (fetch, verify, unpack, stage, activate, health-check, commit or roll back). */
export * from './activate-step.js';
export * from './attempts.js';
export * from './content-source.js';
export * from './context.js';
export * from './events.js';
export * from './fetch-step.js';
export * from './health-step.js';
export * from './layout-source.js';
export * from './run-update.js';
export * from './signature-step.js';
export * from './stage-step.js';
export * from './verify-step.js';
