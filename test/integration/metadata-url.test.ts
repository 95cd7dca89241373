/**
 * Importing the IdP from its metadata URL, and keeping it fresh: Auth0 publishes its signing
 * certificates in the metadata, so a rotation is picked up by a refresh (scheduled or on demand)
 * without an outage. The metadata is served by a real local HTTP server.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createLocalAdmin } from '../../src/users/local-login.js';
import {
  ADMIN_TOKEN,
  me,
  cookiesFrom,
  patchSettings,
  postAcs,
  responseFor,
  SSO_URL,
  startSp,
  type TestSp,
} from '../support/harness.js';
import { idpKey, idpMetadataXml, rotatedIdpKey, TEST_TENANT_ISSUER } from '../support/idp.js';
import { startMetadataServer, type MetadataServer } from '../support/metadata-server.js';

const AUTH = `Bearer ${ADMIN_TOKEN}`;
const FP_A = new X509Certificate(idpKey.cert).fingerprint256;
const FP_B = new X509Certificate(rotatedIdpKey.cert).fingerprint256;
const PASSWORD = 'correct horse battery staple';
const ADMIN_EMAIL = 'admin@acme.test';

const metadata = (certs: string[], ssoUrl = SSO_URL) =>
  idpMetadataXml({ entityId: TEST_TENANT_ISSUER, ssoUrl, certs });

interface ConnectionJson {
  metadataUrl: string;
  idpMetadataUrl: string | null;
  idpMetadataRefreshedAt: string | null;
  idpMetadataRefreshError: { at: string; code: string; message: string } | null;
  ssoUrl: string;
  idpEntityId: string | null;
  updatedAt: string;
  warnings: string[];
  certificates: { fingerprintSha256: string; subject: string }[];
}

/** Creates account `acme` on `t` and connects it by the metadata URL `url` (through the API). */
async function connectByMetadataUrl(t: TestSp, url: string, name = 'A'): Promise<void> {
  await request(t.app)
    .post('/api/accounts')
    .set('Authorization', AUTH)
    .send({ slug: 'acme', name })
    .expect(201);
  await request(t.app)
    .put('/api/accounts/acme/saml')
    .set('Authorization', AUTH)
    .send({ metadataUrl: url })
    .expect(200);
}

const csrfOf = (text: string): string => {
  const m = /name="_csrf" value="([^"]+)"/.exec(text);
  if (!m) throw new Error('no _csrf field in page');
  return m[1]!;
};

describe('IdP metadata URL', () => {
  let t: TestSp;
  let idp: MetadataServer;
  const api = () => request(t.app);
  const getSaml = async () =>
    (await api().get('/api/accounts/acme/saml').set('Authorization', AUTH).expect(200))
      .body as ConnectionJson;
  const importUrl = (metadataUrl: string) =>
    api().put('/api/accounts/acme/saml').set('Authorization', AUTH).send({ metadataUrl });
  const refresh = () => api().post('/api/accounts/acme/saml/refresh').set('Authorization', AUTH);
  const fingerprints = (c: ConnectionJson) => c.certificates.map((x) => x.fingerprintSha256).sort();
  /** Signs in with a response signed by `key`; returns the ACS status. */
  const signInWith = async (key: typeof idpKey) => {
    const res = await postAcs(t, 'acme', responseFor(t, 'acme', { key }));
    if (res.status < 400) expect((await me(t, cookiesFrom(res))).status).toBe(200);
    return res.status;
  };

  beforeAll(async () => {
    idp = await startMetadataServer();
  });
  afterAll(async () => idp.close());
  beforeEach(async () => {
    idp.serve(metadata([idpKey.cert]));
    t = await startSp();
    await api()
      .post('/api/accounts')
      .set('Authorization', AUTH)
      .send({ slug: 'acme', name: 'Acme' })
      .expect(201);
    await patchSettings(t, 'acme', { loginConfirmation: false });
  });
  afterEach(async () => t.close());

  it('imports from the URL exactly as from the file, and remembers the URL (Auth0 path shape)', async () => {
    const url = idp.url('/samlp/metadata/TestClientId123');
    const res = await importUrl(url);
    expect(res.status, res.text).toBe(200);
    const conn = res.body as ConnectionJson;
    expect(conn.idpMetadataUrl).toBe(url);
    expect(conn.metadataUrl).toBe('http://localhost:3000/sso/acme/metadata'); // the SP's, as before
    expect(conn.ssoUrl).toBe(SSO_URL);
    expect(conn.idpEntityId).toBe(TEST_TENANT_ISSUER);
    expect(fingerprints(conn)).toEqual([FP_A]);
    expect(conn.idpMetadataRefreshError).toBeNull();
    expect(Date.parse(conn.idpMetadataRefreshedAt!)).toBeGreaterThan(Date.now() - 10_000);
    expect(idp.requests).toContain('GET /samlp/metadata/TestClientId123');
    expect(await signInWith(idpKey)).toBe(303);
  });

  it('keeps the query of the ?connection= shape, and accepts the multipart field too', async () => {
    const url = idp.url('/samlp/metadata?connection=acme-saml');
    const res = await api()
      .put('/api/accounts/acme/saml')
      .set('Authorization', AUTH)
      .field('metadataUrl', url);
    expect(res.status, res.text).toBe(200);
    expect((res.body as ConnectionJson).idpMetadataUrl).toBe(url);
    expect(idp.requests).toContain('GET /samlp/metadata?connection=acme-saml');
  });

  it('picks up a rotated certificate at a refresh: a response signed with the new key signs in', async () => {
    await importUrl(idp.url('/samlp/metadata/c')).expect(200);
    expect(await signInWith(idpKey)).toBe(303);
    expect(await signInWith(rotatedIdpKey)).toBe(401);

    // Auth0 rotates: next certificate published beside the current one, then the old one removed.
    idp.serve(metadata([idpKey.cert, rotatedIdpKey.cert]));
    let res = await refresh();
    expect(res.status, res.text).toBe(200);
    expect(fingerprints(res.body as ConnectionJson)).toEqual([FP_A, FP_B].sort());
    expect(await signInWith(idpKey)).toBe(303);
    expect(await signInWith(rotatedIdpKey)).toBe(303);

    idp.serve(metadata([rotatedIdpKey.cert]));
    res = await refresh();
    expect(fingerprints(res.body as ConnectionJson)).toEqual([FP_B]);
    expect(await signInWith(rotatedIdpKey)).toBe(303);
    expect(await signInWith(idpKey)).toBe(401);

    const events = (
      await api()
        .get('/api/accounts/acme/audit?code=IDP_METADATA_REFRESHED')
        .set('Authorization', AUTH)
        .expect(200)
    ).body.events as { outcome: string; detail: string }[];
    expect(events).toHaveLength(2);
    expect(events[0]!.outcome).toBe('success');
    expect(events[0]!.detail).toContain(`certificates removed: ${FP_A}`);
    expect(events[1]!.detail).toContain(`certificates added: ${FP_B}`);
    expect(events[1]!.detail).toContain('by the operator (admin API token)');
  });

  it('an unchanged document changes nothing but the refresh time (and is not audited)', async () => {
    const first = (await importUrl(idp.url('/m')).expect(200)).body as ConnectionJson;
    await new Promise((r) => setTimeout(r, 20));
    const again = (await refresh().expect(200)).body as ConnectionJson;
    expect(again.updatedAt).toBe(first.updatedAt);
    expect(again.certificates).toEqual(first.certificates);
    expect(Date.parse(again.idpMetadataRefreshedAt!)).toBeGreaterThan(
      Date.parse(first.idpMetadataRefreshedAt!),
    );
    const events = (
      await api()
        .get('/api/accounts/acme/audit?code=IDP_METADATA_REFRESHED')
        .set('Authorization', AUTH)
        .expect(200)
    ).body.events as unknown[];
    expect(events).toEqual([]);
  });

  it('a failed refresh keeps the last good certificates, and shows and audits the error', async () => {
    await importUrl(idp.url('/m')).expect(200);
    idp.handle((_req, res) => {
      res.writeHead(500).end('oops');
    });
    const res = await refresh();
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('METADATA_FETCH_FAILED');
    expect(res.body.error.message).toBe(`metadataUrl: ${idp.url('/m')} answered 500.`);

    const conn = await getSaml();
    expect(fingerprints(conn)).toEqual([FP_A]);
    expect(conn.idpMetadataRefreshError).toMatchObject({
      code: 'METADATA_FETCH_FAILED',
      message: `metadataUrl: ${idp.url('/m')} answered 500.`,
    });
    expect(Date.parse(conn.idpMetadataRefreshError!.at)).toBeGreaterThan(Date.now() - 10_000);
    expect(conn.warnings.join(' ')).toMatch(/could not be refreshed.*answered 500.*last good metadata/);
    expect(await signInWith(idpKey)).toBe(303);

    // Metadata that no longer parses is a failure too, with the parser's reason.
    idp.serve('<html>maintenance</html>', 'text/html');
    const bad = await refresh();
    expect(bad.body.error.code).toBe('METADATA_INVALID');
    expect(bad.body.error.message).toContain(
      `metadataUrl: ${idp.url('/m')} did not return usable IdP metadata`,
    );
    expect(fingerprints(await getSaml())).toEqual([FP_A]);

    const failures = (
      await api().get('/api/accounts/acme/audit?outcome=failure').set('Authorization', AUTH).expect(200)
    ).body.events as { code: string; detail: string; hint: string | null }[];
    expect(failures.map((e) => e.code)).toEqual(['METADATA_INVALID', 'METADATA_FETCH_FAILED']);
    expect(failures[1]!.detail).toContain('the last good metadata stays in use');
    expect(failures[1]!.hint).toMatch(/answer 200/);

    // Back to normal: the error is cleared.
    idp.serve(metadata([idpKey.cert]));
    const ok = (await refresh().expect(200)).body as ConnectionJson;
    expect(ok.idpMetadataRefreshError).toBeNull();
    expect(ok.warnings).toEqual([]);
  });

  it('an import by certificate or metadata file afterwards forgets the URL; refresh then answers 409', async () => {
    await importUrl(idp.url('/m')).expect(200);
    await api()
      .put('/api/accounts/acme/saml')
      .set('Authorization', AUTH)
      .send({ certificate: idpKey.cert, ssoUrl: SSO_URL })
      .expect(200);
    const conn = await getSaml();
    expect(conn.idpMetadataUrl).toBeNull();
    expect(conn.idpMetadataRefreshedAt).toBeNull();
    const res = await refresh();
    expect(res.status).toBe(409);
    expect(res.body.error.code).toBe('METADATA_URL_MISSING');

    await importUrl(idp.url('/m')).expect(200);
    await api()
      .put('/api/accounts/acme/saml')
      .set('Authorization', AUTH)
      .send({ metadataXml: metadata([idpKey.cert]) })
      .expect(200);
    expect((await getSaml()).idpMetadataUrl).toBeNull();
  });

  it('a failing import leaves the previous connection exactly as it was', async () => {
    await api()
      .put('/api/accounts/acme/saml')
      .set('Authorization', AUTH)
      .send({ certificate: idpKey.cert, ssoUrl: SSO_URL })
      .expect(200);
    const before = await getSaml();
    idp.handle((_req, res) => {
      res.writeHead(404).end();
    });
    const res = await importUrl(idp.url('/samlp/metadata/wrong'));
    expect(res.status).toBe(400);
    expect(res.body.error).toMatchObject({
      code: 'METADATA_FETCH_FAILED',
      message: `metadataUrl: ${idp.url('/samlp/metadata/wrong')} answered 404 (not found): check the tenant and client ID in the URL.`,
    });
    expect(await getSaml()).toEqual(before);
    // Not shaped as the API expects: refused before anything is fetched.
    const mixed = await api()
      .put('/api/accounts/acme/saml')
      .set('Authorization', AUTH)
      .send({ metadataUrl: idp.url('/m'), certificate: idpKey.cert });
    expect(mixed.status).toBe(400);
    expect(mixed.body.error.code).toBe('REQUEST_INVALID');
  });

  describe('admin page', () => {
    async function signInAdmin() {
      await createLocalAdmin(t.sp.stores, { account: 'acme', email: ADMIN_EMAIL, password: PASSWORD });
      const agent = request.agent(t.app);
      const form = await agent.get('/login/password').expect(200);
      await agent
        .post('/login/password')
        .type('form')
        .send({ _csrf: csrfOf(form.text), account: 'acme', email: ADMIN_EMAIL, password: PASSWORD })
        .expect(303);
      return agent;
    }

    it('imports by URL, shows the URL, the last refresh and the last error; Refresh now', async () => {
      const agent = await signInAdmin();
      let page = await agent.get('/admin').expect(200);
      expect(page.text).toContain('name="metadataUrl"');
      const url = idp.url('/samlp/metadata/PageClient');
      await agent
        .post('/admin/idp/metadata-url')
        .type('form')
        .send({ _csrf: csrfOf(page.text), metadataUrl: url })
        .expect(303)
        .expect('Location', '/admin?saved=metadata-url');
      page = await agent.get('/admin?saved=metadata-url').expect(200);
      expect(page.text).toContain('refreshed on a schedule from now on');
      expect(page.text).toContain('IdP metadata URL');
      expect(page.text).toContain(`<code class="wrap">${url}</code>`);
      expect(page.text).toMatch(
        /Last refreshed<\/dt>\s*<dd>\s*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\s*<span class="muted">\(just now\)/,
      );
      expect(page.text).toMatch(/Last refresh error<\/dt>\s*<dd>\s*<span class="muted">none/);
      expect(page.text).toContain(`value="${url}"`); // the form shows the current URL

      idp.handle((_req, res) => {
        res.writeHead(503).end();
      });
      const failed = await agent
        .post('/admin/idp/refresh')
        .type('form')
        .send({ _csrf: csrfOf(page.text) });
      expect(failed.status).toBe(400);
      expect(failed.text).toContain(`metadataUrl: ${url} answered 503.`);
      expect(failed.text).toContain('METADATA_FETCH_FAILED');
      expect(failed.text).toMatch(/class="refresh-error"/);
      expect(failed.text).toContain('The last good metadata stays in use until a refresh succeeds.');

      idp.serve(metadata([rotatedIdpKey.cert]));
      await agent
        .post('/admin/idp/refresh')
        .type('form')
        .send({ _csrf: csrfOf(failed.text) })
        .expect(303)
        .expect('Location', '/admin?saved=refreshed');
      page = await agent.get('/admin').expect(200);
      expect(page.text).not.toMatch(/class="refresh-error"/);
      expect(page.text).toContain(FP_B);
    });

    it('a refused URL re-renders the form with the URL and the message', async () => {
      const agent = await signInAdmin();
      const page = await agent.get('/admin').expect(200);
      const res = await agent
        .post('/admin/idp/metadata-url')
        .type('form')
        .send({ _csrf: csrfOf(page.text), metadataUrl: 'http://metadata.example.com/x' });
      expect(res.status).toBe(400);
      expect(res.text).toContain('METADATA_URL_INVALID');
      expect(res.text).toContain('value="http://metadata.example.com/x"');
    });
  });
});

describe('scheduled IdP metadata refresh', () => {
  let idp: MetadataServer;
  beforeAll(async () => {
    idp = await startMetadataServer();
  });
  afterAll(async () => idp.close());

  it('the app timer picks up a rotated certificate by itself, and close() stops it', async () => {
    idp.serve(metadata([idpKey.cert]));
    // 0.01 minutes: a tick every 600 ms.
    const t = await startSp({ metadataRefreshIntervalMinutes: 0.01 });
    try {
      const api = () => request(t.app);
      await connectByMetadataUrl(t, idp.url('/m'), 'Acme');
      await patchSettings(t, 'acme', { loginConfirmation: false });
      idp.serve(metadata([rotatedIdpKey.cert]));
      const deadline = Date.now() + 8000;
      let fps: string[] = [];
      while (Date.now() < deadline) {
        const conn = (await api().get('/api/accounts/acme/saml').set('Authorization', AUTH).expect(200))
          .body as ConnectionJson;
        fps = conn.certificates.map((c) => c.fingerprintSha256);
        if (fps.includes(FP_B)) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(fps).toEqual([FP_B]);
      const res = await postAcs(t, 'acme', responseFor(t, 'acme', { key: rotatedIdpKey }));
      expect(res.status).toBe(303);
    } finally {
      await t.close();
    }
    const seen = idp.requests.length;
    await new Promise((r) => setTimeout(r, 1500));
    expect(idp.requests.length).toBe(seen);
  });

  it('close() during a refresh in flight aborts the fetch at once (no 10 s wait)', async () => {
    idp.serve(metadata([idpKey.cert]));
    const t = await startSp({ metadataRefreshIntervalMinutes: 0.01 });
    let closed = false;
    try {
      await connectByMetadataUrl(t, idp.url('/slow'));
      let hanging = 0;
      idp.handle(() => {
        hanging++; // never answers: the fetch would wait for its 10 s limit
      });
      const deadline = Date.now() + 5000;
      while (hanging === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect(hanging).toBe(1);
      const started = Date.now();
      await t.close();
      closed = true;
      expect(Date.now() - started).toBeLessThan(2000);
    } finally {
      if (!closed) await t.close();
    }
  });

  it('two instances on one database: each due refresh is fetched once', async () => {
    idp.serve(metadata([idpKey.cert]));
    const dir = mkdtempSync(join(tmpdir(), 'sspk-meta-'));
    const databaseUrl = `sqlite:${join(dir, 'sp.db')}`;
    // The timers are off (0): each pass is run by hand, at the same moment on both instances.
    const one = await startSp({ databaseUrl, metadataRefreshIntervalMinutes: 0 });
    const two = await startSp({ databaseUrl, metadataRefreshIntervalMinutes: 0 });
    try {
      await connectByMetadataUrl(one, idp.url('/twice'));
      const before = idp.requests.filter((r) => r.endsWith('/twice')).length;
      await new Promise((r) => setTimeout(r, 5));
      // With the interval 0 every connection is due: both instances try at once, one fetches.
      await Promise.all([one.sp.refreshIdpMetadata(), two.sp.refreshIdpMetadata()]);
      expect(idp.requests.filter((r) => r.endsWith('/twice')).length).toBe(before + 1);
    } finally {
      await one.close();
      await two.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
