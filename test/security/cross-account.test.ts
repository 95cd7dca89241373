/**
 * Cross-account confusion: one deployment serves many accounts, often connected to the same Auth0
 * tenant, which signs every application's assertions with ONE key. Only the per-account audience,
 * recipient and destination keep a response for account A out of account B (the "confused deputy"
 * of multi-tenant SPs; cf. CVE-2024-45409-era advisories on audience checks). acs-rules.test.ts covers
 * the plain A→B post (with and without Destination) and a request ID of A answered at B; the cases
 * here are the variants an attacker would try next.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccountWithIdp, ADMIN_TOKEN, postAcs, startSp, type TestSp } from '../support/harness.js';
import { rotatedIdpKey } from '../support/idp.js';
import request from 'supertest';
import { b64, edit, expectLoggedIn, expectRejected, mintXmlFor, userNameIds } from './support.js';

describe('a response for account A at account B', () => {
  let t: TestSp;
  beforeAll(async () => {
    t = await startSp({ rateLimitAcsPerMinute: 1_000_000 });
    await createAccountWithIdp(t, 'acme'); // A
    await createAccountWithIdp(t, 'globex'); // B, same Auth0 tenant, same signing key
    await createAccountWithIdp(t, 'initech', { certificate: rotatedIdpKey.cert }); // C, its own tenant
    await request(t.app)
      .post('/api/accounts')
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .send({ slug: 'hooli', name: 'Hooli' })
      .expect(201); // D, no SAML connection yet
  });
  afterAll(async () => {
    for (const slug of ['globex', 'initech']) expect(await userNameIds(t, slug)).toHaveLength(0);
    await t.close();
  });

  it("A's assertion-signed response with the unsigned Destination rewritten to B's ACS → SAML_AUDIENCE_MISMATCH", async () => {
    const xml = edit(mintXmlFor(t, 'acme'), (doc) =>
      doc.documentElement!.setAttribute('Destination', t.urls('globex').acsUrl),
    );
    await expectRejected(t, await postAcs(t, 'globex', b64(xml)), 'SAML_AUDIENCE_MISMATCH');
  });

  it.each(['response', 'both'] as const)(
    "A's %s-signed response at B (its signed Destination names A) → SAML_DESTINATION_MISMATCH",
    async (sign) => {
      await expectRejected(
        t,
        await postAcs(t, 'globex', b64(mintXmlFor(t, 'acme', { sign }))),
        'SAML_DESTINATION_MISMATCH',
      );
    },
  );

  it("an assertion whose audience names B but whose signed Recipient is A's ACS, at B → SAML_RECIPIENT_MISMATCH", async () => {
    // An IdP application misconfigured with B's entity ID but A's callback: the recipient still binds it to A.
    const xml = mintXmlFor(t, 'acme', { audience: t.urls('globex').audience, destination: null });
    await expectRejected(t, await postAcs(t, 'globex', b64(xml)), 'SAML_RECIPIENT_MISMATCH');
  });

  it("A's response without Destination at C, which trusts another IdP key → SAML_SIGNATURE_INVALID", async () => {
    const xml = mintXmlFor(t, 'acme', { destination: null });
    await expectRejected(t, await postAcs(t, 'initech', b64(xml)), 'SAML_SIGNATURE_INVALID');
  });

  it("A's response at D, an account without SAML connection → SSO_NOT_CONFIGURED", async () => {
    await expectRejected(t, await postAcs(t, 'hooli', b64(mintXmlFor(t, 'acme'))), 'SSO_NOT_CONFIGURED');
  });

  it("A's response at an account that does not exist, or at A's slug in other case → ACCOUNT_NOT_FOUND", async () => {
    const xml = b64(mintXmlFor(t, 'acme'));
    await expectRejected(t, await postAcs(t, 'nosuch', xml), 'ACCOUNT_NOT_FOUND');
    const upper = await request(t.app)
      .post('/sso/ACME/acs')
      .set('Accept', 'application/json')
      .type('form')
      .send({ SAMLResponse: xml });
    await expectRejected(t, upper, 'ACCOUNT_NOT_FOUND');
  });

  it("A's rejected responses above did not burn anything at A: a fresh one still logs in at A only", async () => {
    const who = await expectLoggedIn(t, await postAcs(t, 'acme', b64(mintXmlFor(t, 'acme'))));
    expect(who.account).toBe('acme');
  });
});
