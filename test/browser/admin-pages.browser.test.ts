/**
 * The admin pages in a real browser (Debian's Chromium driven by playwright-core): an account admin signs
 * in with a password, imports the IdP with the file-upload form and reads the Auth0 settings; then a user
 * signs in IdP-initiated with a form post from another origin. Every page must work under the app's CSP
 * without a single console message (CSP violations included).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { createLocalAdmin } from '../../src/users/local-login.js';
import { mintResponse, TEST_TENANT_ISSUER } from '../support/idp.js';

const CHROMIUM = '/usr/bin/chromium';
const ADMIN_TOKEN = 'browser-admin-token-0123456789abcdef';
const PASSWORD = 'correct horse battery staple';
const SSO_URL = 'https://test-tenant.auth0.com/samlp/TestClientId123';
const IDP_CERT_FILE = fileURLToPath(new URL('../fixtures/idp.crt', import.meta.url));
export const SCREENSHOT = join(tmpdir(), 'saml-sp-kit-admin.png');
export const CONFIRM_SCREENSHOT = join(tmpdir(), 'saml-sp-kit-confirm.png');

/** A free TCP port on 127.0.0.1 (the base URL must be known before the app is built). */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

describe.skipIf(!existsSync(CHROMIUM))(
  `admin pages in Chromium (skipped when ${CHROMIUM} is missing)`,
  () => {
    let dir: string;
    let base: string;
    let server: Server;
    let closeApp: () => Promise<void>;
    let browser: Browser;
    /** Every console message of every page, and uncaught page errors. */
    const messages: string[] = [];

    async function newPage(context: BrowserContext): Promise<Page> {
      // Test instrumentation only (injected by the browser, not subject to the page's CSP): report CSP
      // violations as console errors so that they land in `messages` too.
      // (A string: the test project has no DOM typings.)
      await context.addInitScript({
        content:
          "document.addEventListener('securitypolicyviolation', (e) => console.error(" +
          "'Content Security Policy violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI));",
      });
      const page = await context.newPage();
      page.on('console', (m) => {
        const url = m.location().url || page.url();
        // The browser's own favicon probe (the app serves none) is not a message of our pages.
        if (url.startsWith(`${base}/favicon.ico`)) return;
        messages.push(`[${m.type()}] ${m.text()} (${url})`);
      });
      page.on('pageerror', (e) => messages.push(`[pageerror] ${e.message} (${page.url()})`));
      return page;
    }

    beforeAll(async () => {
      const port = await freePort();
      base = `http://127.0.0.1:${port}`;
      dir = mkdtempSync(join(tmpdir(), 'sspk-browser-'));
      const { app, sp, close } = await createApp({
        config: {
          nodeEnv: 'test',
          baseUrl: base,
          databaseUrl: `sqlite:${join(dir, 'sp.db')}`,
          adminApiToken: ADMIN_TOKEN,
          sessionSecret: 'browser-session-secret-0123456789abcdef01',
          logLevel: 'silent',
        },
      });
      closeApp = close;
      await new Promise<void>((resolve, reject) => {
        server = app.listen(port, '127.0.0.1', (err?: Error) => (err ? reject(err) : resolve()));
      });
      const created = await fetch(`${base}/api/accounts`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ slug: 'acme', name: 'Acme Inc' }),
      });
      expect(created.status).toBe(201);
      await createLocalAdmin(sp.stores, { account: 'acme', email: 'admin@acme.test', password: PASSWORD });
      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          '--no-sandbox',
          '--headless',
          '--disable-gpu',
          '--disable-quic',
          '--no-first-run',
          '--disable-background-networking',
          '--disable-component-update',
          '--disable-sync',
        ],
      });
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
      await closeApp?.();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it('an admin signs in, imports the IdP certificate and reads the Auth0 settings', async () => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await newPage(context);

      const login = await page.goto(`${base}/login/password?account=acme`);
      expect(login?.status()).toBe(200);
      expect(login?.headers()['content-security-policy']).toContain("default-src 'none'");
      await page.fill('#email', 'admin@acme.test');
      await page.fill('#password', PASSWORD);
      await Promise.all([page.waitForURL(`${base}/admin`), page.click('button[type=submit]')]);
      expect(await page.textContent('h1')).toBe('Single sign-on for Acme Inc');
      expect(await page.textContent('h2 .badge')).toBe('not connected');
      // the stylesheet loaded under the CSP (the admin layout widens <main>)
      expect(await page.evaluate("getComputedStyle(document.querySelector('main')).maxWidth")).toBe('1024px');

      await page.setInputFiles('#certificate', IDP_CERT_FILE);
      await page.fill('#ssoUrl', SSO_URL);
      await Promise.all([
        page.waitForURL(`${base}/admin?saved=idp`),
        page.click('form[action="/admin/idp"] button[type=submit]'),
      ]);
      expect(await page.textContent('.notice')).toContain('The identity provider was imported.');
      expect(await page.textContent('h2 .badge')).toBe('pending');
      const settings = JSON.parse((await page.textContent('pre.json')) ?? '') as Record<string, unknown>;
      expect(settings).toMatchObject({
        audience: `${base}/sso/acme/metadata`,
        recipient: `${base}/sso/acme/acs`,
        destination: `${base}/sso/acme/acs`,
        signatureAlgorithm: 'rsa-sha256',
        digestAlgorithm: 'sha256',
      });
      const spValues = page.locator('dl.values', { hasText: 'Application Callback URL' });
      expect(await spValues.textContent()).toContain(`${base}/sso/acme/acs`);
      expect(await page.locator('table').first().textContent()).toContain('CN=test-tenant.auth0.com');

      await page.screenshot({ path: SCREENSHOT, fullPage: true });
      expect(messages.filter((m) => m.includes('Content Security Policy'))).toEqual([]);
      expect(messages).toEqual([]);
      await context.close();
    }, 60_000);

    it('an admin adds a bot, copies its token from the page (shown once), and revokes it', async () => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await newPage(context);
      await page.goto(`${base}/login/password?account=acme`);
      await page.fill('#email', 'admin@acme.test');
      await page.fill('#password', PASSWORD);
      await Promise.all([page.waitForURL(`${base}/admin`), page.click('button[type=submit]')]);

      await page.fill('#bot-name', 'nightly ingest');
      await page.selectOption('#bot-role', 'member');
      await Promise.all([
        page.waitForURL(`${base}/admin?saved=bot#bots`),
        page.click('form[action="/admin/bots"] button[type=submit]'),
      ]);
      expect(await page.textContent('#bots .bot h3')).toContain('nightly ingest');
      await page.selectOption('#bots select[name=expiresIn]', '2592000');
      await Promise.all([page.waitForLoadState('load'), page.click('#bots form[action$="/tokens"] button')]);
      const token = await page.inputValue('#new-token');
      expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
      const me = await fetch(`${base}/api/me`, { headers: { Authorization: `Bearer ${token}` } });
      expect(await me.json()).toMatchObject({
        account: 'acme',
        role: 'member',
        bot: { name: 'nightly ingest' },
      });

      // Shown once: a reload of the admin page has no token box; revoking works from the list.
      await page.goto(`${base}/admin`);
      expect(await page.locator('#new-token').count()).toBe(0);
      await Promise.all([
        page.waitForURL(`${base}/admin?saved=token-revoked#bots`),
        page.click('#bots form[action$="/revoke"] button'),
      ]);
      expect(await page.textContent('#bots table')).toContain('revoked');
      const refused = await fetch(`${base}/api/me`, { headers: { Authorization: `Bearer ${token}` } });
      expect(refused.status).toBe(401);
      await page.screenshot({ path: SCREENSHOT.replace('.png', '-bots.png'), fullPage: true });
      expect(messages).toEqual([]);
      await context.close();
    }, 60_000);

    it('a user signs in IdP-initiated (form post from another origin), confirms, and is logged in', async () => {
      const context = await browser.newContext();
      const page = await newPage(context);
      const samlResponse = mintResponse({
        acsUrl: `${base}/sso/acme/acs`,
        audience: `${base}/sso/acme/metadata`,
        issuer: TEST_TENANT_ISSUER,
        email: 'jane.doe@example.com',
      });
      // about:blank stands in for the IdP's page (Auth0 posts the same kind of form).
      await page.setContent(
        `<form method="post" action="${base}/sso/acme/acs">` +
          `<input type="hidden" name="SAMLResponse" value="${samlResponse}">` +
          `<button type="submit">Continue</button></form>`,
      );
      // The sign-in did not start here (login CSRF defence, on by default): our own page names the
      // account and the identity, and one click on its button signs in.
      await Promise.all([page.waitForURL(`${base}/sso/acme/acs`), page.click('button')]);
      expect(await page.textContent('h1')).toBe('Continue to Acme Inc as jane.doe@example.com?');
      await page.screenshot({ path: CONFIRM_SCREENSHOT, fullPage: true });
      await page.setViewportSize({ width: 390, height: 844 });
      await page.screenshot({ path: CONFIRM_SCREENSHOT.replace('.png', '-phone.png'), fullPage: true });
      await page.request.get(`${base}/api/me`).then((r) => expect(r.status()).toBe(401));
      await Promise.all([page.waitForURL(`${base}/`), page.click('form button[type=submit]')]);
      expect(await page.textContent('h1')).toBe('Signed in');

      const me = await page.goto(`${base}/api/me`);
      expect(me?.status()).toBe(200);
      expect(await me?.json()).toMatchObject({
        email: 'jane.doe@example.com',
        account: 'acme',
        role: 'member',
      });

      // a member has no admin pages (fetched with this context's cookies: a 403 navigation would log
      // a console error)
      const admin = await page.request.get(`${base}/admin`);
      expect(admin.status()).toBe(403);
      expect(await admin.text()).not.toContain('Settings JSON');
      expect(messages.filter((m) => m.includes('Content Security Policy'))).toEqual([]);
      expect(messages).toEqual([]);
      await context.close();
    }, 60_000);

    it('on a phone, the users table scrolls inside its box (the page does not), and Disable/Enable work', async () => {
      // After the tests above: the IdP is imported and Jane has signed in.
      const context = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
      const page = await newPage(context);
      await page.goto(`${base}/login/password?account=acme`);
      await page.fill('#email', 'admin@acme.test');
      await page.fill('#password', PASSWORD);
      await Promise.all([page.waitForURL(`${base}/admin`), page.click('button[type=submit]')]);

      const widths = await page.evaluate<{
        page: number;
        viewport: number;
        box: number;
        table: number;
        overflow: string;
        hint: string;
      }>(
        `(() => { const w = document.querySelector('#users .table-wrap'); return {
          page: document.documentElement.scrollWidth, viewport: document.documentElement.clientWidth,
          box: w.clientWidth, table: w.scrollWidth, overflow: getComputedStyle(w).overflowX,
          hint: getComputedStyle(document.querySelector('#users .scroll-hint')).display }; })()`,
      );
      expect(widths.page).toBeLessThanOrEqual(widths.viewport); // no sideways scrolling of the page
      expect(widths.table).toBeGreaterThan(widths.box); // the table does scroll, inside its box
      expect(widths.overflow).toBe('auto');
      expect(widths.hint).toBe('block'); // and says so

      const row = page.locator('#users tr', { hasText: 'jane.doe@example.com' });
      await row.scrollIntoViewIfNeeded();
      await page.locator('#users').screenshot({ path: SCREENSHOT.replace('.png', '-users-phone.png') });
      await Promise.all([
        page.waitForURL(/saved=user/),
        row.getByRole('button', { name: 'Disable' }).click(),
      ]);
      expect(await page.textContent('.notice')).toContain('The user was changed.');
      expect(await row.textContent()).toContain('disabled');
      await Promise.all([page.waitForURL(/saved=user/), row.getByRole('button', { name: 'Enable' }).click()]);
      expect(await row.textContent()).toContain('enabled');
      expect(messages).toEqual([]);
      await context.close();
    }, 60_000);
  },
);
