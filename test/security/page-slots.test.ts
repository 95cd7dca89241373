// Template slot confusion: the layout has two slots, {{title}} and {{body}}. Filled one after the other
// with string replacement, text put into the first slot is searched again by the second, so a value an
// attacker controls (an account name, an e-mail) containing `{{body}}` moves the page body into the
// <title> (or anywhere else), and `$'` / `$&` in it are expanded as replacement patterns — HTML
// injection in the CWE-79 family (CWE-79, CWE-116 improper encoding of output; OWASP ASVS 5.3.3).
// page() fills every slot in one pass over the layout alone; the values stay literal and escaped.
import { readFileSync } from 'node:fs';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { siteFor } from '../../src/http/site.js';
import { esc, Html, html, page as renderPage } from '../../src/http/views.js';
import { createLocalAdmin } from '../../src/users/local-login.js';
import {
  ADMIN_TOKEN,
  cookiesFrom,
  postAcs,
  responseFor,
  SSO_URL,
  startSp,
  type TestSp,
} from '../support/harness.js';
import { idpKey } from '../support/idp.js';

// Rendered at the root without branding: the prefix and stylesheet slots are empty.
const layout = readFileSync(new URL('../../views/layout.html', import.meta.url), 'utf8')
  .replace('{{base}}', '')
  .replace('{{stylesheets}}', '');
const ROOT = siteFor('http://localhost');
const page = (title: string, body: Html) => renderPage(ROOT, title, body);

/** Splits a rendered page into its two slots, checking that everything around them is the layout. */
function slotsOf(doc: string): { title: string; main: string } {
  expect(doc.split('<title>')).toHaveLength(2);
  expect(doc.split('</title>')).toHaveLength(2);
  expect(doc.split('<main>')).toHaveLength(2);
  expect(doc.split('</main>')).toHaveLength(2);
  const title = /<title>([\s\S]*)<\/title>/.exec(doc)![1]!;
  const main = /<main>\n([\s\S]*)\n<\/main>/.exec(doc)![1]!;
  const skeleton = doc
    .replace(`<title>${title}</title>`, () => '<title>{{title}}</title>')
    .replace(`<main>\n${main}\n</main>`, () => '<main>\n{{body}}\n</main>');
  expect(skeleton).toBe(layout);
  return { title, main };
}

const count = (haystack: string, needle: string) => haystack.split(needle).length - 1;

describe('page(): each slot is filled once, with literal values', () => {
  it('a title containing {{body}} stays in <title>; the body goes to <main> only', () => {
    const doc = page('{{body}} x', html`<p>b</p>`);
    const { title, main } = slotsOf(doc);
    expect(title).toBe('{{body}} x');
    expect(main).toBe('<p>b</p>');
    expect(count(doc, '<p>b</p>')).toBe(1);
  });

  it('a body containing {{title}} or {{body}} keeps them as text', () => {
    const doc = page('T', html`<p>${'{{title}} {{body}}'}</p>`);
    const { title, main } = slotsOf(doc);
    expect(title).toBe('T');
    expect(main).toBe('<p>{{title}} {{body}}</p>');
  });

  it("replacement patterns ($' $& $` $$ $1) in a title or body are not expanded", () => {
    const evil = "a$'b$&c$`d$$e$1f";
    const body = new Html(`<p>${esc(evil)}</p><p>$'$&$\`$$</p>`);
    const doc = page(evil, body);
    const { title, main } = slotsOf(doc);
    expect(title).toBe(esc(evil));
    expect(title).toBe('a$&#39;b$&#38;c$&#96;d$$e$1f');
    expect(main).toBe(`<p>a$&#39;b$&#38;c$&#96;d$$e$1f</p><p>$'$&$\`$$</p>`);
  });

  it('markup in the title is escaped', () => {
    const { title } = slotsOf(page('</title><script>alert(1)</script>', html`<p>b</p>`));
    expect(title).toBe('&#60;/title&#62;&#60;script&#62;alert(1)&#60;/script&#62;');
  });
});

describe('account names with slot markers, rendered over HTTP', () => {
  const NAMES = ['{{body}}', '{{title}}', "{{body}}$'<b>x</b>$&{{title}}"];
  let t: TestSp;
  beforeEach(async () => {
    t = await startSp();
  });
  afterEach(async () => t.close());

  async function createAccount(slug: string, name: string, confirm: boolean): Promise<void> {
    const api = (r: request.Test) => r.set('Authorization', `Bearer ${ADMIN_TOKEN}`);
    await api(request(t.app).post('/api/accounts')).send({ slug, name }).expect(201);
    if (!confirm)
      await api(request(t.app).patch(`/api/accounts/${slug}`))
        .send({ loginConfirmation: false })
        .expect(200);
    await api(request(t.app).put(`/api/accounts/${slug}/saml`))
      .send({ certificate: idpKey.cert, ssoUrl: SSO_URL })
      .expect(200);
  }

  it.each(NAMES.map((name, i) => [name, `slot${i}`]))(
    'the confirmation page of an IdP-initiated sign-in to account %j',
    async (name, slug) => {
      await createAccount(slug, name, true);
      const res = await postAcs(t, slug, responseFor(t, slug, { email: 'jane@acme.test' }), { html: true });
      expect(res.status).toBe(200);
      const { title, main } = slotsOf(res.text);
      expect(title).toBe(`Continue to ${esc(name)}`);
      expect(main).toContain(`<h1>Continue to ${esc(name)} as jane@acme.test?</h1>`);
      expect(main).toContain('<form method="post"');
      expect(res.text).not.toContain('<b>x</b>');
    },
  );

  it.each(NAMES.map((name, i) => [name, `slot${i}`]))('the admin page of account %j', async (name, slug) => {
    await createAccount(slug, name, false);
    await createLocalAdmin(t.sp.stores, {
      account: slug,
      email: 'root@acme.test',
      password: 'correct horse battery',
    });
    const form = await request(t.app).get('/login/password').expect(200);
    const csrf = /name="_csrf" value="([^"]+)"/.exec(form.text)![1];
    const login = await request(t.app)
      .post('/login/password')
      .set('Cookie', cookiesFrom(form))
      .type('form')
      .send({ _csrf: csrf, account: slug, email: 'root@acme.test', password: 'correct horse battery' })
      .expect(303);
    const res = await request(t.app)
      .get('/admin')
      .set('Cookie', [...cookiesFrom(form), ...cookiesFrom(login)])
      .expect(200);
    const { title, main } = slotsOf(res.text);
    expect(title).toBe(`SSO setup · ${esc(name)}`);
    expect(main).toContain(`<h1>Single sign-on for ${esc(name)}</h1>`);
    expect(main).toContain('action="/admin/settings"');
    expect(res.text).not.toContain('<b>x</b>');
  });
});
