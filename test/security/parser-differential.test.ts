// Parser differentials (the XSW family, Somorovsky et al. 2012, and the 2025 node-saml advisories
// GHSA-4mxg / GHSA-m837 where verified and used content diverged): our structural checks and node-saml
// parse the message separately (xmldom 0.9 vs 0.8). If the two parsers ever saw different documents,
// the assertion node-saml verified would not be the one our checks examined. The ACS ties them
// together by ID; this test shows a mismatch refused and the match accepted.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isSpError } from '../../src/errors.js';
import type { SamlContext } from '../../src/saml/options.js';
import { checkVerifiedAssertion, type Envelope } from '../../src/saml/validate-response.js';
import { idpKey, mintResponseXml, TEST_TENANT_ISSUER } from '../support/idp.js';

const acsUrl = 'http://localhost:3000/sso/acme/acs';
const audience = 'http://localhost:3000/sso/acme/metadata';
const ctx: SamlContext = {
  spEntityId: audience,
  acsUrl,
  ssoUrl: 'https://test-tenant.auth0.com/samlp/x',
  idpCertificates: [idpKey.cert],
  idpEntityId: TEST_TENANT_ISSUER,
  spPrivateKey: readFileSync('certs/sp-dev.key', 'utf8'),
  spCertificate: readFileSync('certs/sp-dev.crt', 'utf8'),
  clockSkewMs: 60_000,
  allowSha1: false,
};

function verifiedAssertion(): { xml: string; id: string } {
  const xml = /<saml:Assertion[\s\S]*<\/saml:Assertion>/.exec(
    mintResponseXml({ acsUrl, audience, assertionId: '_checked' }),
  )![0];
  return { xml, id: '_checked' };
}

const envelope = (assertionId: string | null): Envelope => ({
  issuer: TEST_TENANT_ISSUER,
  inResponseTo: null,
  signatures: { response: false, assertion: true },
  encrypted: false,
  assertionId,
  signatureElements: [],
  assertionElement: null,
});

describe('parser differential between our checks and node-saml', () => {
  it('refuses when the verified assertion is not the one the structural checks saw', () => {
    const { xml } = verifiedAssertion();
    let error: unknown;
    try {
      checkVerifiedAssertion(xml, envelope('_decoy'), ctx, Date.now());
    } catch (err) {
      error = err;
    }
    expect(isSpError(error, 'SAML_SIGNATURE_INVALID')).toBe(true);
  });

  it('accepts the same assertion on both sides', () => {
    const { xml, id } = verifiedAssertion();
    expect(checkVerifiedAssertion(xml, envelope(id), ctx, Date.now()).assertionId).toBe(id);
  });
});
