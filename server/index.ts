export { buildApp, type AppDeps } from './app.js';
export { defaultServerConfig, loadServerConfig, ServerConfigSchema, type ServerConfig } from './config.js';
export { startServer, type RunningServer } from './start.js';
