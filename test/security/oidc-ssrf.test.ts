/**
 * SSRF through an OpenID Connect connection (CWE-918; the cloud metadata service at 169.254.169.254 is
 * the classic prize, see the Capital One breach of 2019): an admin (or whoever holds an admin session or
 * token) makes the server fetch a discovery document, keys, tokens and userinfo from URLs of their
 * choosing. Each test is one attack; each ends with a coded 4xx naming the URL, nothing stored, and —
 * where a local server stands ready — no TCP connection reaching it. Servers are real (loopback).
 */
import { rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startSp, type TestSp } from '../support/harness.js';
import { productionKeys } from '../support/certs.js';
import { startMetadataServer, type MetadataServer } from '../support/metadata-server.js';
import { createAccount, putOidc } from '../support/oidc.js';
import { oidcFetch } from '../../src/connections/oidc-fetch.js';

const AUTH = `Bearer ${ADMIN_TOKEN}`;

async function expectRefused(t: TestSp, slug: string, res: request.Response, url: RegExp): Promise<void> {
  expect(res.status, res.text).toBe(400);
  expect(res.body.error.code).toBe('OIDC_URL_FORBIDDEN');
  expect(res.body.error.message).toMatch(url);
  expect(res.body.error.message).toMatch(/only public addresses may be fetched/);
  const conn = await request(t.app).get(`/api/accounts/${slug}/oidc`).set('Authorization', AUTH);
  expect(conn.status).toBe(404); // nothing was stored
}

describe('OIDC SSRF, NODE_ENV=production: the issuer leads to a non-public address', () => {
  let t: TestSp;
  let dir: string;
  let server: MetadataServer;
  let n = 0;
  const slug = async () => {
    const s = `prod-${++n}`;
    await createAccount(t, s);
    return s;
  };
  const web = (issuer: string) => ({
    issuer,
    clientId: 'web-app-client',
    clientSecret: 'web-app-secret',
    clientType: 'confidential',
  });

  beforeAll(async () => {
    // Production refuses the shipped dev keys: the test's own.
    const keys = productionKeys('sspk-oidc-ssrf-');
    dir = keys.dir;
    t = await startSp({
      ...keys.config,
      baseUrl: 'https://sp.example.com',
    });
    server = await startMetadataServer();
    server.serve('{}', 'application/json');
  }, 30_000);
  afterAll(async () => {
    await server.close();
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('https://169.254.169.254/ (the cloud metadata service)', async () => {
    const s = await slug();
    const res = await putOidc(t, s, web('https://169.254.169.254/'));
    await expectRefused(
      t,
      s,
      res,
      /^https:\/\/169\.254\.169\.254\/\.well-known\/openid-configuration is a link-local address/,
    );
  });

  it('https://10.0.0.1/ (a private address)', async () => {
    const s = await slug();
    const res = await putOidc(t, s, web('https://10.0.0.1/'));
    await expectRefused(t, s, res, /^https:\/\/10\.0\.0\.1\/\S* is a private address/);
  });

  it('https://[::ffff:127.0.0.1]:PORT/ (loopback, IPv4-mapped): never connected', async () => {
    const s = await slug();
    const before = server.connections;
    const res = await putOidc(t, s, web(`https://[::ffff:127.0.0.1]:${server.port}/`));
    await expectRefused(t, s, res, /^https:\/\/\[::ffff:7f00:1\]:\d+\/\S* is a loopback address/);
    expect(server.connections).toBe(before);
  });

  it('https://localhost:PORT/ (a name that resolves to loopback): refused at resolution, never connected', async () => {
    const s = await slug();
    const before = server.connections;
    const res = await putOidc(t, s, web(`https://localhost:${server.port}/`));
    await expectRefused(t, s, res, /^https:\/\/localhost:\d+\/\S* resolves to a loopback address/);
    expect(server.connections).toBe(before);
  });

  it('explicit endpoints: a token or JWKS endpoint on 169.254.169.254 is refused without discovery', async () => {
    const s = await slug();
    const res = await putOidc(t, s, {
      ...web('https://tenant.example.com/'),
      authorizationUrl: 'https://tenant.example.com/authorize',
      tokenUrl: 'https://tenant.example.com/oauth/token',
      jwksUri: 'https://169.254.169.254/latest/meta-data/iam/security-credentials/',
    });
    await expectRefused(t, s, res, /^jwksUri: https:\/\/169\.254\.169\.254\/\S* is a link-local address/);
  });

  it('a stored connection whose token endpoint is private: the sign-in is refused before connecting', async () => {
    const s = await slug();
    // A connection written before these rules (or by another tool): the sign-in's own requests are
    // checked, not only the configuration.
    const account = (await t.sp.stores.accounts.getBySlug(s))!;
    await t.sp.stores.oidcConnections.upsert(account.id, {
      issuer: 'https://tenant.example.com/',
      authorizationUrl: 'https://tenant.example.com/authorize',
      tokenUrl: `https://[::ffff:127.0.0.1]:${server.port}/oauth/token`,
      jwksUri: `https://[::ffff:127.0.0.1]:${server.port}/jwks`,
      userinfoUrl: null,
      idTokenSigningAlgs: [],
      clientId: 'spa',
      clientSecretEnc: null,
      clientType: 'public',
      tokenEndpointAuthMethod: 'none',
      source: 'manual',
    });
    const agent = request.agent(t.app);
    const login = await agent.get(`/sso/${s}/oidc/login`).expect(302);
    const state = new URL(login.headers.location as string).searchParams.get('state');
    const cookie = (login.headers['set-cookie'] as unknown as string[])[0]!.split(';')[0]!;
    const before = server.connections;
    const res = await request(t.app)
      .get(`/sso/${s}/oidc/callback?code=abc&state=${state}`)
      .set('Cookie', cookie)
      .set('Accept', 'application/json');
    expect(res.status, res.text).toBe(400);
    expect(res.body.error.code).toBe('OIDC_URL_FORBIDDEN');
    expect(server.connections).toBe(before);
    const audit = await request(t.app).get(`/api/accounts/${s}/audit`).set('Authorization', AUTH).expect(200);
    const event = (audit.body.events as { code: string; hint: string }[])[0]!;
    expect(event.code).toBe('OIDC_URL_FORBIDDEN');
    expect(event.hint).toMatch(/https:\/\/\[::ffff:7f00:1\]:\d+\/oauth\/token/);
  });
});

describe('OIDC SSRF, development: a discovery document names private endpoints', () => {
  let t: TestSp;
  let provider: http.Server;
  let issuer: string;
  let doc: Record<string, unknown> = {};
  let mode: 'json' | 'huge' | 'silent' = 'json';

  beforeAll(async () => {
    t = await startSp();
    await createAccount(t, 'dev');
    provider = http.createServer((_req, res) => {
      if (mode === 'silent') return; // never answers
      res.writeHead(200, { 'Content-Type': 'application/json' });
      if (mode === 'huge') {
        // No Content-Length: the limit must count the bytes.
        res.write(`{"issuer":"${issuer}","x":"`);
        res.end(`${'a'.repeat(300 * 1024)}"}`);
        return;
      }
      res.end(JSON.stringify(doc));
    });
    await new Promise<void>((resolve) => provider.listen(0, '127.0.0.1', resolve));
    issuer = `http://127.0.0.1:${(provider.address() as AddressInfo).port}/`;
  });
  afterAll(async () => {
    await new Promise((resolve) => provider.close(resolve));
    await t.close();
  });

  const discovery = (endpoints: Record<string, string>) => ({
    issuer,
    authorization_endpoint: `${issuer}authorize`,
    token_endpoint: `${issuer}token`,
    jwks_uri: `${issuer}jwks`,
    response_types_supported: ['code'],
    ...endpoints,
  });
  const configure = () => putOidc(t, 'dev', { issuer, clientId: 'spa', clientType: 'public' });

  it('control: a document with loopback endpoints on a loopback issuer is accepted outside production', async () => {
    doc = discovery({});
    await configure().expect(200);
    await request(t.app).delete('/api/accounts/dev/oidc').set('Authorization', AUTH).expect(204);
  });

  it('jwks_uri on 169.254.169.254', async () => {
    doc = discovery({ jwks_uri: 'https://169.254.169.254/latest/meta-data/' });
    await expectRefused(
      t,
      'dev',
      await configure(),
      /^jwksUri: https:\/\/169\.254\.169\.254\/latest\/meta-data\/ is a link-local/,
    );
  });

  it('token_endpoint on 10.1.2.3', async () => {
    doc = discovery({ token_endpoint: 'https://10.1.2.3/oauth/token' });
    await expectRefused(
      t,
      'dev',
      await configure(),
      /^tokenUrl: https:\/\/10\.1\.2\.3\/oauth\/token is a private address/,
    );
  });

  it('userinfo_endpoint on ::ffff:192.168.0.1 (IPv4-mapped private)', async () => {
    doc = discovery({ userinfo_endpoint: 'https://[::ffff:192.168.0.1]/userinfo' });
    await expectRefused(
      t,
      'dev',
      await configure(),
      /^userinfoUrl: https:\/\/\[::ffff:c0a8:1\]\/userinfo is a private address/,
    );
  });

  it('a discovery document over 256 KiB (no Content-Length) is refused, not buffered', async () => {
    mode = 'huge';
    try {
      const res = await configure().expect(400);
      expect(res.body.error.code).toBe('OIDC_DISCOVERY_FAILED');
      const audit = await request(t.app).get('/api/accounts/dev/audit').set('Authorization', AUTH);
      expect((audit.body.events as { received: string }[])[0]!.received).toMatch(/more than 256 KiB/);
    } finally {
      mode = 'json';
    }
  });

  it('a provider that never answers is given up on at the time limit', async () => {
    mode = 'silent';
    try {
      const started = Date.now();
      const fetch = oidcFetch({ production: false, timeoutMs: 300 });
      await expect(
        fetch(`${issuer}.well-known/openid-configuration`, { method: 'GET', headers: {} }),
      ).rejects.toThrow();
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      mode = 'json';
    }
  });
});
