import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { isSpError } from '../../src/errors.js';
import { NS } from '../../src/saml/constants.js';
import { keyInfoCertificate, selectVerificationCertificates } from '../../src/saml/signature-keys.js';
import { parseUntrustedXml, type Element } from '../../src/saml/xml.js';
import { attackerKey, idpKey, mintResponseXml, rotatedIdpKey } from '../support/idp.js';

const acsUrl = 'http://localhost:3000/sso/acme/acs';
const audience = 'http://localhost:3000/sso/acme/metadata';

function signatures(xml: string): Element[] {
  return Array.from(parseUntrustedXml(xml).getElementsByTagNameNS(NS.dsig, 'Signature'));
}

const summary = (pem: string) => {
  const x = new X509Certificate(pem);
  return { fingerprintSha256: x.fingerprint256, subject: x.subject };
};

describe('keyInfoCertificate', () => {
  it('reports the certificate a signature carries, trusted or not', () => {
    expect(keyInfoCertificate(signatures(mintResponseXml({ acsUrl, audience }))[0]!)).toEqual(
      summary(idpKey.cert),
    );
    const forged = mintResponseXml({ acsUrl, audience, key: attackerKey });
    expect(keyInfoCertificate(signatures(forged)[0]!)).toEqual(summary(attackerKey.cert));
  });

  it('is null without a KeyInfo certificate', () => {
    const xml = mintResponseXml({ acsUrl, audience }).replace(/<KeyInfo>[\s\S]*<\/KeyInfo>/, '');
    expect(xml).not.toContain('X509Certificate');
    expect(keyInfoCertificate(signatures(xml)[0]!)).toBeNull();
  });
});

describe('selectVerificationCertificates', () => {
  const trusted = [rotatedIdpKey.cert, idpKey.cert];

  it('hands over only the trusted certificate that signed, for each signature', () => {
    expect(
      selectVerificationCertificates(signatures(mintResponseXml({ acsUrl, audience })), trusted),
    ).toEqual([idpKey.cert]);
    const both = mintResponseXml({ acsUrl, audience, sign: 'both', key: rotatedIdpKey });
    expect(selectVerificationCertificates(signatures(both), trusted)).toEqual([rotatedIdpKey.cert]);
  });

  it('finds the signer when KeyInfo names nothing, or a trusted certificate that did not sign', () => {
    const bare = mintResponseXml({ acsUrl, audience }).replace(/<KeyInfo>[\s\S]*<\/KeyInfo>/, '');
    expect(selectVerificationCertificates(signatures(bare), trusted)).toEqual([idpKey.cert]);
  });

  it('refuses a signature no trusted key made, naming the certificate it carries', () => {
    let detail = '';
    try {
      selectVerificationCertificates(
        signatures(mintResponseXml({ acsUrl, audience, key: attackerKey })),
        trusted,
      );
    } catch (err) {
      expect(isSpError(err, 'SAML_SIGNATURE_INVALID')).toBe(true);
      detail = (err as { detail: string }).detail;
    }
    expect(detail).toContain('none of the 2 trusted certificate(s)');
    expect(detail).toContain(new X509Certificate(attackerKey.cert).fingerprint256);
  });
});
