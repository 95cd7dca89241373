/**
 * RelayState / returnTo open redirects after login (CWE-601; OWASP "Unvalidated Redirects and
 * Forwards"; SAML Bindings §3.4.3 leaves RelayState to the SP). The login itself is legitimate, so each
 * case logs in — and must land on our own origin. End to end through HTTP: RelayState posted to the
 * ACS with an IdP-initiated response (the IdP, or anyone replaying the form, picks it), and returnTo
 * given to /login, carried through the IdP as RelayState and back. (test/unit/return-to.test.ts
 * checks safeReturnPath itself.)
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  BASE_URL,
  createAccountWithIdp,
  postAcs,
  responseFor,
  startLogin,
  startSp,
  type TestSp,
} from '../support/harness.js';
import { expectLoggedIn } from './support.js';

const HOSTILE: string[] = [
  '//evil.com',
  '///evil.com',
  '////evil.com/path',
  'https://evil.com',
  'HTTPS://EVIL.COM/',
  'http:evil.com',
  'https:/evil.com',
  '//evil.com@localhost:3000',
  'http://localhost:3000@evil.com/',
  'http://localhost:3000.evil.com/',
  '/\\evil.com',
  '\\\\evil.com',
  '/\\/evil.com',
  'javascript:alert(document.domain)',
  'JaVaScRiPt:alert(1)',
  ' javascript:alert(1)',
  'java\tscript:alert(1)',
  'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==',
  'vbscript:msgbox(1)',
  '/%2F%2Fevil.com',
  '%2F%2Fevil.com',
  '/%2f%2fevil.com',
  '/%5Cevil.com',
  '/%5C%5Cevil.com',
  '/%252F%252Fevil.com',
  '/%09/evil.com',
  '/\t/evil.com',
  '/\n/evil.com',
  '/ /evil.com',
  '/.//evil.com',
  '/a/../..//evil.com',
  '/%2E%2E//evil.com',
  '/x\r\nLocation: https://evil.com',
  '/%0d%0aLocation:%20https://evil.com',
  '/\u3002evil.com',
  '//evil%E3%80%82com',
  '//%65vil.com',
];

/** Where a browser following `location` (relative to our origin) ends up. */
function landing(location: string): URL {
  return new URL(location, BASE_URL);
}

function expectOwnOrigin(location: unknown): void {
  expect(typeof location).toBe('string');
  const loc = location as string;
  expect(landing(loc).origin).toBe(new URL(BASE_URL).origin);
  // Relative to ANY origin it stays there: no scheme, no protocol-relative //, no backslash.
  expect(new URL(loc, 'https://app.example').origin).toBe('https://app.example');
  expect(loc.startsWith('/')).toBe(true);
  expect(loc).not.toMatch(/^\/[\\/]|[\\\s]/);
}

describe('open redirects after login', () => {
  let t: TestSp;
  beforeAll(async () => {
    t = await startSp({ rateLimitAcsPerMinute: 1_000_000, rateLimitLoginPerMinute: 1_000_000 });
    await createAccountWithIdp(t, 'acme');
  });
  afterAll(async () => {
    await t.close();
  });

  describe('RelayState posted to the ACS (IdP-initiated)', () => {
    it.each(HOSTILE)('%j lands on our own origin', async (relayState) => {
      const res = await postAcs(t, 'acme', responseFor(t, 'acme'), { relayState });
      await expectLoggedIn(t, res);
      expectOwnOrigin(res.headers.location);
      expect(landing(res.headers.location as string).hostname).not.toMatch(/evil/i);
    });

    it('a same-origin path with query and fragment is kept', async () => {
      const res = await postAcs(t, 'acme', responseFor(t, 'acme'), { relayState: '/reports/q3?tab=2#top' });
      await expectLoggedIn(t, res);
      expect(res.headers.location).toBe('/reports/q3?tab=2#top');
    });

    it('the HTML form flow (no JSON) redirects the same way', async () => {
      const res = await postAcs(t, 'acme', responseFor(t, 'acme'), { relayState: '//evil.com', html: true });
      expect(res.status).toBe(303);
      expectOwnOrigin(res.headers.location);
    });
  });

  describe('returnTo given to /login, carried as RelayState (SP-initiated)', () => {
    it.each(HOSTILE)('%j lands on our own origin', async (returnTo) => {
      const login = await startLogin(t, 'acme', returnTo);
      // What we hand the IdP is already safe…
      expectOwnOrigin(login.request.relayState);
      // …and what comes back lands on our origin.
      const res = await postAcs(t, 'acme', responseFor(t, 'acme', { inResponseTo: login.request.id }), {
        cookie: login.cookies,
        relayState: login.request.relayState!,
      });
      await expectLoggedIn(t, res, login.cookies);
      expectOwnOrigin(res.headers.location);
    });

    it('a same-origin returnTo survives the round trip', async () => {
      const login = await startLogin(t, 'acme', '/after/login?x=1');
      const res = await postAcs(t, 'acme', responseFor(t, 'acme', { inResponseTo: login.request.id }), {
        cookie: login.cookies,
        relayState: login.request.relayState!,
      });
      await expectLoggedIn(t, res, login.cookies);
      expect(res.headers.location).toBe('/after/login?x=1');
    });
  });
});
