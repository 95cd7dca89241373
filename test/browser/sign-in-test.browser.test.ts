/**
 * "Test sign-in" in a real browser (Debian's Chromium driven by playwright-core) against the local demo
 * IdP (scripts/demo-idp.ts, run as a child process): an account admin clicks the button on the setup
 * page, the redirect chain (form POST → 303 one-time link → 302 IdP) must not be blocked by the page's
 * CSP `form-action`, the admin signs in at the IdP and comes back to the verdict checklist. Once with
 * a good setup (passes, activates the connection, creates nobody, keeps the admin's session) and once
 * after the IdP certificate was replaced by another one (a tenant key rotation as an admin meets it).
 * Every page must work without a single console message (CSP violations included).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { createLocalAdmin } from '../../src/users/local-login.js';

const CHROMIUM = '/usr/bin/chromium';
const ADMIN_TOKEN = 'browser-admin-token-0123456789abcdef';
const ADMIN_EMAIL = 'admin@acme.test';
const PASSWORD = 'correct horse battery staple';
const TESTER_EMAIL = 'tester@example.com';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const IDP_CERT = readFileSync(new URL('../fixtures/idp.crt', import.meta.url), 'utf8');
const ROTATED_CERT = readFileSync(new URL('../fixtures/idp-rotated.crt', import.meta.url), 'utf8');
/** The certificate the demo IdP signs with (and puts into KeyInfo). */
const IDP_FINGERPRINT = new X509Certificate(IDP_CERT).fingerprint256;
const ROTATED_FINGERPRINT = new X509Certificate(ROTATED_CERT).fingerprint256;

export const PASS_SCREENSHOT = join(tmpdir(), 'saml-sp-kit-verdict-pass.png');
export const FAIL_SCREENSHOT = join(tmpdir(), 'saml-sp-kit-verdict-fail.png');
const phone = (path: string) => path.replace(/\.png$/, '-phone.png');

/** The checks of the verdict, in order (src/sso/verdict.ts). */
const CHECKS = 13;
const FIRST_AFTER_SIGNATURE = 5;

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
  `test sign-in against the demo IdP in Chromium (skipped when ${CHROMIUM} is missing)`,
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

    const api = (path: string, init: RequestInit = {}) =>
      fetch(`${base}${path}`, {
        ...init,
        headers: {
          Authorization: `Bearer ${ADMIN_TOKEN}`,
          'Content-Type': 'application/json',
          Accept: 'application/json',
        },
      });

    async function importIdp(certificate: string): Promise<void> {
      const res = await api('/api/accounts/acme/saml', {
        method: 'PUT',
        body: JSON.stringify({ certificate, ssoUrl: `${idpOrigin}/samlp/demo` }),
      });
      expect(res.status, await res.clone().text()).toBe(200);
    }

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
        messages.push(`[${m.type()}] ${m.text()} (${url})`);
      });
      page.on('pageerror', (e) => messages.push(`[pageerror] ${e.message} (${page.url()})`));
      return page;
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

    /**
     * On the setup page: click "Test sign-in", sign in at the demo IdP, click Continue. Returns the
     * verdict page's test id.
     */
    async function runTestSignIn(page: Page): Promise<string> {
      const admin = await page.goto(`${base}/admin`);
      expect(admin?.status()).toBe(200);
      // the page lets its forms lead to the IdP (the test form's answer redirects there)
      expect(admin?.headers()['content-security-policy']).toMatch(
        new RegExp(`form-action 'self' ${idpOrigin.replace(/\./g, '\\.')}(;|$)`),
      );
      const section = page.locator('section', { has: page.locator('h2', { hasText: 'Test sign-in' }) });
      await Promise.all([
        arrive(page, 'the demo IdP', (u) => u.origin === idpOrigin && u.pathname === '/samlp/demo'),
        section.locator('button[type=submit]', { hasText: 'Test sign-in' }).click(),
      ]);
      const authn = new URL(page.url());
      expect(authn.searchParams.has('SAMLRequest')).toBe(true);
      expect(await page.textContent('h1')).toBe('Demo IdP');

      await page.fill('input[name=email]', TESTER_EMAIL);
      await Promise.all([
        arrive(page, 'the demo IdP consent page', (u) => u.searchParams.get('email') === TESTER_EMAIL),
        page.click('button:has-text("Sign in")'),
      ]);
      expect(await page.textContent('p')).toContain(`${base}/sso/acme/acs`);
      await Promise.all([
        arrive(page, 'the verdict page', (u) => u.origin === base && u.pathname.startsWith('/admin/tests/')),
        page.click('button:has-text("Continue")'),
      ]);
      const id = /^\/admin\/tests\/([0-9a-f-]{36})$/.exec(new URL(page.url()).pathname)?.[1];
      expect(id, page.url()).toBeDefined();
      return id!;
    }

    /**
     * The elements of the page that stick out of the viewport on the right (in document order), as
     * "TAG: text"; the page then scrolls sideways.
     */
    async function sticksOut(page: Page): Promise<string[]> {
      return page.evaluate(`(() => {
        const width = document.documentElement.clientWidth;
        return [...document.querySelectorAll('main *')]
          .filter((e) => e.getBoundingClientRect().right > width + 0.5)
          .map((e) => e.tagName + ': ' + e.textContent.trim().replace(/\\s+/g, ' ').slice(0, 60));
      })()`);
    }

    /** Full-page screenshots at laptop and phone width; returns what sticks out at phone width. */
    async function screenshots(page: Page, path: string): Promise<string[]> {
      await page.setViewportSize({ width: 1280, height: 900 });
      await page.screenshot({ path, fullPage: true });
      expect(await sticksOut(page)).toEqual([]);
      await page.setViewportSize({ width: 390, height: 844 });
      await page.screenshot({ path: phone(path), fullPage: true });
      const wide = await sticksOut(page);
      // Nothing may stick out at phone width either: long values in <code> (URLs, fingerprints) wrap.
      expect(wide).toEqual([]);
      await page.setViewportSize({ width: 1280, height: 900 });
      return wide;
    }

    const checklist = (page: Page) => page.locator('ol.checklist > li');

    beforeAll(async () => {
      const port = await freePort();
      const idpPort = await freePort();
      base = `http://127.0.0.1:${port}`;
      idpOrigin = `http://localhost:${idpPort}`;
      dir = mkdtempSync(join(tmpdir(), 'sspk-browser-test-'));
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

      const created = await api('/api/accounts', {
        method: 'POST',
        body: JSON.stringify({ slug: 'acme', name: 'Acme Inc' }),
      });
      expect(created.status).toBe(201);
      await createLocalAdmin(sp.stores, { account: 'acme', email: ADMIN_EMAIL, password: PASSWORD });
      await importIdp(IDP_CERT);

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

    let context: BrowserContext;
    let page: Page;
    let failedTestUrl: string;

    it('a good setup passes: every check ticked, connection active, nobody created or signed out', async () => {
      context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      page = await newPage(context);
      await page.goto(`${base}/login/password?account=acme`);
      await page.fill('#email', ADMIN_EMAIL);
      await page.fill('#password', PASSWORD);
      await Promise.all([page.waitForURL(`${base}/admin`), page.click('button[type=submit]')]);
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
      const me = await page.request.get(`${base}/api/me`);
      expect(me.status()).toBe(200);
      expect(await me.json()).toMatchObject({ email: ADMIN_EMAIL, account: 'acme', role: 'admin' });
      // nobody was created: the bootstrap admin is the account's only user
      const users = (await (await api('/api/accounts/acme/users')).json()) as {
        users: { email: string; kind: string }[];
      };
      expect(users.users).toHaveLength(1);
      expect(users.users[0]).toMatchObject({ email: ADMIN_EMAIL, kind: 'local' });
      expect(JSON.stringify(users)).not.toContain(TESTER_EMAIL);
      const conn = (await (await api('/api/accounts/acme/saml')).json()) as { status: string };
      expect(conn.status).toBe('active');
      const verdict = (await (await api(`/api/accounts/acme/saml/tests/${id}`)).json()) as { status: string };
      expect(verdict.status).toBe('passed');

      const wide = await screenshots(page, PASS_SCREENSHOT);
      if (wide.length > 0)
        console.info(`passed verdict at 390px, wider than the screen: ${wide.join(' | ')}`);
      expect(messages.filter((m) => m.includes('Content Security Policy'))).toEqual([]);
      expect(messages).toEqual([]);
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
      const me = await page.request.get(`${base}/api/me`);
      expect(await me.json()).toMatchObject({ email: ADMIN_EMAIL, role: 'admin' });
      const users = (await (await api('/api/accounts/acme/users')).json()) as { users: unknown[] };
      expect(users.users).toHaveLength(1);

      const wide = await screenshots(page, FAIL_SCREENSHOT);
      if (wide.length > 0)
        console.info(`failed verdict at 390px, wider than the screen: ${wide.join(' | ')}`);
      expect(messages.filter((m) => m.includes('Content Security Policy'))).toEqual([]);
      expect(messages).toEqual([]);
      await context.close();
    }, 90_000);

    it('the verdict URL without an admin session says only that the test finished', async () => {
      const fresh = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const other = await newPage(fresh);
      const res = await other.goto(failedTestUrl);
      expect(res?.status()).toBe(200);
      expect(await other.textContent('h1')).toBe('Test sign-in finished');
      const body = (await other.textContent('main')) ?? '';
      expect(await other.locator('ol.checklist').count()).toBe(0);
      for (const secret of [IDP_FINGERPRINT, ROTATED_FINGERPRINT, 'Signed by', 'SAML_', 'Reference']) {
        expect(body).not.toContain(secret);
      }
      expect(messages).toEqual([]);
      await fresh.close();
    }, 30_000);
  },
);
