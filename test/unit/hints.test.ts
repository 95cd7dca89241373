import { describe, expect, it } from 'vitest';
import { hintContext, diagnose } from '../../src/diagnosis/diagnose.js';
import { hints } from '../../src/diagnosis/hints.js';
import { errorCatalog, SpError, type ErrorCode } from '../../src/errors.js';
import type { Account, Connection } from '../../src/storage/types.js';

const account: Account = {
  id: 'acc-1',
  slug: 'acme',
  name: 'Acme Inc',
  createdAt: '2026-01-01T00:00:00.000Z',
  settings: {
    idpInitiated: true,
    allowedEmailDomains: ['acme.example'],
    allowSha1: false,
    adminGroups: [],
    ssoOnly: false,
    loginConfirmation: true,
    requireEmail: true,
  },
};
const connection = {
  id: 'conn-1',
  accountId: 'acc-1',
  ssoUrl: 'https://acme.auth0.com/samlp/abc',
  idpEntityId: 'urn:acme.auth0.com',
  idpEntityIdSource: 'metadata',
  certificates: [{ pem: '', fingerprintSha256: 'AA:BB', subject: 'CN=acme', notBefore: '', notAfter: '' }],
  status: 'active',
  createdAt: '',
  updatedAt: '',
  activatedAt: null,
  metadataUrl: null,
  metadataRefreshedAt: null,
  metadataCheckedAt: null,
  metadataRefreshError: null,
} satisfies Connection;
const ctx = hintContext('https://sp.example', account, connection, 60);

describe('hints beside the error catalogue', () => {
  it('every code of the catalogue has a non-empty hint', () => {
    for (const code of Object.keys(errorCatalog) as ErrorCode[]) {
      expect(hints[code]({}, ctx).length, code).toBeGreaterThan(10);
    }
  });

  it('names the Auth0 setting and the exact value for the common misconfigurations', () => {
    const cases: [ErrorCode, string[]][] = [
      ['SAML_AUDIENCE_MISMATCH', ['"audience"', 'https://sp.example/sso/acme/metadata']],
      [
        'SAML_DESTINATION_MISMATCH',
        ['Application Callback URL', 'https://sp.example/sso/acme/acs', '"destination"'],
      ],
      ['SAML_RECIPIENT_MISMATCH', ['"recipient"', 'https://sp.example/sso/acme/acs']],
      ['SAML_WEAK_ALGORITHM', ['"signatureAlgorithm": "rsa-sha256"', '"digestAlgorithm": "sha256"']],
      ['SAML_IDP_INITIATED_DISABLED', ['https://sp.example/sso/acme/login']],
      ['SAML_NAMEID_MISSING', ['nameIdentifierProbes']],
    ];
    for (const [code, parts] of cases) {
      const { hint } = diagnose(new SpError(code), ctx);
      for (const part of parts) expect(hint, code).toContain(part);
    }
  });

  it('fills the expected value from the connection and marks unverified received values', () => {
    const d = diagnose(
      new SpError('SAML_AUDIENCE_MISMATCH', { received: 'urn:other', unverified: true }),
      ctx,
    );
    expect(d.expected).toBe('https://sp.example/sso/acme/metadata');
    expect(d.received).toBe('unverified: urn:other');
    expect(d.hint).toContain('urn:other');
  });

  it('an untrusted signing certificate: its fingerprint, the trusted ones and where to download', () => {
    const d = diagnose(
      new SpError('SAML_SIGNATURE_INVALID', { received: 'SHA-256 CC:DD, CN=rotated', unverified: true }),
      ctx,
    );
    expect(d.hint).toContain('CC:DD');
    expect(d.hint).toContain('AA:BB');
    expect(d.hint).toMatch(/Certificates/);
  });

  it('clock: by how many seconds, and NTP', () => {
    const d = diagnose(
      new SpError('SAML_NOT_YET_VALID', {
        expected: '2026-11-25T10:00:00.000Z',
        received: '2026-11-25T10:05:00.000Z',
      }),
      ctx,
    );
    expect(d.hint).toContain('300 seconds ahead');
    expect(d.hint).toContain('NTP');
    expect(d.hint).toContain('raise SAML_CLOCK_SKEW_SECONDS (at most 300)');
  });

  it('a response addressed to another account of this site: its admin fixes their callback URL', () => {
    for (const code of ['SAML_DESTINATION_MISMATCH', 'SAML_RECIPIENT_MISMATCH'] as const) {
      const d = diagnose(new SpError(code, { received: 'https://sp.example/sso/globex/acs' }), ctx);
      expect(d.hint).toContain('"globex"');
      expect(d.hint).toContain('Application Callback URL');
      expect(d.hint).toContain('nothing changes for this account');
      expect(d.hint).not.toContain('set "recipient"');
    }
    // Anywhere else (another site, or this account's own ACS spelt differently): this account's fix.
    for (const received of ['https://other.example/sso/globex/acs', 'https://sp.example/sso/acme/acs/']) {
      const d = diagnose(new SpError('SAML_DESTINATION_MISMATCH', { received }), ctx);
      expect(d.hint).toContain('set "recipient" and "destination" to "https://sp.example/sso/acme/acs"');
    }
  });

  it('clock further ahead than the allowance can reach: only setting the clock helps', () => {
    const d = diagnose(
      new SpError('SAML_NOT_YET_VALID', {
        expected: '2026-11-25T10:00:00.000Z',
        received: '2026-11-25T10:09:59.000Z',
      }),
      ctx,
    );
    expect(d.hint).toContain('599 seconds ahead');
    expect(d.hint).toContain('NTP');
    expect(d.hint).not.toContain('raise SAML_CLOCK_SKEW_SECONDS');
    expect(d.hint).toContain('up to 300 s only');
  });

  it('expired on arrival with a short lifetime: lifetimeInSeconds and the lifetime it had', () => {
    const d = diagnose(
      new SpError('SAML_EXPIRED', {
        expected: '2026-11-25T10:00:05.000Z',
        received: '2026-11-25T10:00:01.000Z',
        lifetimeSeconds: 1,
      }),
      ctx,
    );
    expect(d.hint).toContain('valid for only 1 second');
    expect(d.hint).toContain('"lifetimeInSeconds": 3600');
  });
});
