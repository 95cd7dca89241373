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
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page, type Response } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';

const CHROMIUM = '/usr/bin/chromium';
const ADMIN_TOKEN = 'browser-admin-token-0123456789abcdef';
const USER_EMAIL = 'jane.doe@example.com';
const TESTER_EMAIL = 'it.admin@example.com';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const IDP_CERT_FILE = fileURLToPath(new URL('../fixtures/idp.crt', import.meta.url));
const IDP_FINGERPRINT = new X509Certificate(readFileSync(IDP_CERT_FILE)).fingerprint256;

export const ADMIN_SCREENSHOT = join(tmpdir(), 'saml-sp-kit-setup-admin.png');
export const VERDICT_SCREENSHOT = join(tmpdir(), 'saml-sp-kit-setup-verdict.png');
export const REVOKED_SCREENSHOT = join(tmpdir(), 'saml-sp-kit-setup-revoked.png');
export const START_SCREENSHOT = join(tmpdir(), 'saml-sp-kit-setup-start.png');
export const SIGNED_IN_SCREENSHOT = join(tmpdir(), 'saml-sp-kit-setup-start-signed-in.png');
export const UNKNOWN_SCREENSHOT = join(tmpdir(), 'saml-sp-kit-setup-unknown-account.png');
const phone = (path: string) => path.replace(/\.png$/, '-phone.png');

/** A free TCP port on 127.0.0.1 (the base URLs must be known before the app and the IdP start). */
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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(!existsSync(CHROMIUM))(
  `setup link, start page and sign-in against the demo IdP in Chromium (skipped when ${CHROMIUM} is missing)`,
  () => {
    let dir: string;
    let base: string;
    /** The demo IdP's origin as the connection names it (http is allowed for localhost only). */
    let idpOrigin: string;
    let server: Server;
    let closeApp: () => Promise<void>;
    let idp: ChildProcess | undefined;
    let idpOutput = '';
    let browser: Browser;
    /** Every console message of every page, and uncaught page errors. */
    const messages: string[] = [];
    /**
     * Documents this test opens on purpose with an error status ("STATUS URL"): Chromium logs "Failed to
     * load resource" for every such main-frame document, which is the browser's note on the status, not
     * a message of the page. Any other failed load (a stylesheet, another document) still counts.
     */
    const expectedErrorDocuments = new Set<string>();
    const FAILED_LOAD = /^Failed to load resource: the server responded with a status of (\d+) /;

    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${base}${path}`, {
        ...init,
        headers: {
          Authorization: `Bearer ${ADMIN_TOKEN}`,
          'Content-Type': 'application/json',
          Accept: 'application/json',
        },
      });

    async function newPage(context: BrowserContext): Promise<Page> {
      // Test instrumentation only (injected by the browser, not subject to the page's CSP): report CSP
      // violations as console errors so that they land in `messages` too.
      await context.addInitScript({
        content:
          "document.addEventListener('securitypolicyviolation', (e) => console.error(" +
          "'Content Security Policy violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI));",
      });
      const page = await context.newPage();
      page.on('console', (m) => {
        const url = m.location().url || page.url();
        // The browser's own favicon probes (neither server has one) are not messages of our pages.
        if (/^https?:\/\/[^/]+\/favicon\.ico/.test(url)) return;
        const failed = FAILED_LOAD.exec(m.text());
        if (failed && expectedErrorDocuments.has(`${failed[1]} ${url}`)) return;
        messages.push(`[${m.type()}] ${m.text()} (${url})`);
      });
      page.on('pageerror', (e) => messages.push(`[pageerror] ${e.message} (${page.url()})`));
      return page;
    }

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

    /** Waits for a navigation; on a timeout, says where the browser got stuck and what it logged. */
    async function arrive(page: Page, what: string, match: (url: URL) => boolean): Promise<void> {
      try {
        await page.waitForURL(match, { timeout: 15_000 });
      } catch (err) {
        throw new Error(
          `the browser did not reach ${what}: it is at ${page.url()}; console: ${JSON.stringify(messages)}`,
          { cause: err },
        );
      }
    }

    /** The main-frame response of the document at `path` (for its status and headers). */
    const documentAt = (page: Page, path: string): Promise<Response> =>
      page.waitForResponse(
        (r) => r.request().isNavigationRequest() && r.url().startsWith(base) && r.url().endsWith(path),
        { timeout: 15_000 },
      );

    /**
     * What makes the page wider than the viewport, as "TAG: text": the page's own sideways scroll, and
     * every element in <main> whose right edge passes the viewport without a clipping (scrolling)
     * container around it. Contents of a scrolling box (.table-wrap) do not widen the page.
     */
    async function sticksOut(page: Page): Promise<string[]> {
      return page.evaluate(`(() => {
        const width = document.documentElement.clientWidth;
        const out = [];
        if (document.documentElement.scrollWidth > width) {
          out.push('PAGE: scrolls sideways (' + document.documentElement.scrollWidth + 'px > ' + width + 'px)');
        }
        const clipped = (e) => {
          for (let p = e.parentElement; p && p.tagName !== 'MAIN'; p = p.parentElement) {
            if (getComputedStyle(p).overflowX !== 'visible') return true;
          }
          return false;
        };
        for (const e of document.querySelectorAll('main, main *')) {
          if (e.getBoundingClientRect().right > width + 0.5 && !clipped(e)) {
            out.push(e.tagName + ': ' + e.textContent.trim().replace(/\\s+/g, ' ').slice(0, 60));
          }
        }
        return out;
      })()`);
    }

    /** Boxes in <main> that scroll sideways at the current width (allowed, but worth knowing). */
    async function scrollingBoxes(page: Page): Promise<string[]> {
      return page.evaluate(`(() =>
        [...document.querySelectorAll('main *')]
          .filter((e) => getComputedStyle(e).overflowX !== 'visible' && e.scrollWidth > e.clientWidth + 1)
          .map((e) => {
            const section = e.closest('section');
            const h = section && section.querySelector('h2');
            return (h ? h.textContent.trim().replace(/\\s+/g, ' ') : e.tagName) +
              ' (' + e.scrollWidth + 'px in ' + e.clientWidth + 'px)';
          })
      )()`);
    }

    /**
     * Full-page screenshots at laptop (1280×900) and phone (390×844) width; nothing may stick out at
     * either. Returns the boxes that scroll sideways at phone width.
     */
    async function screenshots(page: Page, path: string): Promise<string[]> {
      await page.setViewportSize({ width: 1280, height: 900 });
      await page.screenshot({ path, fullPage: true });
      expect(await sticksOut(page), `${page.url()} at 1280px`).toEqual([]);
      await page.setViewportSize({ width: 390, height: 844 });
      await page.screenshot({ path: phone(path), fullPage: true });
      expect(await sticksOut(page), `${page.url()} at 390px`).toEqual([]);
      const scrolling = await scrollingBoxes(page);
      await page.setViewportSize({ width: 1280, height: 900 });
      return scrolling;
    }

    const section = (page: Page, heading: string) =>
      page.locator('section', { has: page.locator('h2', { hasText: heading }) });

    beforeAll(async () => {
      const port = await freePort();
      const idpPort = await freePort();
      base = `http://127.0.0.1:${port}`;
      idpOrigin = `http://localhost:${idpPort}`;
      dir = mkdtempSync(join(tmpdir(), 'sspk-browser-setup-'));
      const { app, close } = await createApp({
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

      // The demo IdP, exactly as a developer runs it (its own process group, so that afterAll ends npx,
      // tsx and node together).
      const child = spawn('npx', ['tsx', 'scripts/demo-idp.ts'], {
        cwd: ROOT,
        env: { ...process.env, DEMO_IDP_PORT: String(idpPort), DEMO_SP_BASE_URL: base },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      idp = child;
      child.stdout?.on('data', (d: Buffer) => (idpOutput += d.toString()));
      child.stderr?.on('data', (d: Buffer) => (idpOutput += d.toString()));
      const deadline = Date.now() + 45_000;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`the demo IdP exited: ${idpOutput}`);
        const up = await fetch(`http://127.0.0.1:${idpPort}/`).then(
          (r) => r.ok,
          () => false,
        );
        if (up) break;
        if (Date.now() > deadline) throw new Error(`the demo IdP did not start: ${idpOutput}`);
        await sleep(200);
      }

      // The operator's part: the account only (no admin user, no IdP — the customer does the rest).
      const created = await api('/api/accounts', {
        method: 'POST',
        body: JSON.stringify({ slug: 'acme', name: 'Acme Inc' }),
      });
      expect(created.status).toBe(201);

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
    }, 90_000);

    afterAll(async () => {
      await browser?.close();
      if (idp?.pid !== undefined && idp.exitCode === null && idp.signalCode === null) {
        const exited = new Promise<void>((resolve) => idp!.once('exit', () => resolve()));
        try {
          process.kill(-idp.pid, 'SIGTERM');
        } catch {
          // already gone
        }
        await Promise.race([exited, sleep(5_000)]);
      }
      if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
      await closeApp?.();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    /** The IT admin's browser (flows 1 and 2). */
    let adminContext: BrowserContext;
    let adminPage: Page;
    let link: { id: string; url: string; expiresAt: string };

    it('a setup link opens the admin page; import by upload, Test sign-in, a passing verdict activates the connection', async () => {
      const made = await api('/api/accounts/acme/setup-links', { method: 'POST', body: '{}' });
      expect(made.status, await made.clone().text()).toBe(201);
      link = (await made.json()) as typeof link;
      expect(link.url).toMatch(new RegExp(`^${base.replace(/\./g, '\\.')}/setup/[A-Za-z0-9_-]{43}$`));

      adminContext = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      adminPage = await newPage(adminContext);
      const page = adminPage;
      const navigations = trackNavigations(page);

      // Opening the link: 303 to /admin, signed in "with a setup link"; the token stays out of the URL.
      const res = await page.goto(link.url);
      expect(res?.status()).toBe(200);
      expect(page.url()).toBe(`${base}/admin`);
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
      await page.fill('#ssoUrl', `${idpOrigin}/samlp/demo`);
      const [imported] = await Promise.all([
        documentAt(page, '/admin?saved=idp'),
        importForm.locator('button[type=submit]').click(),
      ]);
      expect(imported.status()).toBe(200);
      await arrive(page, 'the admin page after the import', (u) => u.search === '?saved=idp');
      expect(await page.textContent('.notice.ok')).toContain('The identity provider was imported');
      expect(await page.textContent('h2 .badge')).toBe('pending');
      const connection = section(page, 'Connection');
      expect(await connection.textContent()).toContain(`${idpOrigin}/samlp/demo`);
      expect(await connection.textContent()).toContain(IDP_FINGERPRINT);
      expect(await section(page, 'Replace the identity provider').count()).toBe(1);
      // the page now lets its forms lead to the IdP (the test form's answer redirects there)
      expect(imported.headers()['content-security-policy']).toMatch(
        new RegExp(`form-action 'self' ${idpOrigin.replace(/\./g, '\\.')}(;|$)`),
      );
      const adminScroll = await screenshots(page, ADMIN_SCREENSHOT);
      if (adminScroll.length > 0)
        console.info(`/admin at 390px, boxes scrolling sideways: ${adminScroll.join(' | ')}`);

      // Test sign-in: off to the demo IdP, sign in, Continue, back to the verdict.
      await Promise.all([
        arrive(page, 'the demo IdP', (u) => u.origin === idpOrigin && u.pathname === '/samlp/demo'),
        section(page, 'Test sign-in').locator('button[type=submit]', { hasText: 'Test sign-in' }).click(),
      ]);
      expect(new URL(page.url()).searchParams.has('SAMLRequest')).toBe(true);
      expect(await page.textContent('h1')).toBe('Demo IdP');
      await page.fill('input[name=email]', TESTER_EMAIL);
      await Promise.all([
        arrive(page, 'the demo IdP consent page', (u) => u.searchParams.get('email') === TESTER_EMAIL),
        page.click('button:has-text("Sign in")'),
      ]);
      await Promise.all([
        arrive(page, 'the verdict page', (u) => u.origin === base && u.pathname.startsWith('/admin/tests/')),
        page.click('button:has-text("Continue")'),
      ]);
      const testId = /^\/admin\/tests\/([0-9a-f-]{36})$/.exec(new URL(page.url()).pathname)?.[1];
      expect(testId, page.url()).toBeDefined();
      expect(await page.textContent('h1')).toMatch(/^Test sign-in\s+passed$/);
      expect(await page.textContent('p.ok')).toContain('Every check passed');
      expect(await page.locator('ol.checklist > li.check-ok').count()).toBeGreaterThan(0);
      expect(await page.locator('ol.checklist > li:not(.check-ok)').count()).toBe(0);
      const verdictScroll = await screenshots(page, VERDICT_SCREENSHOT);
      expect(verdictScroll).toEqual([]);

      // The connection is active; the test signed nobody in or out and created nobody.
      const conn = (await (await api('/api/accounts/acme/saml')).json()) as { status: string };
      expect(conn.status).toBe('active');
      const verdict = (await (await api(`/api/accounts/acme/saml/tests/${testId}`)).json()) as {
        status: string;
      };
      expect(verdict.status).toBe('passed');
      const me = await page.request.get(`${base}/api/me`);
      expect(me.status()).toBe(200);
      expect(await me.json()).toMatchObject({
        account: 'acme',
        role: 'admin',
        email: null,
        nameId: `setup-link:${link.id}`,
      });
      const users = (await (await api('/api/accounts/acme/users')).json()) as { users: unknown[] };
      expect(users.users).toEqual([]);

      // back on the admin page: active
      await page.click('a:has-text("Back to the setup page")');
      await arrive(page, 'the admin page', (u) => u.pathname === '/admin');
      expect(await page.textContent('h2 .badge')).toBe('active');

      expect(messages.filter((m) => m.includes('Content Security Policy'))).toEqual([]);
      expect(messages).toEqual([]);
    }, 120_000);

    it('revoking the link on the admin page ends the session it opened', async () => {
      const page = adminPage;
      for (const doc of [`401 ${base}/admin`, `410 ${link.url}`]) {
        expectedErrorDocuments.add(doc);
      }
      const res = await page.goto(`${base}/admin`);
      expect(res?.status()).toBe(200);
      const row = section(page, 'Setup links').locator('tr', { hasText: link.id.slice(0, 8) });
      expect(await row.textContent()).toContain('(this browser)');
      const revokePath = `/admin/setup-links/${link.id}/revoke`;
      const [after] = await Promise.all([
        documentAt(page, revokePath),
        row.locator('button', { hasText: 'Revoke' }).click(),
      ]);
      // The revoking browser signed in with that very link: it is told so, signed out.
      expect(after.status()).toBe(200);
      await arrive(page, 'the page after revoking', (u) => u.pathname === revokePath);
      expect(await page.textContent('h1')).toBe('Setup link revoked');
      expect(await page.textContent('main')).toContain('this browser is now signed out');
      expect(await screenshots(page, REVOKED_SCREENSHOT)).toEqual([]);

      const again = await page.goto(`${base}/admin`);
      expect(again?.status()).toBe(401);
      expect(await page.textContent('h1')).toBe('Sign in as an administrator');
      expect(await page.locator('a[href="/login/password"]').count()).toBe(1);
      const me = await page.request.get(`${base}/api/me`);
      expect(me.status()).toBe(401);

      // the API lists it as revoked; the link itself no longer opens anything
      const listed = (await (await api('/api/accounts/acme/setup-links')).json()) as {
        links: { id: string; status: string }[];
      };
      expect(listed.links.find((l) => l.id === link.id)?.status).toBe('revoked');
      const reopened = await page.goto(link.url);
      expect(reopened?.status()).toBe(410);
      expect(await page.textContent('main')).toContain('This setup link has expired or was revoked');
      expect(await page.textContent('main')).toContain('SETUP_LINK_INVALID');
      expect((await page.request.get(`${base}/api/me`)).status()).toBe(401);

      expect(messages.filter((m) => m.includes('Content Security Policy'))).toEqual([]);
      expect(messages).toEqual([]);
      await adminContext.close();
    }, 60_000);

    it('the start page takes the user to the IdP and back, signed in, without a confirmation', async () => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await newPage(context);
      const navigations = trackNavigations(page);
      const start = await page.goto(`${base}/`);
      expect(start?.status()).toBe(200);
      expect(start?.headers()['content-security-policy']).toContain("form-action 'self'");
      expect(await page.textContent('h1')).toBe('Sign in with single sign-on');
      expect(await screenshots(page, START_SCREENSHOT)).toEqual([]);

      await page.fill('#account', 'acme');
      await Promise.all([
        arrive(page, 'the demo IdP', (u) => u.origin === idpOrigin && u.pathname === '/samlp/demo'),
        page.click('main form button[type=submit]'),
      ]);
      // the form's answer is a page of this site, which then moves on to the login URL by itself
      expect(navigations.slice(1, 3)).toEqual([
        `GET ${base}/login?account=acme 200`,
        `GET ${base}/sso/acme/login 302`,
      ]);
      expect(new URL(page.url()).searchParams.has('SAMLRequest')).toBe(true);
      expect(await page.textContent('h1')).toBe('Demo IdP');

      await page.fill('input[name=email]', USER_EMAIL);
      await Promise.all([
        arrive(page, 'the demo IdP consent page', (u) => u.searchParams.get('email') === USER_EMAIL),
        page.click('button:has-text("Sign in")'),
      ]);
      await Promise.all([
        arrive(page, 'the start page, signed in', (u) => u.origin === base && u.pathname === '/'),
        page.click('button:has-text("Continue")'),
      ]);
      // straight from the ACS to the start page: no confirmation page on the way
      const afterIdp = navigations.slice(navigations.findIndex((n) => n.startsWith('POST ')));
      expect(afterIdp).toEqual([`POST ${base}/sso/acme/acs 303`, `GET ${base}/ 200`]);
      expect(navigations.some((n) => n.includes('/confirm'))).toBe(false);
      expect(await page.textContent('h1')).toBe('Signed in');
      const who = (await page.textContent('main .ok')) ?? '';
      expect(who).toContain(USER_EMAIL);
      expect(who).toMatch(/in account\s+acme\s+\(role member\)/);
      const me = await page.request.get(`${base}/api/me`);
      expect(me.status()).toBe(200);
      expect(await me.json()).toMatchObject({ email: USER_EMAIL, account: 'acme', role: 'member' });
      const users = (await (await api('/api/accounts/acme/users')).json()) as {
        users: { email: string; kind: string }[];
      };
      expect(users.users).toEqual([expect.objectContaining({ email: USER_EMAIL, kind: 'sso' })]);
      expect(await screenshots(page, SIGNED_IN_SCREENSHOT)).toEqual([]);

      expect(messages.filter((m) => m.includes('Content Security Policy'))).toEqual([]);
      expect(messages).toEqual([]);
      await context.close();
    }, 90_000);

    it('an unknown account on the start page: the form again, with what was typed and what to check', async () => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await newPage(context);
      expectedErrorDocuments.add(`404 ${base}/login?account=No-Such-Account`);
      await page.goto(`${base}/`);
      // Typed as people type it (capitals): the form sends it; the server compares in lower case.
      await page.fill('#account', 'No-Such-Account');
      const [refused] = await Promise.all([
        documentAt(page, '/login?account=No-Such-Account'),
        page.click('main form button[type=submit]'),
      ]);
      expect(refused.status()).toBe(404);
      await arrive(page, 'the start form again', (u) => u.pathname === '/login');
      expect(await page.textContent('h1')).toBe('Sign in with single sign-on');
      expect(await page.textContent('[role=alert]')).toContain('There is no account named "no-such-account"');
      expect(await page.inputValue('#account')).toBe('No-Such-Account');
      expect(await screenshots(page, UNKNOWN_SCREENSHOT)).toEqual([]);
      expect(messages).toEqual([]);
      await context.close();
    }, 60_000);
  },
);
