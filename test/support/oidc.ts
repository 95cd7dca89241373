/**
 * Drives OIDC sign-ins against an in-process SP like a browser would: the login route, the provider
 * (a {@link OidcRig} or an attacker's server), then the SP callback with the browser's cookies.
 */
import request from 'supertest';
import { ADMIN_TOKEN, cookiesFrom, type TestSp } from './harness.js';

/** PUT /api/accounts/:slug/oidc with the admin token. */
export function putOidc(t: TestSp, slug: string, body: Record<string, unknown>) {
  return request(t.app)
    .put(`/api/accounts/${slug}/oidc`)
    .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
    .send(body);
}

/** Creates an account (loginConfirmation as given, default off for direct sign-ins). */
export async function createAccount(
  t: TestSp,
  slug: string,
  settings: Record<string, unknown> = {},
): Promise<void> {
  await request(t.app)
    .post('/api/accounts')
    .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
    .send({ slug, name: `${slug} Inc` })
    .expect(201);
  await request(t.app)
    .patch(`/api/accounts/${slug}`)
    .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
    .send({ loginConfirmation: false, ...settings })
    .expect(200);
}

/** GET /sso/:slug/oidc/login: the provider URL and the browser's cookies. */
export async function startOidcLogin(
  t: TestSp,
  slug: string,
  returnTo?: string,
  headers: Record<string, string> = {},
) {
  const res = await request(t.app)
    .get(`/sso/${slug}/oidc/login`)
    .query(returnTo === undefined ? {} : { returnTo })
    .set(headers)
    .expect(302);
  return { location: res.headers.location as string, cookies: cookiesFrom(res) };
}

/** GET the SP callback (the URL the provider redirected to) with these cookies; JSON errors. */
export function callback(t: TestSp, url: URL, cookies: string[]) {
  const req = request(t.app).get(`${url.pathname}${url.search}`).set('Accept', 'application/json');
  if (cookies.length > 0) req.set('Cookie', cookies.join('; '));
  return req;
}

/** Every cookie pair of a response merged over the previous ones (a browser's jar, by name). */
export function mergeCookies(before: string[], res: { headers: Record<string, unknown> }): string[] {
  const jar = new Map(before.map((c) => [c.split('=')[0]!, c] as const));
  for (const c of cookiesFrom(res)) {
    const name = c.split('=')[0]!;
    if (c.endsWith('=')) jar.delete(name);
    else jar.set(name, c);
  }
  return [...jar.values()];
}
