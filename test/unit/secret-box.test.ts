import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { SecretBox } from '../../src/connections/secret-box.js';

const key = (name: string) => readFileSync(new URL(`../fixtures/${name}.key`, import.meta.url), 'utf8');

describe('SecretBox (OIDC client secrets at rest)', () => {
  const box = new SecretBox(key('idp'));

  it('opens what it sealed, under a key derived from the same SP key (another instance, a restart)', () => {
    const sealed = box.seal('s3cret', 'acc-1');
    expect(sealed).toMatch(/^v1\./);
    expect(sealed).not.toContain('s3cret');
    expect(new SecretBox(key('idp')).open(sealed, 'acc-1')).toBe('s3cret');
    expect(box.seal('s3cret', 'acc-1')).not.toBe(sealed);
  });

  it('refuses another SP key, another account, and any altered byte', () => {
    const sealed = box.seal('s3cret', 'acc-1');
    expect(() => new SecretBox(key('attacker')).open(sealed, 'acc-1')).toThrow();
    expect(() => box.open(sealed, 'acc-2')).toThrow();
    const parts = sealed.split('.');
    // One bit of the ciphertext flipped (replacing a byte could leave it as it was, 1 time in 256).
    const altered = Buffer.from(parts[3]!, 'base64url');
    altered[0]! ^= 1;
    parts[3] = altered.toString('base64url');
    expect(() => box.open(parts.join('.'), 'acc-1')).toThrow();
    expect(() => box.open('nonsense', 'acc-1')).toThrow(TypeError);
  });

  it('refuses a truncated authentication tag (a shorter GCM tag is a prefix of the real one, far easier to forge)', () => {
    const parts = box.seal('s3cret', 'acc-1').split('.');
    for (const bytes of [4, 8, 12]) {
      const short = [...parts];
      short[2] = Buffer.from(parts[2]!, 'base64url').subarray(0, bytes).toString('base64url');
      expect(() => box.open(short.join('.'), 'acc-1')).toThrow();
    }
  });
});
