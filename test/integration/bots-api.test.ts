import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import {
  ADMIN_TOKEN,
  BASE_URL,
  createAccountWithIdp,
  postAcs,
  patchSettings,
  responseFor,
  cookiesFrom,
  startSp,
  type TestSp,
} from '../support/harness.js';
import {
  AUDIENCE,
  BOT_TYP,
  ISSUER,
  botWithToken,
  createBot,
  devTokenKey,
  expectCode,
  issueToken,
  kidOf,
  meWith,
  partsOf,
} from '../support/bots.js';
import { isSpError } from '../../src/errors.js';
import { attackerKey } from '../support/idp.js';
import { openSqlDatabase } from '../../src/storage/sql/engine.js';

const AUTH = `Bearer ${ADMIN_TOKEN}`;
const DAY = 24 * 3600;

describe('bots and bot tokens through the admin API', () => {
  let t: TestSp;
  beforeAll(async () => {
    t = await startSp();
    await createAccountWithIdp(t, 'acme');
    await createAccountWithIdp(t, 'globex');
  });
  afterAll(async () => t.close());

  it('POST /api/accounts/:slug/bots creates a bot: 201 { id, name, role, … }', async () => {
    const res = await request(t.app)
      .post('/api/accounts/acme/bots')
      .set('Authorization', AUTH)
      .send({ name: '  nightly ingest ', role: 'member' });
    expect(res.status).toBe(201);
    expect(res.body).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      name: 'nightly ingest',
      role: 'member',
      disabled: false,
      createdAt: expect.any(String),
      disabledAt: null,
      createdBy: 'operator',
    });
    const list = await request(t.app).get('/api/accounts/acme/bots').set('Authorization', AUTH).expect(200);
    expect((list.body as { bots: { id: string }[] }).bots.map((b) => b.id)).toContain(res.body.id);
    // One account's bots are not another's.
    const other = await request(t.app)
      .get('/api/accounts/globex/bots')
      .set('Authorization', AUTH)
      .expect(200);
    expect(other.body).toEqual({ bots: [] });
  });

  it.each([
    [{}],
    [{ name: 'x' }],
    [{ role: 'admin' }],
    [{ name: '', role: 'admin' }],
    [{ name: '   ', role: 'admin' }],
    [{ name: 'x'.repeat(101), role: 'admin' }],
    [{ name: 'tab\there', role: 'admin' }],
    [{ name: 'ci', role: 'owner' }],
    [{ name: 'ci', role: 'admin', account: 'globex' }],
    [{ name: 42, role: 'admin' }],
  ])('a bot body %j is refused with BOT_INVALID', async (body) => {
    const res = await request(t.app).post('/api/accounts/acme/bots').set('Authorization', AUTH).send(body);
    expectCode(res, 400, 'BOT_INVALID');
  });

  it('a 100-character name is accepted; an unknown account is ACCOUNT_NOT_FOUND', async () => {
    await createBot(t, 'acme', 'n'.repeat(100));
    const res = await request(t.app)
      .post('/api/accounts/nosuch/bots')
      .set('Authorization', AUTH)
      .send({ name: 'ci', role: 'admin' });
    expectCode(res, 404, 'ACCOUNT_NOT_FOUND');
  });

  it('issues a token shown once: a signed JWT with iss, aud, sub, jti, iat, exp and the RFC 7638 kid', async () => {
    const bot = await createBot(t, 'acme', 'ci');
    const before = Math.floor(Date.now() / 1000);
    const res = await request(t.app)
      .post(`/api/accounts/acme/bots/${bot.id}/tokens`)
      .set('Authorization', AUTH)
      .send({});
    expect(res.status).toBe(201);
    expect(res.headers['cache-control']).toBe('no-store');
    const issued = res.body as { id: string; token: string; expiresAt: string; neverExpires: boolean };
    expect(Object.keys(issued).sort()).toEqual(['botId', 'expiresAt', 'id', 'kid', 'neverExpires', 'token']);
    const { header, claims } = partsOf(issued.token);
    const kid = await kidOf(devTokenKey);
    expect(header).toEqual({ alg: 'ES256', kid, typ: BOT_TYP });
    expect(claims).toEqual({
      iss: ISSUER,
      aud: AUDIENCE,
      sub: bot.id,
      jti: issued.id,
      iat: expect.any(Number),
      exp: expect.any(Number),
    });
    // Default lifetime: 90 days.
    expect((claims.exp as number) - (claims.iat as number)).toBe(90 * DAY);
    expect(claims.iat as number).toBeGreaterThanOrEqual(before);
    expect(issued.expiresAt).toBe(new Date((claims.exp as number) * 1000).toISOString());
    expect(issued.neverExpires).toBe(false);

    // Listed without the token; the database holds no token either.
    const list = await request(t.app)
      .get(`/api/accounts/acme/bots/${bot.id}/tokens`)
      .set('Authorization', AUTH)
      .expect(200);
    expect(list.text).not.toContain(issued.token);
    expect(list.text).not.toContain(issued.token.split('.')[2]!);
    expect((list.body as { tokens: unknown[] }).tokens).toEqual([
      {
        id: issued.id,
        botId: bot.id,
        kid,
        createdAt: expect.any(String),
        expiresAt: issued.expiresAt,
        neverExpires: false,
        revoked: false,
        revokedAt: null,
        createdBy: 'operator',
      },
    ]);
  });

  it('expiresInSeconds: an integer from 60 to 366 days, or null for a token that never expires (listed as such)', async () => {
    const bot = await createBot(t, 'acme', 'lifetimes');
    const short = await issueToken(t, 'acme', bot.id, 60);
    const c = partsOf(short.token).claims;
    expect((c.exp as number) - (c.iat as number)).toBe(60);
    const forever = await issueToken(t, 'acme', bot.id, null);
    expect(forever.expiresAt).toBeNull();
    expect(forever.neverExpires).toBe(true);
    expect(partsOf(forever.token).claims).not.toHaveProperty('exp');
    await meWith(t, forever.token).expect(200);
    const list = await request(t.app)
      .get(`/api/accounts/acme/bots/${bot.id}/tokens`)
      .set('Authorization', AUTH)
      .expect(200);
    const listed = (list.body as { tokens: { id: string; neverExpires: boolean; expiresAt: unknown }[] })
      .tokens;
    expect(listed.find((x) => x.id === forever.id)).toMatchObject({ neverExpires: true, expiresAt: null });
    for (const body of [
      { expiresInSeconds: 59 },
      { expiresInSeconds: 366 * DAY + 1 },
      { expiresInSeconds: 1.5 },
      { expiresInSeconds: '3600' },
      { expiresInSeconds: 3600, scope: 'all' },
    ]) {
      const res = await request(t.app)
        .post(`/api/accounts/acme/bots/${bot.id}/tokens`)
        .set('Authorization', AUTH)
        .send(body);
      expectCode(res, 400, 'TOKEN_LIFETIME_INVALID');
    }
    await issueToken(t, 'acme', bot.id, 366 * DAY);
  });

  it('a token authenticates GET /api/me as the bot, in its account, with its role', async () => {
    const { bot, issued } = await botWithToken(t, 'acme', 'member', 'reader');
    const res = await meWith(t, issued.token);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ account: 'acme', role: 'member', bot: { id: bot.id, name: 'reader' } });
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('an admin bot uses its own account admin API like a session admin; no cookie, no session is created', async () => {
    const { issued } = await botWithToken(t, 'acme', 'admin');
    const read = await request(t.app)
      .get('/api/accounts/acme')
      .set('Authorization', `Bearer ${issued.token}`);
    expect(read.status).toBe(200);
    expect(read.headers['set-cookie']).toBeUndefined();
    const patch = await request(t.app)
      .patch('/api/accounts/acme')
      .set('Authorization', `Bearer ${issued.token}`)
      .send({ allowedEmailDomains: ['acme.example'] });
    expect(patch.status, patch.text).toBe(200);
    expect(patch.headers['set-cookie']).toBeUndefined();
    await request(t.app)
      .get('/api/accounts/acme/users')
      .set('Authorization', `Bearer ${issued.token}`)
      .expect(200);
    await request(t.app)
      .get('/api/accounts/acme/audit')
      .set('Authorization', `Bearer ${issued.token}`)
      .expect(200);
    await request(t.app)
      .get('/api/accounts/acme/saml')
      .set('Authorization', `Bearer ${issued.token}`)
      .expect(200);
    await patchSettings(t, 'acme', { allowedEmailDomains: [] });
    const { db } = await openSqlDatabase(t.sp.config.databaseUrl);
    try {
      const sessions = await sql<{ n: number }>`SELECT COUNT(*) AS n FROM sessions`.execute(db);
      expect(Number(sessions.rows[0]!.n)).toBe(0);
    } finally {
      await db.destroy();
    }
  });

  it('an admin bot cannot change which IdP the account trusts (a leaked token would sign itself in as a human admin)', async () => {
    const { issued } = await botWithToken(t, 'acme', 'admin', 'no-idp-changes');
    const bearer = `Bearer ${issued.token}`;
    const before = await request(t.app)
      .get('/api/accounts/acme/saml')
      .set('Authorization', bearer)
      .expect(200);
    const attempts = [
      request(t.app)
        .put('/api/accounts/acme/saml')
        .set('Authorization', bearer)
        .send({ certificate: attackerKey.cert, ssoUrl: 'https://evil.example/samlp/x' }),
      request(t.app).delete('/api/accounts/acme/saml').set('Authorization', bearer),
      request(t.app)
        .put('/api/accounts/acme/oidc')
        .set('Authorization', bearer)
        .send({ issuer: 'https://evil.example', clientId: 'x', clientType: 'public' }),
      request(t.app).delete('/api/accounts/acme/oidc').set('Authorization', bearer),
    ];
    for (const res of await Promise.all(attempts)) expectCode(res, 403, 'FORBIDDEN');
    const after = await request(t.app)
      .get('/api/accounts/acme/saml')
      .set('Authorization', bearer)
      .expect(200);
    expect(after.body).toEqual(before.body);
  });

  it('DELETE …/tokens/:id revokes at once (204, idempotent); DELETE …/bots/:id disables the bot and all its tokens', async () => {
    const { bot, issued } = await botWithToken(t, 'acme', 'admin', 'to-revoke');
    const second = await issueToken(t, 'acme', bot.id);
    await meWith(t, issued.token).expect(200);
    await request(t.app)
      .delete(`/api/accounts/acme/bots/${bot.id}/tokens/${issued.id}`)
      .set('Authorization', AUTH)
      .expect(204);
    expectCode(await meWith(t, issued.token), 401, 'TOKEN_REVOKED');
    await request(t.app)
      .delete(`/api/accounts/acme/bots/${bot.id}/tokens/${issued.id}`)
      .set('Authorization', AUTH)
      .expect(204);
    const listed = await request(t.app)
      .get(`/api/accounts/acme/bots/${bot.id}/tokens`)
      .set('Authorization', AUTH)
      .expect(200);
    expect((listed.body as { tokens: { id: string; revoked: boolean }[] }).tokens).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ id: issued.id, revoked: true, revokedAt: expect.any(String) }),
        expect.objectContaining({ id: second.id, revoked: false }),
      ]),
    );
    await meWith(t, second.token).expect(200);
    await request(t.app).delete(`/api/accounts/acme/bots/${bot.id}`).set('Authorization', AUTH).expect(204);
    expectCode(await meWith(t, second.token), 401, 'TOKEN_BOT_DISABLED');
    const bots = await request(t.app).get('/api/accounts/acme/bots').set('Authorization', AUTH).expect(200);
    expect((bots.body as { bots: { id: string }[] }).bots.find((b) => b.id === bot.id)).toMatchObject({
      disabled: true,
      disabledAt: expect.any(String),
    });
    const again = await request(t.app)
      .post(`/api/accounts/acme/bots/${bot.id}/tokens`)
      .set('Authorization', AUTH)
      .send({});
    expectCode(again, 409, 'BOT_DISABLED');
  });

  it('unknown bots and tokens are 404, also when they belong to another account', async () => {
    const { bot, issued } = await botWithToken(t, 'globex', 'admin', 'globex-bot');
    for (const [method, path] of [
      ['get', `/api/accounts/acme/bots/${bot.id}/tokens`],
      ['post', `/api/accounts/acme/bots/${bot.id}/tokens`],
      ['delete', `/api/accounts/acme/bots/${bot.id}`],
      ['delete', `/api/accounts/acme/bots/${bot.id}/tokens/${issued.id}`],
      ['delete', '/api/accounts/acme/bots/not-a-uuid'],
    ] as const) {
      const res = await request(t.app)[method](path).set('Authorization', AUTH).send({});
      expectCode(res, 404, 'BOT_NOT_FOUND');
    }
    const own = await createBot(t, 'acme', 'own');
    const res = await request(t.app)
      .delete(`/api/accounts/acme/bots/${own.id}/tokens/${issued.id}`)
      .set('Authorization', AUTH);
    expectCode(res, 404, 'BOT_TOKEN_NOT_FOUND');
    await meWith(t, issued.token).expect(200);
  });

  it('an account admin signed in with SSO manages bots of their account (recorded as the creator)', async () => {
    await patchSettings(t, 'acme', { adminGroups: ['sso-admins'] });
    const login = await postAcs(
      t,
      'acme',
      responseFor(t, 'acme', { nameId: 'auth0|boss', groups: ['sso-admins'] }),
    );
    expect(login.status, login.text).toBe(303);
    const cookies = cookiesFrom(login);
    const created = await request(t.app)
      .post('/api/accounts/acme/bots')
      .set('Cookie', cookies)
      .send({ name: 'made by a human', role: 'member' });
    expect(created.status, created.text).toBe(201);
    expect((created.body as { createdBy: string }).createdBy).toMatch(/^user:[0-9a-f-]{36}$/);
    const issued = await request(t.app)
      .post(`/api/accounts/acme/bots/${(created.body as { id: string }).id}/tokens`)
      .set('Cookie', cookies)
      .send({ expiresInSeconds: 3600 });
    expect(issued.status).toBe(201);
    // Not in another account.
    const elsewhere = await request(t.app)
      .post('/api/accounts/globex/bots')
      .set('Cookie', cookies)
      .send({ name: 'x', role: 'member' });
    expectCode(elsewhere, 403, 'FORBIDDEN');
  });

  it('sp.authenticateBot() checks a token for the host application exactly like the API does', async () => {
    const { bot, issued } = await botWithToken(t, 'acme', 'member', 'host-side');
    expect(await t.sp.authenticateBot(issued.token)).toEqual({
      botId: bot.id,
      botName: 'host-side',
      role: 'member',
      accountId: expect.any(String),
      accountSlug: 'acme',
      tokenId: issued.id,
    });
    await expect(t.sp.authenticateBot('a.b.c')).rejects.toSatisfy((e) => isSpError(e, 'TOKEN_MALFORMED'));
    await request(t.app)
      .delete(`/api/accounts/acme/bots/${bot.id}/tokens/${issued.id}`)
      .set('Authorization', AUTH)
      .expect(204);
    await expect(t.sp.authenticateBot(issued.token)).rejects.toSatisfy((e) => isSpError(e, 'TOKEN_REVOKED'));
  });

  it('GET /.well-known/jwks.json publishes the public signing key under its kid, never a private part', async () => {
    const res = await request(t.app).get('/.well-known/jwks.json').expect(200);
    const { keys } = res.body as { keys: Record<string, unknown>[] };
    expect(keys).toEqual([
      {
        kty: 'EC',
        crv: 'P-256',
        x: expect.any(String),
        y: expect.any(String),
        kid: await kidOf(devTokenKey),
        alg: 'ES256',
        use: 'sig',
      },
    ]);
    expect(res.text).not.toMatch(/"(d|p|q|dp|dq|qi|oth|k)"/);
  });

  it('the operator token still works on every route, and GET /api/me ignores a non-JWT bearer as before', async () => {
    await request(t.app).get('/api/accounts/acme').set('Authorization', AUTH).expect(200);
    const res = await request(t.app).get('/api/me').set('Authorization', AUTH);
    expectCode(res, 401, 'AUTH_REQUIRED');
    const wrong = await request(t.app)
      .get('/api/accounts/acme')
      .set('Authorization', 'Bearer wrong-token-0123456789');
    expectCode(wrong, 401, 'AUTH_REQUIRED');
  });
});

describe('an ADMIN_API_TOKEN shaped like a JWT', () => {
  it('is still the operator token (compared first), not a bot token', async () => {
    const token = 'abc.def.ghi-0123456789';
    const t = await startSp({ adminApiToken: token });
    try {
      await request(t.app).get('/api/accounts/nope').set('Authorization', `Bearer ${token}`).expect(404);
      const res = await request(t.app).post('/api/accounts').set('Authorization', `Bearer ${token}`).send({
        slug: 'dots',
        name: 'Dots',
      });
      expect(res.status).toBe(201);
      expect(BASE_URL).toBe(ISSUER);
    } finally {
      await t.close();
    }
  });
});
