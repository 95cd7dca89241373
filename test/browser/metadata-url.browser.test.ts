/**
 * Importing the IdP by its metadata URL in a real browser (Debian's Chromium): the account admin pastes
 * the demo IdP's metadata URL (Auth0's `/samlp/metadata/CLIENT_ID` shape) on the setup page, sees the
 * connection with its refresh status, refreshes it, sees a failed refresh (the last good metadata kept),
 * and runs a test sign-in through the demo IdP with the imported connection. Screenshots at laptop and
 * phone width under test-results/.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { createLocalAdmin } from '../../src/users/local-login.js';
import { startMetadataServer } from '../support/metadata-server.js';
import {
  ACME_ADMIN,
  CHROMIUM,
  CHROMIUM_MISSING,
  collectPageMessages,
  createAccount,
  documentAt,
  LAPTOP,
  phone,
  PHONE,
  screenshots,
  signInAtDemoIdp,
  signInWithPassword,
  useBrowserTest,
} from './support.js';

const RESULTS = fileURLToPath(new URL('../../test-results/', import.meta.url));
export const IMPORTED_SCREENSHOT = join(RESULTS, 'metadata-url-imported.png');
export const FAILED_SCREENSHOT = join(RESULTS, 'metadata-url-refresh-failed.png');
export const IMPORT_FORM_SCREENSHOT = join(RESULTS, 'metadata-url-import-form.png');
export const CONNECTION_SCREENSHOT = join(RESULTS, 'metadata-url-connection-section.png');

const section = (page: Page, heading: string) =>
  page.locator('section', { has: page.locator('h2', { hasText: heading }) });

describe.skipIf(CHROMIUM_MISSING)(
  `metadata URL import in Chromium (skipped when ${CHROMIUM} is missing)`,
  () => {
    const rig = useBrowserTest('sspk-browser-meta-', {
      demoIdp: true,
      setUp: async () => {
        await createAccount(rig.api, 'acme', 'Acme Inc');
        await createLocalAdmin(rig.sp.stores, ACME_ADMIN);
      },
      timeout: 90_000,
    });
    // The failed refresh answers 400 with the re-rendered page: the browser logs it, as expected.
    const expectedErrorDocuments = new Set<string>();
    const { newPage, arrive, expectNoMessages } = collectPageMessages({ expectedErrorDocuments });

    it('the admin imports by metadata URL, sees the refresh status, refreshes, and tests a sign-in', async () => {
      mkdirSync(RESULTS, { recursive: true });
      const page = await newPage(rig.browser);
      await signInWithPassword(page, rig.base, ACME_ADMIN);
      expect(await page.textContent('h2 .badge')).toBe('not connected');

      // The import form comes before the long JSON; the metadata URL field is on it.
      const metadataUrl = `${rig.idpOrigin}/samlp/metadata/demo`;
      await page.fill('#metadataUrl', metadataUrl);
      const [imported] = await Promise.all([
        documentAt(page, rig.base, '/admin?saved=metadata-url'),
        page.locator('form[action="/admin/idp/metadata-url"] button[type=submit]').click(),
      ]);
      expect(imported.status()).toBe(200);
      await arrive(page, 'the admin page after the import', (u) => u.search === '?saved=metadata-url');
      expect(await page.textContent('.notice.ok')).toContain('fetched from its URL and imported');
      expect(await page.textContent('h2 .badge')).toBe('pending');

      const connection = section(page, 'Connection');
      const values = connection.locator('dl.values');
      expect(await values.textContent()).toContain(`${rig.idpOrigin}/samlp/demo`); // the SSO URL from the metadata
      expect(await values.locator('dt', { hasText: 'IdP metadata URL' }).count()).toBe(1);
      expect(await values.textContent()).toContain(metadataUrl);
      expect(await values.textContent()).toMatch(
        /Last refreshed\s*\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\s*\(just now\)/,
      );
      expect(await values.textContent()).toMatch(/Last refresh error\s*none/);
      expect(await connection.locator('table').textContent()).toContain('CN=test-tenant.auth0.com');
      expect(await page.inputValue('#metadataUrl')).toBe(metadataUrl);
      await page.setViewportSize(PHONE);
      await section(page, 'Replace the identity provider').screenshot({
        path: phone(IMPORT_FORM_SCREENSHOT),
      });
      await page.setViewportSize(LAPTOP);
      await section(page, 'Replace the identity provider').screenshot({ path: IMPORT_FORM_SCREENSHOT });
      const importedScroll = await screenshots(page, IMPORTED_SCREENSHOT);
      if (importedScroll.length > 0)
        console.info(`/admin at 390px, scrolling boxes: ${importedScroll.join(' | ')}`);

      // Refresh now: same document, only the refresh time moves.
      await Promise.all([
        documentAt(page, rig.base, '/admin?saved=refreshed'),
        connection.locator('button', { hasText: 'Refresh now' }).click(),
      ]);
      await arrive(page, 'the admin page after the refresh', (u) => u.search === '?saved=refreshed');
      expect(await page.textContent('.notice.ok')).toContain('fetched again from its URL');

      // A refresh that fails (here: the URL now answers 404) keeps the certificates and shows why.
      const gone = await startMetadataServer();
      try {
        const goneUrl = gone.url('/samlp/metadata/removed-client');
        // Re-import from a URL that works once, then breaks.
        gone.handle((_req, res) => {
          void fetch(metadataUrl)
            .then((r) => r.text())
            .then((xml) => res.writeHead(200, { 'Content-Type': 'application/xml' }).end(xml));
        });
        await page.fill('#metadataUrl', goneUrl);
        await Promise.all([
          documentAt(page, rig.base, '/admin?saved=metadata-url'),
          page.locator('form[action="/admin/idp/metadata-url"] button[type=submit]').click(),
        ]);
        gone.handle((_req, res) => {
          res.writeHead(404).end();
        });
        expectedErrorDocuments.add(`400 ${rig.base}/admin/idp/refresh`);
        const [failed] = await Promise.all([
          documentAt(page, rig.base, '/admin/idp/refresh'),
          section(page, 'Connection').locator('button', { hasText: 'Refresh now' }).click(),
        ]);
        expect(failed.status()).toBe(400);
        expect(await page.textContent('.notice.error')).toContain(`metadataUrl: ${goneUrl} answered 404`);
        const failedValues = section(page, 'Connection').locator('dl.values');
        expect(await failedValues.locator('.refresh-error').textContent()).toContain('METADATA_FETCH_FAILED');
        expect(await failedValues.textContent()).toContain('The last good metadata stays in use');
        expect(await section(page, 'Connection').locator('.warning').textContent()).toContain(
          'could not be refreshed',
        );
        expect(await section(page, 'Connection').locator('table').textContent()).toContain(
          'CN=test-tenant.auth0.com',
        );
        // The part that matters, readable on its own: the connection section at both widths.
        await section(page, 'Connection').screenshot({ path: CONNECTION_SCREENSHOT });
        await page.setViewportSize(PHONE);
        await section(page, 'Connection').screenshot({ path: phone(CONNECTION_SCREENSHOT) });
        await page.setViewportSize(LAPTOP);
        const failedScroll = await screenshots(page, FAILED_SCREENSHOT);
        if (failedScroll.length > 0)
          console.info(`refresh failed at 390px, scrolling: ${failedScroll.join(' | ')}`);

        // Back to the demo IdP's own URL, then a test sign-in through it with the imported connection.
        await page.fill('#metadataUrl', metadataUrl);
        await Promise.all([
          documentAt(page, rig.base, '/admin?saved=metadata-url'),
          page.locator('form[action="/admin/idp/metadata-url"] button[type=submit]').click(),
        ]);
      } finally {
        await gone.close();
      }
      await signInAtDemoIdp(arrive, page, {
        idpOrigin: rig.idpOrigin,
        start: () =>
          section(page, 'Test sign-in').locator('button[type=submit]', { hasText: 'Test sign-in' }).click(),
        email: 'it.admin@acme.test',
        back: {
          what: 'the verdict page',
          match: (u) => u.origin === rig.base && u.pathname.startsWith('/admin/tests/'),
        },
      });
      expect(await page.textContent('h1')).toMatch(/^Test sign-in\s+passed$/);
      expectNoMessages();
      await page.context().close();
    }, 90_000);
  },
);
