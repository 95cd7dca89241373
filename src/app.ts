import express, { Router, type ErrorRequestHandler, type Express } from 'express';
import session from 'express-session';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { AuditTrail } from './audit/trail.js';
import { resolveConfig } from './config/load.js';
import type { ConfigInput, SpConfig } from './config/schema.js';
import { loadSpKeys } from './config/sp-keys.js';
import { loadTokenKeys } from './config/token-keys.js';
import { BotService, type BotPrincipal } from './bots/service.js';
import { startMetadataRefresh } from './connections/metadata-refresh.js';
import { ConnectionService } from './connections/service.js';
import { OidcConnectionService } from './connections/oidc-service.js';
import { SecretBox } from './connections/secret-box.js';
import { adminApiRouter } from './http/admin-api/routes.js';
import { adminViewsRouter } from './http/admin-views/routes.js';
import { localLoginRouter } from './http/local-login-routes.js';
import { markFreshSessions } from './http/login-session.js';
import { csrfProtection } from './http/middleware/csrf.js';
import { errorHandler, notFound } from './http/middleware/errors.js';
import {
  localLimiters,
  sharedLimiters,
  SharedRateLimits,
  type LimiterFactory,
} from './http/middleware/rate-limit.js';
import { requestLog } from './http/middleware/request-log.js';
import { metricsRouter, ssoTimer } from './http/metrics.js';
import { sessionGuard } from './http/middleware/session-guard.js';
import { openApiRouter } from './http/openapi.js';
import { pagesRouter } from './http/pages.js';
import { siteFor, type Branding } from './http/site.js';
import { eventEmitter, signInEvent, type SpEventListener } from './events.js';
import { startCertificateExpiryCheck } from './connections/certificate-expiry.js';
import { ssoRouter } from './http/sso/routes.js';
import { createLogger } from './logger.js';
import { SpMetrics } from './metrics.js';
import { SetupLinkService } from './accounts/setup-links.js';
import { setupLinksRouter } from './http/setup-links.js';
import { randomId } from './random.js';
import { SsoService } from './sso/service.js';
import { cookieSpot, SESSION_COOKIE } from './http/cookies.js';
import { openStorage } from './storage/index.js';
import type { Stores } from './storage/types.js';
import { UserAdmin } from './users/admin.js';
import type { ProvisionHook } from './users/provision.js';

/** Expired replay entries, sessions, old audit events and sign-in tests are deleted this often. */
const SWEEP_EVERY_MS = 60_000;
/** The one-time key whose claim elects the one sweeper of an interval. */
const SWEEP_CLAIM_KEY = 'sweep:expired-records';

export { SESSION_COOKIE } from './http/cookies.js';

/** Options of {@link createSamlSp}. */
export interface SamlSpOptions {
  /** Validated config, or raw settings validated against the schema. */
  config: SpConfig | ConfigInput;
  /** The host application's own user provisioning; replaces the built-in user table. */
  provisionUser?: ProvisionHook;
  /** A pino logger; one is created from config.logLevel otherwise. */
  logger?: Logger;
  /** Product name and extra stylesheet of the pages (start, sign-in, admin and error pages). */
  branding?: Branding;
  /**
   * Called for every sign-in (succeeded, or failed with its code and audit reference), connection
   * activation, and IdP certificate expiring within {@link SamlSpOptions.certificateExpiryDays} (checked at
   * start and daily). Errors it throws are logged, never passed on.
   */
  onEvent?: SpEventListener;
  /** Days before an IdP certificate's expiry from which `certificate.expiring` is emitted. Default 30. */
  certificateExpiryDays?: number;
  /**
   * One log line per request (redacted; see src/http/middleware/request-log.ts). Default
   * true; a host app that logs requests itself may turn it off.
   */
  requestLogging?: boolean;
}

/** A built SP: mount `router` in an Express app; call `close()` on shutdown. */
export interface SamlSp {
  router: Router;
  config: SpConfig;
  /**
   * The session cookie's name and path as this SP sets them: `__Host-sspk.sid` and `/` on an https
   * BASE_URL, `sspk.sid` and the base path on http (see README, "Cookies no other host can plant").
   * A host that forwards requests elsewhere should drop it (it is a credential).
   */
  sessionCookie: { name: string; path: string };
  stores: Stores;
  logger: Logger;
  /**
   * The error renderer the router uses, for the host app's own 404s and errors: its error pages record
   * their reference in the account's audit trail like the kit's own (see errorHandler).
   */
  errorHandler: ErrorRequestHandler;
  /**
   * Checks a bot token (the value after `Bearer `) for the host application's own routes, exactly as the
   * kit's API does: signature, claims, and issued/revoked/disabled in the database. Throws a
   * {@link SpError} with a `TOKEN_*` code (401) otherwise.
   */
  authenticateBot: (token: string) => Promise<BotPrincipal>;
  /**
   * Runs one pass of the scheduled IdP metadata refresh now (the connections imported from a metadata
   * URL that are due, see METADATA_REFRESH_INTERVAL_MINUTES); resolves when it is done.
   */
  refreshIdpMetadata: () => Promise<void>;
  /**
   * The kit's Prometheus metrics (its own registry, see {@link SpMetrics}); served at `/metrics` when
   * METRICS_ENABLED, and a host can merge `metrics.registry` into its own.
   */
  metrics: SpMetrics;
  /**
   * Marks the SP as shutting down: `/readyz` answers 503 `{ "status": "shutting-down" }` from now on
   * (`/healthz` stays 200), so a load balancer stops sending traffic before the host stops accepting
   * connections and calls {@link close}. src/server.ts calls it on SIGTERM and SIGINT.
   */
  beginShutdown: () => void;
  close: () => Promise<void>;
}

function isResolved(c: SpConfig | ConfigInput): c is SpConfig {
  return Object.isFrozen(c) && 'sessionSecretGenerated' in c;
}

/**
 * Builds the SP from configuration: storage (migrated), SP keys, services and one Express router with
 * the session middleware, the SSO endpoints, the admin API and the error handler.
 */
export async function createSamlSp(options: SamlSpOptions): Promise<SamlSp> {
  const config = isResolved(options.config) ? options.config : resolveConfig(options.config);
  const logger =
    options.logger ?? createLogger(config.logLevel, { pretty: config.nodeEnv === 'development' });
  const production = config.nodeEnv === 'production';
  const keys = loadSpKeys(config.spKeyFile, config.spCertFile, production);
  if (keys.isDevPair)
    logger.warn(
      'using the PUBLIC development SP key pair from certs/: never in production (set SP_KEY_FILE and SP_CERT_FILE)',
    );
  const tokenKeys = await loadTokenKeys(config.tokenSigningKeyFile, config.tokenVerifyKeyFiles, production);
  if (tokenKeys.isDevKey)
    logger.warn(
      'using the PUBLIC development token key from certs/: anyone can sign bot tokens with it; never in production (set TOKEN_SIGNING_KEY_FILE; npx saml-sp-kit generate-token-key)',
    );
  // Every https-only protection (Secure and __Host- cookies) keys on this.
  const secureSite = config.baseUrl.startsWith('https:');
  if (secureSite && config.trustProxy === false) {
    logger.warn(
      'BASE_URL is https but TRUST_PROXY is unset: behind a TLS-terminating proxy, every sign-in will be refused with HTTPS_REQUIRED (the Secure session cookie could not be set), unless a host app embedding the kit sets Express\'s "trust proxy"',
    );
  }
  if (!config.adminApiToken)
    logger.warn(
      'ADMIN_API_TOKEN is not set: the admin API accepts only admin sessions, so accounts are created with the CLI (npx saml-sp-kit create-account)',
    );
  if (config.sessionSecretGenerated)
    logger.warn('SESSION_SECRET is not set: using a random secret, sessions end when the process restarts');
  if (config.metricsEnabled && !config.metricsToken)
    logger.warn(
      'METRICS_ENABLED without METRICS_TOKEN: /metrics answers anyone; keep it off the public network or set METRICS_TOKEN',
    );
  if (!config.metricsEnabled && config.metricsToken)
    logger.warn('METRICS_TOKEN is set but METRICS_ENABLED is not: /metrics is off');
  const metrics = new SpMetrics({ processMetrics: config.metricsEnabled });

  // With REDIS_URL, sessions and one-time values (request IDs, replay cache) move to Redis so that
  // instances behind a load balancer without sticky sessions share them.
  // The router's path prefix (from baseUrl's path) and branding, for every page, link and cookie path.
  const site = siteFor(config.baseUrl, options.branding);
  const storage = await openStorage({
    databaseUrl: config.databaseUrl,
    redisUrl: config.redisUrl,
    sessionTtlMs: config.sessionTtlSeconds * 1000,
    auditRetentionDays: config.auditRetentionDays,
    logger,
  });
  const { stores } = storage;
  // One sweep per minute across every worker and instance sharing the store: two sweeping at once
  // only contend for the same write lock (on SQLite, a worker waiting for it blocks its requests).
  const sweeper = setInterval(() => {
    stores.oneTime
      .claim(SWEEP_CLAIM_KEY, SWEEP_EVERY_MS - 5_000)
      .then((mine) => (mine ? storage.sweep() : undefined))
      .catch((err: unknown) => logger.warn({ err }, 'cleanup of expired records failed'));
  }, SWEEP_EVERY_MS);
  sweeper.unref();
  // With Redis, the rate limits' counters are shared by every instance (N instances, one budget); a
  // Redis failure lets requests through unlimited (fail open), logged once and counted.
  const limiter: LimiterFactory = storage.redis
    ? sharedLimiters(
        new SharedRateLimits(storage.redis.client, storage.redis.prefix, {
          failedOpen: (name) => metrics.rateLimitStoreError(name),
          lost: (name, err) =>
            logger.warn(
              { err, limiter: name },
              'rate limiting is OFF (fail open): its counters in Redis cannot be reached',
            ),
          restored: (name) => logger.info({ limiter: name }, 'rate limiting restored'),
          misconfigured: (name, err) =>
            logger.warn({ limiter: name, code: err.code }, `rate limiting set up wrong: ${err.message}`),
        }),
      )
    : localLimiters;

  const trail = new AuditTrail(stores, logger, {
    baseUrl: config.baseUrl,
    clockSkewSeconds: config.clockSkewSeconds,
  });
  const setupLinks = new SetupLinkService(stores, config.baseUrl);
  const connections = new ConnectionService(stores, config.baseUrl, {
    production,
    trail,
    metadataFetchTimeoutMs: config.metadataFetchTimeoutMs,
  });
  // Connections imported from a metadata URL are fetched again on a schedule (off with 0).
  const metadataRefresh = startMetadataRefresh({
    connections,
    intervalMs: Math.round(config.metadataRefreshIntervalMinutes * 60_000),
    logger,
  });
  // OIDC client secrets are sealed under a key derived from the SP private key (stable across restarts
  // and instances, never in the database).
  const oidcConnections = new OidcConnectionService(stores, new SecretBox(keys.privateKey), {
    baseUrl: config.baseUrl,
    production,
    trail,
    clockSkewSeconds: config.clockSkewSeconds,
  });
  const emit = eventEmitter(options.onEvent, logger);
  const expiryDays = options.certificateExpiryDays ?? 30;
  if (!Number.isInteger(expiryDays) || expiryDays < 0 || expiryDays > 3650) {
    throw new TypeError('certificateExpiryDays must be an integer from 0 to 3650');
  }
  const expiryCheck = options.onEvent
    ? startCertificateExpiryCheck({ stores, emit, withinDays: expiryDays, logger })
    : null;
  const bots = new BotService(stores, tokenKeys, config.baseUrl);
  const users = new UserAdmin(stores, trail);
  const sso = new SsoService(
    stores,
    keys,
    {
      baseUrl: config.baseUrl,
      clockSkewMs: config.clockSkewSeconds * 1000,
      requestTtlMs: config.requestTtlSeconds * 1000,
      production,
      onSignatureCheck: () => metrics.signatureCheck(),
      onDecryption: () => metrics.decryption(),
    },
    logger,
    options.provisionUser,
    oidcConnections,
    emit,
    (outcome) => metrics.signIn(outcome),
  );
  let shuttingDown = false;

  const router = Router();
  let mountChecked = false;
  router.use((req, res, next) => {
    res.locals.site = site;
    // Mounted under a prefix that baseUrl does not carry (or the other way round): the ACS URL, entity
    // IDs and redirects built from baseUrl would miss the router. A proxy that strips the prefix leaves
    // req.baseUrl empty, which is fine.
    if (!mountChecked) {
      mountChecked = true;
      if (req.baseUrl !== '' && req.baseUrl !== site.base) {
        logger.warn(
          { mountedAt: req.baseUrl, baseUrlPath: site.base || '/' },
          `the SP router is mounted at ${req.baseUrl} but baseUrl's path is "${site.base || '/'}": set baseUrl to the public URL of the mount point (e.g. https://host${req.baseUrl})`,
        );
      }
    }
    next();
  });
  if (options.requestLogging !== false) router.use(requestLog(logger));
  if (config.metricsEnabled) router.use(metricsRouter({ metrics, token: config.metricsToken }));
  router.post('/sso/:slug/acs', ssoTimer(metrics, 'saml'));
  router.get('/sso/:slug/oidc/callback', ssoTimer(metrics, 'oidc'));
  // On an https site `__Host-sspk.sid` (Path=/): no sibling subdomain can plant a session.
  const sessionCookie = cookieSpot(secureSite, SESSION_COOKIE, site.base || '/');
  // TRUST_PROXY set: X-Forwarded-Proto says whether the request came over https. Unset: Express's
  // req.secure (its "trust proxy": false in the standalone app, the host's setting when embedded).
  const sessionProxy = config.trustProxy !== false ? true : undefined;
  const sessions = session({
    name: sessionCookie.name,
    // 24 random bytes, base64url (as express-session's own ids), from the pooled CSPRNG.
    genid: () => randomId(24, 'base64url'),
    secret: config.sessionSecret,
    store: storage.sessionStore,
    resave: false,
    saveUninitialized: false,
    rolling: true,
    proxy: sessionProxy,
    cookie: {
      httpOnly: true,
      sameSite: 'lax',
      secure: secureSite,
      maxAge: config.sessionTtlSeconds * 1000,
      path: sessionCookie.path,
    },
  });
  // After session(), which installs the store's generate(): marks the sessions made in their request.
  markFreshSessions(storage.sessionStore, { proxy: sessionProxy });
  router.use(sessions);
  // Every request's signed-in user is re-checked against the database (disabled, role, SSO-only,
  // absolute lifetime), so admin changes take effect at once on every instance.
  router.use(
    sessionGuard({
      stores,
      absoluteTtlMs: config.sessionAbsoluteTtlSeconds * 1000,
      hookProvisioning: options.provisionUser !== undefined,
      logger,
    }),
  );
  router.use(
    csrfProtection({
      secret: config.sessionSecret,
      secureCookie: secureSite,
      cookiePath: site.base || '/',
    }),
  );
  router.get('/readyz', async (_req, res) => {
    if (shuttingDown) {
      res.status(503).set('Cache-Control', 'no-store').json({ status: 'shutting-down' });
      return;
    }
    const health = await storage.health();
    res
      .status(health.ready ? 200 : 503)
      .set('Cache-Control', 'no-store')
      .json(health.ready ? { status: 'ready', checks: health.checks } : { status: 'unavailable', ...health });
  });
  router.use(
    ssoRouter({
      sso,
      bots,
      baseUrl: config.baseUrl,
      requestTtlMs: config.requestTtlSeconds * 1000,
      maxSamlResponseBytes: config.maxSamlResponseBytes,
      limits: { acsPerMinute: config.rateLimitAcsPerMinute, loginPerMinute: config.rateLimitLoginPerMinute },
      limiter,
    }),
  );
  router.use(
    localLoginRouter({
      stores,
      trail,
      perMinute: config.rateLimitLoginPerMinute,
      limiter,
      // Counted and emitted like SSO sign-ins: a run of failures is what password guessing looks like.
      onDecided: (d) => {
        metrics.signIn({ protocol: 'password', outcome: d.outcome, code: d.code });
        emit(signInEvent({ ...d, account: d.account.slug, protocol: 'password' }));
      },
    }),
  );
  router.use(
    adminViewsRouter({
      connections,
      oidcConnections,
      sso,
      links: setupLinks,
      stores,
      users,
      bots,
      baseUrl: config.baseUrl,
      perMinute: config.rateLimitAdminPerMinute,
      limiter,
    }),
  );
  router.use(
    adminApiRouter({
      connections,
      oidcConnections,
      sso,
      stores,
      users,
      bots,
      adminApiToken: config.adminApiToken,
      perMinute: config.rateLimitAdminPerMinute,
      limiter,
      origin: new URL(config.baseUrl).origin,
    }),
  );
  router.use(
    setupLinksRouter({
      links: setupLinks,
      connections,
      stores,
      adminApiToken: config.adminApiToken,
      origin: new URL(config.baseUrl).origin,
      basePath: site.base,
      perMinute: config.rateLimitAdminPerMinute,
      loginPerMinute: config.rateLimitLoginPerMinute,
      limiter,
    }),
  );
  router.use(openApiRouter(config.baseUrl));
  // The start page, the pages' assets and /healthz: part of the router, so they follow it under a prefix.
  router.use(
    pagesRouter({ stores, brandCss: options.branding?.css, origin: new URL(config.baseUrl).origin }),
  );
  const handleErrors = errorHandler(logger, {
    audit: (input) => trail.recordErrorPage(input),
    site,
    observe: (error) => {
      if (error.code === 'STORE_UNAVAILABLE') metrics.storeError();
    },
  });
  router.use(handleErrors);

  return {
    router,
    config,
    sessionCookie: { ...sessionCookie },
    stores,
    logger,
    errorHandler: handleErrors,
    authenticateBot: (token) => bots.authenticate(token),
    refreshIdpMetadata: () => metadataRefresh.runOnce(),
    metrics,
    beginShutdown: () => {
      shuttingDown = true;
    },
    close: async () => {
      clearInterval(sweeper);
      expiryCheck?.stop();
      await metadataRefresh.stop();
      await stores.close();
    },
  };
}

/** A standalone Express app around the SP: security headers, start page, the SP router, 404s. */
export async function createApp(
  options: SamlSpOptions,
): Promise<{ app: Express; sp: SamlSp; close: () => Promise<void> }> {
  const sp = await createSamlSp(options);
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', sp.config.trustProxy);
  app.use(
    helmet({
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'none'"],
          styleSrc: ["'self'"],
          // Only the admin pages' copy buttons (views/copy.js): same origin, no inline script.
          scriptSrc: ["'self'"],
          imgSrc: ["'self'"],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
          baseUri: ["'none'"],
        },
      },
      strictTransportSecurity: sp.config.baseUrl.startsWith('https:'),
    }),
  );
  app.use(sp.router);
  app.use(notFound);
  app.use(sp.errorHandler);
  return { app, sp, close: () => sp.close() };
}
