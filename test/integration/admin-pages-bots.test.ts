import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalAdmin } from '../../src/users/local-login.js';
import { ADMIN_TOKEN, createAccountWithIdp, startSp, type TestSp } from '../support/harness.js';
import { expectCode, meWith, partsOf } from '../support/bots.js';

const AUTH = `Bearer ${ADMIN_TOKEN}`;
const PASSWORD = 'correct horse battery staple';

const csrfOf = (text: string): string => {
  const m = /name="_csrf" value="([^"]+)"/.exec(text);
  if (!m) throw new Error('no _csrf field in page');
  return m[1]!;
};
const tokenOf = (text: string): string | null =>
  /<textarea id="new-token"[^>]*>([^<]+)<\/textarea>/.exec(text)?.[1]?.trim() ?? null;

describe('the Bots section of the admin page', () => {
  let t: TestSp;
  let agent: ReturnType<typeof request.agent>;

  beforeAll(async () => {
    t = await startSp();
    await createAccountWithIdp(t, 'acme');
    await createLocalAdmin(t.sp.stores, { account: 'acme', email: 'admin@acme.test', password: PASSWORD });
    agent = request.agent(t.app);
    const form = await agent.get('/login/password').expect(200);
    await agent
      .post('/login/password')
      .type('form')
      .send({ _csrf: csrfOf(form.text), account: 'acme', email: 'admin@acme.test', password: PASSWORD })
      .expect(303);
  });
  afterAll(async () => t.close());

  const page = async () => {
    const res = await agent.get('/admin').expect(200);
    return { text: res.text, csrf: csrfOf(res.text) };
  };
  const bots = async () =>
    (
      (await request(t.app).get('/api/accounts/acme/bots').set('Authorization', AUTH).expect(200)).body as {
        bots: { id: string; name: string; role: string; disabled: boolean; createdBy: string }[];
      }
    ).bots;

  it('adds a bot, issues a token shown once, revokes it, and disables the bot', async () => {
    let { csrf } = await page();
    await agent
      .post('/admin/bots')
      .type('form')
      .send({ _csrf: csrf, name: 'nightly <ingest>', role: 'admin' })
      .expect(303)
      .expect('Location', '/admin?saved=bot#bots');
    const [bot] = await bots();
    expect(bot).toMatchObject({
      name: 'nightly <ingest>',
      role: 'admin',
      createdBy: expect.stringMatching(/^user:/),
    });
    const listed = await page();
    expect(listed.text).toContain('nightly &#60;ingest&#62;');
    expect(listed.text).not.toContain('nightly <ingest>');

    const issued = await agent
      .post(`/admin/bots/${bot!.id}/tokens`)
      .type('form')
      .send({ _csrf: listed.csrf, expiresIn: 'never' });
    expect(issued.status).toBe(201);
    expect(issued.headers['cache-control']).toBe('no-store');
    const token = tokenOf(issued.text);
    expect(token).not.toBeNull();
    expect(partsOf(token!).claims).not.toHaveProperty('exp');
    expect(issued.text).toContain('never expires');
    await meWith(t, token!).expect(200);

    // Shown once: the next view of the page has no token, only its id.
    const after = await page();
    expect(tokenOf(after.text)).toBeNull();
    expect(after.text).not.toContain(token!.split('.')[2]!);
    const tokenId = partsOf(token!).claims.jti as string;
    expect(after.text).toContain(tokenId);
    csrf = after.csrf;

    await agent
      .post(`/admin/bots/${bot!.id}/tokens/${tokenId}/revoke`)
      .type('form')
      .send({ _csrf: csrf })
      .expect(303)
      .expect('Location', '/admin?saved=token-revoked#bots');
    expectCode(await meWith(t, token!), 401, 'TOKEN_REVOKED');

    const second = await agent
      .post(`/admin/bots/${bot!.id}/tokens`)
      .type('form')
      .send({ _csrf: csrf, expiresIn: '2592000' })
      .expect(201);
    const token2 = tokenOf(second.text)!;
    const c = partsOf(token2).claims;
    expect((c.exp as number) - (c.iat as number)).toBe(2592000);
    await agent
      .post(`/admin/bots/${bot!.id}/disable`)
      .type('form')
      .send({ _csrf: csrf })
      .expect(303)
      .expect('Location', '/admin?saved=bot-disabled#bots');
    expectCode(await meWith(t, token2), 401, 'TOKEN_BOT_DISABLED');
    expect((await bots())[0]!.disabled).toBe(true);
  });

  it('refuses a post without the CSRF token (a cross-site form cannot mint a token)', async () => {
    const bot = (
      await request(t.app)
        .post('/api/accounts/acme/bots')
        .set('Authorization', AUTH)
        .send({ name: 'x', role: 'member' })
    ).body as { id: string };
    const res = await agent.post(`/admin/bots/${bot.id}/tokens`).type('form').send({ expiresIn: 'never' });
    expect(res.status).toBe(403);
    expect(tokenOf(res.text)).toBeNull();
    const noCreate = await agent.post('/admin/bots').type('form').send({ name: 'evil', role: 'admin' });
    expect(noCreate.status).toBe(403);
    expect((await bots()).map((b) => b.name)).not.toContain('evil');
  });

  it('shows the catalogued error on the page for a bad name or lifetime, and keeps what was typed', async () => {
    const { csrf } = await page();
    const bad = await agent.post('/admin/bots').type('form').send({ _csrf: csrf, name: 'ok', role: 'owner' });
    expect(bad.status).toBe(400);
    expect(bad.text).toContain('BOT_INVALID');
    expect(bad.text).toContain('value="ok"');
    const bot = (await bots())[0]!;
    const life = await agent
      .post(`/admin/bots/${bot.id}/tokens`)
      .type('form')
      .send({ _csrf: csrf, expiresIn: '5' });
    expect(life.status).toBe(400);
    expect(life.text).toContain('TOKEN_LIFETIME_INVALID');
  });

  it('is not there for anyone but an account admin', async () => {
    const anon = await request(t.app).post('/admin/bots').type('form').send({ name: 'x', role: 'admin' });
    expect(anon.status).toBe(401);
    expect(anon.text).not.toContain('Bots');
  });
});
