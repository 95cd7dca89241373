/**
 * Forged, altered and stale bot tokens. Each test presents one bad token to GET /api/me and to the
 * admin API and expects 401 with its code. The attacks are the classic JWT verifier mistakes:
 *
 * - `alg: none` and HS256 keyed with the public key: Tim McLean, "Critical vulnerabilities in JSON Web
 *   Token libraries" (2015); CVE-2015-9235 (jsonwebtoken), CVE-2016-10555 (jwt-simple); RFC 8725 §2.1.
 * - a key taken from the token itself (embedded `jwk`): CVE-2018-0114 (node-jose).
 * - substitution across audiences, issuers and token types: RFC 8725 §2.8, §3.8–3.11.
 * - tokens that outlive their expiry, revocation or bot: RFC 7519 §4.1.4 and the issue's own promise
 *   ("stops working the moment it is revoked").
 */
import { createPublicKey, generateKeyPairSync, randomUUID } from 'node:crypto';
import { rmSync } from 'node:fs';
import { CompactSign } from 'jose';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ADMIN_TOKEN, createAccountWithIdp, startSp, type TestSp } from '../support/harness.js';
import {
  AUDIENCE,
  BOT_TYP,
  ISSUER,
  botWithToken,
  compact,
  devTokenKey,
  expectCode,
  issueToken,
  kidOf,
  meWith,
  newKeyFile,
  partsOf,
  resign,
  sign,
} from '../support/bots.js';

const AUTH = `Bearer ${ADMIN_TOKEN}`;
const now = () => Math.floor(Date.now() / 1000);

/** A supertest request by method name. */
const call = (t: TestSp, method: 'get' | 'post' | 'put' | 'patch' | 'delete', path: string) =>
  request(t.app)[method](path);

/** The token is refused with `code` by GET /api/me and by the admin API of its own account. */
async function expectRefused(t: TestSp, token: string, code: string): Promise<void> {
  expectCode(await meWith(t, token), 401, code);
  const admin = await request(t.app).get('/api/accounts/acme').set('Authorization', `Bearer ${token}`);
  expectCode(admin, 401, code);
  expect(admin.headers['set-cookie']).toBeUndefined();
}

describe('bad bot tokens (dev key, ES256)', () => {
  let t: TestSp;
  let good: string;
  let botId: string;
  let kid: string;
  let otherBotId: string;

  beforeAll(async () => {
    t = await startSp();
    await createAccountWithIdp(t, 'acme');
    await createAccountWithIdp(t, 'globex');
    const { bot, issued } = await botWithToken(t, 'acme', 'admin');
    good = issued.token;
    botId = bot.id;
    kid = await kidOf(devTokenKey);
    otherBotId = (await botWithToken(t, 'globex', 'admin')).bot.id;
  });
  afterAll(async () => t.close());
  afterEach(() => {
    vi.useRealTimers();
  });

  const claimsFor = (over: Record<string, unknown> = {}) => ({
    iss: ISSUER,
    aud: AUDIENCE,
    sub: botId,
    jti: randomUUID(),
    iat: now(),
    exp: now() + 3600,
    ...over,
  });

  it('the genuine token works (the baseline every attack below changes one thing of)', async () => {
    await meWith(t, good).expect(200);
    await request(t.app).get('/api/accounts/acme').set('Authorization', `Bearer ${good}`).expect(200);
  });

  it('alg "none" (unsigned), in any spelling, under the real kid → TOKEN_ALGORITHM_INVALID', async () => {
    const { claims } = partsOf(good);
    for (const alg of ['none', 'None', 'NONE']) {
      await expectRefused(t, compact({ alg, kid, typ: BOT_TYP }, claims), 'TOKEN_ALGORITHM_INVALID');
    }
  });

  it('HS256 keyed with the public key (PEM and JWK forms) → TOKEN_ALGORITHM_INVALID', async () => {
    const { claims } = partsOf(good);
    const pub = createPublicKey(devTokenKey);
    const secrets = [
      pub.export({ type: 'spki', format: 'pem' }) as string,
      JSON.stringify(pub.export({ format: 'jwk' })),
    ];
    for (const secret of secrets) {
      const forged = await sign(
        new TextEncoder().encode(secret),
        { alg: 'HS256', kid, typ: BOT_TYP },
        claims,
      );
      await expectRefused(t, forged, 'TOKEN_ALGORITHM_INVALID');
    }
  });

  it("another key type's algorithm under the real kid (RS256, EdDSA, ES384 for an EC P-256 key) → TOKEN_ALGORITHM_INVALID", async () => {
    const { claims } = partsOf(good);
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
    const ed = generateKeyPairSync('ed25519').privateKey;
    const p384 = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    await expectRefused(
      t,
      await sign(rsa, { alg: 'RS256', kid, typ: BOT_TYP }, claims),
      'TOKEN_ALGORITHM_INVALID',
    );
    await expectRefused(
      t,
      await sign(ed, { alg: 'EdDSA', kid, typ: BOT_TYP }, claims),
      'TOKEN_ALGORITHM_INVALID',
    );
    await expectRefused(
      t,
      await sign(p384, { alg: 'ES384', kid, typ: BOT_TYP }, claims),
      'TOKEN_ALGORITHM_INVALID',
    );
  });

  it("an edited payload with the original signature (another account's bot, a later expiry) → TOKEN_SIGNATURE_INVALID", async () => {
    const [h, , s] = good.split('.');
    const { claims } = partsOf(good);
    for (const edit of [{ sub: otherBotId }, { exp: (claims.exp as number) + 365 * 24 * 3600 }]) {
      const payload = Buffer.from(JSON.stringify({ ...claims, ...edit })).toString('base64url');
      await expectRefused(t, `${h}.${payload}.${s}`, 'TOKEN_SIGNATURE_INVALID');
    }
    // An edited header (typ dropped) with the original signature.
    const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid })).toString('base64url');
    await expectRefused(t, `${header}.${good.split('.')[1]}.${s}`, 'TOKEN_SIGNATURE_INVALID');
  });

  it('another key under the real kid → TOKEN_SIGNATURE_INVALID', async () => {
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const forged = await resign(good, {}, attacker);
    expect(partsOf(forged).header.kid).toBe(kid);
    await expectRefused(t, forged, 'TOKEN_SIGNATURE_INVALID');
  });

  it('an unknown kid, no kid, or a key embedded in the token (jwk header, CVE-2018-0114) → TOKEN_KEY_UNKNOWN', async () => {
    const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    const attackerKid = await kidOf(attacker);
    const jwk = createPublicKey(attacker).export({ format: 'jwk' });
    const { claims } = partsOf(good);
    await expectRefused(
      t,
      await sign(attacker, { alg: 'ES256', kid: attackerKid, typ: BOT_TYP }, claims),
      'TOKEN_KEY_UNKNOWN',
    );
    await expectRefused(
      t,
      await sign(attacker, { alg: 'ES256', kid: attackerKid, jwk, typ: BOT_TYP }, claims),
      'TOKEN_KEY_UNKNOWN',
    );
    await expectRefused(
      t,
      await sign(attacker, { alg: 'ES256', jwk, typ: BOT_TYP }, claims),
      'TOKEN_KEY_UNKNOWN',
    );
    await expectRefused(t, await resign(good, { header: { kid: undefined } }), 'TOKEN_KEY_UNKNOWN');
    await expectRefused(t, await resign(good, { header: { kid: 42 } }), 'TOKEN_KEY_UNKNOWN');
  });

  it('expired (beyond the 30 s clock skew) → TOKEN_EXPIRED; within the skew still accepted', async () => {
    const issued = await issueToken(t, 'acme', botId, 60);
    const exp = partsOf(issued.token).claims.exp as number;
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime((exp + 20) * 1000);
    await meWith(t, issued.token).expect(200);
    vi.setSystemTime((exp + 31) * 1000);
    await expectRefused(t, issued.token, 'TOKEN_EXPIRED');
    vi.setSystemTime((exp + 400 * 24 * 3600) * 1000);
    await expectRefused(t, issued.token, 'TOKEN_EXPIRED');
  });

  it('wrong audience, or ours among others in a list → TOKEN_AUDIENCE_MISMATCH', async () => {
    for (const aud of [
      'https://other.example/api',
      `${ISSUER}/sso/acme/metadata`,
      [AUDIENCE, 'https://other.example'],
    ]) {
      await expectRefused(t, await resign(good, { claims: { aud } }), 'TOKEN_AUDIENCE_MISMATCH');
    }
    await expectRefused(t, await resign(good, { claims: { aud: undefined } }), 'TOKEN_AUDIENCE_MISMATCH');
  });

  it('wrong or missing issuer → TOKEN_ISSUER_MISMATCH', async () => {
    for (const iss of ['https://staging.example.com', `${ISSUER}/`, 'http://localhost:3001', undefined]) {
      await expectRefused(t, await resign(good, { claims: { iss } }), 'TOKEN_ISSUER_MISMATCH');
    }
  });

  it('another kind of JWT signed with the same key (typ JWT or none) → TOKEN_TYPE_INVALID', async () => {
    await expectRefused(t, await resign(good, { header: { typ: 'JWT' } }), 'TOKEN_TYPE_INVALID');
    await expectRefused(t, await resign(good, { header: { typ: undefined } }), 'TOKEN_TYPE_INVALID');
  });

  it('missing sub/jti/iat, iat or nbf in the future, a non-numeric exp → TOKEN_CLAIMS_INVALID', async () => {
    for (const claims of [
      { sub: undefined },
      { jti: undefined },
      { iat: undefined },
      { iat: now() + 120 },
      { nbf: now() + 120 },
      { exp: 'tomorrow' },
      { jti: 'x' },
    ]) {
      await expectRefused(t, await resign(good, { claims }), 'TOKEN_CLAIMS_INVALID');
    }
  });

  it('a validly signed token whose jti was never issued → TOKEN_UNKNOWN', async () => {
    const forged = await sign(devTokenKey, { alg: 'ES256', kid, typ: BOT_TYP }, claimsFor());
    await expectRefused(t, forged, 'TOKEN_UNKNOWN');
    // Without expiry, too.
    await expectRefused(
      t,
      await sign(devTokenKey, { alg: 'ES256', kid, typ: BOT_TYP }, claimsFor({ exp: undefined })),
      'TOKEN_UNKNOWN',
    );
  });

  it('an issued jti re-signed for another bot, with a longer life or without expiry → TOKEN_UNKNOWN', async () => {
    const { claims } = partsOf(good);
    await expectRefused(t, await resign(good, { claims: { sub: otherBotId } }), 'TOKEN_UNKNOWN');
    await expectRefused(
      t,
      await resign(good, { claims: { exp: (claims.exp as number) + 3600 } }),
      'TOKEN_UNKNOWN',
    );
    await expectRefused(t, await resign(good, { claims: { exp: undefined } }), 'TOKEN_UNKNOWN');
  });

  it('revoked → TOKEN_REVOKED, from the very next request', async () => {
    const issued = await issueToken(t, 'acme', botId);
    await meWith(t, issued.token).expect(200);
    await request(t.app)
      .delete(`/api/accounts/acme/bots/${botId}/tokens/${issued.id}`)
      .set('Authorization', AUTH)
      .expect(204);
    await expectRefused(t, issued.token, 'TOKEN_REVOKED');
  });

  it('bot disabled → TOKEN_BOT_DISABLED for every token of it', async () => {
    const { bot, issued } = await botWithToken(t, 'acme', 'admin', 'to-disable');
    const forever = await issueToken(t, 'acme', bot.id, null);
    await meWith(t, forever.token).expect(200);
    await request(t.app).delete(`/api/accounts/acme/bots/${bot.id}`).set('Authorization', AUTH).expect(204);
    await expectRefused(t, issued.token, 'TOKEN_BOT_DISABLED');
    await expectRefused(t, forever.token, 'TOKEN_BOT_DISABLED');
  });

  it('garbage shaped like a JWT, an unreadable header, a signed payload that is not a JSON object → TOKEN_MALFORMED', async () => {
    const [h, p, s] = good.split('.');
    await expectRefused(t, 'a.b.c', 'TOKEN_MALFORMED');
    await expectRefused(t, `${Buffer.from('{"alg":').toString('base64url')}.${p}.${s}`, 'TOKEN_MALFORMED');
    // The signature is checked before the payload is read: an edited payload is a bad signature first.
    await expectRefused(
      t,
      `${h}.${Buffer.from('not json').toString('base64url')}.${s}`,
      'TOKEN_SIGNATURE_INVALID',
    );
    for (const payload of ['not json', '[1,2]', '"a string"']) {
      const signed = await new CompactSign(new TextEncoder().encode(payload))
        .setProtectedHeader({ alg: 'ES256', kid, typ: BOT_TYP })
        .sign(devTokenKey);
      await expectRefused(t, signed, 'TOKEN_MALFORMED');
    }
    // Over 4096 characters is no bearer value we accept at all.
    const huge = `${h}.${p}${'A'.repeat(5000)}.${s}`;
    expectCode(
      await request(t.app).get('/api/accounts/acme').set('Authorization', `Bearer ${huge}`),
      401,
      'AUTH_REQUIRED',
    );
  });
});

describe('what a valid bot token may do', () => {
  let t: TestSp;
  let admin: { bot: { id: string }; issued: { id: string; token: string } };
  let member: { issued: { token: string } };

  beforeAll(async () => {
    t = await startSp();
    await createAccountWithIdp(t, 'acme');
    await createAccountWithIdp(t, 'globex');
    admin = await botWithToken(t, 'acme', 'admin');
    member = await botWithToken(t, 'acme', 'member');
  });
  afterAll(async () => t.close());

  const as = (token: string) => ({ Authorization: `Bearer ${token}` });

  it("an admin bot of one account cannot read or change another account's admin API → 403", async () => {
    for (const [method, path] of [
      ['get', '/api/accounts/globex'],
      ['patch', '/api/accounts/globex'],
      ['get', '/api/accounts/globex/users'],
      ['get', '/api/accounts/globex/saml'],
      ['delete', '/api/accounts/globex/saml'],
      ['get', '/api/accounts/globex/audit'],
    ] as const) {
      const res = await call(t, method, path).set(as(admin.issued.token)).send({ idpInitiated: false });
      expectCode(res, 403, 'FORBIDDEN');
    }
    await request(t.app).get('/api/accounts/globex/saml').set('Authorization', AUTH).expect(200);
  });

  it('a member bot gets 403 on every admin route of its own account, but GET /api/me answers', async () => {
    for (const [method, path] of [
      ['get', '/api/accounts/acme'],
      ['patch', '/api/accounts/acme'],
      ['get', '/api/accounts/acme/users'],
      ['get', '/api/accounts/acme/audit'],
      ['put', '/api/accounts/acme/saml'],
    ] as const) {
      const res = await call(t, method, path).set(as(member.issued.token)).send({});
      expectCode(res, 403, 'FORBIDDEN');
    }
    await meWith(t, member.issued.token).expect(200);
  });

  it("the operator's token-only routes refuse bots → 403", async () => {
    const create = await request(t.app)
      .post('/api/accounts')
      .set(as(admin.issued.token))
      .send({ slug: 'evil', name: 'Evil' });
    expectCode(create, 403, 'FORBIDDEN');
    expectCode(
      await request(t.app).get('/api/audit/ref_0123456789abcdef').set(as(admin.issued.token)),
      403,
      'FORBIDDEN',
    );
  });

  it('a bot cannot create bots, mint tokens (for itself or others), list them, revoke or disable → 403', async () => {
    const base = '/api/accounts/acme/bots';
    for (const [method, path] of [
      ['post', base],
      ['get', base],
      ['post', `${base}/${admin.bot.id}/tokens`],
      ['get', `${base}/${admin.bot.id}/tokens`],
      ['delete', `${base}/${admin.bot.id}/tokens/${admin.issued.id}`],
      ['delete', `${base}/${admin.bot.id}`],
    ] as const) {
      const res = await call(t, method, path)
        .set(as(admin.issued.token))
        .send({ name: 'sock', role: 'admin', expiresInSeconds: null });
      expectCode(res, 403, 'FORBIDDEN');
    }
    const bots = await request(t.app).get(base).set('Authorization', AUTH).expect(200);
    expect((bots.body as { bots: unknown[] }).bots).toHaveLength(2);
  });

  it("a bot token wins over a session cookie sent along: the cookie's rights are not added", async () => {
    // The bot of acme with no session at all is refused at globex; a cookie cannot change that.
    const res = await request(t.app)
      .get('/api/accounts/globex')
      .set(as(admin.issued.token))
      .set('Cookie', 'sspk.sid=s%3Aanything.signature');
    expectCode(res, 403, 'FORBIDDEN');
  });
});

describe.each(['rsa', 'ed25519'] as const)('algorithm confusion with a %s signing key', (type) => {
  let t: TestSp;
  let good: string;
  const key = newKeyFile(type);
  const alg = type === 'rsa' ? 'RS256' : 'EdDSA';

  beforeAll(async () => {
    t = await startSp({ tokenSigningKeyFile: key.file });
    await createAccountWithIdp(t, 'acme');
    good = (await botWithToken(t, 'acme', 'admin')).issued.token;
  });
  afterAll(async () => {
    await t.close();
    rmSync(key.dir, { recursive: true, force: true });
  });

  it(`signs ${alg} and accepts it`, async () => {
    expect(partsOf(good).header.alg).toBe(alg);
    await meWith(t, good).expect(200);
  });

  it('refuses none, HS256 keyed with the public key, and the other algorithms of the key family', async () => {
    const { header, claims } = partsOf(good);
    const kid = header.kid as string;
    await expectRefused(t, compact({ alg: 'none', kid, typ: BOT_TYP }, claims), 'TOKEN_ALGORITHM_INVALID');
    const pem = createPublicKey(key.privateKey).export({ type: 'spki', format: 'pem' }) as string;
    await expectRefused(
      t,
      await sign(new TextEncoder().encode(pem), { alg: 'HS256', kid, typ: BOT_TYP }, claims),
      'TOKEN_ALGORITHM_INVALID',
    );
    if (type === 'rsa') {
      // PS256 and RS512 are RSA too, but not the algorithm this key was configured for.
      for (const other of ['PS256', 'RS512']) {
        await expectRefused(
          t,
          await sign(key.privateKey, { alg: other, kid, typ: BOT_TYP }, claims),
          'TOKEN_ALGORITHM_INVALID',
        );
      }
    } else {
      await expectRefused(
        t,
        await sign(key.privateKey, { alg: 'Ed25519', kid, typ: BOT_TYP }, claims),
        'TOKEN_ALGORITHM_INVALID',
      );
    }
  });
});
