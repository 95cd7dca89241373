import { describe, expect, it } from 'vitest';
import { randomId } from '../../src/random.js';

describe('randomId (pooled CSPRNG ids: reference ids, session ids)', () => {
  it('gives ids of the asked size and encoding, never the same one twice across pool refills', () => {
    const seen = new Set<string>();
    // 24-byte ids do not divide the 4 KB pool: refills happen with bytes left over.
    for (let i = 0; i < 5000; i++) {
      const session = randomId(24, 'base64url');
      expect(session).toMatch(/^[A-Za-z0-9_-]{32}$/);
      const ref = randomId(8, 'hex');
      expect(ref).toMatch(/^[0-9a-f]{16}$/);
      seen.add(session).add(ref);
    }
    expect(seen.size).toBe(10_000);
  });

  it('spreads its bytes evenly (each byte value about as often as any other)', () => {
    const counts = new Array<number>(256).fill(0);
    for (let i = 0; i < 4000; i++) for (const b of Buffer.from(randomId(64, 'hex'), 'hex')) counts[b]! += 1;
    // 256,000 bytes: 1,000 per value expected; a stuck or zeroed pool would put thousands on one value.
    expect(Math.max(...counts)).toBeLessThan(1200);
    expect(Math.min(...counts)).toBeGreaterThan(800);
  });

  it('refuses sizes it was not made for', () => {
    expect(() => randomId(0, 'hex')).toThrow(RangeError);
    expect(() => randomId(257, 'hex')).toThrow(RangeError);
    expect(() => randomId(1.5, 'hex')).toThrow(RangeError);
  });
});
