/** agent/policy: when an update may be activated (pure functions). */
export * from './decide.js';
export * from './maintenance-window.js';
