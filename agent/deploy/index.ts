/** agent/deploy: deployments on disk, the state file, activation backends, recovery. */
export * from './audit-log.js';
export * from './backend.js';
export * from './bootc-backend.js';
export * from './command-runner.js';
export * from './deployer.js';
export * from './deployments.js';
export * from './recovery.js';
export * from './rootfs-backend.js';
export * from './stage-source.js';
export * from './state-store.js';
export * from './tree-digest.js';
export * from './config.js';
export * from './data-lock.js';
export * from './lock-gate.js';
