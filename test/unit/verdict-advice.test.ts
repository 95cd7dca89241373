import { describe, expect, it } from 'vitest';
import { verdictBody } from '../../src/http/admin-views/sections/test-sign-in.js';
import type { SignInTestView } from '../../src/sso/service.js';

/** A failed SAML test whose failed checks are `failed` (every other check passed). */
function failedTest(failed: string[]): SignInTestView {
  const names = ['signature', 'audience', 'transport'];
  return {
    id: '7da8380f-2db0-4184-8017-ab14d56d89da',
    protocol: 'saml',
    status: 'failed',
    checks: names.map((name) => ({ name, label: name, ok: !failed.includes(name), evaluated: true })),
    referenceId: 'ref_0123456789abcdef',
    createdAt: '2026-11-26T18:00:00.000Z',
    expiresAt: '2026-11-26T18:30:00.000Z',
    finishedAt: '2026-11-26T18:01:00.000Z',
  };
}

const headline = (failed: string[]) =>
  /<p class="error">([^<]*)<\/p>/.exec(String(verdictBody('', failedTest(failed))))![1];

describe('the headline of a failed test sign-in says where the fix is', () => {
  it('at the identity provider when its answer failed a check', () => {
    expect(headline(['audience'])).toBe('Fix the failed checks at the identity provider, then test again.');
  });
  it('in how the site is reached when only the transport failed (no IdP setting changes that)', () => {
    expect(headline(['transport'])).toMatch(
      /^The identity provider answered correctly; fix how this site is reached/,
    );
  });
  it('in both places when both failed', () => {
    expect(headline(['signature', 'transport'])).toMatch(
      /at the identity provider and in how this site is reached/,
    );
  });
});

describe('a test sign-in still waiting for the identity provider', () => {
  const pending = (protocol: 'saml' | 'oidc') =>
    String(
      verdictBody('', {
        ...failedTest([]),
        protocol,
        status: 'pending',
        checks: [],
        referenceId: null,
        finishedAt: null,
      }),
    );

  it('says where an answer that never arrives went, and when the test expires', () => {
    const saml = pending('saml');
    expect(saml).toContain('has not answered yet');
    expect(saml).toContain('"Application Callback URL" (Addons &gt; SAML2 Web App &gt;');
    expect(saml).toContain('expires at 2026-11-26 18:30 UTC');
    expect(pending('oidc')).toContain('"Allowed Callback URLs"');
  });
});
