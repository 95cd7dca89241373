/**
 * The HTTP client of OpenID Connect connections: discovery, JWKS, token and userinfo requests go to URLs
 * an admin gave (or a discovery document named), so they obey the metadata URL's SSRF rules
 * (src/connections/fetch-metadata.ts): public addresses only (loopback for a loopback host outside
 * production), checked before connecting and on the address connected to, the connection pinned to
 * the checked address, no redirect followed, a size and a time limit. openid-client uses it through its
 * `customFetch` hook (src/oidc/client.ts takes it as a plain function and knows no network rules).
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { SpError } from '../errors.js';
import type { ProviderFetch } from '../oidc/client.js';
import {
  addressAllowed,
  KIND_TEXT,
  LOCAL_HOSTS,
  pinnedRequest,
  type RequestErrors,
} from './fetch-metadata.js';

/** Largest answer accepted from a provider (discovery document, JWKS, token or userinfo response). */
export const MAX_OIDC_RESPONSE_BYTES = 256 * 1024;

function errorsFor(url: string, maxBytes: number): RequestErrors {
  const shown = url.slice(0, 700);
  const network = (what: string, detail?: string) =>
    // Shaped like fetch()'s network failure (a TypeError with a coded cause), which the protocol layer
    // reports as an unreachable provider.
    Object.assign(new TypeError(`${shown} ${what}`), {
      cause: Object.assign(new Error(detail ?? what), { code: what.replace(/\.$/, '') }),
    });
  return {
    forbidden: (what) =>
      new SpError('OIDC_URL_FORBIDDEN', {
        message: `${shown} ${what}`,
        detail: `${shown} ${what}`,
        received: shown,
      }),
    failed: network,
    tooLarge: () => network(`sent more than ${Math.round(maxBytes / 1024)} KiB.`),
  };
}

/**
 * A `customFetch` for openid-client under the rules above. `production`: no loopback, no plain http
 * (the scheme itself is checked by openid-client and by the URL validation of the connection).
 */
export function oidcFetch(opts: {
  production: boolean;
  timeoutMs: number;
  maxBytes?: number;
}): ProviderFetch {
  const maxBytes = opts.maxBytes ?? MAX_OIDC_RESPONSE_BYTES;
  return async (rawUrl, init) => {
    const url = new URL(rawUrl);
    const signals = [AbortSignal.timeout(opts.timeoutMs), ...(init.signal ? [init.signal] : [])];
    const headers: Record<string, string> = { ...init.headers };
    let body: string | undefined;
    if (init.body instanceof URLSearchParams) {
      body = init.body.toString();
      if (!Object.keys(headers).some((h) => h.toLowerCase() === 'content-type')) {
        headers['content-type'] = 'application/x-www-form-urlencoded;charset=UTF-8';
      }
    } else if (typeof init.body === 'string') {
      body = init.body;
    }
    if (body !== undefined) headers['content-length'] = String(Buffer.byteLength(body));
    const res = await pinnedRequest(url, {
      production: opts.production,
      maxBytes,
      signal: AbortSignal.any(signals),
      errors: errorsFor(url.href, maxBytes),
      method: init.method === 'POST' ? 'POST' : 'GET',
      headers,
      ...(body !== undefined ? { body } : {}),
      readEveryBody: true,
    });
    const out = new Headers();
    for (const [k, v] of Object.entries(res.headers)) {
      if (Array.isArray(v)) for (const x of v) out.append(k, x);
      else if (v !== undefined) out.set(k, v);
    }
    if (res.location !== null) out.set('location', res.location);
    // Response() refuses a body on 204/304 and statuses outside 200..599.
    const status = res.status >= 200 && res.status <= 599 ? res.status : 502;
    const noBody = status === 204 || status === 304 || (status >= 300 && status < 400);
    return new Response(noBody ? null : new Uint8Array(res.body ?? Buffer.alloc(0)), {
      status,
      headers: out,
    });
  };
}

/**
 * Checks, at configuration time, that a URL this server will fetch (issuer, token, JWKS, userinfo
 * endpoint) leads to allowed addresses only: a literal address directly, a name by resolving it. A name
 * that does not resolve now is left to the sign-in (which refuses it then, like any address).
 */
export async function checkOidcFetchTarget(field: string, value: string, production: boolean): Promise<void> {
  const url = new URL(value);
  const loopbackOk = !production && LOCAL_HOSTS.has(url.hostname);
  const literal = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  let addresses: string[];
  if (isIP(literal) !== 0) addresses = [literal];
  else {
    try {
      addresses = (await lookup(literal, { all: true })).map((a) => a.address);
    } catch {
      return;
    }
  }
  for (const address of addresses) {
    const bad = addressAllowed(address, loopbackOk);
    if (bad) {
      const what = `${field}: ${url.href.slice(0, 700)} ${isIP(literal) !== 0 ? 'is' : `resolves to`} ${KIND_TEXT[bad]}${isIP(literal) !== 0 ? '' : ` (${address})`}: only public addresses may be fetched.`;
      throw new SpError('OIDC_URL_FORBIDDEN', { message: what, detail: what, received: url.href });
    }
  }
}
