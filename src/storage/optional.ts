import { ConfigError } from '../config/load.js';

/**
 * The packages a setting needs that are optional peer dependencies of the kit: an SQLite deployment
 * installs neither the PostgreSQL driver nor the Redis client.
 */
export const OPTIONAL_PACKAGES = {
  DATABASE_URL: ['pg'],
  REDIS_URL: ['redis', 'connect-redis'],
} as const satisfies Record<string, readonly string[]>;

/** A setting whose value needs an optional package. */
export type OptionalFeature = keyof typeof OPTIONAL_PACKAGES;

/** The package a module-not-found error names, if it is one of `packages`. */
function missingPackage(err: unknown, packages: readonly string[]): string | null {
  const code = (err as { code?: unknown } | null)?.code;
  if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') return null;
  const message = err instanceof Error ? err.message : String(err);
  // Node names the package in quotes: "Cannot find package 'pg' imported from …".
  return packages.find((p) => message.includes(`'${p}'`) || message.includes(`"${p}"`)) ?? null;
}

/**
 * Loads the module behind an optional feature (`load` is a dynamic `import()`, a seam for tests). When
 * one of the feature's packages is not installed, start-up stops with one line naming the setting and
 * the command that installs what is missing, instead of a module-resolution stack trace.
 *
 * @throws ConfigError when a package of the feature is missing; any other error as it is.
 */
export async function importOptional<T>(
  feature: OptionalFeature,
  why: string,
  load: () => Promise<T>,
): Promise<T> {
  try {
    return await load();
  } catch (err) {
    const packages = OPTIONAL_PACKAGES[feature];
    const missing = missingPackage(err, packages);
    if (missing === null) throw err;
    throw new ConfigError(
      feature,
      `${why} needs the optional package ${missing}, which is not installed: npm install ${packages.join(' ')}`,
    );
  }
}
