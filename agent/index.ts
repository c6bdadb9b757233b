/** agent/: the device agent. Other components import it through this file only. */
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
// The daemon (issue #5): the update pipeline, managed and autonomous modes.
export * from './pipeline/index.js';
export * from './daemon/index.js';
