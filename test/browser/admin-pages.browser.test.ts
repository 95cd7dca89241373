/**
 * The admin pages in a real browser (Debian's Chromium driven by playwright-core): an account admin signs
 * in with a password, imports the IdP with the file-upload form and reads the Auth0 settings; then a user
 * signs in IdP-initiated with a form post from another origin. Every page must work under the app's CSP
 * without a single console message (CSP violations included).
 */
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createLocalAdmin } from '../../src/users/local-login.js';
import { mintResponse, TEST_TENANT_ISSUER } from '../support/idp.js';
import {
  ACME_ADMIN,
  CHROMIUM,
  CHROMIUM_MISSING,
  PHONE,
  collectPageMessages,
  createAccount,
  phone,
  signInWithPassword,
  useBrowserTest,
  screenshotPath,
  screenshots,
} from './support.js';

const SSO_URL = 'https://test-tenant.auth0.com/samlp/TestClientId123';
const IDP_CERT_FILE = fileURLToPath(new URL('../fixtures/idp.crt', import.meta.url));
export const SCREENSHOT = screenshotPath('saml-sp-kit-admin');
export const CONFIRM_SCREENSHOT = screenshotPath('saml-sp-kit-confirm');

describe.skipIf(CHROMIUM_MISSING)(`admin pages in Chromium (skipped when ${CHROMIUM} is missing)`, () => {
  const rig = useBrowserTest('sspk-browser-', {
    setUp: async () => {
      await createAccount(rig.api, 'acme', 'Acme Inc');
      await createLocalAdmin(rig.sp.stores, ACME_ADMIN);
    },
    timeout: 60_000,
  });
  const { newPage, expectNoMessages } = collectPageMessages();

  it('an admin signs in, imports the IdP certificate and reads the Auth0 settings', async () => {
    const page = await newPage(rig.browser);

    const login = await signInWithPassword(page, rig.base, ACME_ADMIN);
    expect(login?.status()).toBe(200);
    expect(login?.headers()['content-security-policy']).toContain("default-src 'none'");
    expect(await page.textContent('h1')).toBe('Single sign-on for Acme Inc');
    expect(await page.textContent('h2 .badge')).toBe('not connected');
    // the stylesheet loaded under the CSP (the admin layout widens <main>)
    expect(await page.evaluate("getComputedStyle(document.querySelector('main')).maxWidth")).toBe('1024px');

    await page.setInputFiles('#certificate', IDP_CERT_FILE);
    await page.fill('#ssoUrl', SSO_URL);
    await Promise.all([
      page.waitForURL(`${rig.base}/admin?saved=idp`),
      page.click('form[action="/admin/idp"] button[type=submit]'),
    ]);
    expect(await page.textContent('.notice')).toContain('The identity provider was imported.');
    expect(await page.textContent('h2 .badge')).toBe('pending');
    const settings = JSON.parse((await page.textContent('pre.json')) ?? '') as Record<string, unknown>;
    expect(settings).toMatchObject({
      audience: `${rig.base}/sso/acme/metadata`,
      recipient: `${rig.base}/sso/acme/acs`,
      destination: `${rig.base}/sso/acme/acs`,
      signatureAlgorithm: 'rsa-sha256',
      digestAlgorithm: 'sha256',
    });
    const spValues = page.locator('dl.values', { hasText: 'Application Callback URL' });
    expect(await spValues.textContent()).toContain(`${rig.base}/sso/acme/acs`);
    expect(await page.locator('table').first().textContent()).toContain('CN=test-tenant.auth0.com');

    await screenshots(page, SCREENSHOT);
    expectNoMessages();
    await page.context().close();
  }, 60_000);

  it('an admin adds a bot, copies its token from the page (shown once), and revokes it', async () => {
    const page = await newPage(rig.browser);
    await signInWithPassword(page, rig.base, ACME_ADMIN);

    await page.fill('#bot-name', 'nightly ingest');
    await page.selectOption('#bot-role', 'member');
    await Promise.all([
      page.waitForURL(`${rig.base}/admin?saved=bot#bots`),
      page.click('form[action="/admin/bots"] button[type=submit]'),
    ]);
    expect(await page.textContent('#bots .bot h3')).toContain('nightly ingest');
    await page.selectOption('#bots select[name=expiresIn]', '2592000');
    await Promise.all([page.waitForLoadState('load'), page.click('#bots form[action$="/tokens"] button')]);
    const token = await page.inputValue('#new-token');
    expect(token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    const me = await fetch(`${rig.base}/api/me`, { headers: { Authorization: `Bearer ${token}` } });
    expect(await me.json()).toMatchObject({
      account: 'acme',
      role: 'member',
      bot: { name: 'nightly ingest' },
    });

    // Shown once: a reload of the admin page has no token box; revoking works from the list.
    await page.goto(`${rig.base}/admin`);
    expect(await page.locator('#new-token').count()).toBe(0);
    await Promise.all([
      page.waitForURL(`${rig.base}/admin?saved=token-revoked#bots`),
      page.click('#bots form[action$="/revoke"] button'),
    ]);
    expect(await page.textContent('#bots table')).toContain('revoked');
    const refused = await fetch(`${rig.base}/api/me`, { headers: { Authorization: `Bearer ${token}` } });
    expect(refused.status).toBe(401);
    await screenshots(page, SCREENSHOT.replace('.png', '-bots.png'));
    expectNoMessages();
    await page.context().close();
  }, 60_000);

  it('a user signs in IdP-initiated (form post from another origin), confirms, and is logged in', async () => {
    const page = await newPage(rig.browser, {}); // Playwright's default viewport
    const samlResponse = mintResponse({
      acsUrl: `${rig.base}/sso/acme/acs`,
      audience: `${rig.base}/sso/acme/metadata`,
      issuer: TEST_TENANT_ISSUER,
      email: 'jane.doe@example.com',
    });
    // about:blank stands in for the IdP's page (Auth0 posts the same kind of form).
    await page.setContent(
      `<form method="post" action="${rig.base}/sso/acme/acs">` +
        `<input type="hidden" name="SAMLResponse" value="${samlResponse}">` +
        `<button type="submit">Continue</button></form>`,
    );
    // The sign-in did not start here (login CSRF defence, on by default): our own page names the
    // account and the identity, and one click on its button signs in.
    await Promise.all([page.waitForURL(`${rig.base}/sso/acme/acs`), page.click('button')]);
    expect(await page.textContent('h1')).toBe('Continue to Acme Inc as jane.doe@example.com?');
    await page.screenshot({ path: CONFIRM_SCREENSHOT, fullPage: true });
    await page.setViewportSize(PHONE);
    await page.screenshot({ path: phone(CONFIRM_SCREENSHOT), fullPage: true });
    await page.request.get(`${rig.base}/api/me`).then((r) => expect(r.status()).toBe(401));
    await Promise.all([page.waitForURL(`${rig.base}/`), page.click('form button[type=submit]')]);
    expect(await page.textContent('h1')).toBe('Signed in');

    const me = await page.goto(`${rig.base}/api/me`);
    expect(me?.status()).toBe(200);
    expect(await me?.json()).toMatchObject({
      email: 'jane.doe@example.com',
      account: 'acme',
      role: 'member',
    });

    // a member has no admin pages (fetched with this context's cookies: a 403 navigation would log
    // a console error)
    const admin = await page.request.get(`${rig.base}/admin`);
    expect(admin.status()).toBe(403);
    expect(await admin.text()).not.toContain('Settings JSON');
    expectNoMessages();
    await page.context().close();
  }, 60_000);

  it('on a phone, the users table scrolls inside its box (the page does not), and Disable/Enable work', async () => {
    // After the tests above: the IdP is imported and Jane has signed in.
    const page = await newPage(rig.browser, { viewport: PHONE, isMobile: true });
    await signInWithPassword(page, rig.base, ACME_ADMIN);
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
    await Promise.all([page.waitForURL(/saved=user/), row.getByRole('button', { name: 'Disable' }).click()]);
    expect(await page.textContent('.notice')).toContain('The user was changed.');
    expect(await row.textContent()).toContain('disabled');
    await Promise.all([page.waitForURL(/saved=user/), row.getByRole('button', { name: 'Enable' }).click()]);
    expect(await row.textContent()).toContain('enabled');
    expectNoMessages();
    await page.context().close();
  }, 60_000);
});
