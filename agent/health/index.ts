/** agent/health: health checks and the probation that commits or rolls back. */
export * from './checks.js';
export * from './integrity.js';
export * from './probation.js';
export * from './start-up.js';
