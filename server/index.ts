export { buildApp, type AppDeps } from './app.js';
export { defaultServerConfig, loadServerConfig, ServerConfigSchema, type ServerConfig } from './config.js';
export { startServer, type RunningServer } from './start.js';
// Control plane (issue #6)
export { startControl, type ControlServices } from './control.js';
export type { ControlPlane } from './broker/control-plane.js';
export type { BrokerConfig } from './broker/config.js';
export type { AuthConfig, Role } from './identity/config.js';
