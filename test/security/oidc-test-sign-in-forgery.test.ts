/**
 * A test sign-in is judged like a sign-in: a forged ID token (another key under the trusted `kid`,
 * `alg: none`, a wrong audience — the attacks of test/security/oidc-*.test.ts) never passes a test,
 * never activates the connection, and the verdict names the failing check without calling the token's
 * other checks passed. The genuine token (the control) passes.
 */
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, adminGet, cookiesFrom, me, startSp, type TestSp } from '../support/harness.js';
import { callback } from '../support/oidc.js';
import {
  ATTACKER_KEY,
  connectToForge,
  genuine,
  genuineClaims,
  sign,
  startForge,
  UnsecuredJWT,
  type Forge,
  type Forgery,
} from './oidc-support.js';

interface Check {
  name: string;
  ok: boolean;
  evaluated: boolean;
  hint?: string;
}

describe('OIDC test sign-in with forged ID tokens', () => {
  let t: TestSp;
  let forge: Forge;
  let n = 0;
  beforeAll(async () => {
    t = await startSp();
    forge = await startForge();
  });
  afterAll(async () => {
    await forge?.close();
    await t?.close();
  });

  async function runTest(answer: Forgery) {
    const slug = `forged-test-${n++}`;
    await connectToForge(t, slug, forge);
    forge.answer = answer;
    const created = await request(t.app)
      .post(`/api/accounts/${slug}/oidc/tests`)
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .expect(201);
    const start = await request(t.app)
      .get(new URL(created.body.loginUrl as string).pathname)
      .expect(302);
    const back = await fetch(start.headers.location as string, { redirect: 'manual' });
    const res = await callback(t, new URL(back.headers.get('location') ?? ''), cookiesFrom(start));
    await me(t, [...cookiesFrom(start), ...cookiesFrom(res)]).expect(401);
    const verdict = await adminGet(t, `/api/accounts/${slug}/oidc/tests/${created.body.id as string}`);
    const status = (await adminGet(t, `/api/accounts/${slug}/oidc`)).body.status as string;
    return { verdict: verdict.body as { status: string; checks: Check[] }, status };
  }

  it('control: the genuine token passes and activates', async () => {
    const { verdict, status } = await runTest(genuine);
    expect(verdict.status).toBe('passed');
    expect(status).toBe('active');
  });

  for (const [name, answer, check, code] of [
    [
      'a token signed by another key under the trusted kid',
      { idToken: (ctx) => sign(genuineClaims(ctx), ATTACKER_KEY) },
      'signature',
      'OIDC_ID_TOKEN_SIGNATURE_INVALID',
    ],
    [
      'alg: none',
      { idToken: (ctx) => Promise.resolve(new UnsecuredJWT(genuineClaims(ctx)).encode()) },
      'signature',
      'OIDC_ID_TOKEN_SIGNATURE_INVALID',
    ],
    [
      'a token for another client (aud)',
      { idToken: (ctx) => sign({ ...genuineClaims(ctx), aud: 'another-client' }) },
      'audience',
      'OIDC_ID_TOKEN_AUDIENCE_MISMATCH',
    ],
  ] as [string, Forgery, string, string][]) {
    it(`${name}: failed at "${check}", the token's other checks not reported, still pending`, async () => {
      const { verdict, status } = await runTest(answer);
      expect(verdict.status).toBe('failed');
      expect(status).toBe('pending');
      const failed = verdict.checks.find((c) => c.name === check)!;
      expect(failed).toMatchObject({ ok: false, evaluated: true });
      expect(failed.hint).toMatch(new RegExp(`^${code}`));
      for (const other of [
        'signature',
        'issuer',
        'audience',
        'expiry',
        'nonce',
        'email',
        'userinfo',
        'attributes',
      ]) {
        if (other === check) continue;
        expect(
          verdict.checks.find((c) => c.name === other),
          other,
        ).toMatchObject({ ok: false, evaluated: false });
      }
      expect(verdict.checks.slice(0, 3).every((c) => c.ok)).toBe(true); // provider, state, token exchange
    });
  }
});
