import { isIP } from 'node:net';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';

const PROXY_NAMES = new Set(['loopback', 'linklocal', 'uniquelocal']);
/** More hops than this is not a real deployment, and a large count trusts forged addresses. */
const MAX_PROXY_HOPS = 10;

/** One entry of a TRUST_PROXY list: a name Express knows, an address or a subnet (CIDR). */
function isProxyAddress(entry: string): boolean {
  if (PROXY_NAMES.has(entry)) return true;
  const [address, bits, ...rest] = entry.split('/');
  const family = isIP(address ?? '');
  if (family === 0 || rest.length > 0) return false;
  if (bits === undefined) return true;
  // A subnet wider than /8 (IPv4) or /7 (IPv6, the unique-local range) is no list of proxies but "trust everyone" in
  // disguise (0.0.0.0/0, or 0.0.0.0/1 + 128.0.0.0/1): any client could forge X-Forwarded-For.
  const min = family === 4 ? 8 : 7;
  return /^\d{1,3}$/.test(bits) && Number(bits) >= min && Number(bits) <= (family === 4 ? 32 : 128);
}

/** A file of the package's certs/ directory (src/config/ and dist/config/ both sit two levels below). */
const packageCert = (name: string) => fileURLToPath(new URL(`../../certs/${name}`, import.meta.url));

/**
 * Default SP_KEY_FILE / SP_CERT_FILE, in the package's own certs/ directory (not the working
 * directory's): the public development pair, which exists only in a clone of the repository. The npm
 * package ships no private key (and so no dev pair): an installed copy must be given its own pair, and
 * start-up says so, naming SP_KEY_FILE.
 */
/** The most SAML_CLOCK_SKEW_SECONDS may allow: more would keep expired responses usable too long. */
export const MAX_CLOCK_SKEW_SECONDS = 300;

export const DEV_SP_KEY_FILE = packageCert('sp-dev.key');
export const DEV_SP_CERT_FILE = packageCert('sp-dev.crt');

/**
 * Default TOKEN_SIGNING_KEY_FILE: the public development key for bot tokens (EC P-256) in the package's
 * certs/, which, like the dev SP pair, exists only in a clone of the repository and is refused when
 * NODE_ENV=production.
 */
export const DEV_TOKEN_KEY_FILE = packageCert('token-dev.key');

/**
 * Every setting of the kit, with its default and its documentation. This is the single source of
 * configuration: the environment loader and the embedding API both validate against it.
 */
export const configSchema = z
  .object({
    /** `NODE_ENV`. `production` refuses the dev SP key pair, the dev token key and a missing or short session secret. */
    nodeEnv: z.enum(['development', 'production', 'test']).default('development'),
    /** `PORT`: HTTP port. */
    port: z.coerce.number().int().min(0).max(65535).default(3000),
    /** `HOST`: bind address. */
    host: z.string().min(1).default('127.0.0.1'),
    /** `BASE_URL`: public origin (and optional path prefix); ACS URL, entity IDs and redirects derive from it. */
    baseUrl: z
      .string()
      .refine(
        (u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol),
        'must be an absolute http(s) URL',
      )
      .refine(
        (u) => !URL.canParse(u) || (!new URL(u).search && !new URL(u).hash),
        'must not carry a query or fragment',
      )
      // In the URL standard's form (scheme and host in lower case, no default port, no trailing slash):
      // every https-only protection (Secure and __Host- cookies, HSTS) keys on the scheme, and the
      // ACS URL and audience built from it must be the ones the IdP is given.
      .transform((u) => {
        const url = new URL(u);
        return `${url.origin}${url.pathname}`.replace(/\/+$/, '');
      })
      .optional(),
    /** `DATABASE_URL`: `sqlite:PATH`, `sqlite::memory:` or `postgres://…`. */
    databaseUrl: z
      .string()
      .regex(/^(sqlite:.+|postgres(ql)?:\/\/.+)$/, 'must be sqlite:PATH, sqlite::memory: or postgres://…')
      .default('sqlite:./data/saml-sp-kit.db'),
    /** `REDIS_URL`: when set, sessions and one-time caches live in Redis. */
    redisUrl: z
      .string()
      .regex(/^rediss?:\/\/.+/, 'must be redis://… or rediss://…')
      .optional(),
    /** `SESSION_SECRET`: random per process in development; required (32+ chars) in production. */
    sessionSecret: z.string().min(32, 'must be at least 32 characters').optional(),
    /** `SP_KEY_FILE`: the SP private key (signs AuthnRequests, decrypts assertions). */
    spKeyFile: z.string().min(1).default(DEV_SP_KEY_FILE),
    /** `SP_CERT_FILE`: the SP certificate published in SP metadata. */
    spCertFile: z.string().min(1).default(DEV_SP_CERT_FILE),
    /**
     * `TOKEN_SIGNING_KEY_FILE`: the PEM private key (RSA 2048+, EC P-256 or Ed25519) that signs new bot
     * tokens; its public key is published at `/.well-known/jwks.json`.
     */
    tokenSigningKeyFile: z.string().min(1).default(DEV_TOKEN_KEY_FILE),
    /**
     * `TOKEN_VERIFY_KEY_FILES`: comma-separated PEM files (public or private keys) of earlier signing keys
     * whose unexpired tokens are still accepted during a rotation. Empty: only the signing key.
     */
    tokenVerifyKeyFiles: z
      .union([z.string(), z.array(z.string())])
      .default([])
      .transform((v) =>
        (typeof v === 'string' ? v.split(',') : v).map((f) => f.trim()).filter((f) => f.length > 0),
      ),
    /** `ADMIN_API_TOKEN`: bearer token for the admin JSON API (16+ chars). */
    adminApiToken: z.string().min(16, 'must be at least 16 characters').optional(),
    /** `SAML_CLOCK_SKEW_SECONDS`: allowed clock difference with the IdP (Auth0 sets NotBefore to the issue instant). */
    clockSkewSeconds: z.coerce.number().int().min(0).max(MAX_CLOCK_SKEW_SECONDS).default(60),
    /** `SAML_REQUEST_TTL_SECONDS`: how long an SP-initiated login may take before its request ID expires. */
    requestTtlSeconds: z.coerce.number().int().min(30).max(3600).default(600),
    /** `SESSION_TTL_SECONDS`: idle lifetime of a login session. */
    sessionTtlSeconds: z.coerce
      .number()
      .int()
      .min(60)
      .max(30 * 24 * 3600)
      .default(8 * 3600),
    /**
     * `SESSION_ABSOLUTE_TTL_SECONDS`: a login session ends this long after sign-in however active it
     * is (the idle lifetime alone would let a stolen cookie live forever).
     */
    sessionAbsoluteTtlSeconds: z.coerce
      .number()
      .int()
      .min(60)
      .max(90 * 24 * 3600)
      .default(24 * 3600),
    /** `MAX_SAML_RESPONSE_BYTES`: largest accepted ACS form body. */
    maxSamlResponseBytes: z.coerce
      .number()
      .int()
      .min(16 * 1024)
      .max(10 * 1024 * 1024)
      .default(256 * 1024),
    /**
     * `TRUST_PROXY`: how many proxies stand in front (e.g. `1` behind one load balancer), or their
     * addresses/subnets (comma separated, e.g. `10.0.0.0/8,loopback`). `true` is refused: it would
     * believe any client's X-Forwarded-For, so every per-client rate limit could be dodged by
     * inventing addresses.
     */
    trustProxy: z
      .string()
      .optional()
      .refine(
        (v) => v === undefined || v !== 'true',
        'true would trust every X-Forwarded-For header; give the number of proxies (e.g. 1) or their addresses',
      )
      .refine(
        (v) =>
          v === undefined ||
          v === '' ||
          v === 'false' ||
          (/^\d{1,2}$/.test(v) && Number(v) <= MAX_PROXY_HOPS) ||
          v.split(',').every((e) => isProxyAddress(e.trim())),
        `must be a number of proxies (0 to ${MAX_PROXY_HOPS}, e.g. 1) or a comma-separated list of proxy addresses or subnets (at most /8 wide for IPv4, /7 for IPv6)`,
      )
      .transform((v): false | number | string =>
        v === undefined || v === '' || v === 'false' || v === '0' ? false : /^\d+$/.test(v) ? Number(v) : v,
      ),
    /** `RATE_LIMIT_ACS_PER_MINUTE`: ACS posts per client IP and minute. */
    rateLimitAcsPerMinute: z.coerce.number().int().min(1).max(1_000_000).default(300),
    /** `RATE_LIMIT_LOGIN_PER_MINUTE`: login starts (SSO and password) per client IP and minute. */
    rateLimitLoginPerMinute: z.coerce.number().int().min(1).max(1_000_000).default(60),
    /** `RATE_LIMIT_ADMIN_PER_MINUTE`: admin API and admin page requests per client IP and minute. */
    rateLimitAdminPerMinute: z.coerce.number().int().min(1).max(1_000_000).default(300),
    /** `AUDIT_RETENTION_DAYS`: ACS audit events older than this are deleted (swept every minute). */
    auditRetentionDays: z.coerce.number().int().min(1).max(36_500).default(90),
    /**
     * `METADATA_REFRESH_INTERVAL_MINUTES`: how often connections imported from a metadata URL are fetched
     * again (a rotated certificate is picked up); 0 turns the scheduled refresh off. Decimals allowed.
     */
    metadataRefreshIntervalMinutes: z.coerce
      .number()
      .min(0)
      .max(7 * 24 * 60)
      .refine((v) => v === 0 || v >= 0.01, 'must be 0 (off) or at least 0.01')
      .default(360),
    /** `METADATA_FETCH_TIMEOUT_MS`: time limit of one metadata URL fetch, redirects included. */
    metadataFetchTimeoutMs: z.coerce.number().int().min(100).max(60_000).default(10_000),
    /**
     * `METRICS_ENABLED`: serve Prometheus metrics at `/metrics` (sign-ins, ACS/callback latency, store
     * errors, process metrics). Off by default: the numbers describe the deployment's traffic.
     */
    metricsEnabled: z
      .union([z.boolean(), z.enum(['true', 'false', '1', '0'])], { error: 'must be true or false' })
      .default(false)
      .transform((v) => v === true || v === 'true' || v === '1'),
    /**
     * `METRICS_TOKEN`: when set, `/metrics` requires `Authorization: Bearer METRICS_TOKEN` (16+ chars,
     * compared in constant time). Without it, keep `/metrics` off the public network.
     */
    metricsToken: z.string().min(16, 'must be at least 16 characters').optional(),
    /**
     * `SHUTDOWN_DRAIN_SECONDS`: on SIGTERM/SIGINT, `/readyz` answers 503 at once and the server keeps
     * serving this long (so the load balancer stops sending traffic) before it stops accepting
     * connections and finishes the requests in flight.
     */
    shutdownDrainSeconds: z.coerce.number().min(0).max(300).default(5),
    /** `LOG_LEVEL`: pino level. */
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  })
  .strict();

/** Configuration as given (all optional, strings allowed for numbers). */
export type ConfigInput = z.input<typeof configSchema>;

/** The validated, frozen configuration the app is built from. */
export interface SpConfig extends Omit<z.output<typeof configSchema>, 'baseUrl' | 'sessionSecret'> {
  readonly baseUrl: string;
  readonly sessionSecret: string;
  /** True when the session secret was generated for this process (development only). */
  readonly sessionSecretGenerated: boolean;
}

/** Environment variable for each setting, so an error names what the operator must fix. */
export const envNames: Readonly<Record<keyof ConfigInput, string>> = {
  nodeEnv: 'NODE_ENV',
  port: 'PORT',
  host: 'HOST',
  baseUrl: 'BASE_URL',
  databaseUrl: 'DATABASE_URL',
  redisUrl: 'REDIS_URL',
  sessionSecret: 'SESSION_SECRET',
  spKeyFile: 'SP_KEY_FILE',
  spCertFile: 'SP_CERT_FILE',
  tokenSigningKeyFile: 'TOKEN_SIGNING_KEY_FILE',
  tokenVerifyKeyFiles: 'TOKEN_VERIFY_KEY_FILES',
  adminApiToken: 'ADMIN_API_TOKEN',
  clockSkewSeconds: 'SAML_CLOCK_SKEW_SECONDS',
  requestTtlSeconds: 'SAML_REQUEST_TTL_SECONDS',
  sessionTtlSeconds: 'SESSION_TTL_SECONDS',
  sessionAbsoluteTtlSeconds: 'SESSION_ABSOLUTE_TTL_SECONDS',
  maxSamlResponseBytes: 'MAX_SAML_RESPONSE_BYTES',
  trustProxy: 'TRUST_PROXY',
  rateLimitAcsPerMinute: 'RATE_LIMIT_ACS_PER_MINUTE',
  rateLimitLoginPerMinute: 'RATE_LIMIT_LOGIN_PER_MINUTE',
  rateLimitAdminPerMinute: 'RATE_LIMIT_ADMIN_PER_MINUTE',
  auditRetentionDays: 'AUDIT_RETENTION_DAYS',
  metadataRefreshIntervalMinutes: 'METADATA_REFRESH_INTERVAL_MINUTES',
  metadataFetchTimeoutMs: 'METADATA_FETCH_TIMEOUT_MS',
  metricsEnabled: 'METRICS_ENABLED',
  metricsToken: 'METRICS_TOKEN',
  shutdownDrainSeconds: 'SHUTDOWN_DRAIN_SECONDS',
  logLevel: 'LOG_LEVEL',
};
