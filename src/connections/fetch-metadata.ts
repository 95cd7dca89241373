/**
 * Fetches IdP metadata from a URL an admin gave (Auth0: `https://TENANT.auth0.com/samlp/metadata/CLIENT_ID`)
 * without letting that URL reach anything else (SSRF):
 *
 * - `https:` only; `http:` only for a loopback host (`localhost`, `127.0.0.1`, `[::1]`) outside production;
 * - every address the host name resolves to must be public: private (RFC 1918), loopback, link-local
 *   (169.254.0.0/16: cloud metadata services), unique-local, CGNAT, multicast, unspecified, reserved and
 *   documentation ranges are refused, also in their IPv4-mapped / IPv4-compatible IPv6 forms. Outside
 *   production a loopback host may reach loopback addresses (a local IdP during development);
 * - the connection is pinned to the address that was checked (the request's `lookup` hands back only
 *   checked addresses), and the socket's peer address is checked again once connected, so DNS
 *   rebinding between check and connect gains nothing;
 * - redirects are followed at most {@link MAX_REDIRECTS} times, each hop checked like the first;
 * - one time limit for the whole fetch (all hops, headers and body) and a size limit, enforced on the
 *   bytes received whatever Content-Length claims;
 * - the Content-Type is not trusted: the body goes to the strict metadata parser, which refuses DOCTYPEs.
 *
 * Every refusal is an {@link SpError} whose message names the URL and what the admin can fix.
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import http from 'node:http';
import https from 'node:https';
import { isIP, type LookupFunction, type Socket } from 'node:net';
import { SpError, type ErrorCode } from '../errors.js';

/** How many redirects are followed before giving up. */
export const MAX_REDIRECTS = 3;
/** Default time limit of one fetch (every hop included). */
export const DEFAULT_FETCH_TIMEOUT_MS = 10_000;
/** Default size limit of a metadata document (the limit of an uploaded one). */
export const DEFAULT_MAX_METADATA_BYTES = 512 * 1024;
const MAX_URL_LENGTH = 2048;

/** Host names that may use plain http and reach loopback addresses outside production. */
export const LOCAL_HOSTS: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '[::1]']);

/** Options of {@link fetchMetadata}. */
export interface FetchMetadataOptions {
  /** `NODE_ENV=production`: no plain http, no loopback, even for a loopback host. */
  production: boolean;
  /** Time limit for the whole fetch, redirects included. */
  timeoutMs?: number;
  /** Largest body accepted. */
  maxBytes?: number;
  /** Aborts the fetch (e.g. on shutdown). */
  signal?: AbortSignal;
}

/** What kind of address an IP is; anything but `public` is refused (loopback: see above). */
export type AddressKind =
  | 'public'
  | 'loopback'
  | 'private'
  | 'link-local'
  | 'unique-local'
  | 'cgnat'
  | 'multicast'
  | 'unspecified'
  | 'reserved';

const V4_RANGES: readonly [string, number, AddressKind][] = [
  ['0.0.0.0', 8, 'unspecified'],
  ['10.0.0.0', 8, 'private'],
  ['100.64.0.0', 10, 'cgnat'],
  ['127.0.0.0', 8, 'loopback'],
  ['169.254.0.0', 16, 'link-local'],
  ['172.16.0.0', 12, 'private'],
  ['192.0.0.0', 24, 'reserved'],
  ['192.0.2.0', 24, 'reserved'],
  ['192.88.99.0', 24, 'reserved'],
  ['192.168.0.0', 16, 'private'],
  ['198.18.0.0', 15, 'reserved'],
  ['198.51.100.0', 24, 'reserved'],
  ['203.0.113.0', 24, 'reserved'],
  ['224.0.0.0', 4, 'multicast'],
  ['240.0.0.0', 4, 'reserved'],
];

function v4ToInt(ip: string): number {
  return ip.split('.').reduce((n, part) => n * 256 + Number(part), 0);
}

function classifyV4(ip: string): AddressKind {
  const n = v4ToInt(ip);
  for (const [base, bits, kind] of V4_RANGES) {
    const size = 2 ** (32 - bits);
    const start = v4ToInt(base);
    if (n >= start && n < start + size) return kind;
  }
  return 'public';
}

/** The 8 16-bit groups of an IPv6 address (a trailing dotted IPv4 part included). */
function v6Groups(ip: string): number[] {
  let text = ip.replace(/%.*$/, '').toLowerCase();
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (dotted) {
    const n = v4ToInt(dotted[1]!);
    text = `${text.slice(0, -dotted[1]!.length)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') : [text, null];
  const parse = (s: string | undefined) => (s ? s.split(':').map((g) => parseInt(g, 16)) : []);
  const h = parse(head);
  if (tail === null) return h;
  const t = parse(tail);
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

function classifyV6(ip: string): AddressKind {
  const g = v6Groups(ip);
  if (g.length !== 8 || g.some((x) => !Number.isInteger(x) || x < 0 || x > 0xffff)) return 'reserved';
  const embeddedV4 = () => `${g[6]! >> 8}.${g[6]! & 0xff}.${g[7]! >> 8}.${g[7]! & 0xff}`;
  const zeroUpTo = (n: number) => g.slice(0, n).every((x) => x === 0);
  if (zeroUpTo(8)) return 'unspecified';
  if (zeroUpTo(7) && g[7] === 1) return 'loopback';
  // ::ffff:a.b.c.d (IPv4-mapped), ::a.b.c.d (IPv4-compatible), ::ffff:0:a.b.c.d (IPv4-translated):
  // the IPv4 address inside decides.
  if (zeroUpTo(5) && g[5] === 0xffff) return classifyV4(embeddedV4());
  if (zeroUpTo(6)) return classifyV4(embeddedV4());
  if (zeroUpTo(4) && g[4] === 0xffff && g[5] === 0) return classifyV4(embeddedV4());
  // NAT64 (64:ff9b::/96) reaches the IPv4 address inside.
  if (g[0] === 0x64 && g[1] === 0xff9b && g.slice(2, 6).every((x) => x === 0))
    return classifyV4(embeddedV4());
  // 6to4 (2002::/16) carries an IPv4 address in bits 16..47.
  if (g[0] === 0x2002) {
    const v4 = `${g[1]! >> 8}.${g[1]! & 0xff}.${g[2]! >> 8}.${g[2]! & 0xff}`;
    const kind = classifyV4(v4);
    if (kind !== 'public') return kind;
  }
  const first = g[0]!;
  if ((first & 0xffc0) === 0xfe80) return 'link-local';
  if ((first & 0xffc0) === 0xfec0) return 'private'; // site-local (deprecated)
  if ((first & 0xfe00) === 0xfc00) return 'unique-local';
  if ((first & 0xff00) === 0xff00) return 'multicast';
  if (first === 0x2001 && g[1] === 0x0db8) return 'reserved'; // documentation
  if (first === 0x0100 && g.slice(1, 4).every((x) => x === 0)) return 'reserved'; // discard
  // Teredo (2001::/32) and other 2001:0000::/23 special-purpose space.
  if (first === 0x2001 && g[1]! < 0x0200) return 'reserved';
  if ((first & 0xe000) !== 0x2000) return 'reserved'; // outside global unicast 2000::/3
  return 'public';
}

/** Classifies an IP address (v4, or v6 in any notation). Not an IP at all: `reserved`. */
export function classifyAddress(ip: string): AddressKind {
  const bare = ip.startsWith('[') && ip.endsWith(']') ? ip.slice(1, -1) : ip;
  const family = isIP(bare);
  if (family === 4) return classifyV4(bare);
  if (family === 6) return classifyV6(bare);
  return 'reserved';
}

/** How a refused address kind is named in messages. */
export const KIND_TEXT: Record<Exclude<AddressKind, 'public'>, string> = {
  loopback: 'a loopback address',
  private: 'a private address',
  'link-local': 'a link-local address (such as a cloud metadata service)',
  'unique-local': 'a unique-local (private) IPv6 address',
  cgnat: 'a carrier-grade NAT (shared) address',
  multicast: 'a multicast address',
  unspecified: 'an unspecified address',
  reserved: 'a reserved or special-purpose address',
};

function fail(code: ErrorCode, url: string, what: string, detail?: string): SpError {
  return new SpError(code, {
    message: `metadataUrl: ${url.slice(0, 700)} ${what}`,
    detail: detail ?? what,
  });
}

/** Is `ip` an address this fetch may connect to? Null when it is; else the refused kind. */
export function addressAllowed(ip: string, loopbackOk: boolean): Exclude<AddressKind, 'public'> | null {
  const kind = classifyAddress(ip);
  if (kind === 'public' || (kind === 'loopback' && loopbackOk)) return null;
  return kind;
}

/**
 * Validates a metadata URL's form (not where it leads): absolute, `https:` (or `http:` for a loopback
 * host outside production), no credentials, no fragment, at most 2048 characters.
 */
export function validateMetadataUrl(value: unknown, production: boolean): URL {
  if (typeof value !== 'string' || value.trim() === '' || value.length > MAX_URL_LENGTH) {
    throw new SpError('METADATA_URL_INVALID', {
      message: 'metadataUrl: give the https:// address of the IdP metadata (at most 2048 characters).',
    });
  }
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch (err) {
    throw new SpError('METADATA_URL_INVALID', {
      cause: err,
      message: `metadataUrl: ${value.slice(0, 300)} is not an absolute URL.`,
    });
  }
  const shown = url.toString();
  const localHost = LOCAL_HOSTS.has(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && localHost && !production)) {
    throw fail(
      'METADATA_URL_INVALID',
      shown,
      `is not https://: the IdP metadata must be fetched over https${production ? '' : ' (http:// is allowed for localhost only, outside production)'}.`,
    );
  }
  if (url.username || url.password) throw fail('METADATA_URL_INVALID', shown, 'carries credentials.');
  if (url.hash) throw fail('METADATA_URL_INVALID', shown, 'has a #fragment.');
  return url;
}

/** A `lookup` for http(s).request that only ever yields checked addresses (pinning the connection). */
function checkedLookup(
  errors: RequestErrors,
  loopbackOk: boolean,
  refusal: { error: Error | null },
): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { all: true, family: options.family ?? 0 }, (err, addresses: LookupAddress[]) => {
      if (err) {
        refusal.error = errors.failed(`cannot be reached: ${hostname} does not resolve.`, err.message);
        callback(err, '', 0);
        return;
      }
      for (const a of addresses) {
        const bad = addressAllowed(a.address, loopbackOk);
        if (bad) {
          refusal.error = errors.forbidden(
            `resolves to ${KIND_TEXT[bad]} (${a.address}): only public addresses may be fetched.`,
          );
          const e = Object.assign(new Error(`refused address ${a.address}`), { code: 'EADDRREFUSED' });
          callback(e, '', 0);
          return;
        }
      }
      if (addresses.length === 0) {
        const e = Object.assign(new Error('no address'), { code: 'ENOTFOUND' });
        refusal.error = errors.failed(`cannot be reached: ${hostname} has no address.`);
        callback(e, '', 0);
        return;
      }
      if ((options as { all?: boolean }).all) {
        (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
      } else {
        callback(null, addresses[0]!.address, addresses[0]!.family);
      }
    });
  };
}

/** How a pinned request words its refusals (each names the URL the caller was given). */
export interface RequestErrors {
  /** The address is not a public one. */
  forbidden(what: string): Error;
  /** Unreachable, refused, reset, malformed. */
  failed(what: string, detail?: string): Error;
  /** The body is over the size limit. */
  tooLarge(): Error;
}

/** The answer of one pinned request. `body` is null for a redirect, and for other statuses unless asked. */
export interface PinnedResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  location: string | null;
  body: Buffer | null;
}

/** Options of {@link pinnedRequest}. */
export interface PinnedRequestOptions {
  production: boolean;
  maxBytes: number;
  signal: AbortSignal;
  errors: RequestErrors;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  /** Read the body of non-2xx answers too (an OAuth error response is JSON on a 400). */
  readEveryBody?: boolean;
}

/**
 * One request, no redirect following, under the address rules above: a literal address is checked
 * before any connection, a name is resolved by a lookup that only hands back checked addresses (the
 * connection is pinned to them), and the peer is checked again once connected. The body is read up to
 * `maxBytes`, whatever Content-Length says.
 */
export function pinnedRequest(url: URL, opts: PinnedRequestOptions): Promise<PinnedResponse> {
  const { errors } = opts;
  const localHost = LOCAL_HOSTS.has(url.hostname);
  const loopbackOk = !opts.production && localHost;
  const literal = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  if (isIP(literal) !== 0) {
    const bad = addressAllowed(literal, loopbackOk);
    if (bad) {
      return Promise.reject(errors.forbidden(`is ${KIND_TEXT[bad]}: only public addresses may be fetched.`));
    }
  }
  const refusal: { error: Error | null } = { error: null };
  return new Promise<PinnedResponse>((resolve, reject) => {
    let settled = false;
    const done = (err: unknown, hop?: PinnedResponse) => {
      if (settled) return;
      settled = true;
      opts.signal.removeEventListener('abort', onAbort);
      if (err) reject(err instanceof Error ? err : new Error('fetch aborted'));
      else resolve(hop!);
    };
    const client = url.protocol === 'https:' ? https : http;
    const req = client.request(url, {
      method: opts.method ?? 'GET',
      headers: opts.headers ?? {},
      lookup: checkedLookup(errors, loopbackOk, refusal),
      agent: false,
      // A name, not an address, is what the certificate must match (the URL's host).
      servername: isIP(literal) === 0 ? url.hostname : undefined,
    });
    const onAbort = () => {
      req.destroy();
      done(opts.signal.reason);
    };
    if (opts.signal.aborted) {
      onAbort();
      return;
    }
    opts.signal.addEventListener('abort', onAbort, { once: true });
    // The peer actually connected to, checked again (whatever resolved it).
    req.on('socket', (socket: Socket) => {
      const check = () => {
        const peer = socket.remoteAddress;
        const bad = peer === undefined ? ('reserved' as const) : addressAllowed(peer, loopbackOk);
        if (bad) {
          refusal.error = errors.forbidden(
            `connected to ${KIND_TEXT[bad]} (${peer ?? 'unknown'}): only public addresses may be fetched.`,
          );
          req.destroy(refusal.error);
        }
      };
      if (socket.remoteAddress) check();
      else socket.once('connect', check);
    });
    req.on('error', (err: Error & { code?: string }) => {
      if (refusal.error) return done(refusal.error);
      if (opts.signal.aborted) return done(opts.signal.reason);
      const why =
        err.code === 'ECONNREFUSED'
          ? 'refused the connection'
          : err.code === 'ECONNRESET'
            ? 'closed the connection'
            : err.code?.startsWith('HPE_')
              ? 'sent a malformed HTTP response (a body longer than its Content-Length?)'
              : /CERT|SSL|TLS|SELF_SIGNED/i.test(err.code ?? err.message)
                ? `has no valid TLS certificate for ${url.hostname}`
                : `cannot be reached (${err.code ?? 'network error'})`;
      done(errors.failed(`${why}.`, err.message));
    });
    req.on('response', (res) => {
      const status = res.statusCode ?? 0;
      const headers = res.headers;
      if (status >= 300 && status < 400) {
        const location = typeof res.headers.location === 'string' ? res.headers.location : null;
        res.resume();
        req.destroy();
        done(null, { status, headers, location, body: null });
        return;
      }
      if ((status < 200 || status >= 300) && !opts.readEveryBody) {
        res.resume();
        req.destroy();
        done(null, { status, headers, location: null, body: null });
        return;
      }
      const declared = Number(res.headers['content-length']);
      if (Number.isFinite(declared) && declared > opts.maxBytes) {
        req.destroy();
        done(errors.tooLarge());
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > opts.maxBytes) {
          req.destroy();
          done(errors.tooLarge());
          return;
        }
        chunks.push(chunk);
      });
      res.on('end', () => done(null, { status, headers, location: null, body: Buffer.concat(chunks) }));
      res.on('error', (err) => done(errors.failed('broke off while sending.', err.message)));
      res.on('aborted', () => done(errors.failed('broke off while sending.')));
    });
    if (opts.body !== undefined) req.write(opts.body);
    req.end();
  });
}

/** The metadata fetch's wording of a pinned request's refusals. */
function metadataErrors(shown: string, maxBytes: number): RequestErrors {
  return {
    forbidden: (what) => fail('METADATA_URL_FORBIDDEN', shown, what),
    failed: (what, detail) => fail('METADATA_FETCH_FAILED', shown, what, detail),
    tooLarge: () =>
      fail(
        'METADATA_TOO_LARGE',
        shown,
        `sent more than ${Math.round(maxBytes / 1024)} KiB: that is no IdP metadata document.`,
      ),
  };
}

/**
 * Fetches the metadata document at `rawUrl` under the rules above and returns it as text (UTF-8).
 * Throws an {@link SpError}: METADATA_URL_INVALID, METADATA_URL_FORBIDDEN, METADATA_FETCH_FAILED,
 * METADATA_FETCH_TIMEOUT or METADATA_TOO_LARGE.
 */
export async function fetchMetadata(rawUrl: string, options: FetchMetadataOptions): Promise<string> {
  const first = validateMetadataUrl(rawUrl, options.production);
  const timeoutMs = options.timeoutMs ?? DEFAULT_FETCH_TIMEOUT_MS;
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_METADATA_BYTES;
  const controller = new AbortController();
  const timeoutError = fail(
    'METADATA_FETCH_TIMEOUT',
    first.toString(),
    `did not answer within ${timeoutMs >= 1000 ? `${timeoutMs / 1000} seconds` : `${timeoutMs} ms`}.`,
  );
  const timer = setTimeout(() => controller.abort(timeoutError), timeoutMs);
  const outer = options.signal;
  const onOuterAbort = () => controller.abort(outer?.reason);
  outer?.addEventListener('abort', onOuterAbort, { once: true });
  // Outside production, loopback (and plain http) is for a URL the admin gave as loopback: a public URL
  // must not redirect the fetch to this machine's own services.
  const strict = options.production || !LOCAL_HOSTS.has(first.hostname);
  try {
    let url = first;
    for (let hop = 0; ; hop++) {
      // Messages name the URL the admin gave, and the hop that failed.
      const shown =
        hop === 0 ? first.toString() : `${first.toString()} (redirected to ${url.toString().slice(0, 300)})`;
      const res = await pinnedRequest(url, {
        production: strict,
        maxBytes,
        signal: controller.signal,
        errors: metadataErrors(shown, maxBytes),
        headers: { Accept: 'application/samlmetadata+xml, application/xml, text/xml;q=0.9, */*;q=0.1' },
      });
      if (res.body) return res.body.toString('utf8');
      if (res.status >= 300 && res.status < 400) {
        if (!res.location)
          throw fail('METADATA_FETCH_FAILED', shown, `answered ${res.status} without a Location.`);
        if (hop >= MAX_REDIRECTS) {
          throw fail(
            'METADATA_FETCH_FAILED',
            first.toString(),
            `redirected more than ${MAX_REDIRECTS} times.`,
          );
        }
        let next: URL;
        try {
          next = new URL(res.location, url);
        } catch {
          throw fail('METADATA_FETCH_FAILED', shown, `redirected to an invalid URL.`);
        }
        // Every hop is checked like the first (scheme here, addresses in pinnedRequest).
        try {
          url = validateMetadataUrl(next.toString(), strict);
        } catch (err) {
          throw fail(
            'METADATA_URL_FORBIDDEN',
            shown,
            `redirected to ${next.toString().slice(0, 300)}, which is not allowed: ${(err as Error).message.replace(/^metadataUrl: \S+ /, '')}`,
          );
        }
        continue;
      }
      throw fail(
        'METADATA_FETCH_FAILED',
        shown,
        `answered ${res.status}${res.status === 404 ? ' (not found): check the tenant and client ID in the URL' : ''}.`,
      );
    }
  } catch (err) {
    if (controller.signal.aborted && controller.signal.reason === timeoutError) throw timeoutError;
    throw err;
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', onOuterAbort);
  }
}
