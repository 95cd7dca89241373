import { isAscii } from 'node:buffer';
import * as contentType from 'content-type';
import express, { type NextFunction, type Request, type RequestHandler, type Response } from 'express';
import iconv from 'iconv-lite';
import qs from 'qs';

/**
 * The ACS's form body (`application/x-www-form-urlencoded`): what `express.urlencoded({ extended:
 * false, parameterLimit })` gives, field for field and error for error, at a fraction of its cost on
 * the bodies IdPs post.
 *
 * Why not express.urlencoded itself: it decodes the whole body to a string, splits it, then runs
 * every value through `decodeURIComponent` (qs). A SAMLResponse is 8 KB of base64 on a login and up to
 * MAX_SAML_RESPONSE_BYTES in a hostile post; that decoding was the largest cost of refusing a 240 KB
 * body (a login's 11 KB form costs about the same either way). Here the body is read as bytes (express.raw: the same
 * limit, Content-Encoding and errors), and a body of the shape every IdP posts (`SAMLResponse=` and
 * at most one `RelayState=`, ASCII, utf-8) is decoded in one pass over its bytes. Any other body (an
 * escape outside base64's, a bracket, a repeated or unknown field, another charset, non-ASCII bytes)
 * takes the slow path: decoded as body-parser decodes it (iconv-lite) and parsed by qs with the
 * options body-parser passes it. The fast path only decides the bodies whose parse it knows
 * exactly; test/unit/acs-form.test.ts holds both paths to express.urlencoded on mutated bodies.
 *
 * The SAMLResponse of the fast path comes out without the white space (spaces, `+`, line breaks) a
 * MIME-wrapped base64 may carry: decodeSamlResponse drops it anyway, and the fast path has already
 * checked that every other character is base64's.
 */
export function acsForm(opts: { limit: number; parameterLimit: number }): RequestHandler[] {
  const raw = express.raw({ type: FORM, limit: opts.limit });
  return [
    // body-parser refuses a charset other than these two before reading the body (415).
    (req: Request, res: Response, next: NextFunction) => {
      const charset = formCharset(req);
      res.locals.formCharset = charset ?? 'utf-8';
      next(charset === null || CHARSETS.has(charset) ? undefined : unsupportedCharset(charset));
    },
    raw,
    (req: Request, res: Response, next: NextFunction) => {
      if (!Buffer.isBuffer(req.body)) return next();
      try {
        req.body = parseForm(req.body, res.locals.formCharset as string, opts.parameterLimit);
        next();
      } catch (err) {
        next(err);
      }
    },
  ];
}

const FORM = 'application/x-www-form-urlencoded';
const CHARSETS = new Set(['utf-8', 'iso-8859-1']);

/** The charset of a form body (lower case), as body-parser reads it; null when the request has none (or no form body). */
function formCharset(req: Request): string | null {
  const header = req.headers['content-type'];
  if (!header || !req.is(FORM)) return null;
  return contentType.parse(header).parameters.charset?.toLowerCase() || null;
}

interface HttpError extends Error {
  status: number;
  type: string;
}

function httpError(status: number, message: string, type: string): HttpError {
  return Object.assign(new Error(message), { status, type });
}

const unsupportedCharset = (charset: string) =>
  httpError(415, `unsupported charset "${charset.toUpperCase()}"`, 'charset.unsupported');

/** Parameters in the body (`&`-separated parts), counting up to `limit` + 1 at most. */
function parameterCount(body: Buffer, limit: number): number {
  let count = 0;
  let at = -1;
  do {
    count += 1;
    if (count > limit) return count;
    at = body.indexOf(AMPERSAND, at + 1);
  } while (at !== -1);
  return count;
}

const AMPERSAND = 0x26;
const PERCENT = 0x25;
const PLUS = 0x2b;

/** The form's fields, as express.urlencoded({ extended: false }) would give them. */
function parseForm(body: Buffer, charset: string, parameterLimit: number): Record<string, unknown> {
  if (body.length === 0) return {};
  const count = parameterCount(body, parameterLimit);
  if (count > parameterLimit) throw httpError(413, 'too many parameters', 'parameters.too.many');
  return (charset === 'utf-8' && fastParse(body)) || slowParse(body, charset, count, parameterLimit);
}

/** body-parser's decoding and qs's parse, with the options body-parser gives it for `extended: false`. */
function slowParse(
  body: Buffer,
  charset: string,
  count: number,
  parameterLimit: number,
): Record<string, unknown> {
  try {
    return qs.parse(iconv.decode(body, charset), {
      allowPrototypes: true,
      arrayLimit: count,
      depth: 0,
      charset: charset as 'utf-8' | 'iso-8859-1',
      parameterLimit,
      strictDepth: true,
    });
  } catch (err) {
    if (err instanceof RangeError)
      throw httpError(400, 'The input exceeded the depth', 'querystring.parse.rangeError');
    throw err;
  }
}

const SAML_RESPONSE = Buffer.from('SAMLResponse=');
const RELAY_STATE = Buffer.from('RelayState=');

/**
 * The fields of a body made of `SAMLResponse=…` and at most one `RelayState=…` (either order), all
 * ASCII; null for any other body. The SAMLResponse must decode to base64 and white space only;
 * RelayState may hold any escape but brackets (qs reads `%5B` and `%5D` as brackets before it splits,
 * and a `]=` moves the split).
 */
export function fastParse(body: Buffer): Record<string, unknown> | null {
  if (!isAscii(body)) return null;
  let samlResponse: string | null = null;
  let relayState: string | null = null;
  let start = 0;
  while (start <= body.length) {
    let end = body.indexOf(AMPERSAND, start);
    if (end === -1) end = body.length;
    if (samlResponse === null && startsWith(body, start, end, SAML_RESPONSE)) {
      samlResponse = compactBase64(body, start + SAML_RESPONSE.length, end);
      if (samlResponse === null) return null;
    } else if (relayState === null && startsWith(body, start, end, RELAY_STATE)) {
      relayState = body.toString('latin1', start + RELAY_STATE.length, end);
      if (/[[\]]|%5[bd]/i.test(relayState)) return null;
      relayState = decodeValue(relayState);
    } else {
      return null;
    }
    start = end + 1;
  }
  if (samlResponse === null) return null;
  return relayState === null
    ? { SAMLResponse: samlResponse }
    : { SAMLResponse: samlResponse, RelayState: relayState };
}

function startsWith(body: Buffer, start: number, end: number, prefix: Buffer): boolean {
  return (
    end - start >= prefix.length && body.compare(prefix, 0, prefix.length, start, start + prefix.length) === 0
  );
}

/** qs's decoding of a utf-8 value: `+` is a space, then percent-decoding; an invalid escape leaves the text as it is. */
function decodeValue(text: string): string {
  const withSpaces = text.includes('+') ? text.replace(/\+/g, ' ') : text;
  if (!withSpaces.includes('%')) return withSpaces;
  try {
    return decodeURIComponent(withSpaces);
  } catch {
    return withSpaces;
  }
}

/** Byte → what it is in a SAMLResponse value: base64's own characters, white space, or neither. */
const KEEP = 1;
const SPACE = 2;
const KIND = new Uint8Array(256);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789/=')
  KIND[c.charCodeAt(0)] = KEEP;
// `+` is a space in a form body (base64's plus comes escaped, %2B). White space, raw or escaped, is
// dropped here, as decodeSamlResponse would drop it.
for (const c of [PLUS, 0x20, 0x09, 0x0a, 0x0d]) KIND[c] = SPACE;
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 16; i++) {
  HEX['0123456789abcdef'.charCodeAt(i)] = i;
  HEX['0123456789ABCDEF'.charCodeAt(i)] = i;
}

/**
 * The SAMLResponse value in body[from, to), percent-decoded with its white space dropped, when it
 * decodes to base64 characters and white space only; null otherwise (the slow path decides).
 */
function compactBase64(body: Buffer, from: number, to: number): string | null {
  const out = Buffer.allocUnsafe(to - from);
  let o = 0;
  for (let i = from; i < to; i++) {
    let c = body[i]!;
    if (c === PERCENT) {
      if (i + 2 >= to) return null;
      const hi = HEX[body[i + 1]!]!;
      const lo = HEX[body[i + 2]!]!;
      if (hi < 0 || lo < 0) return null;
      c = (hi << 4) | lo;
      i += 2;
      // An escaped plus is base64's; an escaped character of any other kind than these is for the slow path.
      if (c === PLUS) {
        out[o++] = c;
        continue;
      }
      if (c > 0x7f) return null;
    }
    const kind = KIND[c]!;
    if (kind === KEEP) out[o++] = c;
    else if (kind !== SPACE) return null;
  }
  return out.toString('latin1', 0, o);
}
