/**
 * OAuth 2.0 / OpenID Connect in a real browser (Debian's Chromium driven by playwright-core) against a
 * real OpenID provider on loopback (oidc-provider configured like an Auth0 tenant, started here):
 *
 * (a) an account admin connects the provider with the admin pages alone: the OAuth 2.0 / OpenID
 *     Connect tab, the callback URL copied with its Copy button (and "pasted" at the provider: the rig
 *     allows exactly it), the form (Regular Web Application, secret), then Test sign-in through the
 *     provider's login page to a passing verdict that activates the connection;
 * (b) users sign in from the start page (`GET /` form, field `account`) through the provider and back,
 *     signed in as themselves (`/api/me`): with the Web client and with the SPA client;
 * (c) a refused sign-in (`email_verified: false`) ends on a page with a code and a reference that the
 *     admin looks up on the setup page.
 *
 * Every page must work without a single console message or CSP violation: the start page's form and
 * the test sign-in form lead to another origin (the provider), which the CSP `form-action` must allow.
 * Screenshots at laptop and phone width under test-results/.
 */
import type { Page } from 'playwright-core';
import { afterAll, describe, expect, it } from 'vitest';
import { createLocalAdmin } from '../../src/users/local-login.js';
import { idpKey } from '../support/idp.js';
import { SPA_CLIENT, WEB_CLIENT, startOidcRig, type OidcRig } from '../support/oidc-provider-rig.js';
import {
  ACME_ADMIN,
  CHROMIUM,
  CHROMIUM_MISSING,
  collectPageMessages,
  createAccount,
  screenshotPath,
  screenshots,
  signInWithPassword,
  useBrowserTest,
} from './support.js';

const ADMIN_SETUP_SCREENSHOT = screenshotPath('saml-sp-kit-oidc-setup');
const ADMIN_FORM_ERROR_SCREENSHOT = screenshotPath('saml-sp-kit-oidc-form-error');
const VERDICT_SCREENSHOT = screenshotPath('saml-sp-kit-oidc-verdict-pass');
const REFUSED_SCREENSHOT = screenshotPath('saml-sp-kit-oidc-refused');
const CHOOSER_SCREENSHOT = screenshotPath('saml-sp-kit-start-chooser');
const REFERENCE_SCREENSHOT = screenshotPath('saml-sp-kit-oidc-reference');
const REMOVE_SCREENSHOT = screenshotPath('saml-sp-kit-oidc-remove');
const TABS_SCREENSHOT = screenshotPath('saml-sp-kit-oidc-two-tabs-signed-in');

describe.skipIf(CHROMIUM_MISSING)(
  `OIDC admin pages, test sign-in and sign-in in Chromium (skipped when ${CHROMIUM} is missing)`,
  () => {
    let provider: OidcRig;
    const bt = useBrowserTest('sspk-browser-oidc-', {
      setUp: async () => {
        // The provider's "Allowed Callback URLs": what the admin pastes there (checked against the copy).
        provider = await startOidcRig([
          `${bt.base}/sso/acme/oidc/callback`,
          `${bt.base}/sso/spa/oidc/callback`,
          `${bt.base}/sso/both/oidc/callback`,
        ]);
        await createAccount(bt.api, 'acme', 'Acme Inc');
        await createLocalAdmin(bt.sp.stores, ACME_ADMIN);
        await createAccount(bt.api, 'spa', 'Spa Inc');
        const spa = await bt.api('/api/accounts/spa/oidc', {
          method: 'PUT',
          body: JSON.stringify({
            issuer: provider.issuer,
            clientId: SPA_CLIENT.clientId,
            clientType: 'public',
          }),
        });
        expect(spa.status, await spa.clone().text()).toBe(200);
        // An account moving from SAML to OIDC: both connections, neither used yet.
        await createAccount(bt.api, 'both', 'Both Inc');
        const saml = await bt.api('/api/accounts/both/saml', {
          method: 'PUT',
          body: JSON.stringify({
            certificate: idpKey.cert,
            ssoUrl: 'https://test-tenant.auth0.com/samlp/both',
          }),
        });
        expect(saml.status, await saml.clone().text()).toBe(200);
        const both = await bt.api('/api/accounts/both/oidc', {
          method: 'PUT',
          body: JSON.stringify({
            issuer: provider.issuer,
            clientId: SPA_CLIENT.clientId,
            clientType: 'public',
          }),
        });
        expect(both.status, await both.clone().text()).toBe(200);
      },
      timeout: 90_000,
    });
    afterAll(() => provider?.close());
    /** Documents opened on purpose with an error status ("STATUS URL"), filled in as the tests go. */
    const expectedErrorDocuments = new Set<string>();
    const { newPage, arrive, expectNoMessages, messages } = collectPageMessages({ expectedErrorDocuments });
    const providerOrigin = () => new URL(provider.issuer).origin;

    /**
     * Our pages must log nothing; the test provider's own development login page (oidc-provider's
     * devInteractions: Google Fonts, a password field without autocomplete) is not ours to judge.
     */
    function dropProviderNotes(): void {
      for (let i = messages.length - 1; i >= 0; i--) {
        const at = /\((https?:\/\/[^/)]+)[^)]*\)$/.exec(messages[i]!)?.[1];
        if (at === providerOrigin() || at === 'https://fonts.googleapis.com') messages.splice(i, 1);
      }
    }
    const expectNoOwnMessages = () => {
      dropProviderNotes();
      expectNoMessages();
    };

    /** At the provider's login page (reached by `start`), signs `sub` in; the browser must reach `back`. */
    async function signInAtProvider(
      page: Page,
      start: () => Promise<unknown>,
      sub: string,
      back: { what: string; match: (u: URL) => boolean },
    ): Promise<void> {
      await Promise.all([
        arrive(
          page,
          "the provider's login page",
          (u) => u.origin === providerOrigin() && u.pathname.startsWith('/interaction/'),
        ),
        start(),
      ]);
      await page.fill('input[name=login]', sub);
      await page.fill('input[name=password]', 'any');
      await Promise.all([arrive(page, back.what, back.match), page.click('button[type=submit]')]);
    }

    let adminPage: Page;

    it('(a) the admin connects the provider with the pages alone and a test sign-in activates it', async () => {
      adminPage = await newPage(bt.browser);
      const page = adminPage;
      await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: bt.base });
      await signInWithPassword(page, bt.base, ACME_ADMIN);
      await page.click('a.protocol:has-text("OpenID Connect")');
      await page.waitForURL(`${bt.base}/admin?protocol=oidc`);
      expect(await page.textContent('#oidc h2')).toMatch(/OAuth 2\.0 \/ OpenID Connect\s+not connected/);

      // The callback URL, copied with its button, is what the provider allows ("Allowed Callback URLs").
      await page.click('button[data-copy="value-oidc-callback"]');
      await page.waitForSelector('button[data-copy="value-oidc-callback"]:has-text("Copied")');
      const copied = await page.evaluate('navigator.clipboard.readText()');
      expect(copied).toBe(`${bt.base}/sso/acme/oidc/callback`);
      expect(await page.textContent('main')).toMatch(/separated by commas/);

      // A Regular Web Application without its secret: refused with the seeds' explanation, values kept.
      expectedErrorDocuments.add(`400 ${bt.base}/admin/oidc`);
      await page.check('input[name=clientType][value=confidential]');
      await page.fill('#oidc-issuer', provider.issuer);
      await page.fill('#oidc-clientId', WEB_CLIENT.clientId);
      await page.click('form[action="/admin/oidc"] button[type=submit]');
      await page.waitForSelector('.notice.error');
      expect(await page.textContent('.notice.error')).toContain('OIDC_CLIENT_SECRET_REQUIRED');
      expect(await page.inputValue('#oidc-issuer')).toBe(provider.issuer);
      expect(await page.inputValue('#oidc-clientId')).toBe(WEB_CLIENT.clientId);
      await screenshots(page, ADMIN_FORM_ERROR_SCREENSHOT);

      await page.fill('#oidc-clientSecret', WEB_CLIENT.clientSecret);
      await Promise.all([
        page.waitForURL(`${bt.base}/admin?protocol=oidc&saved=oidc`),
        page.click('form[action="/admin/oidc"] button[type=submit]'),
      ]);
      expect(await page.textContent('.notice.ok')).toContain('settings were saved');
      expect(await page.textContent('#oidc h2')).toMatch(/pending/);
      expect(await page.inputValue('#oidc-clientSecret')).toBe('');
      expect(await page.content()).not.toContain(WEB_CLIENT.clientSecret);
      await screenshots(page, ADMIN_SETUP_SCREENSHOT);

      // Test sign-in: form POST → one-time link → the provider, its login page, back to the verdict.
      const section = page.locator('section', { has: page.locator('h2', { hasText: 'Test sign-in' }) });
      await signInAtProvider(page, () => section.locator('button[type=submit]').click(), 'auth0|tester', {
        what: 'the verdict page',
        match: (u) => u.origin === bt.base && u.pathname.startsWith('/admin/tests/'),
      });
      expect(await page.textContent('h1')).toMatch(/^Test sign-in \(OpenID Connect\)\s+passed$/);
      const items = page.locator('ol.checklist > li');
      expect(await items.count()).toBe(11);
      for (const text of await items.allTextContents()) expect(text.trim()).toMatch(/^✓ /);
      expect(await page.textContent('main')).toContain('auth0.tester@example.com');
      await screenshots(page, VERDICT_SCREENSHOT);

      // Nobody was created; the admin is still signed in as themselves; the connection is active.
      const me = await page.request.get(`${bt.base}/api/me`);
      expect(await me.json()).toMatchObject({ email: ACME_ADMIN.email, account: 'acme', role: 'admin' });
      const users = (await (await bt.api('/api/accounts/acme/users')).json()) as { users: unknown[] };
      expect(users.users).toHaveLength(1);
      await Promise.all([
        page.waitForURL(`${bt.base}/admin?protocol=oidc`),
        page.click('a:has-text("Back to the setup page")'),
      ]);
      expect(await page.textContent('#oidc h2')).toMatch(/active/);
      expectNoOwnMessages();
    });

    /** A user signs in from the start page through the provider; returns their /api/me. */
    async function signInFromStartPage(account: string, sub: string) {
      const page = await newPage(bt.browser);
      await page.goto(`${bt.base}/`);
      await page.fill('input[name=account]', account);
      await signInAtProvider(page, () => page.click('button[type=submit]'), sub, {
        what: 'the start page, signed in',
        match: (u) => u.origin === bt.base && u.pathname === '/',
      });
      expect(await page.textContent('h1')).toBe('Signed in');
      const me = await page.request.get(`${bt.base}/api/me`);
      expect(me.status()).toBe(200);
      const body = (await me.json()) as Record<string, unknown>;
      await page.context().close();
      return body;
    }

    it('(b) a user signs in through the start page with the Web client', async () => {
      expect(await signInFromStartPage('acme', 'auth0|alice')).toEqual({
        email: 'auth0.alice@example.com',
        nameId: 'auth0|alice',
        account: 'acme',
        role: 'member',
      });
      expectNoOwnMessages();
    });

    it('(b) a user signs in through the start page with the SPA client', async () => {
      expect(await signInFromStartPage('spa', 'auth0|bob')).toEqual({
        email: 'auth0.bob@example.com',
        nameId: 'auth0|bob',
        account: 'spa',
        role: 'member',
      });
      expectNoOwnMessages();
    });

    it('(c) a refused sign-in shows a code and a reference the admin looks up', async () => {
      provider.setUser('auth0|unverified', { email_verified: false });
      const page = await newPage(bt.browser);
      await page.goto(`${bt.base}/`);
      await page.fill('input[name=account]', 'acme');
      await signInAtProvider(page, () => page.click('button[type=submit]'), 'auth0|unverified', {
        what: 'the refusal page',
        match: (u) => u.origin === bt.base && u.pathname === '/sso/acme/oidc/callback',
      });
      const text = (await page.textContent('main')) ?? '';
      expect(text).toContain('OIDC_EMAIL_NOT_VERIFIED');
      const ref = /ref_[0-9a-f]{16}/.exec(text)?.[0];
      expect(ref, text).toBeDefined();
      await screenshots(page, REFUSED_SCREENSHOT);
      expect((await page.request.get(`${bt.base}/api/me`)).status()).toBe(401);
      await page.context().close();
      // Chromium notes the refusal's 403 document; that is the status this page is meant to have.
      const note = messages.findIndex((m) =>
        /Failed to load resource: the server responded with a status of 403 .*\/sso\/acme\/oidc\/callback\?/.test(
          m,
        ),
      );
      if (note >= 0) messages.splice(note, 1);

      // The admin looks the reference up on the setup page.
      await adminPage.goto(`${bt.base}/admin?protocol=oidc`);
      await adminPage.fill('#ref', ref!);
      await Promise.all([
        adminPage.waitForURL((u) => u.pathname === '/admin/reference'),
        adminPage.click('form.reference-search button[type=submit]'),
      ]);
      const found = (await adminPage.textContent('main')) ?? '';
      expect(found).toContain('OIDC_EMAIL_NOT_VERIFIED');
      expect(found).toContain('auth0|unverified');
      expect(found).toMatch(/email_verified/);
      await screenshots(adminPage, REFERENCE_SCREENSHOT);
      expectNoOwnMessages();
    });

    it('(d) an account with SAML and OIDC: the start page lets the user choose, then goes to the one that works', async () => {
      const page = await newPage(bt.browser);
      await page.goto(`${bt.base}/`);
      await page.fill('input[name=account]', 'both');
      await Promise.all([page.waitForURL((u) => u.pathname === '/login'), page.click('button[type=submit]')]);
      expect(await page.textContent('h1')).toBe('Sign in to Both Inc');
      await screenshots(page, CHOOSER_SCREENSHOT);
      await signInAtProvider(page, () => page.click('text=Continue with OpenID Connect'), 'auth0|carol', {
        what: 'the start page, signed in',
        match: (u) => u.origin === bt.base && u.pathname === '/',
      });
      expect(await page.textContent('h1')).toBe('Signed in');
      await page.context().close();

      // OIDC is active now, SAML still pending: the start page goes straight to the provider.
      const next = await newPage(bt.browser);
      await next.goto(`${bt.base}/`);
      await next.fill('input[name=account]', 'both');
      await Promise.all([
        arrive(next, "the provider's login page", (u) => u.origin === providerOrigin()),
        next.click('button[type=submit]'),
      ]);
      await next.context().close();
      expectNoOwnMessages();
    });

    it('(f) two tabs of one browser sign in at once: each comes back signed in, in either order', async () => {
      const first = await newPage(bt.browser);
      const context = first.context();
      const second = await context.newPage();
      const atProvider = async (page: Page) => {
        await page.goto(`${bt.base}/`);
        await page.fill('input[name=account]', 'spa');
        await Promise.all([
          arrive(
            page,
            "the provider's login page",
            (u) => u.origin === providerOrigin() && u.pathname.startsWith('/interaction/'),
          ),
          page.click('button[type=submit]'),
        ]);
      };
      // Both tabs reach the provider before either signs in: two sign-ins in flight.
      await atProvider(first);
      await atProvider(second);
      const signIn = async (page: Page) => {
        await page.fill('input[name=login]', 'auth0|dana');
        await page.fill('input[name=password]', 'any');
        await Promise.all([
          arrive(page, 'the start page, signed in', (u) => u.origin === bt.base && u.pathname === '/'),
          page.click('button[type=submit]'),
        ]);
        expect(await page.textContent('h1')).toBe('Signed in');
      };
      // The tab opened last finishes first; the first tab's sign-in is still there.
      await signIn(second);
      await signIn(first);
      await screenshots(first, TABS_SCREENSHOT);
      const me = await first.request.get(`${bt.base}/api/me`);
      expect(me.status()).toBe(200);
      expect(await me.json()).toMatchObject({ nameId: 'auth0|dana', account: 'spa' });
      // Nothing of either sign-in is left in flight.
      expect((await context.cookies(bt.base)).map((c) => c.name)).not.toContain('sspk_oidc');
      await context.close();
      expectNoOwnMessages();
    });

    it('(e) the admin removes the connection only once they ticked "I understand"', async () => {
      const page = adminPage;
      await page.goto(`${bt.base}/admin?protocol=oidc`);
      const remove = page.locator('form[action="/admin/oidc/delete"]');
      await remove.locator('input[name=confirm]').scrollIntoViewIfNeeded();
      await screenshots(page, REMOVE_SCREENSHOT);
      // The browser holds the form back while the box is unticked: no request, nothing removed.
      const posted: string[] = [];
      page.on('request', (r) => {
        if (r.method() === 'POST') posted.push(r.url());
      });
      await remove.locator('button[type=submit]').click();
      await page.waitForTimeout(300);
      expect(posted).toEqual([]);
      expect(
        await remove
          .locator('input[name=confirm]')
          .evaluate((el) => (el as unknown as { validity: { valueMissing: boolean } }).validity.valueMissing),
      ).toBe(true);
      expect((await bt.api('/api/accounts/acme/oidc')).status).toBe(200);

      await remove.locator('input[name=confirm]').check();
      await Promise.all([
        page.waitForURL(`${bt.base}/admin?protocol=oidc&saved=oidc-deleted`),
        remove.locator('button[type=submit]').click(),
      ]);
      expect(await page.textContent('body')).toContain('The OpenID Connect connection was removed.');
      expect((await bt.api('/api/accounts/acme/oidc')).status).toBe(404);
      expectNoOwnMessages();
    });
  },
);
