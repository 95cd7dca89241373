import { randomFillSync } from 'node:crypto';

/** Bytes drawn from the system's CSPRNG per refill of the pool. */
const POOL_BYTES = 4096;
const pool = Buffer.allocUnsafe(POOL_BYTES);
let used = POOL_BYTES;

/**
 * A random identifier of `bytes` bytes from the system's CSPRNG (the same source as
 * `crypto.randomBytes`), encoded as `encoding`. The bytes come from a pool refilled 4 KB at a time:
 * a call into the CSPRNG costs more than the few bytes a request needs, and every request takes two
 * (its reference id and, on a sign-in, its session id). Each byte is handed out once (encoded into a
 * new string); the pool is refilled when what is left is too short. For identifiers and session ids;
 * key material uses `randomBytes` itself.
 */
export function randomId(bytes: number, encoding: 'hex' | 'base64url'): string {
  if (!Number.isInteger(bytes) || bytes <= 0 || bytes > 256) throw new RangeError('randomId: 1 to 256 bytes');
  if (used + bytes > POOL_BYTES) {
    randomFillSync(pool);
    used = 0;
  }
  const out = pool.toString(encoding, used, used + bytes);
  used += bytes;
  return out;
}
