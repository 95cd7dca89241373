/**
 * Rotating the token signing key through configuration, on one database across restarts:
 * k1 → (k2 signing, k1 verify-only) → k2 only. Tokens of k1 keep working during the overlap and are
 * refused once k1 is retired; tokens of k2 work from the overlap on.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { createAccountWithIdp, startSp, type TestSp } from '../support/harness.js';
import { botWithToken, expectCode, issueToken, kidOf, meWith, newKeyFile, partsOf } from '../support/bots.js';

describe('token key rotation through TOKEN_SIGNING_KEY_FILE and TOKEN_VERIFY_KEY_FILES', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sspk-rotation-'));
  const databaseUrl = `sqlite:${join(dir, 'sp.db')}`;
  // Different key types on purpose: a rotation may also change the algorithm.
  const k1 = newKeyFile('rsa', 'k1.key', dir);
  const k2 = newKeyFile('ed25519', 'k2.key', dir);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const jwksKids = async (t: TestSp) =>
    (
      (await request(t.app).get('/.well-known/jwks.json').expect(200)).body as { keys: { kid: string }[] }
    ).keys.map((k) => k.kid);

  it('k1 → (k2 signing, k1 verify) → k2 only', async () => {
    const kid1 = await kidOf(k1.privateKey);
    const kid2 = await kidOf(k2.privateKey);

    // Phase 1: k1 signs.
    let t = await startSp({ databaseUrl, tokenSigningKeyFile: k1.file });
    let old: string;
    let botId: string;
    try {
      await createAccountWithIdp(t, 'acme');
      const made = await botWithToken(t, 'acme', 'admin');
      old = made.issued.token;
      botId = made.bot.id;
      expect(partsOf(old).header).toMatchObject({ alg: 'RS256', kid: kid1 });
      await meWith(t, old).expect(200);
      expect(await jwksKids(t)).toEqual([kid1]);
    } finally {
      await t.close();
    }

    // Phase 2: k2 signs, k1 still verifies. Old tokens work; new ones are k2's.
    let fresh: string;
    t = await startSp({ databaseUrl, tokenSigningKeyFile: k2.file, tokenVerifyKeyFiles: k1.file });
    try {
      await meWith(t, old).expect(200);
      await request(t.app).get('/api/accounts/acme').set('Authorization', `Bearer ${old}`).expect(200);
      const issued = await issueToken(t, 'acme', botId);
      fresh = issued.token;
      expect(partsOf(fresh).header).toMatchObject({ alg: 'EdDSA', kid: kid2 });
      expect(issued.kid).toBe(kid2);
      await meWith(t, fresh).expect(200);
      // Both public keys are published, the signing key first.
      expect(await jwksKids(t)).toEqual([kid2, kid1]);
    } finally {
      await t.close();
    }

    // Phase 3: k1 retired. Its tokens are refused, k2's keep working.
    t = await startSp({ databaseUrl, tokenSigningKeyFile: k2.file });
    try {
      expectCode(await meWith(t, old), 401, 'TOKEN_KEY_UNKNOWN');
      expectCode(
        await request(t.app).get('/api/accounts/acme').set('Authorization', `Bearer ${old}`),
        401,
        'TOKEN_KEY_UNKNOWN',
      );
      await meWith(t, fresh).expect(200);
      expect(await jwksKids(t)).toEqual([kid2]);
    } finally {
      await t.close();
    }
  });
});
