/**
 * The content side of the agent alone (store, registry client, fetch,
 * unpack), without the daemon, MQTT or the pipeline that agent/index.ts also
 * exports. `bootfleet agent pull|unpack|inventory|gc` load this file when they
 * run, so that a content command pays only for what it uses (the agent's
 * memory budget, docs/agent-content.md "Memory").
 */
export * from './unpack/apply-layer.js';
export * from './unpack/decompress.js';
export * from './unpack/limits.js';
export * from './unpack/pax-xattrs.js';
export * from './unpack/unpack-image.js';
export * from './content/store.js';
export * from './content/inventory.js';
export * from './content/gc.js';
export * from './fetch/progress.js';
export * from './fetch/backoff.js';
export * from './fetch/download.js';
export * from './fetch/pull-image.js';
export * from './fetch/rate-limit.js';
export * from './registry/auth.js';
export * from './registry/client.js';
export * from './registry/http.js';
export * from './registry/reference.js';
export * from './registry/resolve.js';
