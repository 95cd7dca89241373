/**
 * Login CSRF through the start page, in a real browser (Debian's Chromium, playwright-core) with the
 * local demo IdP. Another site sends the victim's browser to `/login?account=acme` instead of
 * `/sso/acme/login`: the start page forwards with a page of ours (a meta refresh), a navigation Chromium
 * marks same-origin. The sign-in it starts must still wait for the user's confirmation, as one started
 * by that site directly does. At the IdP the test signs in as the attacker (a real IdP answers at once
 * when the browser holds the attacker's session there). The control: the user typing the account into
 * our own start form signs in without being asked.
 */
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CHROMIUM,
  CHROMIUM_MISSING,
  collectPageMessages,
  createAccount,
  screenshotPath,
  screenshots,
  signInAtDemoIdp,
  useBrowserTest,
} from './support.js';

const IDP_CERT = readFileSync(new URL('../fixtures/idp.crt', import.meta.url), 'utf8');
const ATTACKER = 'mallory@example.test';
const CONFIRM_SCREENSHOT = screenshotPath('saml-sp-kit-login-csrf-start-page-confirm');

describe.skipIf(CHROMIUM_MISSING)(
  `login CSRF through the start page in Chromium (skipped when ${CHROMIUM} is missing)`,
  () => {
    const rig = useBrowserTest('sspk-browser-login-csrf-', {
      demoIdp: true,
      setUp: async () => {
        await createAccount(rig.api, 'acme', 'Acme Inc');
        const res = await rig.api('/api/accounts/acme/saml', {
          method: 'PUT',
          body: JSON.stringify({ certificate: IDP_CERT, ssoUrl: `${rig.idpOrigin}/samlp/demo` }),
        });
        expect(res.status, await res.clone().text()).toBe(200);
      },
      timeout: 90_000,
    });
    const { newPage, arrive, expectNoMessages } = collectPageMessages();

    // The attacker's site: another origin (localhost against the kit's 127.0.0.1), whose script sends
    // the browser where it is told.
    let evil: Server;
    let evilOrigin = '';
    beforeAll(async () => {
      evil = createServer((req, res) => {
        const to = new URL(req.url ?? '/', 'http://x').searchParams.get('to') ?? '/';
        res.setHeader('Content-Type', 'text/html');
        res.end(
          `<!doctype html><title>Free prizes</title><script>location.href = ${JSON.stringify(to)}</script>`,
        );
      });
      await new Promise<void>((resolve) => evil.listen(0, '127.0.0.1', resolve));
      evilOrigin = `http://localhost:${(evil.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>((resolve) => evil.close(() => resolve())));

    const signedIn = async (page: Page) => (await page.context().request.get(`${rig.base}/api/me`)).status();
    const atAcs = (u: URL) => u.origin === rig.base && u.pathname === '/sso/acme/acs';

    it('another site sending the browser to /login?account=acme: the sign-in waits for the confirmation', async () => {
      const page = await newPage(rig.browser);
      await signInAtDemoIdp(arrive, page, {
        idpOrigin: rig.idpOrigin,
        start: () => page.goto(`${evilOrigin}/?to=${encodeURIComponent(`${rig.base}/login?account=acme`)}`),
        email: ATTACKER,
        back: { what: 'the confirmation page', match: atAcs },
      });
      await expect.poll(() => page.textContent('body')).toContain(ATTACKER);
      expect(await page.textContent('body')).toMatch(/another website/i);
      expect(await signedIn(page)).toBe(401);
      await screenshots(page, CONFIRM_SCREENSHOT);
      expectNoMessages();
      await page.context().close();
    });

    it('the user typing the account into our start form signs in without being asked', async () => {
      const page = await newPage(rig.browser);
      await page.goto(`${rig.base}/`);
      await page.fill('input[name=account]', 'acme');
      await signInAtDemoIdp(arrive, page, {
        idpOrigin: rig.idpOrigin,
        start: () => page.click('button[type=submit]'),
        email: 'alice@example.test',
        back: { what: 'the signed-in page', match: (u) => u.origin === rig.base && !atAcs(u) },
      });
      expect(await signedIn(page)).toBe(200);
      expectNoMessages();
      await page.context().close();
    });
  },
);
