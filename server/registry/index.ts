/** server/registry: the embedded OCI Distribution Spec v1.1 registry (docs/registry.md). */
export { sha256Hex } from './auth.js';
export { collectGarbage, type GcOptions, type GcResult } from './gc.js';
export { registryPlugin } from './plugin.js';
export { openRegistry, registryRoot, type Registry } from './registry.js';
