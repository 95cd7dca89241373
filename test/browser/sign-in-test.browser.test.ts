/**
 * "Test sign-in" in a real browser (Debian's Chromium driven by playwright-core) against the local demo
 * IdP (scripts/demo-idp.ts, run as a child process): an account admin clicks the button on the setup
 * page, the redirect chain (form POST → 303 one-time link → 302 IdP) must not be blocked by the page's
 * CSP `form-action`, the admin signs in at the IdP and comes back to the verdict checklist. Once with
 * a good setup (passes, activates the connection, creates nobody, keeps the admin's session) and once
 * after the IdP certificate was replaced by another one (a tenant key rotation as an admin meets it).
 * Every page must work without a single console message (CSP violations included).
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { createLocalAdmin } from '../../src/users/local-login.js';
import {
  ACME_ADMIN,
  CHROMIUM,
  CHROMIUM_MISSING,
  collectPageMessages,
  createAccount,
  screenshots,
  signInAtDemoIdp,
  signInWithPassword,
  useBrowserTest,
  screenshotPath,
} from './support.js';

const TESTER_EMAIL = 'tester@example.com';
const IDP_CERT = readFileSync(new URL('../fixtures/idp.crt', import.meta.url), 'utf8');
const ROTATED_CERT = readFileSync(new URL('../fixtures/idp-rotated.crt', import.meta.url), 'utf8');
/** The certificate the demo IdP signs with (and puts into KeyInfo). */
const IDP_FINGERPRINT = new X509Certificate(IDP_CERT).fingerprint256;
const ROTATED_FINGERPRINT = new X509Certificate(ROTATED_CERT).fingerprint256;

export const PASS_SCREENSHOT = screenshotPath('saml-sp-kit-verdict-pass');
export const FAIL_SCREENSHOT = screenshotPath('saml-sp-kit-verdict-fail');
const PENDING_SCREENSHOT = screenshotPath('saml-sp-kit-verdict-pending');

/** The checks of the verdict, in order (src/sso/verdict.ts). */
const CHECKS = 13;
const FIRST_AFTER_SIGNATURE = 5;

describe.skipIf(CHROMIUM_MISSING)(
  `test sign-in against the demo IdP in Chromium (skipped when ${CHROMIUM} is missing)`,
  () => {
    const rig = useBrowserTest('sspk-browser-test-', {
      demoIdp: true,
      setUp: async () => {
        await createAccount(rig.api, 'acme', 'Acme Inc');
        await createLocalAdmin(rig.sp.stores, ACME_ADMIN);
        await importIdp(IDP_CERT);
      },
      timeout: 90_000,
    });
    const { newPage, arrive, expectNoMessages } = collectPageMessages();

    async function importIdp(certificate: string): Promise<void> {
      const res = await rig.api('/api/accounts/acme/saml', {
        method: 'PUT',
        body: JSON.stringify({ certificate, ssoUrl: `${rig.idpOrigin}/samlp/demo` }),
      });
      expect(res.status, await res.clone().text()).toBe(200);
    }

    /**
     * On the setup page: click "Test sign-in", sign in at the demo IdP, click Continue. Returns the
     * verdict page's test id.
     */
    async function runTestSignIn(page: Page): Promise<string> {
      const admin = await page.goto(`${rig.base}/admin`);
      expect(admin?.status()).toBe(200);
      // the page lets its forms lead to the IdP (the test form's answer redirects there)
      expect(admin?.headers()['content-security-policy']).toMatch(
        new RegExp(`form-action 'self' ${rig.idpOrigin.replace(/\./g, '\\.')}(;|$)`),
      );
      const section = page.locator('section', { has: page.locator('h2', { hasText: 'Test sign-in' }) });
      await signInAtDemoIdp(arrive, page, {
        idpOrigin: rig.idpOrigin,
        start: () => section.locator('button[type=submit]', { hasText: 'Test sign-in' }).click(),
        email: TESTER_EMAIL,
        atConsent: async () => expect(await page.textContent('p')).toContain(`${rig.base}/sso/acme/acs`),
        back: {
          what: 'the verdict page',
          match: (u) => u.origin === rig.base && u.pathname.startsWith('/admin/tests/'),
        },
      });
      const id = /^\/admin\/tests\/([0-9a-f-]{36})$/.exec(new URL(page.url()).pathname)?.[1];
      expect(id, page.url()).toBeDefined();
      return id!;
    }

    const checklist = (page: Page) => page.locator('ol.checklist > li');

    let page: Page;
    let failedTestUrl: string;

    it('a good setup passes: every check ticked, connection active, nobody created or signed out', async () => {
      page = await newPage(rig.browser);
      await signInWithPassword(page, rig.base, ACME_ADMIN);
      expect(await page.textContent('h2 .badge')).toBe('pending');

      const id = await runTestSignIn(page);
      expect(await page.textContent('h1')).toMatch(/^Test sign-in\s+passed$/);
      expect(await page.textContent('p.ok')).toContain('Every check passed');
      const items = checklist(page);
      expect(await items.count()).toBe(CHECKS);
      expect(
        await items.evaluateAll((lis) => lis.map((li) => (li as unknown as { className: string }).className)),
      ).toEqual(Array<string>(CHECKS).fill('check-ok'));
      for (const text of await items.allTextContents()) expect(text.trim()).toMatch(/^✓ /);
      expect(await page.locator('.hint').count()).toBe(0);
      const email = items.filter({ hasText: 'e-mail address' });
      expect(await email.textContent()).toContain(`Received: ${TESTER_EMAIL}`);
      expect(await page.textContent('main')).toContain(`test ${id}`);

      // the admin is still signed in, as the same admin
      const me = await page.request.get(`${rig.base}/api/me`);
      expect(me.status()).toBe(200);
      expect(await me.json()).toMatchObject({ email: ACME_ADMIN.email, account: 'acme', role: 'admin' });
      // nobody was created: the bootstrap admin is the account's only user
      const users = (await (await rig.api('/api/accounts/acme/users')).json()) as {
        users: { email: string; kind: string }[];
      };
      expect(users.users).toHaveLength(1);
      expect(users.users[0]).toMatchObject({ email: ACME_ADMIN.email, kind: 'local' });
      expect(JSON.stringify(users)).not.toContain(TESTER_EMAIL);
      const conn = (await (await rig.api('/api/accounts/acme/saml')).json()) as { status: string };
      expect(conn.status).toBe('active');
      const verdict = (await (await rig.api(`/api/accounts/acme/saml/tests/${id}`)).json()) as {
        status: string;
      };
      expect(verdict.status).toBe('passed');

      const scrolling = await screenshots(page, PASS_SCREENSHOT);
      if (scrolling.length > 0)
        console.info(`passed verdict at 390px, boxes scrolling sideways: ${scrolling.join(' | ')}`);
      expectNoMessages();
    }, 90_000);

    it('after the IdP certificate changed, it fails at the signature and names where to get the certificate', async () => {
      // The connection now trusts another certificate; the demo IdP still signs with idp.key.
      await importIdp(ROTATED_CERT);
      await runTestSignIn(page);
      failedTestUrl = page.url();
      expect(await page.textContent('h1')).toMatch(/^Test sign-in\s+failed$/);
      expect(await page.textContent('p.error')).toContain('Fix the failed checks');
      const items = checklist(page);
      expect(await items.count()).toBe(CHECKS);
      const classes = await items.evaluateAll((lis) =>
        lis.map((li) => (li as unknown as { className: string }).className),
      );
      expect(classes).toEqual([
        ...Array<string>(FIRST_AFTER_SIGNATURE - 1).fill('check-ok'),
        'check-failed',
        ...Array<string>(CHECKS - FIRST_AFTER_SIGNATURE).fill('check-skipped'),
      ]);

      const signature = items.nth(FIRST_AFTER_SIGNATURE - 1);
      const text = (await signature.textContent()) ?? '';
      expect(text).toContain('✗ Signed by a certificate this connection trusts');
      // what the response carried (read from its KeyInfo, so marked unverified) and what is trusted
      expect(text).toContain(`Received: unverified: SHA-256 ${IDP_FINGERPRINT}`);
      expect(text).toContain(`Expected: ${ROTATED_FINGERPRINT}`);
      const hint = (await signature.locator('.hint').textContent()) ?? '';
      expect(hint).toMatch(/^SAML_SIGNATURE_INVALID: /);
      expect(hint).toContain('Applications > your application > Settings > Advanced Settings > Certificates');
      expect(hint).toContain('Download Certificate');

      for (const later of await items.all().then((all) => all.slice(FIRST_AFTER_SIGNATURE))) {
        const t = ((await later.textContent()) ?? '').trim();
        expect(t).toMatch(/^– /);
        expect(t).toContain('Not evaluated: an earlier check failed');
        expect(t).not.toContain('Received:');
      }

      // still the same admin, still nobody else
      const me = await page.request.get(`${rig.base}/api/me`);
      expect(await me.json()).toMatchObject({ email: ACME_ADMIN.email, role: 'admin' });
      const users = (await (await rig.api('/api/accounts/acme/users')).json()) as { users: unknown[] };
      expect(users.users).toHaveLength(1);

      const scrolling = await screenshots(page, FAIL_SCREENSHOT);
      if (scrolling.length > 0)
        console.info(`failed verdict at 390px, boxes scrolling sideways: ${scrolling.join(' | ')}`);
      expectNoMessages();
      await page.context().close();
    }, 90_000);

    it('a test the IdP has not answered says where a lost answer went and when it expires', async () => {
      const res = await rig.api('/api/accounts/acme/saml/tests', { method: 'POST' });
      expect(res.status).toBe(201);
      const { id } = (await res.json()) as { id: string };
      const page = await newPage(rig.browser);
      await signInWithPassword(page, rig.base, ACME_ADMIN);
      await page.goto(`${rig.base}/admin/tests/${id}`);
      expect(await page.textContent('h1 .badge')).toBe('waiting for the IdP');
      const body = (await page.textContent('.admin')) ?? '';
      expect(body).toContain('has not answered yet');
      expect(body).toContain('"Application Callback URL" (Addons > SAML2 Web App >');
      expect(body).toMatch(/This test expires at \d{4}-\d{2}-\d{2} \d{2}:\d{2} UTC/);
      await screenshots(page, PENDING_SCREENSHOT);
      expectNoMessages();
      await page.context().close();
    });

    it('the verdict URL without an admin session says only that the test finished', async () => {
      const other = await newPage(rig.browser);
      const res = await other.goto(failedTestUrl);
      expect(res?.status()).toBe(200);
      expect(await other.textContent('h1')).toBe('Test sign-in finished');
      const body = (await other.textContent('main')) ?? '';
      expect(await other.locator('ol.checklist').count()).toBe(0);
      for (const secret of [IDP_FINGERPRINT, ROTATED_FINGERPRINT, 'Signed by', 'SAML_', 'Reference']) {
        expect(body).not.toContain(secret);
      }
      expectNoMessages();
      await other.context().close();
    }, 30_000);
  },
);
