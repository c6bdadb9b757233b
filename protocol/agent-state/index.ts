/** The device state format and its transitions (docs/agent-deployment.md). */
export * from './schema.js';
export * from './transitions.js';
export * from './verify.js';
export * from './deployment-record.js';
export * from './audit.js';
