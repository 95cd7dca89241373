import { SpError } from '../errors.js';

/**
 * Turns a backend failure (connection refused, server restarting, command timeout) into the
 * catalogued STORE_UNAVAILABLE (503). SpErrors pass through unchanged.
 */
export function toStoreError(err: unknown): SpError {
  if (err instanceof SpError) return err;
  return new SpError('STORE_UNAVAILABLE', {
    cause: err,
    detail: err instanceof Error ? `${err.name}: ${err.message}` : String(err),
  });
}

/** Throws {@link toStoreError}(err); for `.catch()` chains. */
export function throwStoreError(err: unknown): never {
  throw toStoreError(err);
}

/**
 * Wraps every async method so a backend failure (connection refused, server restarting) surfaces as
 * the catalogued STORE_UNAVAILABLE (503) instead of an uncaught driver error. SpErrors pass through.
 */
export function guardStore<T extends object>(store: T): T {
  return new Proxy(store, {
    get(target, prop, receiver) {
      const value: unknown = Reflect.get(target, prop, receiver);
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        try {
          const out: unknown = (value as (...a: unknown[]) => unknown).apply(target, args);
          return out instanceof Promise ? out.catch(throwStoreError) : out;
        } catch (err) {
          return throwStoreError(err);
        }
      };
    },
  });
}
