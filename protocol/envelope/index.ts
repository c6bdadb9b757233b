export * from './keys.js';
export * from './open.js';
export * from './sign.js';
export * from './signed-message.js';
