/**
 * Test sign-in with a verdict: a one-time link that runs an SP-initiated sign-in which only tests.
 * Every check is evaluated and reported with what to change; no session and no user is ever made; a
 * passing test activates a pending connection.
 */
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ADMIN_TOKEN,
  adminGet,
  cookiesFrom,
  createAccountWithIdp,
  me,
  postAcs,
  responseFor,
  startSp,
  type TestSp,
} from '../support/harness.js';
import { decodeRedirect, rotatedIdpKey, type MintOptions } from '../support/idp.js';

interface Check {
  name: string;
  label: string;
  ok: boolean;
  evaluated: boolean;
  expected?: string;
  received?: string;
  hint?: string;
}

describe('test sign-in', () => {
  let t: TestSp;
  beforeEach(async () => {
    t = await startSp();
    await createAccountWithIdp(t, 'acme', { confirm: true });
  });
  afterEach(async () => t.close());

  async function newTest() {
    const res = await request(t.app)
      .post('/api/accounts/acme/saml/tests')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .expect(201);
    expect(res.body).toMatchObject({ status: 'pending' });
    expect(res.body.loginUrl).toMatch(/^http:\/\/localhost:3000\/sso\/acme\/tests\/[A-Za-z0-9_-]{43}$/);
    expect(Date.parse(res.body.expiresAt)).toBeGreaterThan(Date.now());
    return res.body as { id: string; loginUrl: string; expiresAt: string };
  }

  /** Follows the link like a browser (no cookies at all): the AuthnRequest the IdP receives. */
  async function follow(loginUrl: string) {
    const res = await request(t.app).get(new URL(loginUrl).pathname).expect(302);
    return decodeRedirect(res.headers.location as string);
  }

  async function answer(requestId: string, opts: Partial<MintOptions> = {}) {
    return postAcs(t, 'acme', responseFor(t, 'acme', { inResponseTo: requestId, ...opts }));
  }

  const verdict = async (id: string) =>
    (await adminGet(t, `/api/accounts/acme/saml/tests/${id}`)).body as {
      status: string;
      checks: Check[];
    };

  it('passes for a good response: every check reported, connection activated, no user, no session', async () => {
    const test = await newTest();
    const authn = await follow(test.loginUrl);
    expect(authn.id).toMatch(/^_t[0-9a-f]{40}$/);
    const res = await answer(authn.id);
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ test: { id: test.id, status: 'passed' } });
    expect(cookiesFrom(res).some((c) => c.startsWith('sspk.sid='))).toBe(false);
    await me(t, cookiesFrom(res)).expect(401);

    const v = await verdict(test.id);
    expect(v.status).toBe('passed');
    expect(v.checks.map((c) => c.name)).toEqual([
      'response',
      'status',
      'destination',
      'algorithms',
      'signature',
      'issuer',
      'nameId',
      'recipient',
      'times',
      'audience',
      'inResponseTo',
      'email',
      'attributes',
    ]);
    expect(v.checks.every((c) => c.ok && c.evaluated)).toBe(true);
    expect(v.checks.find((c) => c.name === 'email')!.received).toBe('jane.doe@example.com');
    expect((await adminGet(t, '/api/accounts/acme/users')).body.users).toEqual([]);
    expect((await adminGet(t, '/api/accounts/acme/saml')).body.status).toBe('active');
  });

  it('reports every failure at once, each with the setting and the value', async () => {
    const test = await newTest();
    const authn = await follow(test.loginUrl);
    const res = await answer(authn.id, {
      audience: 'urn:auth0:other',
      recipient: 'https://old.example/callback',
      destination: 'https://old.example/callback',
      signatureAlgorithm: 'sha1',
      email: null,
      now: new Date(Date.now() + 10 * 60_000),
    });
    expect(res.body.test.status).toBe('failed');
    const v = await verdict(test.id);
    const failed = Object.fromEntries(v.checks.filter((c) => !c.ok).map((c) => [c.name, c]));
    expect(Object.keys(failed).sort()).toEqual(
      ['algorithms', 'audience', 'destination', 'email', 'recipient', 'times'].sort(),
    );
    const acs = t.urls('acme').acsUrl;
    expect(failed.audience!.hint).toContain(`"audience": "${t.urls('acme').audience}"`);
    expect(failed.destination!).toMatchObject({
      expected: acs,
      received: 'unverified: https://old.example/callback',
    });
    expect(failed.recipient!.hint).toContain(acs);
    expect(failed.algorithms!.hint).toContain('"signatureAlgorithm": "rsa-sha256"');
    expect(failed.times!.hint).toMatch(/ahead/);
    expect(failed.email!.hint).toContain('mappings');
    expect(v.checks.find((c) => c.name === 'signature')!.ok).toBe(true);
    expect((await adminGet(t, '/api/accounts/acme/saml')).body.status).toBe('pending');
    expect((await adminGet(t, '/api/accounts/acme/users')).body.users).toEqual([]);
  });

  it('a signature by another key: the later checks are not evaluated (unsigned content is not judged)', async () => {
    const test = await newTest();
    const authn = await follow(test.loginUrl);
    await answer(authn.id, { key: rotatedIdpKey, audience: 'urn:auth0:other' });
    const v = await verdict(test.id);
    const byName = Object.fromEntries(v.checks.map((c) => [c.name, c]));
    expect(byName.signature).toMatchObject({ ok: false, evaluated: true });
    expect(byName.signature!.received).toMatch(/^unverified: SHA-256 /);
    expect(byName.signature!.hint).toContain('Certificates');
    for (const later of ['issuer', 'audience', 'times', 'email']) {
      expect(byName[later]).toMatchObject({ ok: false, evaluated: false });
    }
    expect(byName.response!.ok).toBe(true);
  });

  it('the link works once, in any browser, until it expires', async () => {
    const test = await newTest();
    await follow(test.loginUrl);
    const again = await request(t.app).get(new URL(test.loginUrl).pathname).set('Accept', 'application/json');
    expect(again.status).toBe(410);
    expect(again.body.error.code).toBe('SIGN_IN_TEST_LINK_INVALID');
    const forged = await request(t.app)
      .get('/sso/acme/tests/' + 'A'.repeat(43))
      .set('Accept', 'application/json');
    expect(forged.body.error.code).toBe('SIGN_IN_TEST_LINK_INVALID');
  });

  it('its answer cannot sign anyone in, even posted again as a login', async () => {
    const test = await newTest();
    const authn = await follow(test.loginUrl);
    const samlResponse = responseFor(t, 'acme', { inResponseTo: authn.id });
    expect((await postAcs(t, 'acme', samlResponse)).body.test.status).toBe('passed');
    const replay = await postAcs(t, 'acme', samlResponse);
    expect(replay.status).toBe(401);
    expect(replay.body.error.code).toBe('SAML_IN_RESPONSE_TO_UNKNOWN');
    expect((await adminGet(t, '/api/accounts/acme/users')).body.users).toEqual([]);
  });

  it('a test keeps an existing session as it was', async () => {
    const login = await postAcs(t, 'acme', responseFor(t, 'acme', { nameId: 'someone' }));
    const confirm = await request(t.app)
      .post('/sso/acme/confirm')
      .set('Cookie', cookiesFrom(login))
      .set('Origin', 'http://localhost:3000')
      .type('form')
      .send({ token: login.body.confirmation.token });
    const session = cookiesFrom(confirm);
    const test = await newTest();
    const authn = await follow(test.loginUrl);
    const res = await postAcs(
      t,
      'acme',
      responseFor(t, 'acme', { inResponseTo: authn.id, nameId: 'other' }),
      {
        cookie: session,
      },
    );
    expect(res.body.test.status).toBe('passed');
    expect((await me(t, session).expect(200)).body.nameId).toBe('someone');
  });

  it('is for admins of the account only', async () => {
    const test = await newTest();
    await request(t.app).get(`/api/accounts/acme/saml/tests/${test.id}`).expect(401);
    await request(t.app).post('/api/accounts/acme/saml/tests').expect(401);
    const unknown = await request(t.app)
      .get('/api/accounts/acme/saml/tests/00000000-0000-0000-0000-000000000000')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`);
    expect(unknown.status).toBe(404);
  });
});
