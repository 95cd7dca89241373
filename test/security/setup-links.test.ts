/**
 * Setup links (capability URLs, W3C TAG "Good Practices for Capability URLs"; OWASP ASVS V3 session
 * management): a link opens an admin session for ONE account, only while it is neither expired nor
 * revoked — revoking it ends the sessions it opened, at once. Creating links needs the operator's token.
 * A link never silently replaces another session in the browser (login CSRF with a link for the
 * attacker's own account).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { cliRunner, runCli } from '../support/cli.js';
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

const AUTH = `Bearer ${ADMIN_TOKEN}`;
const ORIGIN = 'http://localhost:3000';

describe('setup links', () => {
  let t: TestSp;
  beforeEach(async () => {
    t = await startSp();
    await createAccountWithIdp(t, 'acme');
    await createAccountWithIdp(t, 'other');
  });
  afterEach(async () => {
    vi.restoreAllMocks();
    await t.close();
  });

  async function newLink(slug = 'acme', body: Record<string, unknown> = {}) {
    const res = await request(t.app)
      .post(`/api/accounts/${slug}/setup-links`)
      .set('Authorization', AUTH)
      .send(body);
    expect(res.status).toBe(201);
    expect(res.body.url).toMatch(new RegExp(`^${ORIGIN}/setup/[A-Za-z0-9_-]{43}$`));
    return res.body as { id: string; url: string; expiresAt: string };
  }

  /** Opens the link like a browser clicking it in an e-mail; returns the session cookies. */
  function open(url: string, cookies: string[] = []) {
    const req = request(t.app).get(new URL(url).pathname);
    if (cookies.length > 0) req.set('Cookie', cookies.join('; '));
    return req;
  }

  it('opening the link gives an admin session for that account alone', async () => {
    const link = await newLink();
    const res = await open(link.url);
    expect(res.status).toBe(303);
    expect(res.headers.location).toBe('/admin');
    expect(res.headers['referrer-policy']).toBe('no-referrer');
    const session = cookiesFrom(res);
    expect((await me(t, session).expect(200)).body).toMatchObject({ account: 'acme', role: 'admin' });
    await request(t.app).get('/admin').set('Cookie', session).expect(200);
    await request(t.app).get('/api/accounts/acme/saml').set('Cookie', session).expect(200);
    // nothing else: another account, operator-only routes
    await request(t.app).get('/api/accounts/other/saml').set('Cookie', session).expect(403);
    await request(t.app)
      .post('/api/accounts')
      .set('Cookie', session)
      .set('Origin', ORIGIN)
      .send({ slug: 'x-new', name: 'X' })
      .expect(403);
    await request(t.app)
      .post('/api/accounts/acme/setup-links')
      .set('Cookie', session)
      .set('Origin', ORIGIN)
      .send({})
      .expect(403);
  });

  it('only the operator token creates links; expiresInHours is bounded', async () => {
    await request(t.app).post('/api/accounts/acme/setup-links').send({}).expect(401);
    for (const bad of [
      { expiresInHours: 0 },
      { expiresInHours: 10_000 },
      { expiresInHours: '3' },
      { other: 1 },
    ]) {
      const res = await request(t.app)
        .post('/api/accounts/acme/setup-links')
        .set('Authorization', AUTH)
        .send(bad);
      expect(res.status).toBe(400);
      expect(res.body.error.code).toBe('REQUEST_INVALID');
    }
    const link = await newLink('acme', { expiresInHours: 1 });
    expect(Date.parse(link.expiresAt) - Date.now()).toBeLessThanOrEqual(3600_000);
  });

  it('revoking the link ends the sessions it opened, at once; the link stops working', async () => {
    const link = await newLink();
    const session = cookiesFrom(await open(link.url));
    await me(t, session).expect(200);
    await request(t.app)
      .delete(`/api/accounts/acme/setup-links/${link.id}`)
      .set('Authorization', AUTH)
      .expect(204);
    await me(t, session).expect(401);
    await request(t.app).get('/admin').set('Cookie', session).expect(401);
    const again = await open(link.url).set('Accept', 'application/json');
    expect(again.status).toBe(410);
    expect(again.body.error.code).toBe('SETUP_LINK_INVALID');
    const listed = (await adminGet(t, '/api/accounts/acme/setup-links')).body.links;
    expect(listed).toEqual([expect.objectContaining({ id: link.id, status: 'revoked' })]);
  });

  it('expiry ends its sessions and the link', async () => {
    const link = await newLink('acme', { expiresInHours: 1 });
    const session = cookiesFrom(await open(link.url));
    await me(t, session).expect(200);
    const now = Date.now();
    vi.spyOn(Date, 'now').mockReturnValue(now + 3600_000 + 1000);
    await me(t, session).expect(401);
    expect((await open(link.url).set('Accept', 'application/json')).body.error.code).toBe(
      'SETUP_LINK_INVALID',
    );
  });

  it('an admin of the account lists and revokes links; not those of another account', async () => {
    const mine = await newLink();
    const theirs = await newLink('other');
    const session = cookiesFrom(await open(mine.url));
    const list = await request(t.app)
      .get('/api/accounts/acme/setup-links')
      .set('Cookie', session)
      .expect(200);
    expect((list.body as { links: { id: string }[] }).links.map((l) => l.id)).toEqual([mine.id]);
    expect(JSON.stringify(list.body)).not.toContain('/setup/');
    await request(t.app)
      .delete(`/api/accounts/other/setup-links/${theirs.id}`)
      .set('Cookie', session)
      .set('Origin', ORIGIN)
      .expect(403);
    await request(t.app)
      .delete(`/api/accounts/acme/setup-links/${theirs.id}`)
      .set('Authorization', AUTH)
      .expect(404);
  });

  it('made-up links are refused the same way', async () => {
    for (const path of ['/setup/' + 'A'.repeat(43), '/setup/short', '/setup/' + 'A'.repeat(400)]) {
      const res = await request(t.app).get(path).set('Accept', 'application/json');
      expect(res.status).toBe(410);
      expect(res.body.error.code).toBe('SETUP_LINK_INVALID');
    }
  });

  it('never silently replaces the session of someone else: it asks, and only a same-origin POST switches', async () => {
    const login = await postAcs(t, 'other', responseFor(t, 'other', { nameId: 'victim' }));
    const victim = cookiesFrom(login);
    const link = await newLink();
    const page = await open(link.url, victim);
    expect(page.status).toBe(200);
    expect(page.text).toContain('Set up single sign-on for acme Inc?');
    expect((await me(t, victim).expect(200)).body.account).toBe('other');
    const path = new URL(link.url).pathname;
    const forged = await request(t.app)
      .post(path)
      .set('Cookie', victim)
      .set('Origin', 'https://evil.example')
      .set('Accept', 'application/json');
    expect(forged.status).toBe(403);
    expect(forged.body.error.code).toBe('CSRF_INVALID');
    expect((await me(t, victim).expect(200)).body.account).toBe('other');
    const ok = await request(t.app).post(path).set('Cookie', victim).set('Origin', ORIGIN).expect(303);
    expect((await me(t, cookiesFrom(ok)).expect(200)).body.account).toBe('acme');
  });

  it('opening is audited in the account trail', async () => {
    const link = await newLink();
    await open(link.url);
    const events = (await adminGet(t, '/api/accounts/acme/audit?limit=3')).body.events as {
      detail: string;
    }[];
    expect(events[0]!.detail).toBe(`setup link ${link.id} opened an admin session`);
  });
});

describe('the start page', () => {
  it('its form leads to the account IdP without a cross-origin redirect in the form submission', async () => {
    const t = await startSp();
    try {
      await createAccountWithIdp(t, 'acme');
      const start = await request(t.app).get('/').expect(200);
      expect(start.text).toMatch(/<form method="get" action="\/login">/);
      expect(start.text).toContain('name="account"');
      const res = await request(t.app).get('/login').query({ account: 'acme' }).expect(200);
      expect(res.text).toContain('<meta http-equiv="refresh" content="0;url=/sso/acme/login">');
      const unknown = await request(t.app).get('/login').query({ account: ' Nobody ' }).expect(404);
      expect(unknown.text).toContain('There is no account named &#34;nobody&#34;');
      expect(unknown.text).toContain('value=" Nobody "');
      const bad = await request(t.app).get('/login').query({ account: 'no such!' }).expect(400);
      expect(bad.text).not.toMatch(/\[a-z0-9\]/);
      // Any case and surrounding spaces reach the account.
      const mixed = await request(t.app).get('/login').query({ account: ' ACME ' }).expect(200);
      expect(mixed.text).toContain('url=/sso/acme/login');
    } finally {
      await t.close();
    }
  });
});

describe('setup links and password reset from the operator CLI', () => {
  it(
    'creates, lists and revokes a link; create-admin --reset sets a new password',
    { timeout: 120_000 },
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'sspk-cli-links-'));
      // The links the CLI prints start with the real base URL (not Vitest's BASE_URL=/).
      const env = {
        BASE_URL: ORIGIN,
        DATABASE_URL: `sqlite:${join(dir, 'cli.db')}`,
        SSPK_ADMIN_PASSWORD: 'first password 0123',
        LOG_LEVEL: 'silent',
      };
      const cli = cliRunner(env);
      try {
        expect(cli('create-account', 'acme', 'Acme Inc').status).toBe(0);
        const made = cli('create-setup-link', 'acme', '--hours', '2');
        expect(made.stderr).toBe('');
        const url = /http:\/\/localhost:3000\/setup\/[A-Za-z0-9_-]{43}/.exec(made.stdout)![0];
        const id = /setup link ([0-9a-f-]{36})/.exec(made.stdout)![1]!;
        expect(cli('list-setup-links', 'acme').stdout).toContain(`${id}  active`);
        const t = await startSp({ databaseUrl: env.DATABASE_URL });
        try {
          const session = cookiesFrom(await request(t.app).get(new URL(url).pathname).expect(303));
          await me(t, session).expect(200);
          expect(cli('revoke-setup-link', 'acme', id).status).toBe(0);
          await me(t, session).expect(401);
        } finally {
          await t.close();
        }
        expect(cli('create-setup-link', 'acme', '--hours', '0').status).toBe(1);

        expect(cli('create-admin', '--account', 'acme', '--email', 'root@acme.test').status).toBe(0);
        const reset = runCli(['create-admin', '--account', 'acme', '--email', 'root@acme.test', '--reset'], {
          ...env,
          SSPK_ADMIN_PASSWORD: '',
        });
        expect(reset.status).toBe(0);
        const password = /password \(shown once\): (\S+)/.exec(reset.stdout)![1]!;
        const t2 = await startSp({ databaseUrl: env.DATABASE_URL });
        try {
          const form = await request(t2.app).get('/login/password');
          const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)![1]!;
          const login = (pw: string) =>
            request(t2.app)
              .post('/login/password')
              .set('Cookie', cookiesFrom(form))
              .type('form')
              .send({ _csrf: csrf, account: 'acme', email: 'root@acme.test', password: pw });
          expect((await login('first password 0123')).status).toBe(401);
          expect((await login(password)).status).toBe(303);
        } finally {
          await t2.close();
        }
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
