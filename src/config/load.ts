import { randomBytes } from 'node:crypto';
import { configSchema, envNames, type ConfigInput, type SpConfig } from './schema.js';

/** A configuration error: the message is one line that names the setting to fix. */
export class ConfigError extends Error {
  constructor(
    readonly setting: string,
    reason: string,
  ) {
    super(`${setting}: ${reason}`);
    this.name = 'ConfigError';
  }
}

/**
 * Validates a configuration object against the schema, fills defaults and freezes it.
 * `describe` turns a setting key into the name an error should show (env var or object key).
 */
export function resolveConfig(
  input: ConfigInput,
  describe: (key: keyof ConfigInput) => string = (k) => k,
): SpConfig {
  const parsed = configSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const key = (issue?.path[0] ?? '') as keyof ConfigInput;
    const name = key ? describe(key) : 'configuration';
    throw new ConfigError(
      name,
      issue?.code === 'unrecognized_keys' ? issue.message : (issue?.message ?? 'invalid'),
    );
  }
  const value = parsed.data;
  const production = value.nodeEnv === 'production';
  if (production && value.sessionSecret === undefined) {
    throw new ConfigError(
      describe('sessionSecret'),
      'is required when NODE_ENV=production (at least 32 characters)',
    );
  }
  const baseUrl = value.baseUrl ?? `http://localhost:${value.port}`;
  return Object.freeze({
    ...value,
    baseUrl,
    sessionSecret: value.sessionSecret ?? randomBytes(32).toString('hex'),
    sessionSecretGenerated: value.sessionSecret === undefined,
  });
}

/** Reads the configuration from environment variables (see the README's table). */
export function loadConfigFromEnv(env: NodeJS.ProcessEnv = process.env): SpConfig {
  const input: Record<string, string> = {};
  for (const [key, name] of Object.entries(envNames)) {
    const raw = env[name];
    if (raw !== undefined && raw.trim() !== '') input[key] = raw.trim();
  }
  return resolveConfig(input, (key) => envNames[key]);
}
