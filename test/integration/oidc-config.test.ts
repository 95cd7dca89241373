/**
 * PUT /api/accounts/:slug/oidc: the client-type rules in the seed guides' words, discovery failures,
 * URL rules (https, loopback http outside production), field-named errors, and the secret that goes in
 * and never comes out (encrypted at rest, in no answer, no audit event).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, adminGet, startSp, type TestSp } from '../support/harness.js';
import { SPA_CLIENT, WEB_CLIENT, startOidcRig, type OidcRig } from '../support/oidc-provider-rig.js';
import { createAccount, putOidc } from '../support/oidc.js';

let t: TestSp;
let rig: OidcRig;
let broken: Server;
let brokenUrl: string;

beforeAll(async () => {
  t = await startSp();
  rig = await startOidcRig([`${t.sp.config.baseUrl}/sso/cfg/oidc/callback`]);
  await createAccount(t, 'cfg');
  // A server whose "discovery document" is not one, or names another issuer.
  broken = createServer((req, res) => {
    if (req.url === '/mismatch/.well-known/openid-configuration') {
      res.writeHead(200, { 'content-type': 'application/json' }).end(
        JSON.stringify({
          issuer: 'https://other-tenant.example.com/',
          authorization_endpoint: 'https://other-tenant.example.com/authorize',
          token_endpoint: 'https://other-tenant.example.com/oauth/token',
          jwks_uri: 'https://other-tenant.example.com/.well-known/jwks.json',
        }),
      );
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>');
  });
  await new Promise<void>((r) => broken.listen(0, '127.0.0.1', r));
  brokenUrl = `http://127.0.0.1:${(broken.address() as AddressInfo).port}/`;
});
afterAll(async () => {
  broken?.close();
  await rig?.close();
  await t?.close();
});

const web = () => ({ issuer: rig.issuer, clientId: WEB_CLIENT.clientId, clientType: 'confidential' });

describe('client type and secret (the seed guides: Web = ID and secret, SPA = ID only)', () => {
  it("a confidential client without a secret is OIDC_CLIENT_SECRET_REQUIRED, in the guides' words", async () => {
    const res = await putOidc(t, 'cfg', web()).expect(400);
    expect(res.body.error.code).toBe('OIDC_CLIENT_SECRET_REQUIRED');
    expect(res.body.error.message).toMatch(/client ID and the client secret/);
    expect(res.body.error.message).toMatch(/Web Application/);
  });

  it("a public client with a secret is OIDC_CLIENT_SECRET_FORBIDDEN, in the guides' words", async () => {
    const res = await putOidc(t, 'cfg', {
      issuer: rig.issuer,
      clientId: SPA_CLIENT.clientId,
      clientType: 'public',
      clientSecret: 'x',
    }).expect(400);
    expect(res.body.error.code).toBe('OIDC_CLIENT_SECRET_FORBIDDEN');
    expect(res.body.error.message).toMatch(/providing both the client ID and the client secret will fail/);
    await request(t.app)
      .get('/api/accounts/cfg/oidc')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .expect(404);
  });

  it('field errors name the field; unknown fields are refused', async () => {
    const res = await putOidc(t, 'cfg', { ...web(), clientSecret: 's', clientType: 'web', extra: 1 }).expect(
      400,
    );
    expect(res.body.error.code).toBe('OIDC_CONFIG_INVALID');
    expect(res.body.error.message).toContain('"clientType"');
    expect(res.body.error.message).toContain('"extra"');
    const partial = await putOidc(t, 'cfg', {
      ...web(),
      clientSecret: 's',
      tokenUrl: `${rig.issuer}token`,
    }).expect(400);
    expect(partial.body.error.message).toContain('"authorizationUrl"');
  });

  it('stores the secret encrypted and never returns it (API, audit)', async () => {
    const res = await putOidc(t, 'cfg', {
      ...web(),
      clientSecret: WEB_CLIENT.clientSecret,
      tokenEndpointAuthMethod: 'client_secret_post',
    }).expect(200);
    expect(res.body).toMatchObject({ clientSecretSet: true, tokenEndpointAuthMethod: 'client_secret_post' });
    expect(res.body.auth0).toMatchObject({
      applicationType: 'Regular Web Application',
      tokenEndpointAuthenticationMethod: 'Post',
      allowedCallbackUrls: res.body.callbackUrl,
    });
    const got = await adminGet(t, '/api/accounts/cfg/oidc');
    const audit = await adminGet(t, '/api/accounts/cfg/audit');
    for (const body of [res.body, got.body, audit.body])
      expect(JSON.stringify(body)).not.toContain(WEB_CLIENT.clientSecret);
    const account = await t.sp.stores.accounts.getBySlug('cfg');
    const row = await t.sp.stores.oidcConnections.getByAccount(account!.id);
    expect(row?.clientSecretEnc).toMatch(/^v1\./);
    expect(row?.clientSecretEnc).not.toContain(WEB_CLIENT.clientSecret);
  });
});

describe('discovery', () => {
  it('an unreachable issuer is OIDC_DISCOVERY_FAILED (400), audited; the previous connection stays', async () => {
    const before = await adminGet(t, '/api/accounts/cfg/oidc');
    const res = await putOidc(t, 'cfg', {
      ...web(),
      clientSecret: 's',
      issuer: 'http://127.0.0.1:1/',
    }).expect(400);
    expect(res.body.error.code).toBe('OIDC_DISCOVERY_FAILED');
    expect((await adminGet(t, '/api/accounts/cfg/oidc')).body).toEqual(before.body);
    const audit = await adminGet(t, '/api/accounts/cfg/audit?code=OIDC_DISCOVERY_FAILED');
    expect(audit.body.events[0].received).toMatch(/unreachable/);
  });

  it('a broken discovery document is OIDC_DISCOVERY_FAILED', async () => {
    const res = await putOidc(t, 'cfg', { ...web(), clientSecret: 's', issuer: brokenUrl }).expect(400);
    expect(res.body.error.code).toBe('OIDC_DISCOVERY_FAILED');
  });

  it('a document naming another issuer is OIDC_ISSUER_MISMATCH (no impersonation by a document)', async () => {
    const res = await putOidc(t, 'cfg', {
      ...web(),
      clientSecret: 's',
      issuer: `${brokenUrl}mismatch`,
    }).expect(400);
    expect(res.body.error.code).toBe('OIDC_ISSUER_MISMATCH');
    const audit = await adminGet(t, '/api/accounts/cfg/audit?code=OIDC_ISSUER_MISMATCH');
    expect(audit.body.events[0].received).toBe('https://other-tenant.example.com/');
  });

  it('plain http only for loopback hosts', async () => {
    const res = await putOidc(t, 'cfg', {
      ...web(),
      clientSecret: 's',
      issuer: 'http://idp.example.com/',
    }).expect(400);
    expect(res.body.error.code).toBe('OIDC_URL_INVALID');
    const ftp = await putOidc(t, 'cfg', { ...web(), clientSecret: 's', issuer: 'ftp://127.0.0.1/' }).expect(
      400,
    );
    expect(ftp.body.error.code).toBe('OIDC_URL_INVALID');
  });
});

describe('in production', () => {
  it('refuses an http issuer even on loopback', async () => {
    const prod = await startSp({
      nodeEnv: 'production',
      baseUrl: 'https://sp.example.com',
      spKeyFile: 'test/fixtures/idp-rotated.key',
      spCertFile: 'test/fixtures/idp-rotated.crt',
      tokenSigningKeyFile: 'test/fixtures/idp-rotated.key',
    }).catch((err: unknown) => err as Error);
    if (prod instanceof Error) throw prod;
    try {
      await createAccount(prod, 'prod');
      const res = await putOidc(prod, 'prod', { ...web(), clientSecret: 's' }).expect(400);
      expect(res.body.error.code).toBe('OIDC_URL_INVALID');
      expect(res.body.error.message).toMatch(/production/);
    } finally {
      await prod.close();
    }
  });
});
