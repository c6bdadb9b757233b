/** The device state format and its transitions (docs/agent-deployment.md). */
export * from './schema.js';
export * from './transitions.js';
export * from './verify.js';
