/**
 * Safe SSO-only and disabling a user, in a real browser (Debian's Chromium): the password admin cannot
 * switch SSO-only on while no administrator has signed in with single sign-on, even though SSO works
 * for members (the page says why and
 * what to do); once an SSO admin has, the page names them, the switch goes through and the password
 * session ends. Then the SSO admin disables a signed-in user from the users table, and that user's own
 * browser is signed out at once and cannot sign in again.
 */
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { createLocalAdmin } from '../../src/users/local-login.js';
import { idpKey, mintResponse, TEST_TENANT_ISSUER } from '../support/idp.js';
import {
  ACME_ADMIN,
  CHROMIUM,
  CHROMIUM_MISSING,
  collectPageMessages,
  createAccount,
  signInWithPassword,
  useBrowserTest,
  screenshotPath,
  screenshots,
} from './support.js';

const SSO_URL = 'https://test-tenant.auth0.com/samlp/TestClientId123';
const SHOTS = 'saml-sp-kit-sso-only';
const ADMIN_GROUP = 'sp-admins';
const BOSS = { nameId: 'auth0|boss', email: 'boss@example.com', groups: [ADMIN_GROUP] };
const JANE = { nameId: 'auth0|jane', email: 'jane.doe@example.com', groups: ['staff'] };

describe.skipIf(CHROMIUM_MISSING)(
  `SSO-only and users in Chromium (skipped when ${CHROMIUM} is missing)`,
  () => {
    const rig = useBrowserTest('sspk-browser-ssoonly-', {
      setUp: async () => {
        await createAccount(rig.api, 'acme', 'Acme Inc');
        await createLocalAdmin(rig.sp.stores, ACME_ADMIN);
        const imported = await rig.api('/api/accounts/acme/saml', {
          method: 'PUT',
          body: JSON.stringify({ certificate: idpKey.cert, ssoUrl: SSO_URL }),
        });
        expect(imported.status).toBe(200);
        const patched = await rig.api('/api/accounts/acme', {
          method: 'PATCH',
          body: JSON.stringify({ adminGroups: [ADMIN_GROUP] }),
        });
        expect(patched.status).toBe(200);
      },
      timeout: 60_000,
    });
    // Pages these tests open on purpose with an error status (the refused settings post, a refused sign-in).
    const expectedErrorDocuments = new Set<string>();
    const { newPage, expectNoMessages } = collectPageMessages({ expectedErrorDocuments });

    /** Both widths of the page as it is now, nothing sticking out. */
    const shoot = async (page: Page, name: string) => screenshots(page, screenshotPath(`${SHOTS}-${name}`));

    /** An IdP-initiated sign-in as `who` (the Auth0 tile), confirmed on our page: the user's own browser. */
    async function ssoSignIn(who: typeof BOSS): Promise<Page> {
      const page = await newPage(rig.browser);
      const samlResponse = mintResponse({
        acsUrl: `${rig.base}/sso/acme/acs`,
        audience: `${rig.base}/sso/acme/metadata`,
        issuer: TEST_TENANT_ISSUER,
        ...who,
      });
      await page.setContent(
        `<form method="post" action="${rig.base}/sso/acme/acs">` +
          `<input type="hidden" name="SAMLResponse" value="${samlResponse}">` +
          `<button type="submit">Continue</button></form>`,
      );
      await Promise.all([page.waitForURL(`${rig.base}/sso/acme/acs`), page.click('button')]);
      expect(await page.textContent('h1')).toBe(`Continue to Acme Inc as ${who.email}?`);
      await Promise.all([page.waitForURL(`${rig.base}/`), page.click('form button[type=submit]')]);
      expect(await page.textContent('h1')).toBe('Signed in');
      return page;
    }

    const meStatus = async (page: Page) => (await page.request.get(`${rig.base}/api/me`)).status();

    it('SSO-only is refused until an SSO admin has signed in, then allowed; it ends the password session', async () => {
      // SSO works (a member's first sign-in activated the connection), but no administrator has used it.
      const member = await ssoSignIn(JANE);
      await member.context().close();
      const admin = await newPage(rig.browser);
      await signInWithPassword(admin, rig.base, ACME_ADMIN);
      // The page says up front that no SSO administrator exists yet.
      expect(await admin.textContent('.sso-admins')).toContain(
        'No administrator has signed in with single sign-on yet',
      );

      await admin.check('input[name=ssoOnly]');
      expectedErrorDocuments.add(`409 ${rig.base}/admin/settings`);
      await Promise.all([admin.waitForURL(`${rig.base}/admin/settings`), admin.click('text=Save settings')]);
      expect(await admin.textContent('body')).toContain('SSO_ONLY_NO_SSO_ADMIN');
      expect(await admin.textContent('body')).toContain(
        'Sign in once with single sign-on as an administrator',
      );
      await shoot(admin, 'refused');
      // Nothing changed, and the password admin is still signed in.
      const account = (await (await rig.api('/api/accounts/acme')).json()) as {
        settings: { ssoOnly: boolean };
      };
      expect(account.settings.ssoOnly).toBe(false);
      expect(await meStatus(admin)).toBe(200);

      // An administrator signs in with SSO (a member of the admin group): the page now names them.
      const boss = await ssoSignIn(BOSS);
      expect((await (await boss.request.get(`${rig.base}/api/me`)).json()) as object).toMatchObject({
        role: 'admin',
      });
      await admin.goto(`${rig.base}/admin`);
      const admins = (await admin.innerText('.sso-admins')).replace(/\s+/g, ' ');
      expect(admins).toContain('Administrators who can sign in with single sign-on');
      expect(admins).toContain(BOSS.email);

      await admin.check('input[name=ssoOnly]');
      await Promise.all([
        admin.waitForURL(`${rig.base}/?account=acme&notice=sso-only`),
        admin.click('text=Save settings'),
      ]);
      // The password session ended with the switch; the start page says so, the account filled in.
      expect(await admin.textContent('[role=status]')).toContain('your password session has ended');
      expect(await admin.inputValue('#account')).toBe('acme');
      expect(await meStatus(admin)).toBe(401);
      expect((await (await rig.api('/api/accounts/acme')).json()) as object).toMatchObject({
        settings: { ssoOnly: true },
      });
      await shoot(admin, 'after-switch');
      // The SSO admin keeps the pages.
      await boss.goto(`${rig.base}/admin`);
      expect(await boss.textContent('h1')).toBe('Single sign-on for Acme Inc');
      expectNoMessages();
      await admin.context().close();
      await boss.context().close();
    }, 60_000);

    it('an SSO admin disables a signed-in user: their browser is signed out and cannot sign in again', async () => {
      const jane = await ssoSignIn(JANE);
      expect(await meStatus(jane)).toBe(200);

      const boss = await ssoSignIn(BOSS);
      await boss.goto(`${rig.base}/admin#users`);
      const row = boss.locator('#users tr', { hasText: JANE.email });
      expect(await row.textContent()).toContain('enabled');
      await Promise.all([
        boss.waitForURL(/saved=user/),
        row.getByRole('button', { name: 'Disable' }).click(),
      ]);
      expect(await boss.textContent('.notice')).toContain('The user was changed.');
      expect(await row.textContent()).toContain('disabled');
      await row.scrollIntoViewIfNeeded();
      await shoot(boss, 'user-disabled');

      // Jane's own browser: signed out at the next request, without anyone touching it.
      expect(await meStatus(jane)).toBe(401);
      // And the IdP's next response for her is refused with a page, not a session.
      const samlResponse = mintResponse({
        acsUrl: `${rig.base}/sso/acme/acs`,
        audience: `${rig.base}/sso/acme/metadata`,
        issuer: TEST_TENANT_ISSUER,
        ...JANE,
      });
      await jane.setContent(
        `<form method="post" action="${rig.base}/sso/acme/acs">` +
          `<input type="hidden" name="SAMLResponse" value="${samlResponse}">` +
          `<button type="submit">Continue</button></form>`,
      );
      await Promise.all([jane.waitForURL(`${rig.base}/sso/acme/acs`), jane.click('button')]);
      if ((await jane.textContent('h1'))?.startsWith('Continue to')) {
        expectedErrorDocuments.add(`403 ${rig.base}/sso/acme/confirm`);
        await Promise.all([jane.waitForLoadState('load'), jane.click('form button[type=submit]')]);
      }
      expect(await jane.textContent('body')).toContain('USER_IS_DISABLED');
      await shoot(jane, 'disabled-user-refused');
      expect(await meStatus(jane)).toBe(401);
      await jane.context().close();
      await boss.context().close();
    }, 60_000);
  },
);
