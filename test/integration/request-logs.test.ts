/**
 * Request logs: one line per request on the app's logger, the error page's reference as
 * the request id, and no secret in any line — cookies, Authorization, Set-Cookie, SAMLResponse, OAuth
 * code/state, setup-link and test-link tokens — whatever the logger's own redaction (the logger here
 * has none, as a host app's might not).
 */
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { Writable } from 'node:stream';
import express from 'express';
import { pino } from 'pino';
import request from 'supertest';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { redactUrl, requestLog } from '../../src/http/middleware/request-log.js';
import {
  ADMIN_TOKEN,
  createAccountWithIdp,
  postAcs,
  responseFor,
  startSp,
  type TestSp,
} from '../support/harness.js';

interface Line {
  level: number;
  msg: string;
  reqId?: string;
  req?: { id?: string; method?: string; url?: string; headers?: Record<string, unknown> };
  res?: { statusCode?: number; headers?: Record<string, unknown> };
  responseTime?: number;
  [k: string]: unknown;
}

describe('request logs', () => {
  let t: TestSp;
  let raw: string[];
  const lines = () => raw.map((l) => JSON.parse(l) as Line);
  const requestLines = () => lines().filter((l) => l.req !== undefined && l.res !== undefined);

  /** A stream that collects the log lines in `raw`. */
  const sink = () =>
    new Writable({
      write(chunk: Buffer, _enc, cb) {
        raw.push(...chunk.toString().split('\n').filter(Boolean));
        cb();
      },
    });

  beforeEach(async () => {
    raw = [];
    t = await startSp({}, { logger: pino({ level: 'info' }, sink()) });
    await createAccountWithIdp(t, 'acme');
  });
  afterEach(async () => t.close());

  it('logs one line per request with the reference id an error shows as reqId', async () => {
    raw.length = 0;
    const res = await request(t.app).get('/sso/nobody/metadata').set('Accept', 'application/json');
    expect(res.status).toBe(404);
    const ref = res.body.error.referenceId as string;
    expect(ref).toMatch(/^ref_[0-9a-f]{16}$/);
    const line = requestLines().find((l) => l.req?.url === '/sso/nobody/metadata');
    expect(line, raw.join('\n')).toBeDefined();
    expect(line!.req!.id).toBe(ref);
    expect(line!.res!.statusCode).toBe(404);
    expect(line!.responseTime).toBeGreaterThanOrEqual(0);
    // The error handler's own line carries the same reference.
    expect(lines().some((l) => l.referenceId === ref && l.msg === 'request rejected')).toBe(true);
  });

  it('an ACS failure page and the audit trail name the request id of the log line', async () => {
    raw.length = 0;
    const res = await postAcs(t, 'acme', responseFor(t, 'acme', { audience: 'urn:other' }));
    expect(res.body.error.code).toBe('SAML_AUDIENCE_MISMATCH');
    const ref = res.body.error.referenceId as string;
    const line = requestLines().find((l) => l.req?.url === '/sso/acme/acs');
    expect(line?.req?.id).toBe(ref);
    const audit = await request(t.app)
      .get(`/api/accounts/acme/audit/${ref}`)
      .set('Authorization', `Bearer ${ADMIN_TOKEN}`)
      .expect(200);
    expect(audit.body.code).toBe('SAML_AUDIENCE_MISMATCH');
  });

  it('never logs cookies, Authorization, Set-Cookie, the SAMLResponse or OAuth/link secrets', async () => {
    raw.length = 0;
    const samlResponse = responseFor(t, 'acme');
    // A successful sign-in: the response sets the session cookie.
    const ok = await request(t.app)
      .post('/sso/acme/acs?SAMLResponse=QUERYSECRET1&token=QUERYSECRET2')
      .type('form')
      .set('Cookie', 'sspk.sid=COOKIESECRET; other=COOKIESECRET2')
      .set('Authorization', 'Bearer AUTHSECRET-0123456789')
      .send({ SAMLResponse: samlResponse, RelayState: '/after' });
    expect(ok.status).toBe(303);
    const setCookie = (ok.headers['set-cookie'] as unknown as string[]).join(';');
    const sessionValue = /sspk\.sid=([^;]+)/.exec(setCookie)?.[1];
    expect(sessionValue).toBeDefined();
    await request(t.app).get('/sso/acme/oidc/callback?code=OAUTHCODESECRET&state=OAUTHSTATESECRET');
    await request(t.app).get('/setup/SETUPLINKSECRET0123456789');
    await request(t.app).get('/sso/acme/tests/TESTLINKSECRET0123456789');
    // Express routes case-insensitively: the same links in other cases are redacted too.
    await request(t.app).get('/SETUP/SETUPLINKSECRET0123456789');
    await request(t.app).get('/SSO/acme/Tests/TESTLINKSECRET0123456789');
    await request(t.app).get('/api/accounts/acme/saml').set('Authorization', `Bearer ${ADMIN_TOKEN}`);

    const text = raw.join('\n');
    for (const secret of [
      'QUERYSECRET1',
      'QUERYSECRET2',
      'COOKIESECRET',
      'AUTHSECRET',
      sessionValue!,
      samlResponse.slice(0, 40),
      'OAUTHCODESECRET',
      'OAUTHSTATESECRET',
      'SETUPLINKSECRET',
      'TESTLINKSECRET',
      ADMIN_TOKEN,
    ]) {
      expect(text, `${secret} in the log`).not.toContain(secret);
    }
    const urls = requestLines().map((l) => l.req?.url);
    expect(urls).toContain('/sso/acme/acs?SAMLResponse=[redacted]&token=[redacted]');
    expect(urls).toContain('/sso/acme/oidc/callback?code=[redacted]&state=[redacted]');
    expect(urls).toContain('/setup/[redacted]');
    expect(urls).toContain('/sso/acme/tests/[redacted]');
    for (const l of requestLines()) {
      expect(l.req?.headers?.cookie).toBeUndefined();
      expect(l.req?.headers?.authorization).toBeUndefined();
      expect(l.res?.headers?.['set-cookie']).toBeUndefined();
    }
  });

  it('logs a 5xx at error level with the status as err, and a dropped request as aborted', async () => {
    // A request the client gives up on before the answer: the body never arrives.
    const server = t.app.listen(0);
    await new Promise((r) => server.once('listening', r));
    const { port } = server.address() as AddressInfo;
    raw.length = 0;
    const socket = connect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.write(
      'POST /sso/acme/acs HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\nSAMLResponse=',
    );
    await new Promise((r) => setTimeout(r, 100));
    socket.destroy();
    await vi.waitFor(() => expect(requestLines().map((l) => l.msg)).toContain('request aborted'));
    server.close();
    const aborted = requestLines().find((l) => l.msg === 'request aborted')!;
    expect(aborted.req?.url).toBe('/sso/acme/acs');
    expect(aborted.level).toBe(30);

    // The database gone: the sign-in page answers 503, logged as an error with its reference.
    raw.length = 0;
    await t.sp.stores.close();
    const res = await request(t.app).get('/sso/acme/metadata').set('Accept', 'application/json');
    expect(res.status).toBeGreaterThanOrEqual(500);
    const line = requestLines().find((l) => l.req?.url === '/sso/acme/metadata');
    expect(line?.msg).toBe('request errored');
    expect(line?.level).toBe(50);
    expect((line?.err as { message?: string } | undefined)?.message).toBe(
      `failed with status code ${res.status}`,
    );
    expect(line?.req?.id).toBe(res.body.error.referenceId);
  });

  it('logs an error the response stream raises (a write after the end) instead of crashing', async () => {
    const app = express();
    app.use(requestLog(pino({ level: 'info' }, sink())));
    app.get('/late-write', (_req, res) => {
      res.end('done');
      res.write('too late');
    });
    raw.length = 0;
    const res = await request(app).get('/late-write');
    expect(res.text).toBe('done');
    // The answer was complete when Node reported the late write: the request's line, then the error's.
    await vi.waitFor(() => expect(lines().map((l) => l.msg)).toContain('response error'));
    expect(requestLines().map((l) => l.msg)).toEqual(['request completed']);
    const line = lines().find((l) => l.msg === 'response error')!;
    expect(line.level).toBe(50);
    expect((line.err as { code?: string } | undefined)?.code).toBe('ERR_STREAM_WRITE_AFTER_END');
    expect(line.req?.id).toBe(requestLines()[0]?.req?.id);
  });

  it('logs health probes at debug only', async () => {
    raw.length = 0;
    await request(t.app).get('/healthz').expect(200);
    await request(t.app).get('/readyz').expect(200);
    expect(requestLines()).toEqual([]);
  });
});

describe('redactUrl', () => {
  it('replaces secret query values (any case, encoded names) and keeps the rest', () => {
    expect(redactUrl('/x?a=1&STATE=s&Code=c&b')).toBe('/x?a=1&STATE=[redacted]&Code=[redacted]&b');
    expect(redactUrl('/x?SAML%52esponse=abc')).toBe('/x?SAML%52esponse=[redacted]');
    expect(redactUrl('https://idp.example/authorize?client_id=c&state=s&nonce=n#frag')).toBe(
      'https://idp.example/authorize?client_id=c&state=[redacted]&nonce=[redacted]',
    );
    expect(redactUrl('/x'.repeat(400)).length).toBeLessThanOrEqual(256);
  });
});
