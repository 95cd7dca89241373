/**
 * Replay (SAML Profiles §4.1.4.5: the SP must ensure a bearer assertion is used once; Somorovsky et
 * al. 2012 §5 on replaying captured assertions). test/security/acs-rules.test.ts posts the SAME BYTES
 * twice and 20 times concurrently; here the captured assertion comes back in other clothes (a new
 * unsigned envelope, another transport encoding), through the SP-initiated flow, and in races where
 * the one-time request ID is what has to hold.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  cookiesFrom,
  createAccountWithIdp,
  me,
  postAcs,
  responseFor,
  startLogin,
  startSp,
  type TestSp,
} from '../support/harness.js';
import {
  b64,
  edit,
  expectLoggedIn,
  expectRejected,
  mintXmlFor,
  NS,
  one,
  parseXml,
  type AcsResponse,
} from './support.js';

/** Re-wraps the signed assertion of `xml` in a new Response envelope (new ID, instant, no Destination). */
function rewrap(xml: string, n: number): string {
  return edit(xml, (doc) => {
    const root = doc.documentElement!;
    root.setAttribute('ID', `_rewrapped_${n}`);
    root.setAttribute('IssueInstant', new Date(Date.now() + n * 1000).toISOString());
    if (n % 2 === 1) root.removeAttribute('Destination');
  });
}

/** Exactly one 303 among `results`, its session works, and every other one is a `code` rejection. */
async function expectExactlyOneLogin(
  t: TestSp,
  results: AcsResponse[],
  code: 'SAML_REPLAY' | 'SAML_IN_RESPONSE_TO_UNKNOWN',
  cookies: string[] = [],
): Promise<void> {
  const ok = results.filter((r) => r.status === 303);
  expect(ok, results.map((r) => `${r.status} ${r.body?.error?.code ?? ''}`).join(', ')).toHaveLength(1);
  await me(t, [...cookies, ...cookiesFrom(ok[0]!)]).expect(200);
  for (const r of results.filter((x) => x.status !== 303)) await expectRejected(t, r, code, cookies);
}

describe('replay', () => {
  let t: TestSp;
  beforeEach(async () => {
    t = await startSp({ rateLimitAcsPerMinute: 1_000_000, rateLimitLoginPerMinute: 1_000_000 });
    await createAccountWithIdp(t, 'acme');
  });
  afterEach(async () => {
    await t.close();
  });

  it('the signed assertion re-wrapped in a new Response envelope → SAML_REPLAY', async () => {
    const captured = mintXmlFor(t, 'acme');
    await expectLoggedIn(t, await postAcs(t, 'acme', b64(captured)));
    await expectRejected(t, await postAcs(t, 'acme', b64(rewrap(captured, 1))), 'SAML_REPLAY');
  });

  it('the same response re-encoded (base64 wrapped at 76 columns) → SAML_REPLAY', async () => {
    const captured = b64(mintXmlFor(t, 'acme'));
    await expectLoggedIn(t, await postAcs(t, 'acme', captured));
    const wrapped = captured.replace(/(.{76})/g, '$1\r\n');
    expect(wrapped).not.toBe(captured);
    await expectRejected(t, await postAcs(t, 'acme', wrapped), 'SAML_REPLAY');
  });

  it('a response-signed response replayed → SAML_REPLAY', async () => {
    const captured = b64(mintXmlFor(t, 'acme', { sign: 'response' }));
    await expectLoggedIn(t, await postAcs(t, 'acme', captured));
    await expectRejected(t, await postAcs(t, 'acme', captured), 'SAML_REPLAY');
  });

  it('an SP-initiated answer replayed from the same browser → SAML_REPLAY', async () => {
    const login = await startLogin(t, 'acme');
    const captured = responseFor(t, 'acme', { inResponseTo: login.request.id });
    await expectLoggedIn(t, await postAcs(t, 'acme', captured, { cookie: login.cookies }), login.cookies);
    await expectRejected(
      t,
      await postAcs(t, 'acme', captured, { cookie: login.cookies }),
      'SAML_REPLAY',
      login.cookies,
    );
  });

  it('20 concurrent posts, each the same assertion in a different envelope: exactly one login', async () => {
    const captured = mintXmlFor(t, 'acme');
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => postAcs(t, 'acme', b64(rewrap(captured, i)))),
    );
    await expectExactlyOneLogin(t, results, 'SAML_REPLAY');
  });

  it('20 concurrent SP-initiated posts of one answer with the right cookie: exactly one login', async () => {
    const login = await startLogin(t, 'acme');
    const captured = responseFor(t, 'acme', { inResponseTo: login.request.id });
    const results = await Promise.all(
      Array.from({ length: 20 }, () => postAcs(t, 'acme', captured, { cookie: login.cookies })),
    );
    await expectExactlyOneLogin(t, results, 'SAML_REPLAY', login.cookies);
  });

  it('20 concurrent DIFFERENT fresh assertions answering one request: exactly one login', async () => {
    // Every assertion is new (no replay record), so only the one-time request ID stops the other 19.
    const login = await startLogin(t, 'acme');
    const answers = Array.from({ length: 20 }, () =>
      responseFor(t, 'acme', { inResponseTo: login.request.id }),
    );
    const results = await Promise.all(answers.map((a) => postAcs(t, 'acme', a, { cookie: login.cookies })));
    await expectExactlyOneLogin(t, results, 'SAML_IN_RESPONSE_TO_UNKNOWN', login.cookies);
  });

  it('an SP-initiated answer replayed with the envelope InResponseTo stripped → SAML_REPLAY', async () => {
    // The signed SubjectConfirmationData still names the (consumed) request and the assertion ID is
    // the same: the replay record stops it before the solicitation is even looked at.
    const login = await startLogin(t, 'acme');
    const captured = mintXmlFor(t, 'acme', { inResponseTo: login.request.id });
    await expectLoggedIn(
      t,
      await postAcs(t, 'acme', b64(captured), { cookie: login.cookies }),
      login.cookies,
    );
    const stripped = edit(captured, (doc) => doc.documentElement!.removeAttribute('InResponseTo'));
    expect(
      one(parseXml(stripped), NS.assertion, 'SubjectConfirmationData').getAttribute('InResponseTo'),
    ).toBe(login.request.id);
    await expectRejected(
      t,
      await postAcs(t, 'acme', b64(stripped), { cookie: login.cookies }),
      'SAML_REPLAY',
      login.cookies,
    );
  });
});
