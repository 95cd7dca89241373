/**
 * The customer-facing flows in a real browser (Debian's Chromium driven by playwright-core) against the
 * local demo IdP (scripts/demo-idp.ts, run as a child process):
 *
 * 1. an IT admin opens the setup link the operator made, imports the IdP with the upload form, clicks
 *    "Test sign-in", signs in at the IdP and reads a passing verdict (which activates the connection);
 * 2. the link is revoked from the admin page: the session it opened ends at once;
 * 3. a user types the account into the start page and signs in SP-initiated: the form's answer moves on
 *    to the IdP (a cross-origin redirect inside the form submission would be blocked by the CSP
 *    `form-action 'self'`), and a sign-in started on this site needs no confirmation;
 * 4. an unknown account on the start page shows the form again with what was typed and what to check.
 *
 * Every page must work without a single console message (CSP violations included), and nothing may
 * stick out of the page at laptop or phone width.
 */
import { X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import {
  CHROMIUM,
  CHROMIUM_MISSING,
  collectPageMessages,
  createAccount,
  documentAt,
  screenshots,
  signInAtDemoIdp,
  useBrowserTest,
  screenshotPath,
} from './support.js';

const USER_EMAIL = 'jane.doe@example.com';
const TESTER_EMAIL = 'it.admin@example.com';
const IDP_CERT_FILE = fileURLToPath(new URL('../fixtures/idp.crt', import.meta.url));
const IDP_FINGERPRINT = new X509Certificate(readFileSync(IDP_CERT_FILE)).fingerprint256;

export const ADMIN_SCREENSHOT = screenshotPath('saml-sp-kit-setup-admin');
export const VERDICT_SCREENSHOT = screenshotPath('saml-sp-kit-setup-verdict');
export const REVOKED_SCREENSHOT = screenshotPath('saml-sp-kit-setup-revoked');
export const START_SCREENSHOT = screenshotPath('saml-sp-kit-setup-start');
export const SIGNED_IN_SCREENSHOT = screenshotPath('saml-sp-kit-setup-start-signed-in');
export const UNKNOWN_SCREENSHOT = screenshotPath('saml-sp-kit-setup-unknown-account');

describe.skipIf(CHROMIUM_MISSING)(
  `setup link, start page and sign-in against the demo IdP in Chromium (skipped when ${CHROMIUM} is missing)`,
  () => {
    const rig = useBrowserTest('sspk-browser-setup-', {
      demoIdp: true,
      // The operator's part: the account only (no admin user, no IdP — the customer does the rest).
      setUp: async () => {
        await createAccount(rig.api, 'acme', 'Acme Inc');
      },
      timeout: 90_000,
    });
    /**
     * Documents this test opens on purpose with an error status ("STATUS URL"): Chromium logs "Failed to
     * load resource" for every such main-frame document, which is the browser's note on the status, not
     * a message of the page. Any other failed load (a stylesheet, another document) still counts.
     */
    const expectedErrorDocuments = new Set<string>();
    const { newPage, arrive, expectNoMessages } = collectPageMessages({ expectedErrorDocuments });

    /** The main-frame documents a page loads, in order (method, URL, status). */
    function trackNavigations(page: Page): string[] {
      const seen: string[] = [];
      page.on('response', (r) => {
        if (r.request().isNavigationRequest() && r.frame() === page.mainFrame()) {
          seen.push(`${r.request().method()} ${r.url()} ${r.status()}`);
        }
      });
      return seen;
    }

    const section = (page: Page, heading: string) =>
      page.locator('section', { has: page.locator('h2', { hasText: heading }) });

    /** The IT admin's browser (flows 1 and 2). */
    let adminPage: Page;
    let link: { id: string; url: string; expiresAt: string };

    it('a setup link opens the admin page; import by upload, Test sign-in, a passing verdict activates the connection', async () => {
      const made = await rig.api('/api/accounts/acme/setup-links', { method: 'POST', body: '{}' });
      expect(made.status, await made.clone().text()).toBe(201);
      link = (await made.json()) as typeof link;
      expect(link.url).toMatch(new RegExp(`^${rig.base.replace(/\./g, '\\.')}/setup/[A-Za-z0-9_-]{43}$`));

      adminPage = await newPage(rig.browser);
      const page = adminPage;
      const navigations = trackNavigations(page);

      // Opening the link: 303 to /admin, signed in "with a setup link"; the token stays out of the URL.
      const res = await page.goto(link.url);
      expect(res?.status()).toBe(200);
      expect(page.url()).toBe(`${rig.base}/admin`);
      expect(navigations[0]).toBe(`GET ${link.url} 303`);
      const opened = await res?.request().redirectedFrom()?.response();
      expect(opened?.headers()['referrer-policy']).toBe('no-referrer');
      expect(opened?.headers()['cache-control']).toBe('no-store');
      expect(await page.textContent('.topbar')).toMatch(/Signed in as\s+a setup link\s+·\s+account\s+acme/);
      expect(await page.textContent('h1')).toBe('Single sign-on for Acme Inc');
      expect(await page.textContent('h2 .badge')).toBe('not connected');
      // no Test sign-in before there is something to test
      expect(await section(page, 'Test sign-in').count()).toBe(0);
      // the link is listed, active, with its Revoke button
      const row = section(page, 'Setup links').locator('tr', { hasText: link.id.slice(0, 8) });
      expect(await row.locator('td').nth(3).textContent()).toBe('active (this browser)');
      expect(await row.locator('button', { hasText: 'Revoke' }).count()).toBe(1);

      // Import: the certificate file and the SAML Protocol URL, with the upload form.
      const importForm = page.locator('form[action="/admin/idp"]');
      await page.setInputFiles('#certificate', IDP_CERT_FILE);
      await page.fill('#ssoUrl', `${rig.idpOrigin}/samlp/demo`);
      const [imported] = await Promise.all([
        documentAt(page, rig.base, '/admin?saved=idp'),
        importForm.locator('button[type=submit]').click(),
      ]);
      expect(imported.status()).toBe(200);
      await arrive(page, 'the admin page after the import', (u) => u.search === '?saved=idp');
      expect(await page.textContent('.notice.ok')).toContain('The identity provider was imported');
      expect(await page.textContent('h2 .badge')).toBe('pending');
      const connection = section(page, 'Connection');
      expect(await connection.textContent()).toContain(`${rig.idpOrigin}/samlp/demo`);
      expect(await connection.textContent()).toContain(IDP_FINGERPRINT);
      expect(await section(page, 'Replace the identity provider').count()).toBe(1);
      // the page now lets its forms lead to the IdP (the test form's answer redirects there)
      expect(imported.headers()['content-security-policy']).toMatch(
        new RegExp(`form-action 'self' ${rig.idpOrigin.replace(/\./g, '\\.')}(;|$)`),
      );
      const adminScroll = await screenshots(page, ADMIN_SCREENSHOT);
      if (adminScroll.length > 0)
        console.info(`/admin at 390px, boxes scrolling sideways: ${adminScroll.join(' | ')}`);

      // Test sign-in: off to the demo IdP, sign in, Continue, back to the verdict.
      await signInAtDemoIdp(arrive, page, {
        idpOrigin: rig.idpOrigin,
        start: () =>
          section(page, 'Test sign-in').locator('button[type=submit]', { hasText: 'Test sign-in' }).click(),
        email: TESTER_EMAIL,
        back: {
          what: 'the verdict page',
          match: (u) => u.origin === rig.base && u.pathname.startsWith('/admin/tests/'),
        },
      });
      const testId = /^\/admin\/tests\/([0-9a-f-]{36})$/.exec(new URL(page.url()).pathname)?.[1];
      expect(testId, page.url()).toBeDefined();
      expect(await page.textContent('h1')).toMatch(/^Test sign-in\s+passed$/);
      expect(await page.textContent('p.ok')).toContain('Every check passed');
      expect(await page.locator('ol.checklist > li.check-ok').count()).toBeGreaterThan(0);
      expect(await page.locator('ol.checklist > li:not(.check-ok)').count()).toBe(0);
      const verdictScroll = await screenshots(page, VERDICT_SCREENSHOT);
      expect(verdictScroll).toEqual([]);

      // The connection is active; the test signed nobody in or out and created nobody.
      const conn = (await (await rig.api('/api/accounts/acme/saml')).json()) as { status: string };
      expect(conn.status).toBe('active');
      const verdict = (await (await rig.api(`/api/accounts/acme/saml/tests/${testId}`)).json()) as {
        status: string;
      };
      expect(verdict.status).toBe('passed');
      const me = await page.request.get(`${rig.base}/api/me`);
      expect(me.status()).toBe(200);
      expect(await me.json()).toMatchObject({
        account: 'acme',
        role: 'admin',
        email: null,
        nameId: `setup-link:${link.id}`,
      });
      const users = (await (await rig.api('/api/accounts/acme/users')).json()) as { users: unknown[] };
      expect(users.users).toEqual([]);

      // back on the admin page: active
      await page.click('a:has-text("Back to the setup page")');
      await arrive(page, 'the admin page', (u) => u.pathname === '/admin');
      expect(await page.textContent('h2 .badge')).toBe('active');

      expectNoMessages();
    }, 120_000);

    it('revoking the link on the admin page ends the session it opened', async () => {
      const page = adminPage;
      for (const doc of [`401 ${rig.base}/admin`, `410 ${link.url}`]) {
        expectedErrorDocuments.add(doc);
      }
      const res = await page.goto(`${rig.base}/admin`);
      expect(res?.status()).toBe(200);
      const row = section(page, 'Setup links').locator('tr', { hasText: link.id.slice(0, 8) });
      expect(await row.textContent()).toContain('(this browser)');
      const revokePath = `/admin/setup-links/${link.id}/revoke`;
      const [after] = await Promise.all([
        documentAt(page, rig.base, revokePath),
        row.locator('button', { hasText: 'Revoke' }).click(),
      ]);
      // The revoking browser signed in with that very link: it is told so, signed out.
      expect(after.status()).toBe(200);
      await arrive(page, 'the page after revoking', (u) => u.pathname === revokePath);
      expect(await page.textContent('h1')).toBe('Setup link revoked');
      expect(await page.textContent('main')).toContain('this browser is now signed out');
      expect(await screenshots(page, REVOKED_SCREENSHOT)).toEqual([]);

      const again = await page.goto(`${rig.base}/admin`);
      expect(again?.status()).toBe(401);
      expect(await page.textContent('h1')).toBe('Sign in as an administrator');
      expect(await page.locator('a[href="/login/password"]').count()).toBe(1);
      const me = await page.request.get(`${rig.base}/api/me`);
      expect(me.status()).toBe(401);

      // the API lists it as revoked; the link itself no longer opens anything
      const listed = (await (await rig.api('/api/accounts/acme/setup-links')).json()) as {
        links: { id: string; status: string }[];
      };
      expect(listed.links.find((l) => l.id === link.id)?.status).toBe('revoked');
      const reopened = await page.goto(link.url);
      expect(reopened?.status()).toBe(410);
      expect(await page.textContent('main')).toContain('This setup link has expired or was revoked');
      expect(await page.textContent('main')).toContain('SETUP_LINK_INVALID');
      expect((await page.request.get(`${rig.base}/api/me`)).status()).toBe(401);

      expectNoMessages();
      await adminPage.context().close();
    }, 60_000);

    it('the start page takes the user to the IdP and back, signed in, without a confirmation', async () => {
      const page = await newPage(rig.browser);
      const navigations = trackNavigations(page);
      const start = await page.goto(`${rig.base}/`);
      expect(start?.status()).toBe(200);
      expect(start?.headers()['content-security-policy']).toContain("form-action 'self'");
      expect(await page.textContent('h1')).toBe('Sign in with single sign-on');
      expect(await screenshots(page, START_SCREENSHOT)).toEqual([]);

      await page.fill('#account', 'acme');
      await signInAtDemoIdp(arrive, page, {
        idpOrigin: rig.idpOrigin,
        start: () => page.click('main form button[type=submit]'),
        email: USER_EMAIL,
        back: {
          what: 'the start page, signed in',
          match: (u) => u.origin === rig.base && u.pathname === '/',
        },
      });
      // the form's answer was a page of this site, which then moved on to the login URL by itself
      expect(navigations.slice(1, 3)).toEqual([
        `GET ${rig.base}/login?account=acme 200`,
        `GET ${rig.base}/sso/acme/login 302`,
      ]);
      // straight from the ACS to the start page: no confirmation page on the way
      const afterIdp = navigations.slice(navigations.findIndex((n) => n.startsWith('POST ')));
      expect(afterIdp).toEqual([`POST ${rig.base}/sso/acme/acs 303`, `GET ${rig.base}/ 200`]);
      expect(navigations.some((n) => n.includes('/confirm'))).toBe(false);
      expect(await page.textContent('h1')).toBe('Signed in');
      const who = (await page.textContent('main .ok')) ?? '';
      expect(who).toContain(USER_EMAIL);
      expect(who).toMatch(/in account\s+acme\s+\(role member\)/);
      const me = await page.request.get(`${rig.base}/api/me`);
      expect(me.status()).toBe(200);
      expect(await me.json()).toMatchObject({ email: USER_EMAIL, account: 'acme', role: 'member' });
      const users = (await (await rig.api('/api/accounts/acme/users')).json()) as {
        users: { email: string; kind: string }[];
      };
      expect(users.users).toEqual([expect.objectContaining({ email: USER_EMAIL, kind: 'sso' })]);
      expect(await screenshots(page, SIGNED_IN_SCREENSHOT)).toEqual([]);

      expectNoMessages();
      await page.context().close();
    }, 90_000);

    it('an unknown account on the start page: the form again, with what was typed and what to check', async () => {
      const page = await newPage(rig.browser);
      expectedErrorDocuments.add(`404 ${rig.base}/login?account=No-Such-Account`);
      await page.goto(`${rig.base}/`);
      // Typed as people type it (capitals): the form sends it; the server compares in lower case.
      await page.fill('#account', 'No-Such-Account');
      const [refused] = await Promise.all([
        documentAt(page, rig.base, '/login?account=No-Such-Account'),
        page.click('main form button[type=submit]'),
      ]);
      expect(refused.status()).toBe(404);
      await arrive(page, 'the start form again', (u) => u.pathname === '/login');
      expect(await page.textContent('h1')).toBe('Sign in with single sign-on');
      expect(await page.textContent('[role=alert]')).toContain('There is no account named "no-such-account"');
      expect(await page.inputValue('#account')).toBe('No-Such-Account');
      expect(await screenshots(page, UNKNOWN_SCREENSHOT)).toEqual([]);
      expectNoMessages();
      await page.context().close();
    }, 60_000);
  },
);
