import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfigFromEnv } from '../../src/config/load.js';
import { loadSpKeys } from '../../src/config/sp-keys.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const path = (p: string) => join(ROOT, p);
const DEV_KEY = path('certs/sp-dev.key');
const DEV_CERT = path('certs/sp-dev.crt');
const IDP_KEY = path('test/fixtures/idp.key');
const IDP_CERT = path('test/fixtures/idp.crt');
const SECRET = 'x'.repeat(40);

/** The ConfigError thrown by fn (fails when fn throws anything else or nothing). */
function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfigFromEnv', () => {
  it('has working defaults with no variables set', () => {
    const config = loadConfigFromEnv({});
    expect(config.port).toBe(3000);
    expect(config.host).toBe('127.0.0.1');
    expect(config.baseUrl).toBe('http://localhost:3000');
    expect(config.databaseUrl).toBe('sqlite:./data/saml-sp-kit.db');
    expect(config.nodeEnv).toBe('development');
    // In the package's certs/, whatever the working directory (an embedding host runs from its own).
    expect(config.spKeyFile).toBe(DEV_KEY);
    expect(config.spCertFile).toBe(DEV_CERT);
    expect(config.adminApiToken).toBeUndefined();
    expect(config.redisUrl).toBeUndefined();
    // a random secret per process in development
    expect(config.sessionSecretGenerated).toBe(true);
    expect(config.sessionSecret.length).toBeGreaterThanOrEqual(32);
    expect(loadConfigFromEnv({}).sessionSecret).not.toBe(config.sessionSecret);
  });

  it('derives BASE_URL from PORT and reads the variables', () => {
    expect(loadConfigFromEnv({ PORT: '4000' }).baseUrl).toBe('http://localhost:4000');
    const config = loadConfigFromEnv({
      PORT: '8080',
      HOST: '0.0.0.0',
      BASE_URL: 'https://sp.example.com/',
      DATABASE_URL: 'sqlite::memory:',
      SESSION_SECRET: SECRET,
      ADMIN_API_TOKEN: 'a'.repeat(20),
    });
    expect(config).toMatchObject({
      port: 8080,
      host: '0.0.0.0',
      baseUrl: 'https://sp.example.com',
      databaseUrl: 'sqlite::memory:',
      sessionSecret: SECRET,
      sessionSecretGenerated: false,
      adminApiToken: 'a'.repeat(20),
    });
  });

  it('writes the scheme of BASE_URL in lower case: HTTPS:// gets every https-only protection', () => {
    expect(loadConfigFromEnv({ BASE_URL: 'HTTPS://sp.example.com/auth/' }).baseUrl).toBe(
      'https://sp.example.com/auth',
    );
    expect(loadConfigFromEnv({ BASE_URL: 'Http://localhost:3000' }).baseUrl).toBe('http://localhost:3000');
    expect(loadConfigFromEnv({ BASE_URL: 'https:SP.Example.com:443/Auth/' }).baseUrl).toBe(
      'https://sp.example.com/Auth',
    );
  });

  it('treats empty variables as unset', () => {
    expect(loadConfigFromEnv({ PORT: '', DATABASE_URL: '' }).port).toBe(3000);
  });

  it('returns a frozen configuration', () => {
    const config = loadConfigFromEnv({});
    expect(Object.isFrozen(config)).toBe(true);
    expect(() => {
      (config as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(config.port).toBe(3000);
  });

  it('PORT=abc is refused naming PORT', () => {
    const err = configError(() => loadConfigFromEnv({ PORT: 'abc' }));
    expect(err.message.startsWith('PORT')).toBe(true);
    expect(err.setting).toBe('PORT');
    expect(err.message).not.toContain('\n');
    expect(configError(() => loadConfigFromEnv({ PORT: '70000' })).message).toMatch(/^PORT/);
    expect(configError(() => loadConfigFromEnv({ PORT: '-1' })).message).toMatch(/^PORT/);
  });

  it('reads the metadata refresh interval (default 6 hours, 0 = off, decimals) and refuses bad values by name', () => {
    expect(loadConfigFromEnv({}).metadataRefreshIntervalMinutes).toBe(360);
    expect(loadConfigFromEnv({}).metadataFetchTimeoutMs).toBe(10_000);
    expect(loadConfigFromEnv({ METADATA_REFRESH_INTERVAL_MINUTES: '0' }).metadataRefreshIntervalMinutes).toBe(
      0,
    );
    expect(
      loadConfigFromEnv({ METADATA_REFRESH_INTERVAL_MINUTES: '1.5' }).metadataRefreshIntervalMinutes,
    ).toBe(1.5);
    for (const bad of ['-1', 'hourly', '20000', '0.001']) {
      expect(
        configError(() => loadConfigFromEnv({ METADATA_REFRESH_INTERVAL_MINUTES: bad })).message,
      ).toMatch(/^METADATA_REFRESH_INTERVAL_MINUTES: /);
    }
    for (const bad of ['50', '600000', 'soon']) {
      expect(configError(() => loadConfigFromEnv({ METADATA_FETCH_TIMEOUT_MS: bad })).message).toMatch(
        /^METADATA_FETCH_TIMEOUT_MS: /,
      );
    }
  });

  it('reads the operations settings: metrics off by default, the metrics token, the shutdown drain', () => {
    const defaults = loadConfigFromEnv({});
    expect(defaults.metricsEnabled).toBe(false);
    expect(defaults.metricsToken).toBeUndefined();
    expect(defaults.shutdownDrainSeconds).toBe(5);
    for (const on of ['true', '1'])
      expect(loadConfigFromEnv({ METRICS_ENABLED: on }).metricsEnabled).toBe(true);
    for (const off of ['false', '0'])
      expect(loadConfigFromEnv({ METRICS_ENABLED: off }).metricsEnabled).toBe(false);
    expect(configError(() => loadConfigFromEnv({ METRICS_ENABLED: 'yes' })).message).toBe(
      'METRICS_ENABLED: must be true or false',
    );
    expect(configError(() => loadConfigFromEnv({ METRICS_TOKEN: 'short' })).message).toMatch(
      /^METRICS_TOKEN: /,
    );
    expect(loadConfigFromEnv({ METRICS_TOKEN: 'm'.repeat(16) }).metricsToken).toBe('m'.repeat(16));
    expect(loadConfigFromEnv({ SHUTDOWN_DRAIN_SECONDS: '0' }).shutdownDrainSeconds).toBe(0);
    expect(loadConfigFromEnv({ SHUTDOWN_DRAIN_SECONDS: '2.5' }).shutdownDrainSeconds).toBe(2.5);
    for (const bad of ['-1', '301', 'soon']) {
      expect(configError(() => loadConfigFromEnv({ SHUTDOWN_DRAIN_SECONDS: bad })).message).toMatch(
        /^SHUTDOWN_DRAIN_SECONDS: /,
      );
    }
  });

  it('a bad DATABASE_URL is refused naming DATABASE_URL', () => {
    for (const DATABASE_URL of ['mysql://db/app', 'sqlite:', './data.db']) {
      const err = configError(() => loadConfigFromEnv({ DATABASE_URL }));
      expect(err.message.startsWith('DATABASE_URL'), DATABASE_URL).toBe(true);
    }
    expect(loadConfigFromEnv({ DATABASE_URL: 'postgres://u:p@db/app' }).databaseUrl).toBe(
      'postgres://u:p@db/app',
    );
  });

  it('NODE_ENV=production without SESSION_SECRET is refused naming SESSION_SECRET', () => {
    const err = configError(() => loadConfigFromEnv({ NODE_ENV: 'production' }));
    expect(err.message.startsWith('SESSION_SECRET')).toBe(true);
    expect(loadConfigFromEnv({ NODE_ENV: 'production', SESSION_SECRET: SECRET }).sessionSecret).toBe(SECRET);
  });

  it('a short SESSION_SECRET is refused naming SESSION_SECRET', () => {
    const err = configError(() => loadConfigFromEnv({ SESSION_SECRET: 'x'.repeat(31) }));
    expect(err.message.startsWith('SESSION_SECRET')).toBe(true);
    expect(loadConfigFromEnv({ SESSION_SECRET: 'x'.repeat(32) }).sessionSecret).toHaveLength(32);
  });

  it('a BASE_URL with a query or fragment, or not http(s), is refused naming BASE_URL', () => {
    for (const BASE_URL of [
      'https://sp.example.com/?a=1',
      'https://sp.example.com/#x',
      'ftp://sp.example.com',
    ]) {
      const err = configError(() => loadConfigFromEnv({ BASE_URL }));
      expect(err.message.startsWith('BASE_URL'), BASE_URL).toBe(true);
    }
  });

  it('a BASE_URL that is not a URL at all is refused naming BASE_URL', () => {
    const err = configError(() => loadConfigFromEnv({ BASE_URL: 'not a url' }));
    expect(err.message.startsWith('BASE_URL')).toBe(true);
  });

  it('an unknown NODE_ENV and a bad REDIS_URL name their variables', () => {
    expect(configError(() => loadConfigFromEnv({ NODE_ENV: 'prod' })).message).toMatch(/^NODE_ENV/);
    expect(configError(() => loadConfigFromEnv({ REDIS_URL: 'localhost:6379' })).message).toMatch(
      /^REDIS_URL/,
    );
  });
});

describe('loadSpKeys', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sspk-keys-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('accepts the dev pair outside production and flags it', () => {
    const keys = loadSpKeys(DEV_KEY, DEV_CERT, false);
    expect(keys.isDevPair).toBe(true);
    expect(keys.privateKey).toContain('PRIVATE KEY');
    expect(keys.certificate).toContain('BEGIN CERTIFICATE');
  });

  it('refuses the dev pair in production, naming SP_KEY_FILE', () => {
    const err = configError(() => loadSpKeys(DEV_KEY, DEV_CERT, true));
    expect(err.message.startsWith('SP_KEY_FILE')).toBe(true);
    expect(err.setting).toBe('SP_KEY_FILE');
  });

  it('recognises a copy of the dev pair under other file names', () => {
    const key = join(dir, 'my-sp.key');
    const cert = join(dir, 'my-sp.crt');
    copyFileSync(DEV_KEY, key);
    copyFileSync(DEV_CERT, cert);
    expect(loadSpKeys(key, cert, false).isDevPair).toBe(true);
    expect(configError(() => loadSpKeys(key, cert, true)).message).toMatch(/^SP_KEY_FILE/);
  });

  it('accepts another matching pair in production', () => {
    const keys = loadSpKeys(IDP_KEY, IDP_CERT, true);
    expect(keys.isDevPair).toBe(false);
  });

  it('refuses a key that does not match the certificate, naming SP_KEY_FILE', () => {
    const err = configError(() => loadSpKeys(IDP_KEY, DEV_CERT, false));
    expect(err.message.startsWith('SP_KEY_FILE')).toBe(true);
    expect(err.message).toMatch(/match/);
  });

  it('names the variable of a missing or unparsable file', () => {
    const missing = join(dir, 'nope.key');
    expect(configError(() => loadSpKeys(missing, DEV_CERT, false)).message).toMatch(/^SP_KEY_FILE/);
    expect(configError(() => loadSpKeys(DEV_KEY, join(dir, 'nope.crt'), false)).message).toMatch(
      /^SP_CERT_FILE/,
    );
    // swapped: a certificate as key, a key as certificate
    expect(configError(() => loadSpKeys(DEV_CERT, DEV_CERT, false)).message).toMatch(/^SP_KEY_FILE/);
    expect(configError(() => loadSpKeys(DEV_KEY, DEV_KEY, false)).message).toMatch(/^SP_CERT_FILE/);
  });
});

describe('server start-up', () => {
  it('refuses to start in production with the dev key pair: exit 1, one line naming SP_KEY_FILE', () => {
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        NODE_ENV: 'production',
        SESSION_SECRET: SECRET,
        PORT: '0',
      },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.error).toBeUndefined();
    expect(result.status).toBe(1);
    const lines = result.stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('SP_KEY_FILE');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});
