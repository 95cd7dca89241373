/**
 * saml-sp-kit public API. Everything not exported here is internal.
 */
export { createApp, createSamlSp, SESSION_COOKIE } from './app.js';
export type { SamlSp, SamlSpOptions } from './app.js';
export { loadConfigFromEnv, resolveConfig, ConfigError } from './config/load.js';
export type { ConfigInput, SpConfig } from './config/schema.js';
export { SpError, isSpError, errorCatalog } from './errors.js';
export type { ErrorCode } from './errors.js';
export type { BotPrincipal } from './bots/service.js';
export type { ProvisionHook, ProvisionInput, ProvisionedUser } from './users/provision.js';
export type { MappedProfile } from './users/attributes.js';
export type { SpEvent, SpEventListener } from './events.js';
export type { Branding } from './http/site.js';
export type { SpMetrics, SignInOutcome, SignInProtocol } from './metrics.js';
