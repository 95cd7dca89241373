/**
 * The ACS form reader (src/http/sso/acs-form.ts) against express.urlencoded, which it replaces: the
 * same bodies, over HTTP, to both; the fields and errors must be the same (the SAMLResponse compared
 * without white space, which decodeSamlResponse drops either way). The bodies are IdP-shaped forms and
 * thousands of seeded mutations of them: escapes, brackets, `]=`, `+`, line breaks, non-ASCII bytes,
 * a BOM, repeated and extra fields, too many fields, over the size limit, charsets, gzip.
 */
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { request as httpRequest } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import express, { type NextFunction, type Request, type Response } from 'express';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acsForm, fastParse } from '../../src/http/sso/acs-form.js';

const LIMIT = 4096;
let server: Server;
let origin: string;

beforeAll(async () => {
  const app = express();
  const answer = (req: Request, res: Response) => res.json({ body: req.body as unknown });
  const failed = (
    err: { status?: number; type?: string },
    _req: Request,
    res: Response,
    _next: NextFunction,
  ) => res.status(err.status ?? 500).json({ error: { status: err.status, type: err.type } });
  app.post(
    '/urlencoded',
    express.urlencoded({ extended: false, limit: LIMIT, parameterLimit: 10 }),
    answer,
    failed,
  );
  app.post('/acs-form', ...acsForm({ limit: LIMIT, parameterLimit: 10 }), answer, failed);
  server = app.listen(0, '127.0.0.1');
  await once(server, 'listening');
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

interface Case {
  body: Buffer;
  contentType: string;
  encoding?: string;
}

type Answer = { status: number; json: { body?: unknown; error?: unknown } };

async function post(path: string, c: Case): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': c.contentType };
  if (c.encoding) headers['content-encoding'] = c.encoding;
  const res = await fetch(`${origin}${path}`, {
    method: 'POST',
    headers,
    body: c.encoding === 'gzip' ? gzipSync(c.body) : c.body,
  });
  return { status: res.status, json: (await res.json()) as Answer['json'] };
}

/** What the ACS makes of an answer: the SAMLResponse without white space (when a string), the rest as is. */
function asTheAcsSeesIt(a: Answer): Answer {
  const body = a.json.body as Record<string, unknown> | undefined;
  if (!body || typeof body.SAMLResponse !== 'string') return a;
  return { ...a, json: { body: { ...body, SAMLResponse: body.SAMLResponse.replace(/[\r\n\t ]+/g, '') } } };
}

async function expectSame(c: Case): Promise<void> {
  const [expected, got] = await Promise.all([post('/urlencoded', c), post('/acs-form', c)]);
  expect(asTheAcsSeesIt(got), `body ${JSON.stringify(c.body.toString('latin1'))} (${c.contentType})`).toEqual(
    asTheAcsSeesIt(expected),
  );
}

/** A base64 SAMLResponse form field as a browser posts it (every `+`, `/` and `=` escaped). */
const browserEncoded = (bytes: Buffer) => encodeURIComponent(bytes.toString('base64'));
const FORM = 'application/x-www-form-urlencoded';

/** Deterministic, so that a failure names a body that fails again. */
function prng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const TOKENS = [
  '%',
  '%2',
  '%2B',
  '%2b',
  '%2F',
  '%2f',
  '%3D',
  '%3d',
  '%41',
  '%5B',
  '%5D',
  '%5b',
  '%5d',
  '%26',
  '%3C',
  '[',
  ']',
  ']=',
  '[]',
  '[]=',
  '=',
  '&',
  '&&',
  '+',
  ' ',
  '\t',
  '\r\n',
  '%0D%0A',
  '%0a',
  '%09',
  '%20',
  '%C3%A9',
  '%E2%9C%93',
  '%FF',
  '%C3',
  '\u00e9',
  '\u2028',
  'SAMLResponse=',
  'RelayState=',
  'SAML%52esponse=',
  'Relay%53tate=',
  'utf8=%E2%9C%93&',
  '__proto__=x&',
  'SAMLResponse[]=',
  'SAMLResponse[0]=',
  'a=1&',
  '/',
  '==',
];

function mutate(seed: string, rand: () => number): Buffer {
  let text = seed;
  const edits = 1 + Math.floor(rand() * 3);
  for (let e = 0; e < edits; e++) {
    const at = Math.floor(rand() * (text.length + 1));
    const op = rand();
    if (op < 0.6) text = text.slice(0, at) + TOKENS[Math.floor(rand() * TOKENS.length)]! + text.slice(at);
    else if (op < 0.8) text = text.slice(0, at) + text.slice(at + 1 + Math.floor(rand() * 4));
    else if (op < 0.9) text = text + '&' + text.slice(at);
    else text = 'a=1&'.repeat(Math.floor(rand() * 12)) + text;
  }
  // Non-ASCII tokens go out as their UTF-8 bytes; sometimes a BOM first.
  const bytes = Buffer.from(text, 'utf8');
  return rand() < 0.03 ? Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), bytes]) : bytes;
}

describe('the ACS form reader', () => {
  it('takes the fast path for the bodies IdPs post, with what express.urlencoded gives', async () => {
    const xml = Buffer.from('<samlp:Response xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol"/>');
    const b64 = xml.toString('base64');
    const wrapped = b64.replace(/.{1,16}/g, '$&\r\n');
    const bodies = [
      `SAMLResponse=${browserEncoded(xml)}`,
      `SAMLResponse=${browserEncoded(xml)}&RelayState=%2Fdashboard%3Ftab%3D1`,
      `RelayState=/app+home&SAMLResponse=${browserEncoded(xml)}`,
      `SAMLResponse=${encodeURIComponent(b64).replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase())}`,
      `SAMLResponse=${encodeURIComponent(wrapped)}&RelayState=`,
      `SAMLResponse=${b64.replace(/\+/g, '%2B')}`,
      'SAMLResponse=',
    ];
    for (const body of bodies) {
      const fields = fastParse(Buffer.from(body));
      expect(fields, body).not.toBeNull();
      await expectSame({ body: Buffer.from(body), contentType: FORM });
    }
    expect(fastParse(Buffer.from(`SAMLResponse=${browserEncoded(xml)}`))).toEqual({ SAMLResponse: b64 });
  });

  it('leaves every other body to the slow path', () => {
    for (const body of [
      'RelayState=%2F',
      'SAMLResponse=QUJD&SAMLResponse=REVG',
      'SAMLResponse=QUJD&RelayState=a&RelayState=b',
      'SAMLResponse=QUJD&x=1',
      'SAMLResponse=QUJD&',
      'SAMLResponse=QU%4',
      'SAMLResponse=QU%C3%A9',
      'SAMLResponse=QU%26',
      'SAMLResponse=QUJD&RelayState=a]=b',
      'SAMLResponse=QUJD&RelayState=%5D',
      'SAMLResponse[]=QUJD',
      'SAML%52esponse=QUJD',
      '\u00e9SAMLResponse=QUJD',
    ]) {
      expect(fastParse(Buffer.from(body)), body).toBeNull();
    }
  });

  it('gives what express.urlencoded gives on 3,000 mutated bodies', async () => {
    const rand = prng(20261126);
    const seeds = Array.from({ length: 8 }, (_, i) => {
      const xml = randomBytes(10 + i * 7);
      return [
        `SAMLResponse=${browserEncoded(xml)}`,
        `SAMLResponse=${browserEncoded(xml)}&RelayState=%2Fhome`,
        `RelayState=x&SAMLResponse=${encodeURIComponent(xml.toString('base64').replace(/.{1,8}/g, '$&\n'))}`,
      ];
    }).flat();
    const charsets = [
      '',
      '; charset=utf-8',
      '; charset=UTF-8',
      '; charset="utf-8"',
      '; charset=iso-8859-1',
      '; charset=latin1',
      '; charset=',
    ];
    let fast = 0;
    for (let i = 0; i < 3000; i++) {
      const body = mutate(seeds[i % seeds.length]!, rand);
      const charset = rand() < 0.8 ? '' : charsets[Math.floor(rand() * charsets.length)]!;
      if (charset === '' && fastParse(body) !== null) fast += 1;
      await expectSame({ body, contentType: FORM + charset, ...(rand() < 0.02 ? { encoding: 'gzip' } : {}) });
    }
    // The mutations reach both paths.
    expect(fast).toBeGreaterThan(300);
    expect(fast).toBeLessThan(2700);
  });

  it('gives what express.urlencoded gives on hand-made requests: chunked, encoded, odd headers, odd bytes', async () => {
    /** The raw answer to a request written in `chunks` (a pause between them), headers as given. */
    const send = (path: string, headers: Record<string, string>, chunks: Buffer[]) =>
      new Promise<string>((resolve, reject) => {
        const req = httpRequest(`${origin}${path}`, { method: 'POST', headers }, (res) => {
          let data = '';
          res.on('data', (c: Buffer) => (data += c.toString()));
          res.on('end', () => resolve(`${res.statusCode} ${data}`));
        });
        req.on('error', reject);
        void (async () => {
          for (const c of chunks) {
            req.write(c);
            await new Promise((r) => setTimeout(r, 2));
          }
          req.end();
        })();
      });
    const compacted = (answer: string) =>
      answer.replace(
        /"SAMLResponse":"([^"]*)"/,
        (_m, v: string) => `"SAMLResponse":"${v.replace(/\\[rnt]| /g, '')}"`,
      );
    const b = (s: string) => Buffer.from(s, 'latin1');
    const big = 'SAMLResponse=' + 'QUJD'.repeat(2000);
    const cases: [string, Record<string, string>, Buffer[]][] = [
      ['no content type', {}, [b('SAMLResponse=QUJD')]],
      [
        'chunked',
        { 'content-type': FORM, 'transfer-encoding': 'chunked' },
        [b('SAMLResp'), b('onse=QU'), b('JD&RelayState=%E2'), b('%82%AC')],
      ],
      [
        'type and charset in capitals',
        { 'content-type': 'Application/X-WWW-Form-URLENCODED;Charset=UTF-8' },
        [b('SAMLResponse=QUJD')],
      ],
      [
        'ISO-8859-1',
        { 'content-type': `${FORM}; charset=ISO-8859-1` },
        [b('SAMLResponse=QUJD&RelayState=%E9\xe9')],
      ],
      [
        'two charsets',
        { 'content-type': `${FORM}; charset=koi8-r; charset=utf-8` },
        [b('SAMLResponse=QUJD')],
      ],
      [
        'charset quoted with a space',
        { 'content-type': `${FORM}; charset=" utf-8"` },
        [b('SAMLResponse=QUJD')],
      ],
      [
        'deflate',
        { 'content-type': FORM, 'content-encoding': 'deflate' },
        [deflateSync(b('SAMLResponse=QUJD&RelayState=x'))],
      ],
      [
        'brotli',
        { 'content-type': FORM, 'content-encoding': 'BR' },
        [brotliCompressSync(b('SAMLResponse=QUJD'))],
      ],
      [
        'over the limit once inflated',
        { 'content-type': FORM, 'content-encoding': 'gzip' },
        [gzipSync(b(big))],
      ],
      ['corrupt gzip', { 'content-type': FORM, 'content-encoding': 'gzip' }, [b('xxxxxxxx')]],
      [
        'gzip, then junk',
        { 'content-type': FORM, 'content-encoding': 'gzip' },
        [Buffer.concat([gzipSync(b('SAMLResponse=QUJD')), b('junk')])],
      ],
      [
        'two encodings',
        { 'content-type': FORM, 'content-encoding': 'gzip, identity' },
        [b('SAMLResponse=QUJD')],
      ],
      ['exactly the limit', { 'content-type': FORM }, [b(big.slice(0, LIMIT))]],
      ['one byte over', { 'content-type': FORM }, [b(big.slice(0, LIMIT + 1))]],
      ['no body, bad charset', { 'content-type': `${FORM};charset=x`, 'content-length': '0' }, []],
      [
        'invalid UTF-8 bytes',
        { 'content-type': FORM },
        [b('SAMLResponse=QU\xff\xe2\x82JD&RelayState=a\xe2b')],
      ],
      [
        'UTF-8 split across chunks',
        { 'content-type': FORM },
        [b('SAMLResponse=QUJD&RelayState=a\xe2'), b('\x82'), b('\xac')],
      ],
      [
        'BOM split across chunks',
        { 'content-type': FORM },
        [b('\xef\xbb'), b('\xbf'), b('SAMLResponse=QUJD')],
      ],
      [
        '%00, VT, FF, NUL',
        { 'content-type': FORM },
        [b('SAMLResponse=QU%00J\x0bD\x0c%0B%A0&RelayState=a\x00b')],
      ],
      ['base64url', { 'content-type': FORM }, [b('SAMLResponse=QU-_JD')]],
      [
        'prototype keys',
        { 'content-type': FORM },
        [b('__proto__=1&SAMLResponse=QUJD&constructor=2&toString=3')],
      ],
      [
        'bracketed keys',
        { 'content-type': FORM },
        [b('[__proto__]=1&SAMLResponse=QUJD&[SAMLResponse]=x&SAMLResponse[0]=y')],
      ],
      [
        'lone surrogate escapes',
        { 'content-type': FORM },
        [b('SAMLResponse=QUJD&RelayState=%ED%A0%80%F0%9F%98%80')],
      ],
      ['lower-case key', { 'content-type': FORM }, [b('samlresponse=QUJD')]],
      [
        'plus signs and escapes',
        { 'content-type': FORM },
        [b('SAMLResponse=QU%2bJD%2B&RelayState=a+b%2B%20c')],
      ],
      ['10 and 11 parameters', { 'content-type': FORM }, [b(`SAMLResponse=QUJD${'&'.repeat(10)}`)]],
      ['a type that only starts like a form', { 'content-type': `${FORM}x` }, [b('SAMLResponse=QUJD')]],
    ];
    for (const [name, headers, chunks] of cases) {
      const h = { ...headers };
      if (!h['transfer-encoding'] && !h['content-length'])
        h['content-length'] = String(Buffer.concat(chunks).length);
      const expected = await send('/urlencoded', h, chunks);
      expect(compacted(await send('/acs-form', h, chunks)), name).toBe(compacted(expected));
    }
  });

  it('refuses what express.urlencoded refuses, with the same error', async () => {
    const cases: Case[] = [
      { body: Buffer.from('a=1&'.repeat(10) + 'SAMLResponse=QUJD'), contentType: FORM },
      { body: Buffer.from(`SAMLResponse=${'QUJD'.repeat(LIMIT / 4)}`), contentType: FORM },
      { body: Buffer.from('SAMLResponse=QUJD'), contentType: `${FORM}; charset=koi8-r` },
      { body: Buffer.from('SAMLResponse=QUJD'), contentType: FORM, encoding: 'br-nonsense' },
      { body: Buffer.from('SAMLResponse=QUJD'), contentType: 'text/plain' },
      { body: Buffer.from(''), contentType: FORM },
    ];
    for (const c of cases) await expectSame(c);
    const tooMany = await post('/acs-form', cases[0]!);
    expect(tooMany).toEqual({ status: 413, json: { error: { status: 413, type: 'parameters.too.many' } } });
  });
});
