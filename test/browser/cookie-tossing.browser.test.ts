/**
 * Cookie tossing in a real browser (Debian's Chromium driven by playwright-core, over real TLS): the
 * kit on https://sp.example.test sets every cookie `__Host-` prefixed, and a page on the sibling
 * https://evil.example.test cannot plant one. The supertest-level attacks are in
 * test/security/cookie-tossing.test.ts; here Chromium's own cookie rules decide what gets planted.
 *
 * Three https servers on 127.0.0.1 share one certificate made at test time (Chromium ignores its
 * errors and maps the test host names to 127.0.0.1): the kit, a tiny IdP on a cross-site origin
 * (https://idp.other.test) that answers an AuthnRequest with an auto-submitting form post of a
 * response minted here, and the attacker's sibling site.
 *
 * 1. A user signs in with SP-initiated SAML from the start page: the browser comes back signed in and
 *    its cookie jar holds only `__Host-` cookies of the kit (Secure, Path=/, host-only).
 * 2. The attacker (the user of 1, with a genuine session) makes a victim's browser visit the sibling
 *    site, whose script plants that session as `sspk.sid; Domain=example.test` and tries it as
 *    `__Host-sspk.sid`. Chromium takes the plain cookie and refuses the prefixed one with a Domain; the
 *    victim's browser sends the plain one to the kit, which does not read it: the victim is not signed
 *    in. The same value under the `__Host-` name signs in, so the value itself is valid.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { chromium, type Browser, type BrowserContext, type Cookie } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certificateFor } from '../support/certs.js';
import { createAccountWithIdp, responseFor, startSp, type TestSp } from '../support/harness.js';
import { decodeRedirect, type DecodedAuthnRequest } from '../support/idp.js';
import {
  CHROMIUM,
  CHROMIUM_ARGS,
  CHROMIUM_MISSING,
  collectPageMessages,
  screenshotPath,
  screenshots,
} from './support.js';

const SIGNED_IN_SCREENSHOT = screenshotPath('saml-sp-kit-host-cookies-signed-in');

const SLUG = 'acme';
/** The attacker: a genuine user of the account, whose session the sibling site plants. */
const ATTACKER = { nameId: 'auth0|mallory', email: 'mallory@example.test' } as const;

/** What the kit's server saw of one request (before the app answered it). */
interface Seen {
  method: string;
  path: string;
  cookie: string | undefined;
  fetchSite: string | undefined;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/** An https server on a free port of 127.0.0.1 with the test certificate; resolves with its port. */
async function serveTls(tls: { key: string; cert: string }, handler: Handler): Promise<[Server, number]> {
  const server = createServer(tls, handler);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return [server, (server.address() as AddressInfo).port];
}

async function closeServer(server: Server | undefined): Promise<void> {
  if (!server?.listening) return;
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

const escAttr = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A complete HTML document (the test servers' pages). */
const htmlPage = (title: string, body: string) =>
  `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>`;

function sendHtml(res: ServerResponse, body: string): void {
  res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(body);
}

/** The cookies of the jar (all of them: the playwright call without URLs). */
const jar = (context: BrowserContext): Promise<Cookie[]> => context.cookies();

describe.skipIf(CHROMIUM_MISSING)(
  `__Host- cookies against cookie tossing in Chromium over TLS (skipped when ${CHROMIUM} is missing)`,
  () => {
    let t: TestSp;
    let browser: Browser;
    const servers: Server[] = [];
    let spBase = '';
    let idpOrigin = '';
    let evilOrigin = '';
    /** Every request the kit's server received, in order. */
    const seen: Seen[] = [];
    /** Every AuthnRequest the IdP received. */
    const authnRequests: DecodedAuthnRequest[] = [];
    /** The attacker's genuine session: the value of the session cookie of the first test. */
    let attackerSid: string | undefined;

    const expectedErrorDocuments = new Set<string>();
    const { newPage, arrive, expectNoMessages } = collectPageMessages({ expectedErrorDocuments });

    beforeAll(async () => {
      const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
      // One certificate for all three hosts (CN only; Chromium is told to ignore certificate errors).
      const tls = {
        key: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
        cert: certificateFor(publicKey, 'sp.example.test'),
      };

      // The kit: listening first, so that its base URL (with the port) is known before it is built.
      const kit: { app?: Handler } = {};
      const [spServer, spPort] = await serveTls(tls, (req, res) => {
        seen.push({
          method: req.method ?? '',
          path: req.url ?? '',
          cookie: req.headers.cookie,
          fetchSite: req.headers['sec-fetch-site'],
        });
        if (kit.app) kit.app(req, res);
        else res.writeHead(503).end();
      });
      servers.push(spServer);
      spBase = `https://sp.example.test:${spPort}`;

      // The IdP, on another site: answers the AuthnRequest with a signed response for the attacker,
      // posted to the ACS by an auto-submitting form (the SAML HTTP-POST binding).
      const [idpServer, idpPort] = await serveTls(tls, (req, res) => {
        if (req.method !== 'GET' || !req.url?.startsWith('/samlp/sso?')) {
          res.writeHead(req.url === '/favicon.ico' ? 204 : 404).end();
          return;
        }
        const authn = decodeRedirect(req.url);
        authnRequests.push(authn);
        const acsUrl = t.urls(SLUG).acsUrl;
        const samlResponse = responseFor(t, SLUG, { inResponseTo: authn.id, ...ATTACKER });
        const relay =
          authn.relayState === null
            ? ''
            : `<input type="hidden" name="RelayState" value="${escAttr(authn.relayState)}">`;
        sendHtml(
          res,
          htmlPage(
            'IdP',
            `<form method="post" action="${escAttr(acsUrl)}">` +
              `<input type="hidden" name="SAMLResponse" value="${escAttr(samlResponse)}">${relay}</form>` +
              '<script>document.forms[0].submit();</script>',
          ),
        );
      });
      servers.push(idpServer);
      idpOrigin = `https://idp.other.test:${idpPort}`;

      // The attacker's sibling site: its page plants the attacker's session for the whole domain.
      const [evilServer, evilPort] = await serveTls(tls, (req, res) => {
        if (req.url !== '/' || attackerSid === undefined) {
          res.writeHead(req.url === '/favicon.ico' ? 204 : 404).end();
          return;
        }
        const value = JSON.stringify(attackerSid).replace(/</g, '\\u003c');
        sendHtml(
          res,
          htmlPage(
            'Cute cats',
            '<h1>Cute cats</h1><script>' +
              `const v = ${value};` +
              // The attack: a cookie for every host of example.test, under the kit's plain name…
              "document.cookie = 'sspk.sid=' + v + '; domain=example.test; path=/; secure';" +
              // …and under the __Host- name, which a browser must refuse with a Domain attribute…
              "document.cookie = '__Host-sspk.sid=' + v + '; domain=example.test; path=/; secure';" +
              // …and may only accept host-only, for evil.example.test itself.
              "document.cookie = '__Host-sspk.sid=' + v + '; path=/; secure';" +
              "document.body.dataset.planted = 'yes';" +
              '</script>',
          ),
        );
      });
      servers.push(evilServer);
      evilOrigin = `https://evil.example.test:${evilPort}`;

      // No trustProxy: the server itself speaks TLS, so req.secure holds and Secure cookies are set.
      t = await startSp({ baseUrl: spBase });
      kit.app = t.app;
      // confirm: the account keeps the default loginConfirmation (on); a sign-in started on the kit's
      // own pages is not confirmed.
      await createAccountWithIdp(t, SLUG, { ssoUrl: `${idpOrigin}/samlp/sso`, confirm: true });

      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          ...CHROMIUM_ARGS,
          '--ignore-certificate-errors',
          '--host-resolver-rules=MAP *.example.test 127.0.0.1, MAP *.other.test 127.0.0.1',
        ],
      });
    }, 60_000);

    afterAll(async () => {
      await browser?.close();
      for (const server of servers) await closeServer(server);
      await t?.close();
    });

    /** The requests the kit's server saw for `path` (exactly, query included). */
    const seenAt = (method: string, path: string) =>
      seen.filter((s) => s.method === method && s.path === path);

    it('signs in with SP-initiated SAML through a cross-site IdP, with only __Host- cookies in the jar', async () => {
      const page = await newPage(browser);
      const context = page.context();
      const start = await page.goto(`${spBase}/`);
      expect(start?.status()).toBe(200);
      await page.fill('#account', SLUG);

      const acsUrl = t.urls(SLUG).acsUrl;
      const acs = page.waitForResponse((r) => r.url() === acsUrl && r.request().method() === 'POST', {
        timeout: 15_000,
      });
      await page.click('button[type=submit]');
      const acsResponse = await acs.catch((err: unknown) => {
        throw new Error(`no answer from the ACS: the browser is at ${page.url()}`, { cause: err });
      });
      expect(acsResponse.status()).toBe(303);
      expect(acsResponse.headers().location).toBe('/');
      await arrive(page, 'the signed-in start page', (u) => u.href === `${spBase}/`);
      await page.waitForLoadState('load');
      expect(await page.textContent('h1')).toBe('Signed in');
      expect(await page.textContent('main')).toContain(ATTACKER.email);

      // The jar, as soon as the browser is signed in. Its session is the attacker's for the next test,
      // taken before any check of the names (so that the attack runs, and shows what it does, even when
      // the kit set the session under another name).
      const cookies = await jar(context);
      attackerSid = cookies.find((c) => c.name.endsWith('sspk.sid'))?.value;
      // The kit's cookies only, every one __Host- (Secure, Path=/, host-only), none plain.
      expect(cookies.map((c) => c.name).sort()).toEqual([
        '__Host-sspk.sid',
        '__Host-sspk_csrf',
        '__Host-sspk_login',
      ]);
      for (const c of cookies) {
        expect(c, c.name).toMatchObject({
          domain: 'sp.example.test',
          path: '/',
          secure: true,
          httpOnly: true,
        });
      }
      const sid = cookies.find((c) => c.name === '__Host-sspk.sid')!;
      expect(sid.sameSite).toBe('Lax');
      expect(cookies.find((c) => c.name === '__Host-sspk_login')!.sameSite).toBe('None');
      expect(cookies.some((c) => c.name === 'sspk.sid')).toBe(false);
      expect(attackerSid).toBe(sid.value);

      // The IdP got one AuthnRequest for this ACS; the login was started from the kit's own page.
      expect(authnRequests).toHaveLength(1);
      expect(authnRequests[0]!.acsUrl).toBe(acsUrl);
      const login = seen.filter((s) => s.path.startsWith(`/sso/${SLUG}/login`));
      expect(login).toHaveLength(1);
      expect(login[0]!.fetchSite).toBe('same-origin');
      // The IdP's form post came cross-site and carried the SameSite=None __Host- binding cookie.
      const posts = seenAt('POST', `/sso/${SLUG}/acs`);
      expect(posts).toHaveLength(1);
      expect(posts[0]!.fetchSite).toBe('cross-site');
      const postCookies = (posts[0]!.cookie ?? '').split(/;\s*/).map((c) => c.split('=')[0]);
      expect(postCookies).toEqual(['__Host-sspk_login']);

      const scrolling = await screenshots(page, SIGNED_IN_SCREENSHOT);
      if (scrolling.length > 0) console.info(`signed-in page at 390px, scrolling: ${scrolling.join(' | ')}`);

      // /api/me, navigated to (the kit's CSP, default-src 'none', lets no page script fetch): the user
      // of the response.
      const me = await page.goto(`${spBase}/api/me`);
      expect(me?.status()).toBe(200);
      expect(await me?.json()).toEqual({
        email: ATTACKER.email,
        nameId: ATTACKER.nameId,
        account: SLUG,
        role: 'member',
      });
      expectNoMessages();
      await context.close();
    }, 60_000);

    it("refuses the attacker's session planted from a sibling subdomain; under __Host- the same value signs in", async () => {
      expect(attackerSid, 'the session of the first test').toBeDefined();
      const value = attackerSid!;
      const meUrl = `${spBase}/api/me`;

      // The victim's browser visits the sibling site, whose script plants the attacker's session.
      const page = await newPage(browser);
      const victim = page.context();
      const evil = await page.goto(`${evilOrigin}/`);
      expect(evil?.status()).toBe(200);
      expect(await page.getAttribute('body', 'data-planted')).toBe('yes');

      // The attack vector is real: Chromium took the plain cookie for the whole domain…
      const planted = await jar(victim);
      const plain = planted.filter((c) => c.name === 'sspk.sid');
      expect(plain).toHaveLength(1);
      expect(plain[0]).toMatchObject({ value, domain: '.example.test', path: '/', secure: true });
      // …but not the __Host- one with a Domain: only the host-only one, for evil.example.test itself.
      const host = planted.filter((c) => c.name === '__Host-sspk.sid');
      expect(host.map((c) => c.domain)).toEqual(['evil.example.test']);
      expect(planted).toHaveLength(2);
      // What the browser would send to the kit: the planted plain cookie, nothing else.
      const forSp = await victim.cookies(spBase);
      expect(forSp.map((c) => `${c.name}@${c.domain}`)).toEqual(['sspk.sid@.example.test']);

      // The victim opens the kit: the browser sends the attacker's session, the kit does not read it.
      const before = seen.length;
      expectedErrorDocuments.add(`401 ${meUrl}`);
      const me = await page.goto(meUrl);
      expect(me?.status()).toBe(401);
      expect(await me?.json()).toMatchObject({ error: { code: 'AUTH_REQUIRED' } });
      const sent = seen.slice(before).filter((s) => s.path === '/api/me');
      expect(sent).toHaveLength(1);
      expect(sent[0]!.cookie).toBe(`sspk.sid=${value}`);
      // The start page shows no one signed in either.
      await page.goto(`${spBase}/`);
      expect(await page.textContent('h1')).toBe('Sign in with single sign-on');
      expect(await page.textContent('main')).not.toContain(ATTACKER.email);
      await victim.close();

      // The control: the same value under the kit's own name signs in as the attacker.
      const control = await newPage(browser);
      await control.context().addCookies([{ name: '__Host-sspk.sid', value, url: spBase, secure: true }]);
      const mark = seen.length;
      const ok = await control.goto(meUrl);
      expect(ok?.status()).toBe(200);
      expect(await ok?.json()).toMatchObject({
        nameId: ATTACKER.nameId,
        email: ATTACKER.email,
        account: SLUG,
      });
      const sentOk = seen.slice(mark).filter((s) => s.path === '/api/me');
      expect(sentOk.map((s) => s.cookie)).toEqual([`__Host-sspk.sid=${value}`]);
      await control.context().close();

      expectNoMessages();
    }, 60_000);
  },
);
