import request from 'supertest';
import { afterEach, describe, it } from 'vitest';
import { createAccountWithIdp, startSp, type TestSp } from '../support/harness.js';

const HTTPS = { baseUrl: 'https://sp.example.com', trustProxy: '1' } as const;
const TLS = { 'X-Forwarded-Proto': 'https' };

describe('scratch', () => {
  let t: TestSp;
  afterEach(async () => { await t?.close(); });

  it('odd slugs on every route (https)', async () => {
    t = await startSp(HTTPS);
    await createAccountWithIdp(t, 'acme');
    const slugs = ['a%3Bb', 'a%20b', 'ACME', 'a'.repeat(5000), 'a%0d%0aSet-Cookie:x=1', 'a%2Cb', 'a%3Db', 'a%22b', 'a%253Bb', '%C3%A9t%C3%A9', 'a%00b'];
    for (const s of slugs) {
      for (const [m, p] of [['get', 'oidc/callback?code=x&state=y'], ['get', 'oidc/login'], ['get', 'login'], ['get', 'tests/abc'], ['post', 'acs'], ['post', 'confirm'], ['get', 'metadata']] as const) {
        const r = m === 'get'
          ? await request(t.app).get(`/sso/${s}/${p}`).set(TLS).set('Accept', 'application/json')
          : await request(t.app).post(`/sso/${s}/${p}`).set(TLS).set('Origin', 'https://sp.example.com').set('Accept', 'application/json').type('form').send({ token: 'x', SAMLResponse: 'x' });
        console.log(s.slice(0, 30), m, p, r.status, JSON.stringify(r.body?.error?.code), JSON.stringify(r.headers['set-cookie'] ?? null).slice(0, 200));
      }
    }
  });

  it('odd slugs (http)', async () => {
    t = await startSp({});
    await createAccountWithIdp(t, 'acme');
    for (const s of ['a%3Bb', 'a%20b', 'ACME', 'a%0d%0ab']) {
      const r = await request(t.app).get(`/sso/${s}/oidc/callback?code=x&state=y`).set('Accept', 'application/json');
      console.log('http', s, r.status, JSON.stringify(r.body?.error?.code), JSON.stringify(r.headers['set-cookie'] ?? null));
    }
  });

  it('https + trustProxy, no X-Forwarded-Proto', async () => {
    t = await startSp(HTTPS);
    await createAccountWithIdp(t, 'acme');
    const login = await request(t.app).get('/sso/acme/login');
    console.log('login no XFP', login.status, login.headers['set-cookie']);
    const form = await request(t.app).get('/login/password');
    console.log('form no XFP', form.status, form.headers['set-cookie']);
  });

  it('https, trustProxy false (TLS at proxy not trusted)', async () => {
    t = await startSp({ baseUrl: 'https://sp.example.com', trustProxy: false } as never);
    const form = await request(t.app).get('/login/password');
    console.log('form trustProxy=false', form.status, form.headers['set-cookie']);
  });
});
