/**
 * Attacks through the IdP metadata URL: an admin (or whoever holds an admin session or token) makes the
 * server fetch a URL of their choosing. Each test is one attack, named after it; each ends with a coded
 * 4xx, the previous connection untouched, and — where a local server stands ready — no TCP connection
 * reaching it at all. Servers are real (loopback); nothing is mocked.
 */
import { rmSync } from 'node:fs';
import request from 'supertest';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startSp, type TestSp } from '../support/harness.js';
import { productionKeys } from '../support/certs.js';
import { idpKey, idpMetadataXml, TEST_TENANT_ISSUER } from '../support/idp.js';
import { pumpForever, startMetadataServer, type MetadataServer } from '../support/metadata-server.js';

const AUTH = `Bearer ${ADMIN_TOKEN}`;
const SSO = 'https://test-tenant.auth0.com/samlp/TestClientId123';

async function newAccount(t: TestSp, slug: string): Promise<void> {
  await request(t.app)
    .post('/api/accounts')
    .set('Authorization', AUTH)
    .send({ slug, name: slug })
    .expect(201);
}

function importUrl(t: TestSp, slug: string, metadataUrl: string) {
  return request(t.app).put(`/api/accounts/${slug}/saml`).set('Authorization', AUTH).send({ metadataUrl });
}

/** The refusal every attack must end with: this code, this message, nothing stored. */
async function expectRefused(
  t: TestSp,
  slug: string,
  res: request.Response,
  code: string,
  message: RegExp,
): Promise<void> {
  expect(res.status, res.text).toBe(400);
  expect(res.body.error.code).toBe(code);
  expect(res.body.error.message).toMatch(message);
  const conn = await request(t.app).get(`/api/accounts/${slug}/saml`).set('Authorization', AUTH);
  expect(conn.status).toBe(404); // nothing was imported
}

describe('metadata URL attacks, NODE_ENV=production', () => {
  let t: TestSp;
  let dir: string;
  let server: MetadataServer;
  let n = 0;
  const slug = () => `prod-${++n}`;
  /** Connections the local server had accepted when the test began. */
  let connectionsBefore = 0;
  beforeEach(() => {
    connectionsBefore = server.connections;
  });

  beforeAll(async () => {
    // Production refuses the shipped dev keys: the test's own.
    const keys = productionKeys('sspk-ssrf-');
    dir = keys.dir;
    t = await startSp({
      ...keys.config,
      // Were a check missing, the fetch of an unreachable private address would end here, not hang.
      metadataFetchTimeoutMs: 1000,
    });
    server = await startMetadataServer();
    server.serve(idpMetadataXml({ entityId: TEST_TENANT_ISSUER, ssoUrl: SSO, certs: [idpKey.cert] }));
  }, 30_000);
  afterAll(async () => {
    await server.close();
    await t.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('plain http:// metadata URL in production (no TLS: anyone on the path swaps the certificate)', async () => {
    const s = slug();
    await newAccount(t, s);
    const res = await importUrl(t, s, server.url('/samlp/metadata/c'));
    await expectRefused(
      t,
      s,
      res,
      'METADATA_URL_INVALID',
      /^metadataUrl: http:\/\/localhost:\d+\/samlp\/metadata\/c is not https:\/\//,
    );
    expect(server.connections - connectionsBefore).toBe(0);
  });

  it('https://127.0.0.1 (loopback literal) in production', async () => {
    const s = slug();
    await newAccount(t, s);
    const res = await importUrl(t, s, `https://127.0.0.1:${server.port}/samlp/metadata/c`);
    await expectRefused(t, s, res, 'METADATA_URL_FORBIDDEN', /127\.0\.0\.1.* is a loopback address/);
    expect(server.connections - connectionsBefore).toBe(0);
  });

  it('https://[::1] (IPv6 loopback) in production', async () => {
    const s = slug();
    await newAccount(t, s);
    const res = await importUrl(t, s, `https://[::1]:${server.port}/m`);
    await expectRefused(t, s, res, 'METADATA_URL_FORBIDDEN', /\[::1\].* is a loopback address/);
    expect(server.connections - connectionsBefore).toBe(0);
  });

  it('a host name that resolves to loopback (localhost) in production: refused at resolution, never connected', async () => {
    const s = slug();
    await newAccount(t, s);
    const res = await importUrl(t, s, `https://localhost:${server.port}/m`);
    await expectRefused(
      t,
      s,
      res,
      'METADATA_URL_FORBIDDEN',
      /^metadataUrl: https:\/\/localhost:\d+\/m resolves to a loopback address \((127\.0\.0\.1|::1)\): only public addresses/,
    );
    expect(server.connections - connectionsBefore).toBe(0);
  });

  it('https://10.0.0.1 (RFC 1918 private network) in production', async () => {
    const s = slug();
    await newAccount(t, s);
    const res = await importUrl(t, s, 'https://10.0.0.1/samlp/metadata/c');
    await expectRefused(
      t,
      s,
      res,
      'METADATA_URL_FORBIDDEN',
      /10\.0\.0\.1\/samlp\/metadata\/c is a private address/,
    );
  });

  it('https://169.254.169.254 (the cloud metadata service) in production', async () => {
    const s = slug();
    await newAccount(t, s);
    const res = await importUrl(t, s, 'https://169.254.169.254/latest/meta-data/iam/security-credentials/');
    await expectRefused(
      t,
      s,
      res,
      'METADATA_URL_FORBIDDEN',
      /is a link-local address \(such as a cloud metadata service\)/,
    );
  });

  it('IPv4-mapped IPv6 loopback https://[::ffff:127.0.0.1] in production', async () => {
    const s = slug();
    await newAccount(t, s);
    const res = await importUrl(t, s, `https://[::ffff:127.0.0.1]:${server.port}/m`);
    await expectRefused(t, s, res, 'METADATA_URL_FORBIDDEN', /is a loopback address/);
    expect(server.connections - connectionsBefore).toBe(0);
  });

  it('other non-public ranges in production: CGNAT, unique-local, multicast, unspecified, mapped private', async () => {
    const s = slug();
    await newAccount(t, s);
    for (const [host, kind] of [
      ['100.64.0.1', /carrier-grade NAT/],
      ['[fd00::1]', /unique-local/],
      ['[fe80::1]', /link-local/],
      ['224.0.0.1', /multicast/],
      ['0.0.0.0', /unspecified/],
      ['[::]', /unspecified/],
      ['[::ffff:10.1.2.3]', /private/],
      ['[::ffff:a9fe:a9fe]', /link-local/],
      ['192.168.1.1', /private/],
      ['172.16.0.1', /private/],
    ] as const) {
      const res = await importUrl(t, s, `https://${host}/m`);
      expect(res.body.error?.code, host).toBe('METADATA_URL_FORBIDDEN');
      expect(res.body.error.message, host).toMatch(kind);
    }
    expect(server.connections - connectionsBefore).toBe(0);
  });
});

describe('metadata URL attacks, development (a loopback host may serve the metadata)', () => {
  let t: TestSp;
  let server: MetadataServer;
  let n = 0;
  const slug = () => `dev-${++n}`;
  const goodMetadata = idpMetadataXml({ entityId: TEST_TENANT_ISSUER, ssoUrl: SSO, certs: [idpKey.cert] });

  beforeAll(async () => {
    t = await startSp({ metadataFetchTimeoutMs: 600 });
    server = await startMetadataServer();
  });
  afterAll(async () => {
    await server.close();
    await t.close();
  });

  it('a redirect to a private address (169.254.169.254, 10.x, mapped ::ffff:10.x) is not followed', async () => {
    for (const target of [
      'https://169.254.169.254/latest/meta-data/',
      'https://10.0.0.7/internal',
      'https://[::ffff:10.0.0.7]/internal',
    ]) {
      const s = slug();
      await newAccount(t, s);
      server.handle((_req, res) => {
        res.writeHead(302, { Location: target }).end();
      });
      const res = await importUrl(t, s, server.url('/samlp/metadata/c'));
      await expectRefused(
        t,
        s,
        res,
        'METADATA_URL_FORBIDDEN',
        /^metadataUrl: http:\/\/localhost:\d+\/samlp\/metadata\/c \(redirected to https:\/\/.*\) is a (link-local|private) address/,
      );
    }
  });

  it('a redirect to plain http on a non-local host is not followed', async () => {
    const s = slug();
    await newAccount(t, s);
    server.handle((_req, res) => {
      res.writeHead(301, { Location: 'http://metadata.example.com/m' }).end();
    });
    const res = await importUrl(t, s, server.url('/m'));
    await expectRefused(
      t,
      s,
      res,
      'METADATA_URL_FORBIDDEN',
      /redirected to http:\/\/metadata\.example\.com\/m, which is not allowed: is not https/,
    );
  });

  it('an endless redirect loop stops after 3 redirects', async () => {
    const s = slug();
    await newAccount(t, s);
    const before = server.requests.length;
    server.handle((req, res) => {
      res.writeHead(307, { Location: `${req.url}x` }).end();
    });
    const res = await importUrl(t, s, server.url('/loop'));
    await expectRefused(t, s, res, 'METADATA_FETCH_FAILED', /redirected more than 3 times/);
    expect(server.requests.length - before).toBe(4); // the first request and 3 redirects
  });

  it('an oversized body with an honest Content-Length is refused on the header, before any body arrives', async () => {
    const s = slug();
    await newAccount(t, s);
    server.handle((_req, res) => {
      // The header announces 64 MiB; the body is held back, so only the header can tell.
      res.writeHead(200, { 'Content-Type': 'text/xml', 'Content-Length': String(64 * 1024 * 1024) });
      res.flushHeaders();
    });
    const started = Date.now();
    const res = await importUrl(t, s, server.url('/big'));
    await expectRefused(t, s, res, 'METADATA_TOO_LARGE', /sent more than 512 KiB/);
    expect(Date.now() - started).toBeLessThan(500);
  });

  it('an endless body without Content-Length is cut off at the size limit (not at the time limit)', async () => {
    const s = slug();
    await newAccount(t, s);
    server.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/xml' }); // chunked, no length announced
      res.write('<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x">');
      pumpForever(res, Buffer.from('<!-- padding -->'.repeat(4096)));
    });
    const started = Date.now();
    const res = await importUrl(t, s, server.url('/endless'));
    await expectRefused(t, s, res, 'METADATA_TOO_LARGE', /sent more than 512 KiB/);
    expect(Date.now() - started).toBeLessThan(600);
  });

  it('a lying Content-Length (small, then an endless body) never yields more than it announced', async () => {
    const s = slug();
    await newAccount(t, s);
    server.handle((req) => {
      // Raw bytes on the socket: the header claims 100 bytes, the body never ends.
      const socket = req.socket;
      socket.write('HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: 100\r\n\r\n');
      pumpForever(socket, Buffer.alloc(64 * 1024, 0x41));
    });
    const started = Date.now();
    const res = await importUrl(t, s, server.url('/liar'));
    expect(res.status).toBe(400);
    expect(res.body.error.code).toMatch(/^METADATA_/);
    expect(res.body.error.message).toMatch(/^metadataUrl: http:\/\/localhost:\d+\/liar /);
    expect(Date.now() - started).toBeLessThan(600);
    expect((await request(t.app).get(`/api/accounts/${s}/saml`).set('Authorization', AUTH)).status).toBe(404);
  });

  it('a server that never answers is given up at the time limit', async () => {
    const s = slug();
    await newAccount(t, s);
    server.handle(() => {
      // accept, read, never answer
    });
    const started = Date.now();
    const res = await importUrl(t, s, server.url('/hang'));
    await expectRefused(t, s, res, 'METADATA_FETCH_TIMEOUT', /\/hang did not answer within 600 ms/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('a server that trickles its body byte by byte is given up at the same (total) time limit', async () => {
    const s = slug();
    await newAccount(t, s);
    server.handle((_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/xml' });
      const timer = setInterval(() => (res.destroyed ? clearInterval(timer) : res.write(' ')), 50);
      res.on('close', () => clearInterval(timer));
    });
    const started = Date.now();
    const res = await importUrl(t, s, server.url('/trickle'));
    await expectRefused(t, s, res, 'METADATA_FETCH_TIMEOUT', /did not answer within 600 ms/);
    expect(Date.now() - started).toBeLessThan(3000);
  });

  it('a DOCTYPE with an external entity (XXE) or entity expansion in fetched metadata is refused', async () => {
    for (const doctype of [
      '<!DOCTYPE md:EntityDescriptor [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
      '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>',
    ]) {
      const s = slug();
      await newAccount(t, s);
      const body = goodMetadata
        .replace('<?xml version="1.0" encoding="UTF-8"?>', `<?xml version="1.0" encoding="UTF-8"?>${doctype}`)
        .replace(`entityID="${TEST_TENANT_ISSUER}"`, 'entityID="&xxe;"');
      server.serve(body, 'application/samlmetadata+xml');
      const res = await importUrl(t, s, server.url('/xxe'));
      await expectRefused(t, s, res, 'METADATA_DOCTYPE_FORBIDDEN', /did not return usable IdP metadata/);
      expect(JSON.stringify(res.body)).not.toContain('root:');
    }
  });

  it('a URL that turns hostile after the import: the refresh is checked the same way and the good metadata stays', async () => {
    const s = slug();
    await newAccount(t, s);
    server.serve(goodMetadata);
    await importUrl(t, s, server.url('/later')).expect(200);
    server.handle((_req, res) => {
      res.writeHead(302, { Location: 'https://169.254.169.254/latest/meta-data/' }).end();
    });
    const res = await request(t.app).post(`/api/accounts/${s}/saml/refresh`).set('Authorization', AUTH);
    expect(res.status).toBe(400);
    expect(res.body.error.code).toBe('METADATA_URL_FORBIDDEN');
    const conn = (await request(t.app).get(`/api/accounts/${s}/saml`).set('Authorization', AUTH).expect(200))
      .body;
    expect(conn.certificates).toHaveLength(1);
    expect(conn.idpMetadataRefreshError.code).toBe('METADATA_URL_FORBIDDEN');
  });

  it('credentials or a fragment in the URL, or no URL at all, are refused before any request', async () => {
    const s = slug();
    await newAccount(t, s);
    const before = server.connections;
    for (const [url, message] of [
      [`http://user:pass@localhost:${server.port}/m`, /carries credentials/],
      [`http://localhost:${server.port}/m#x`, /fragment/],
      ['file:///etc/passwd', /is not https/],
      ['gopher://localhost:70/', /is not https/],
      ['not a url', /not an absolute URL/],
      ['', /give the https:\/\/ address/],
    ] as const) {
      const res = await importUrl(t, s, url);
      expect(res.body.error?.code, url).toBe('METADATA_URL_INVALID');
      expect(res.body.error.message, url).toMatch(message);
    }
    expect(server.connections).toBe(before);
  });
});
