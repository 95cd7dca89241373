/**
 * HTTPS_REQUIRED in a real browser (Debian's Chromium driven by playwright-core): the kit's BASE_URL is
 * https, TRUST_PROXY is 1, and its TLS-terminating proxy forgets X-Forwarded-Proto, so every sign-in
 * arrives over what looks like plain http. The session cookie is Secure: express-session would set
 * none, silently, and the user would be sent round in circles. The kit refuses the sign-in instead,
 * and says what to fix. The supertest version of these cases is test/integration/https-behind-proxy.test.ts.
 *
 * The proxy is a node:http server on 127.0.0.1 that hands each request to the app, adding
 * `X-Forwarded-Proto: https` only while `proxy.forwardsProto` is on (a proxy that does its job). The
 * browser opens it as http://localhost:PORT: Chromium treats localhost as a secure context, so it
 * stores and sends the kit's Secure `__Host-` cookies there as it would on the real https site, and
 * only the kit's own check decides whether a session is made. A tiny IdP on another site
 * (http://127.0.0.1:PORT) posts a response minted here to the ACS with an auto-submitting form, as an
 * IdP does (the SAML HTTP-POST binding).
 *
 * 1. A user's IdP posts a valid response: the user sees the HTML error page naming the problem, the
 *    fix and the reference (which the admin can look up), and stays signed out. The same post once
 *    the proxy sends the header signs in (the control: the response, the cookie and Chromium are fine).
 * 2. An admin's "Test sign-in" ends on the verdict page with the failed `transport` check and its
 *    HTTPS_REQUIRED hint. Over the broken path alone an admin can never get a session (their own
 *    sign-in is refused the same way, and the session cookie is Secure), so the admin signs in while
 *    the proxy still sends the header; then the header goes missing (a proxy change), the admin's
 *    session lives on, and the test sign-in runs entirely over the broken path.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalAdmin } from '../../src/users/local-login.js';
import { createAccountWithIdp, responseFor, startSp, type TestSp } from '../support/harness.js';
import { decodeRedirect } from '../support/idp.js';
import {
  ACME_ADMIN,
  CHROMIUM,
  CHROMIUM_ARGS,
  CHROMIUM_MISSING,
  collectPageMessages,
  documentAt,
  screenshotPath,
  screenshots,
  signInWithPassword,
} from './support.js';

const ERROR_SCREENSHOT = screenshotPath('https-required-error-page');
const VERDICT_SCREENSHOT = screenshotPath('https-required-verdict');

/** The public address of the site (never opened: the browser goes through the proxy). */
const HTTPS_BASE = 'https://sp.example.test';
const SLUG = ACME_ADMIN.account;
/** The admin API token of startSp (test/support/harness.ts). */
const ADMIN_TOKEN = 'test-admin-token-0123456789abcdef';
const USER = { nameId: 'auth0|ursula', email: 'ursula@example.test' } as const;

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** A plain-http server on a free port of 127.0.0.1; resolves with its port. */
async function serve(handler: Handler): Promise<[Server, number]> {
  const server = createServer(handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return [server, (server.address() as AddressInfo).port];
}

async function closeServer(server: Server): Promise<void> {
  if (!server.listening) return;
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

const escAttr = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** The IdP's answer: a page whose form posts `samlResponse` to `acs` as soon as it loads. */
function sendPost(res: ServerResponse, acs: string, samlResponse: string): void {
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>IdP</title></head><body>' +
      `<form method="post" action="${escAttr(acs)}">` +
      `<input type="hidden" name="SAMLResponse" value="${escAttr(samlResponse)}"></form>` +
      '<script>document.forms[0].submit();</script></body></html>',
  );
}

describe.skipIf(CHROMIUM_MISSING)(
  `https site behind a proxy that sends no X-Forwarded-Proto, in Chromium (skipped when ${CHROMIUM} is missing)`,
  () => {
    let t: TestSp;
    let browser: Browser;
    const servers: Server[] = [];
    /** The proxy in front of the kit, as the browser opens it: `http://localhost:PORT`. */
    let front = '';
    let idpOrigin = '';
    /** Whether the proxy tells the kit that the browser came over https. */
    const proxy = { forwardsProto: false };
    /** The X-Forwarded-Proto of every ACS post the kit received, in order (`absent` without one). */
    const acsPosts: string[] = [];

    const expectedErrorDocuments = new Set<string>();
    const { newPage, arrive, expectNoMessages } = collectPageMessages({ expectedErrorDocuments });

    /** The operator's admin API (JSON), through the proxy. */
    const api = async (path: string) => {
      const res = await fetch(`${front}${path}`, {
        headers: { Authorization: `Bearer ${ADMIN_TOKEN}`, Accept: 'application/json' },
      });
      expect(res.status, `${path}: ${await res.clone().text()}`).toBe(200);
      return (await res.json()) as Record<string, unknown>;
    };

    beforeAll(async () => {
      // The proxy: listening first, so that the IdP knows where to post before the kit is built.
      const kit: { app?: Handler } = {};
      const [proxyServer, proxyPort] = await serve((req, res) => {
        // What a proxy says is all the kit knows: whatever the browser sent is replaced.
        delete req.headers['x-forwarded-proto'];
        if (proxy.forwardsProto) req.headers['x-forwarded-proto'] = 'https';
        if (req.method === 'POST' && req.url === `/sso/${SLUG}/acs`) {
          const proto = req.headers['x-forwarded-proto'];
          acsPosts.push(typeof proto === 'string' ? proto : 'absent');
        }
        if (kit.app) kit.app(req, res);
        else res.writeHead(503).end();
      });
      servers.push(proxyServer);
      front = `http://localhost:${proxyPort}`;

      // The IdP, on another site: an AuthnRequest (the admin's test) is answered for the admin, and
      // /idp-initiated starts an unsolicited sign-in of USER; both posted to the ACS behind the proxy.
      const [idpServer, idpPort] = await serve((req, res) => {
        const acs = `${front}/sso/${SLUG}/acs`;
        if (req.method === 'GET' && req.url?.startsWith('/samlp/sso?')) {
          const authn = decodeRedirect(req.url);
          const nameId = `auth0|${ACME_ADMIN.email}`;
          sendPost(
            res,
            acs,
            responseFor(t, SLUG, { inResponseTo: authn.id, nameId, email: ACME_ADMIN.email }),
          );
        } else if (req.method === 'GET' && req.url === '/idp-initiated') {
          sendPost(res, acs, responseFor(t, SLUG, USER));
        } else {
          res.writeHead(req.url === '/favicon.ico' ? 204 : 404).end();
        }
      });
      servers.push(idpServer);
      idpOrigin = `http://127.0.0.1:${idpPort}`;

      t = await startSp({ baseUrl: HTTPS_BASE, trustProxy: '1' });
      kit.app = t.app;
      // loginConfirmation off (the harness's default): an IdP-initiated response signs in at once.
      await createAccountWithIdp(t, SLUG, { ssoUrl: `${idpOrigin}/samlp/sso` });
      await createLocalAdmin(t.sp.stores, ACME_ADMIN);

      browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS] });
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      for (const server of servers) await closeServer(server);
      await t?.close();
    });

    /** The IdP's post of an unsolicited response for USER, from a fresh browser; the ACS's answer. */
    async function idpInitiatedSignIn(page: Page) {
      const acs = documentAt(page, front, `/sso/${SLUG}/acs`);
      await page.goto(`${idpOrigin}/idp-initiated`);
      return acs;
    }

    const sessionCookies = async (page: Page) =>
      (await page.context().cookies()).filter((c) => c.name.endsWith('sspk.sid'));

    it('an IdP post over plain http: the error page names the problem, the fix and the reference; no session', async () => {
      proxy.forwardsProto = false;
      const page = await newPage(browser);
      expectedErrorDocuments.add(`400 ${front}/sso/${SLUG}/acs`);
      const acs = await idpInitiatedSignIn(page);
      expect(acsPosts.at(-1), 'the proxy forwarded the post without X-Forwarded-Proto').toBe('absent');
      expect(acs.status()).toBe(400);
      expect(acs.headers()['content-type']).toMatch(/^text\/html/);
      await page.waitForLoadState('load');
      expect(page.url()).toBe(`${front}/sso/${SLUG}/acs`);

      // The page: the problem and the fix, for whoever sees it first, and a reference to quote.
      expect(await page.textContent('h1')).toBe('We could not complete this request');
      const message = (await page.textContent('.error p')) ?? '';
      expect(message).toContain('reached the server over plain http, but the site is https');
      expect(message).toContain('set TRUST_PROXY to it and make it send X-Forwarded-Proto: https');
      expect(await page.locator('.error p').isVisible()).toBe(true);
      const footer = (await page.textContent('main p.muted')) ?? '';
      expect(footer).toMatch(/Error code\s+HTTPS_REQUIRED\s+·\s+reference\s+\S+/);
      expect(footer).toContain('Quote the reference to your administrator');
      const referenceId = (await page.locator('main p.muted code').nth(1).textContent()) ?? '';
      expect(referenceId).not.toBe('');

      // The admin finds that very reference in the trail, with the setting to fix.
      const event = await api(`/api/accounts/${SLUG}/audit/${encodeURIComponent(referenceId)}`);
      expect(event).toMatchObject({ outcome: 'failure', code: 'HTTPS_REQUIRED', subject: USER.nameId });
      expect(String(event.hint)).toContain('TRUST_PROXY');
      expect(String(event.hint)).toContain('X-Forwarded-Proto: https');

      const scrolling = await screenshots(page, ERROR_SCREENSHOT);
      if (scrolling.length > 0) console.info(`error page at 390px, scrolling: ${scrolling.join(' | ')}`);

      // No session: none in the jar, and the kit's pages show the user signed out.
      expect(await sessionCookies(page)).toEqual([]);
      await page.goto(`${front}/`);
      expect(await page.textContent('h1')).toBe('Sign in with single sign-on');
      expect(await page.textContent('main')).not.toContain(USER.email);
      expectedErrorDocuments.add(`401 ${front}/api/me`);
      const me = await page.goto(`${front}/api/me`);
      expect(me?.status()).toBe(401);
      expect(await me?.json()).toMatchObject({ error: { code: 'AUTH_REQUIRED' } });

      expectNoMessages();
      await page.context().close();
    }, 60_000);

    it("an admin's test sign-in over plain http: the verdict shows the failed transport check and its fix", async () => {
      const page = await newPage(browser);
      // The admin signs in while the proxy still sends the header (over the broken path the password
      // sign-in is refused with HTTPS_REQUIRED too: no admin could get there otherwise)…
      proxy.forwardsProto = true;
      await signInWithPassword(page, front, ACME_ADMIN);
      // …then the header goes missing. The session the browser has lives on.
      proxy.forwardsProto = false;
      const admin = await page.goto(`${front}/admin`);
      expect(admin?.status()).toBe(200);
      const section = page.locator('section', { has: page.locator('h2', { hasText: 'Test sign-in' }) });
      const posts = acsPosts.length;
      await Promise.all([
        arrive(page, 'the verdict page', (u) => u.origin === front && u.pathname.startsWith('/admin/tests/')),
        section.locator('button[type=submit]', { hasText: 'Test sign-in' }).click(),
      ]);
      await page.waitForLoadState('load');
      expect(acsPosts.slice(posts), 'the IdP posted once, without X-Forwarded-Proto').toEqual(['absent']);
      const id = /^\/admin\/tests\/([0-9a-f-]{36})$/.exec(new URL(page.url()).pathname)?.[1];
      expect(id, page.url()).toBeDefined();

      expect(await page.textContent('h1')).toMatch(/^Test sign-in\s+failed$/);
      // The fix is not at the identity provider: the headline says where it is.
      expect(await page.textContent('p.error')).toMatch(
        /^The identity provider answered correctly; fix how this site is reached/,
      );
      const items = page.locator('ol.checklist > li');
      const classes = await items.evaluateAll((lis) =>
        lis.map((li) => (li as unknown as { className: string }).className),
      );
      // Every check of the response passed; the transport is the one failure, listed last.
      expect(classes.length).toBeGreaterThan(1);
      expect(classes).toEqual([...Array<string>(classes.length - 1).fill('check-ok'), 'check-failed']);
      const transport = items.last();
      const text = (await transport.textContent()) ?? '';
      expect(text).toContain('✗ Reached this site over https (its session cookie is Secure)');
      expect(text).toContain('Received: request over http, X-Forwarded-Proto absent');
      expect(text).toContain('Expected: https');
      const hint = transport.locator('.hint');
      expect(await hint.isVisible()).toBe(true);
      const hintText = (await hint.textContent()) ?? '';
      expect(hintText).toMatch(/^HTTPS_REQUIRED: BASE_URL is https/);
      expect(hintText).toContain('set TRUST_PROXY to it (e.g. 1) and make it send X-Forwarded-Proto: https');

      // The same verdict through the API; the connection stays pending (a failed test activates nothing).
      const verdict = await api(`/api/accounts/${SLUG}/saml/tests/${id}`);
      expect(verdict.status).toBe('failed');
      expect((await api(`/api/accounts/${SLUG}/saml`)).status).toBe('pending');

      const scrolling = await screenshots(page, VERDICT_SCREENSHOT);
      if (scrolling.length > 0) console.info(`verdict at 390px, scrolling: ${scrolling.join(' | ')}`);

      // Still the same admin (the test signs nobody in or out).
      const me = await page.goto(`${front}/api/me`);
      expect(me?.status()).toBe(200);
      expect(await me?.json()).toMatchObject({ email: ACME_ADMIN.email, account: SLUG, role: 'admin' });
      expectNoMessages();
      await page.context().close();
    }, 60_000);

    it('the control: the same post once the proxy sends X-Forwarded-Proto: https signs in', async () => {
      proxy.forwardsProto = true;
      try {
        const page = await newPage(browser);
        const acs = await idpInitiatedSignIn(page);
        expect(acsPosts.at(-1)).toBe('https');
        expect(acs.status()).toBe(303);
        await arrive(page, 'the signed-in start page', (u) => u.href === `${front}/`);
        await page.waitForLoadState('load');
        expect(await page.textContent('h1')).toBe('Signed in');
        // Chromium keeps the kit's Secure session cookie on http://localhost, so the empty jar of the
        // first test is no quirk of the browser. (Without the kit's check the jar would be empty too:
        // express-session sets no Secure cookie over plain http. That silent failure is what the error page
        // of the first test replaces.)
        expect((await sessionCookies(page)).map((c) => c.name)).toEqual(['__Host-sspk.sid']);
        const me = await page.goto(`${front}/api/me`);
        expect(me?.status()).toBe(200);
        expect(await me?.json()).toMatchObject({ email: USER.email, account: SLUG });
        expectNoMessages();
        await page.context().close();
      } finally {
        proxy.forwardsProto = false;
      }
    }, 60_000);
  },
);
