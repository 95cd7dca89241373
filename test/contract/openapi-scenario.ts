/**
 * One pass over every documented operation of the HTTP surface, as an admin, an IdP, a browser and a
 * bot use them: each response is handed to `seen(method, path template, response)`. Shared by the
 * OpenAPI test (test/contract/openapi.test.ts), which checks each response against docs/openapi.json
 * and that every operation was seen.
 */
import request from 'supertest';
import { idpKey } from '../support/idp.js';
import { startOidcRig } from '../support/oidc-provider-rig.js';
import { WEB_CLIENT } from '../support/oidc-provider-rig.js';
import {
  ADMIN_TOKEN,
  SSO_URL,
  cookiesFrom,
  postAcs,
  responseFor,
  startLogin,
  type TestSp,
} from '../support/harness.js';

/** A response as the checker needs it. */
export interface SeenResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: unknown;
  text: string;
}

export type Seen = (method: string, template: string, res: SeenResponse) => void;

const AUTH = { Authorization: `Bearer ${ADMIN_TOKEN}` };

/** The scenario's SP serves its metrics, behind this token. */
export const METRICS_TOKEN = 'metrics-token-0123456789abcdef';

/** Runs the scenario on `t` (an SP at http://localhost:3000 with the test admin token and {@link METRICS_TOKEN}). */
export async function runScenario(t: TestSp, seen: Seen): Promise<void> {
  const api = () => request(t.app);
  const see = async (method: string, template: string, res: request.Response | Promise<request.Response>) => {
    const r = await res;
    seen(method, template, { status: r.status, headers: r.headers, body: r.body as unknown, text: r.text });
    return r;
  };

  // Health and keys.
  await see('get', '/healthz', api().get('/healthz'));
  await see('get', '/readyz', api().get('/readyz'));
  await see('get', '/.well-known/jwks.json', api().get('/.well-known/jwks.json'));
  await see('get', '/api/openapi.json', api().get('/api/openapi.json'));
  await see('get', '/metrics', api().get('/metrics'));
  await see('get', '/', api().get('/'));

  // Accounts.
  await see(
    'post',
    '/api/accounts',
    api().post('/api/accounts').set(AUTH).send({ slug: 'acme', name: 'Acme Inc' }),
  );
  await see(
    'post',
    '/api/accounts',
    api().post('/api/accounts').set(AUTH).send({ slug: 'acme', name: 'Again' }),
  );
  await see('post', '/api/accounts', api().post('/api/accounts').send({ slug: 'nope', name: 'No token' }));
  await see('get', '/api/accounts/{slug}', api().get('/api/accounts/acme').set(AUTH));
  await see('get', '/api/accounts/{slug}', api().get('/api/accounts/missing').set(AUTH));
  await see(
    'patch',
    '/api/accounts/{slug}',
    api()
      .patch('/api/accounts/acme')
      .set(AUTH)
      .send({ loginConfirmation: false, adminGroups: ['admins'] }),
  );
  await see(
    'patch',
    '/api/accounts/{slug}',
    api().patch('/api/accounts/acme').set(AUTH).send({ allowedEmailDomains: 'x' }),
  );

  // SAML connection.
  await see('get', '/api/accounts/{slug}/saml', api().get('/api/accounts/acme/saml').set(AUTH));
  await see(
    'put',
    '/api/accounts/{slug}/saml',
    api().put('/api/accounts/acme/saml').set(AUTH).send({ certificate: 'garbage', ssoUrl: SSO_URL }),
  );
  await see(
    'put',
    '/api/accounts/{slug}/saml',
    api().put('/api/accounts/acme/saml').set(AUTH).send({ certificate: idpKey.cert, ssoUrl: SSO_URL }),
  );
  await see('get', '/api/accounts/{slug}/saml', api().get('/api/accounts/acme/saml').set(AUTH));
  await see(
    'post',
    '/api/accounts/{slug}/saml/refresh',
    api().post('/api/accounts/acme/saml/refresh').set(AUTH),
  );
  await see('get', '/sso/{slug}/metadata', api().get('/sso/acme/metadata'));

  // SP-initiated sign-in, then the session.
  const login = await startLogin(t, 'acme', '/welcome');
  seen('get', '/sso/{slug}/login', {
    status: 302,
    headers: { location: login.location },
    body: {},
    text: '',
  });
  const acs = await see(
    'post',
    '/sso/{slug}/acs',
    postAcs(t, 'acme', responseFor(t, 'acme', { inResponseTo: login.request.id, groups: ['admins'] }), {
      cookie: login.cookies,
    }),
  );
  await see('post', '/sso/{slug}/acs', postAcs(t, 'acme', 'not base64 at all'));
  const session = cookiesFrom(acs);
  await see('get', '/login', api().get('/login?account=acme'));
  await see('get', '/login', api().get('/login?account=nobody'));
  await see(
    'post',
    '/sso/{slug}/confirm',
    api()
      .post('/sso/acme/confirm')
      .type('form')
      .set('Origin', t.sp.config.baseUrl)
      .set('Accept', 'application/json')
      .send({ token: 'x' }),
  );
  await see('get', '/api/me', api().get('/api/me').set('Cookie', session));
  await see('get', '/api/me', api().get('/api/me'));

  // Test sign-in.
  const test = await see(
    'post',
    '/api/accounts/{slug}/saml/tests',
    api().post('/api/accounts/acme/saml/tests').set(AUTH),
  );
  const testBody = test.body as { id: string };
  const testToken = new URL((test.body as { loginUrl: string }).loginUrl).pathname;
  await see('get', '/sso/{slug}/tests/{token}', api().get(testToken));
  await see(
    'get',
    '/sso/{slug}/tests/{token}',
    api().get('/sso/acme/tests/unknown-token').set('Accept', 'application/json'),
  );
  await see(
    'get',
    '/api/accounts/{slug}/saml/tests/{id}',
    api().get(`/api/accounts/acme/saml/tests/${testBody.id}`).set(AUTH),
  );

  // Users and audit.
  const users = await see(
    'get',
    '/api/accounts/{slug}/users',
    api().get('/api/accounts/acme/users').set(AUTH),
  );
  const userId = (users.body as { users: { id: string }[] }).users[0]!.id;
  await see(
    'patch',
    '/api/accounts/{slug}/users/{userId}',
    api().patch(`/api/accounts/acme/users/${userId}`).set(AUTH).send({ roleOverride: 'member' }),
  );
  await see(
    'patch',
    '/api/accounts/{slug}/users/{userId}',
    api().patch(`/api/accounts/acme/users/${userId}`).set(AUTH).send({ roleOverride: 'owner' }),
  );
  const audit = await see(
    'get',
    '/api/accounts/{slug}/audit',
    api().get('/api/accounts/acme/audit?limit=5').set(AUTH),
  );
  const ref = (audit.body as { events: { referenceId: string }[] }).events[0]!.referenceId;
  await see(
    'get',
    '/api/accounts/{slug}/audit/{referenceId}',
    api().get(`/api/accounts/acme/audit/${ref}`).set(AUTH),
  );
  await see('get', '/api/audit/{referenceId}', api().get(`/api/audit/${ref}`).set(AUTH));

  // Setup links.
  const link = await see(
    'post',
    '/api/accounts/{slug}/setup-links',
    api().post('/api/accounts/acme/setup-links').set(AUTH).send({ expiresInHours: 2 }),
  );
  await see('get', '/api/accounts/{slug}/setup-links', api().get('/api/accounts/acme/setup-links').set(AUTH));
  const linkPath = new URL((link.body as { url: string }).url).pathname;
  await see('get', '/setup/{token}', api().get(linkPath));
  await see('get', '/setup/{token}', api().get(linkPath).set('Cookie', session));
  await see(
    'post',
    '/setup/{token}',
    api().post(linkPath).set('Cookie', session).set('Origin', t.sp.config.baseUrl),
  );
  await see(
    'post',
    '/setup/{token}',
    api()
      .post(linkPath)
      .set('Cookie', session)
      .set('Origin', 'https://evil.example')
      .set('Accept', 'application/json'),
  );
  await see(
    'delete',
    '/api/accounts/{slug}/setup-links/{id}',
    api()
      .delete(`/api/accounts/acme/setup-links/${(link.body as { id: string }).id}`)
      .set(AUTH),
  );
  await see('get', '/setup/{token}', api().get(linkPath).set('Accept', 'application/json'));

  // Bots and tokens.
  const bot = await see(
    'post',
    '/api/accounts/{slug}/bots',
    api().post('/api/accounts/acme/bots').set(AUTH).send({ name: 'ingest', role: 'member' }),
  );
  const botId = (bot.body as { id: string }).id;
  await see('get', '/api/accounts/{slug}/bots', api().get('/api/accounts/acme/bots').set(AUTH));
  const token = await see(
    'post',
    '/api/accounts/{slug}/bots/{botId}/tokens',
    api().post(`/api/accounts/acme/bots/${botId}/tokens`).set(AUTH).send({ expiresInSeconds: 600 }),
  );
  const tok = token.body as { id: string; token: string };
  await see(
    'get',
    '/api/accounts/{slug}/bots/{botId}/tokens',
    api().get(`/api/accounts/acme/bots/${botId}/tokens`).set(AUTH),
  );
  await see('get', '/api/me', api().get('/api/me').set('Authorization', `Bearer ${tok.token}`));
  await see(
    'delete',
    '/api/accounts/{slug}/bots/{botId}/tokens/{tokenId}',
    api().delete(`/api/accounts/acme/bots/${botId}/tokens/${tok.id}`).set(AUTH),
  );
  await see('get', '/api/me', api().get('/api/me').set('Authorization', `Bearer ${tok.token}`));
  await see(
    'delete',
    '/api/accounts/{slug}/bots/{botId}',
    api().delete(`/api/accounts/acme/bots/${botId}`).set(AUTH),
  );

  // OIDC connection against a real provider.
  const rig = await startOidcRig([`${t.sp.config.baseUrl}/sso/acme/oidc/callback`]);
  try {
    await see('get', '/api/accounts/{slug}/oidc', api().get('/api/accounts/acme/oidc').set(AUTH));
    await see(
      'put',
      '/api/accounts/{slug}/oidc',
      api()
        .put('/api/accounts/acme/oidc')
        .set(AUTH)
        .send({ issuer: rig.issuer, clientId: WEB_CLIENT.clientId, clientType: 'public', clientSecret: 'x' }),
    );
    await see(
      'put',
      '/api/accounts/{slug}/oidc',
      api().put('/api/accounts/acme/oidc').set(AUTH).send({
        issuer: rig.issuer,
        clientId: WEB_CLIENT.clientId,
        clientSecret: WEB_CLIENT.clientSecret,
        clientType: 'confidential',
      }),
    );
    await see('get', '/api/accounts/{slug}/oidc', api().get('/api/accounts/acme/oidc').set(AUTH));
    const oidcTest = await see(
      'post',
      '/api/accounts/{slug}/oidc/tests',
      api().post('/api/accounts/acme/oidc/tests').set(AUTH),
    );
    const testUrl = new URL((oidcTest.body as { loginUrl: string }).loginUrl);
    const toProvider = await see('get', '/sso/{slug}/tests/{token}', api().get(testUrl.pathname));
    const tested = await rig.signIn(toProvider.headers.location as string, 'oidc-tester');
    await see(
      'get',
      '/sso/{slug}/oidc/callback',
      api()
        .get(`${tested.pathname}${tested.search}`)
        .set('Cookie', cookiesFrom(toProvider))
        .set('Accept', 'application/json'),
    );
    await see(
      'get',
      '/api/accounts/{slug}/oidc/tests/{id}',
      api()
        .get(`/api/accounts/acme/oidc/tests/${(oidcTest.body as { id: string }).id}`)
        .set(AUTH),
    );
    const start = await see('get', '/sso/{slug}/oidc/login', api().get('/sso/acme/oidc/login'));
    const back = await rig.signIn(start.headers.location as string, 'oidc-user');
    await see(
      'get',
      '/sso/{slug}/oidc/callback',
      api().get(`${back.pathname}${back.search}`).set('Cookie', cookiesFrom(start)),
    );
    await see(
      'get',
      '/sso/{slug}/oidc/callback',
      api().get(`${back.pathname}${back.search}`).set('Accept', 'application/json'),
    );
    await see('delete', '/api/accounts/{slug}/oidc', api().delete('/api/accounts/acme/oidc').set(AUTH));
  } finally {
    await rig.close();
  }

  await see('get', '/metrics', api().get('/metrics').set('Authorization', `Bearer ${METRICS_TOKEN}`));

  // Sign out, and the SAML connection removed.
  await see(
    'post',
    '/logout',
    api()
      .post('/logout')
      .set('Cookie', session)
      .set('Origin', t.sp.config.baseUrl)
      .set('Accept', 'application/json'),
  );
  await see('delete', '/api/accounts/{slug}/saml', api().delete('/api/accounts/acme/saml').set(AUTH));
  await see('get', '/api/accounts/{slug}/saml', api().get('/api/accounts/acme/saml').set(AUTH));
}
