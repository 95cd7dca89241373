import { createSign, X509Certificate } from 'node:crypto';
import { deflateRawSync } from 'node:zlib';

import { SAML } from '@node-saml/node-saml';
import { DOMParser } from '@xmldom/xmldom';
import { describe, expect, it } from 'vitest';
import { SignedXml } from 'xml-crypto';

import {
  attackerKey,
  decodeRedirect,
  expiredCertPem,
  idpKey,
  idpMetadataXml,
  mintResponse,
  mintResponseXml,
  rotatedIdpKey,
  spDevCertPem,
  TEST_TENANT_ISSUER,
  verifyRedirectSignature,
  type MintOptions,
} from './idp.js';

const NS_SAMLP = 'urn:oasis:names:tc:SAML:2.0:protocol';
const NS_SAML = 'urn:oasis:names:tc:SAML:2.0:assertion';
const NS_DS = 'http://www.w3.org/2000/09/xmldsig#';

const base: MintOptions = {
  acsUrl: 'https://sp.example.test/saml/acs',
  audience: 'https://sp.example.test/saml/metadata',
};

function parse(xml: string) {
  return new DOMParser().parseFromString(xml, 'text/xml');
}

/** The ds:Signature elements that are direct children of the Response / of the Assertion. */
function signatures(xml: string) {
  const root = parse(xml).documentElement!;
  const assertion = root.getElementsByTagNameNS(NS_SAML, 'Assertion')[0]!;
  const childSigs = (el: typeof root) =>
    Array.from(el.childNodes).filter(
      (n) =>
        n.nodeType === 1 &&
        (n as typeof root).localName === 'Signature' &&
        (n as typeof root).namespaceURI === NS_DS,
    ) as (typeof root)[];
  return { root, assertion, response: childSigs(root), inAssertion: childSigs(assertion) };
}

function verify(xml: string, sig: unknown, cert: string): boolean {
  const sx = new SignedXml({ publicCert: cert });
  sx.loadSignature(sig as Parameters<SignedXml['loadSignature']>[0]);
  try {
    return sx.checkSignature(xml);
  } catch {
    return false;
  }
}

describe('fixtures', () => {
  it('idp and attacker certs share a subject but not a key', () => {
    const idp = new X509Certificate(idpKey.cert);
    const attacker = new X509Certificate(attackerKey.cert);
    expect(idp.subject).toBe('CN=test-tenant.auth0.com');
    expect(attacker.subject).toBe(idp.subject);
    expect(attacker.publicKey.export({ format: 'pem', type: 'spki' })).not.toBe(
      idp.publicKey.export({ format: 'pem', type: 'spki' }),
    );
    expect(new X509Certificate(rotatedIdpKey.cert).subject).toBe('CN=test-tenant-rotated.auth0.com');
  });

  it('expired cert is expired, the others are valid for years', () => {
    expect(new Date(new X509Certificate(expiredCertPem).validTo).getTime()).toBeLessThan(Date.now());
    const inTenYears = Date.now() + 10 * 365 * 86400_000;
    for (const pem of [idpKey.cert, rotatedIdpKey.cert, attackerKey.cert, spDevCertPem]) {
      expect(new Date(new X509Certificate(pem).validTo).getTime()).toBeGreaterThan(inTenYears);
    }
  });
});

describe('mintResponseXml', () => {
  it("sign: 'assertion' (default) signs only the assertion, right after its Issuer", () => {
    const xml = mintResponseXml(base);
    const { assertion, response, inAssertion } = signatures(xml);
    expect(response).toHaveLength(0);
    expect(inAssertion).toHaveLength(1);
    const firstTwo = Array.from(assertion.childNodes).filter((n) => n.nodeType === 1) as (typeof assertion)[];
    expect(firstTwo[0]!.localName).toBe('Issuer');
    expect(firstTwo[1]!.localName).toBe('Signature');
    expect(inAssertion[0]!.getElementsByTagNameNS(NS_DS, 'Reference')[0]!.getAttribute('URI')).toBe(
      `#${assertion.getAttribute('ID')}`,
    );
    expect(verify(xml, inAssertion[0], idpKey.cert)).toBe(true);
    expect(verify(xml, inAssertion[0], attackerKey.cert)).toBe(false);
  });

  it("sign: 'response' signs only the response, right after its Issuer", () => {
    const xml = mintResponseXml({ ...base, sign: 'response' });
    const { root, response, inAssertion } = signatures(xml);
    expect(inAssertion).toHaveLength(0);
    expect(response).toHaveLength(1);
    const kids = Array.from(root.childNodes).filter((n) => n.nodeType === 1) as (typeof root)[];
    expect(kids.map((k) => k.localName)).toEqual(['Issuer', 'Signature', 'Status', 'Assertion']);
    expect(verify(xml, response[0], idpKey.cert)).toBe(true);
    expect(verify(xml, response[0], attackerKey.cert)).toBe(false);
  });

  it("sign: 'both' signs the assertion and the response; both verify", () => {
    const xml = mintResponseXml({ ...base, sign: 'both' });
    const { response, inAssertion } = signatures(xml);
    expect(response).toHaveLength(1);
    expect(inAssertion).toHaveLength(1);
    expect(verify(xml, inAssertion[0], idpKey.cert)).toBe(true);
    expect(verify(xml, response[0], idpKey.cert)).toBe(true);
    expect(verify(xml, inAssertion[0], attackerKey.cert)).toBe(false);
    expect(verify(xml, response[0], attackerKey.cert)).toBe(false);
  });

  it("sign: 'none' has no Signature at all", () => {
    const xml = mintResponseXml({ ...base, sign: 'none' });
    expect(xml).not.toContain('Signature');
    expect(parse(xml).getElementsByTagNameNS(NS_DS, 'Signature')).toHaveLength(0);
  });

  it('signing with the attacker key verifies against the attacker cert only', () => {
    const xml = mintResponseXml({ ...base, key: attackerKey });
    const { inAssertion } = signatures(xml);
    expect(verify(xml, inAssertion[0], attackerKey.cert)).toBe(true);
    expect(verify(xml, inAssertion[0], idpKey.cert)).toBe(false);
  });

  it('tampering after signing breaks the signature', () => {
    const xml = mintResponseXml(base).replace('jane.doe@example.com', 'admin@example.com');
    const { inAssertion } = signatures(xml);
    expect(verify(xml, inAssertion[0], idpKey.cert)).toBe(false);
  });

  it('beforeSign edits are covered by the signature', () => {
    const xml = mintResponseXml({
      ...base,
      beforeSign: (a) => a.replace('jane.doe@example.com', 'edited@example.com'),
    });
    expect(xml).toContain('edited@example.com');
    expect(verify(xml, signatures(xml).inAssertion[0], idpKey.cert)).toBe(true);
  });

  it.each([
    ['sha1', 'http://www.w3.org/2000/09/xmldsig#rsa-sha1', 'http://www.w3.org/2000/09/xmldsig#sha1'],
    [
      'sha256',
      'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
      'http://www.w3.org/2001/04/xmlenc#sha256',
    ],
    [
      'sha512',
      'http://www.w3.org/2001/04/xmldsig-more#rsa-sha512',
      'http://www.w3.org/2001/04/xmlenc#sha512',
    ],
  ] as const)('signatureAlgorithm %s uses %s and %s', (alg, sigUri, digestUri) => {
    const xml = mintResponseXml({ ...base, sign: 'both', signatureAlgorithm: alg });
    const doc = parse(xml);
    const methods = Array.from(doc.getElementsByTagNameNS(NS_DS, 'SignatureMethod'));
    const digests = Array.from(doc.getElementsByTagNameNS(NS_DS, 'DigestMethod'));
    expect(methods).toHaveLength(2);
    expect(methods.every((m) => m.getAttribute('Algorithm') === sigUri)).toBe(true);
    expect(digests.every((m) => m.getAttribute('Algorithm') === digestUri)).toBe(true);
    const { response, inAssertion } = signatures(xml);
    expect(verify(xml, inAssertion[0], idpKey.cert)).toBe(true);
    expect(verify(xml, response[0], idpKey.cert)).toBe(true);
  });

  it('has the Auth0 shape and honours the options', () => {
    const now = new Date('2026-11-22T10:00:00.000Z');
    const xml = mintResponseXml({
      ...base,
      now,
      inResponseTo: '_req"<1>',
      responseId: '_resp1',
      assertionId: '_assert1',
      groups: ['admins', 'R&D'],
      extraAttributes: { 'urn:custom': ['x', 'y'] },
      email: 'a@b.test',
      lifetimeSeconds: 60,
    });
    const root = parse(xml).documentElement!;
    expect(root.namespaceURI).toBe(NS_SAMLP);
    expect(root.localName).toBe('Response');
    expect(root.getAttribute('ID')).toBe('_resp1');
    expect(root.getAttribute('Version')).toBe('2.0');
    expect(root.getAttribute('IssueInstant')).toBe('2026-11-22T10:00:00.000Z');
    expect(root.getAttribute('Destination')).toBe(base.acsUrl);
    expect(root.getAttribute('InResponseTo')).toBe('_req"<1>');
    const issuers = Array.from(root.getElementsByTagNameNS(NS_SAML, 'Issuer')).map((i) => i.textContent);
    expect(issuers).toEqual([TEST_TENANT_ISSUER, TEST_TENANT_ISSUER]);
    expect(root.getElementsByTagNameNS(NS_SAMLP, 'StatusCode')[0]!.getAttribute('Value')).toBe(
      'urn:oasis:names:tc:SAML:2.0:status:Success',
    );
    const assertion = root.getElementsByTagNameNS(NS_SAML, 'Assertion')[0]!;
    expect(assertion.getAttribute('ID')).toBe('_assert1');
    const nameId = root.getElementsByTagNameNS(NS_SAML, 'NameID')[0]!;
    expect(nameId.textContent).toBe('auth0|5f7c8ec7c33c6c004bbafe82');
    expect(nameId.getAttribute('Format')).toBe('urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified');
    const scd = root.getElementsByTagNameNS(NS_SAML, 'SubjectConfirmationData')[0]!;
    expect(scd.getAttribute('Recipient')).toBe(base.acsUrl);
    expect(scd.getAttribute('InResponseTo')).toBe('_req"<1>');
    expect(scd.getAttribute('NotOnOrAfter')).toBe('2026-11-22T10:01:00.000Z');
    const cond = root.getElementsByTagNameNS(NS_SAML, 'Conditions')[0]!;
    expect(cond.getAttribute('NotBefore')).toBe('2026-11-22T10:00:00.000Z');
    expect(cond.getAttribute('NotOnOrAfter')).toBe('2026-11-22T10:01:00.000Z');
    expect(root.getElementsByTagNameNS(NS_SAML, 'Audience')[0]!.textContent).toBe(base.audience);
    const attrs = new Map(
      Array.from(root.getElementsByTagNameNS(NS_SAML, 'Attribute')).map((a) => [
        a.getAttribute('Name'),
        Array.from(a.getElementsByTagNameNS(NS_SAML, 'AttributeValue')).map((v) => v.textContent),
      ]),
    );
    const c = 'http://schemas.xmlsoap.org/ws/2005/05/identity/claims';
    expect(attrs.get(`${c}/emailaddress`)).toEqual(['a@b.test']);
    expect(attrs.get(`${c}/upn`)).toEqual(['a@b.test']);
    expect(attrs.get(`${c}/nameidentifier`)).toEqual(['auth0|5f7c8ec7c33c6c004bbafe82']);
    expect(attrs.has(`${c}/name`) && attrs.has(`${c}/givenname`) && attrs.has(`${c}/surname`)).toBe(true);
    expect(attrs.get('http://schemas.auth0.com/identities/default/provider')).toEqual(['auth0']);
    expect(attrs.get('http://schemas.xmlsoap.org/claims/Group')).toEqual(['admins', 'R&D']);
    expect(attrs.get('urn:custom')).toEqual(['x', 'y']);
  });

  it('null / omit options drop the corresponding XML', () => {
    const xml = mintResponseXml({
      ...base,
      sign: 'none',
      destination: null,
      notBefore: null,
      omitAudienceRestriction: true,
      email: null,
    });
    const root = parse(xml).documentElement!;
    expect(root.hasAttribute('Destination')).toBe(false);
    expect(root.hasAttribute('InResponseTo')).toBe(false);
    expect(root.getElementsByTagNameNS(NS_SAML, 'Conditions')[0]!.hasAttribute('NotBefore')).toBe(false);
    expect(root.getElementsByTagNameNS(NS_SAML, 'AudienceRestriction')).toHaveLength(0);
    expect(xml).not.toContain('emailaddress');
    expect(xml).not.toContain('claims/Group');
  });

  it('mintResponse is base64 of a Response shaped like mintResponseXml output', () => {
    const b64 = mintResponse({ ...base, responseId: '_r', assertionId: '_a', now: new Date(0) });
    expect(b64).toMatch(/^[A-Za-z0-9+/]+=*$/);
    const xml = Buffer.from(b64, 'base64').toString('utf8');
    expect(xml.startsWith('<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" ID="_r"')).toBe(
      true,
    );
    const { inAssertion } = signatures(xml);
    expect(verify(xml, inAssertion[0], idpKey.cert)).toBe(true);
  });

  it('is accepted by @node-saml/node-saml for every signed mode', async () => {
    for (const sign of ['assertion', 'response', 'both'] as const) {
      const saml = new SAML({
        callbackUrl: base.acsUrl,
        issuer: base.audience,
        audience: base.audience,
        idpIssuer: TEST_TENANT_ISSUER,
        idpCert: [rotatedIdpKey.cert, idpKey.cert],
        wantAssertionsSigned: sign !== 'response',
        wantAuthnResponseSigned: sign !== 'assertion',
        acceptedClockSkewMs: 1000,
      });
      const { profile } = await saml.validatePostResponseAsync({
        SAMLResponse: mintResponse({ ...base, sign }),
      });
      expect(profile?.nameID).toBe('auth0|5f7c8ec7c33c6c004bbafe82');
      expect(profile?.['http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress']).toBe(
        'jane.doe@example.com',
      );
    }
    const strict = new SAML({
      callbackUrl: base.acsUrl,
      issuer: base.audience,
      audience: base.audience,
      idpCert: idpKey.cert,
    });
    await expect(
      strict.validatePostResponseAsync({ SAMLResponse: mintResponse({ ...base, key: attackerKey }) }),
    ).rejects.toThrow();
  });
});

describe('redirect binding helpers', () => {
  const authnRequest =
    `<samlp:AuthnRequest xmlns:samlp="${NS_SAMLP}" xmlns:saml="${NS_SAML}" ID="_req42" Version="2.0" ` +
    `IssueInstant="2026-11-22T10:00:00.000Z" Destination="https://test-tenant.auth0.com/samlp/abc" ` +
    `AssertionConsumerServiceURL="${base.acsUrl}" ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">` +
    `<saml:Issuer>${base.audience}</saml:Issuer></samlp:AuthnRequest>`;

  function buildUrl(opts: { relayState?: string; sign?: boolean; key?: string }): string {
    const req = encodeURIComponent(deflateRawSync(Buffer.from(authnRequest)).toString('base64'));
    let query = `SAMLRequest=${req}`;
    if (opts.relayState !== undefined) query += `&RelayState=${encodeURIComponent(opts.relayState)}`;
    if (opts.sign) {
      query += `&SigAlg=${encodeURIComponent('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256')}`;
      const sig = createSign('RSA-SHA256')
        .update(query)
        .sign(opts.key ?? idpKey.privateKey, 'base64');
      query += `&Signature=${encodeURIComponent(sig)}`;
    }
    return `https://test-tenant.auth0.com/samlp/abc?${query}`;
  }

  it('decodeRedirect round-trips a deflated AuthnRequest', () => {
    const d = decodeRedirect(buildUrl({ relayState: '/after login?x=1&y=2', sign: true }));
    expect(d.id).toBe('_req42');
    expect(d.acsUrl).toBe(base.acsUrl);
    expect(d.issuer).toBe(base.audience);
    expect(d.destination).toBe('https://test-tenant.auth0.com/samlp/abc');
    expect(d.relayState).toBe('/after login?x=1&y=2');
    expect(d.sigAlg).toBe('http://www.w3.org/2001/04/xmldsig-more#rsa-sha256');
    expect(d.signature).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(d.xml).toBe(authnRequest);
  });

  it('decodeRedirect reports absent parameters as null', () => {
    const d = decodeRedirect(buildUrl({}));
    expect([d.relayState, d.sigAlg, d.signature]).toEqual([null, null, null]);
  });

  it('verifyRedirectSignature checks the exact query octets against the cert', () => {
    const signed = buildUrl({ relayState: 'state+with spaces/&', sign: true });
    expect(verifyRedirectSignature(signed, idpKey.cert)).toBe(true);
    expect(verifyRedirectSignature(signed, attackerKey.cert)).toBe(false);
    expect(verifyRedirectSignature(signed.replace('RelayState=', 'RelayState=x'), idpKey.cert)).toBe(false);
    expect(verifyRedirectSignature(buildUrl({ sign: true }), idpKey.cert)).toBe(true);
    expect(verifyRedirectSignature(buildUrl({ relayState: 'r' }), idpKey.cert)).toBe(false);
  });
});

describe('idpMetadataXml', () => {
  it('lists every cert body as a signing KeyDescriptor', () => {
    const xml = idpMetadataXml({
      entityId: TEST_TENANT_ISSUER,
      ssoUrl: 'https://test-tenant.auth0.com/samlp/abc?x=1&y=2',
      certs: [idpKey.cert, rotatedIdpKey.cert],
    });
    const body = (pem: string) => pem.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, '');
    expect(xml).toContain(body(idpKey.cert));
    expect(xml).toContain(body(rotatedIdpKey.cert));
    const doc = parse(xml);
    const md = 'urn:oasis:names:tc:SAML:2.0:metadata';
    expect(doc.documentElement!.getAttribute('entityID')).toBe(TEST_TENANT_ISSUER);
    const kds = Array.from(doc.getElementsByTagNameNS(md, 'KeyDescriptor'));
    expect(kds.map((k) => k.getAttribute('use'))).toEqual(['signing', 'signing']);
    const sso = Array.from(doc.getElementsByTagNameNS(md, 'SingleSignOnService'));
    expect(sso[0]!.getAttribute('Location')).toBe('https://test-tenant.auth0.com/samlp/abc?x=1&y=2');
  });
});
