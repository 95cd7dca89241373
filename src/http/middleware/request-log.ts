import type { RequestHandler } from 'express';
import type { Logger } from 'pino';
import { newReferenceId } from '../../audit/trail.js';

/**
 * Query parameters whose values are credentials or one-time secrets (SAML messages, OAuth codes,
 * state, tokens): their values never reach a log line. Compared case-insensitively.
 */
const SECRET_PARAMS = new Set([
  'samlresponse',
  'samlrequest',
  'relaystate',
  'code',
  'state',
  'nonce',
  'token',
  'id_token',
  'access_token',
  'refresh_token',
  'client_secret',
  'code_verifier',
]);

/** Path segments that are bearer secrets: `/setup/:token` (setup links), `/sso/:slug/tests/:token`. */
// Case-insensitive like Express's routing: /SETUP/<token> reaches the same route.
const SECRET_PATHS = [/(\/setup\/)[^/?#]+/i, /(\/sso\/[^/?#]+\/tests\/)[^/?#]+/i];

const REDACTED = '[redacted]';
/** Bound of a logged URL or header value: they carry whatever a client put in them (a 16 KB slug). */
const MAX_LOGGED = 256;

/** Request headers worth a log line; everything else (Cookie, Authorization, …) is left out. */
const REQUEST_HEADERS = ['host', 'user-agent', 'content-type', 'content-length', 'accept', 'referer'];
/** Response headers worth a log line; Set-Cookie never is. */
const RESPONSE_HEADERS = ['content-type', 'content-length', 'location'];

/**
 * A URL (absolute or a path with query) with the values of secret query parameters and secret path
 * segments replaced by `[redacted]`; bounded, since the path carries whatever a client put in it.
 */
export function redactUrl(url: string): string {
  const at = url.search(/[?#]/);
  let path = at >= 0 ? url.slice(0, at) : url;
  const rest = at >= 0 ? url.slice(at) : '';
  for (const re of SECRET_PATHS) path = path.replace(re, `$1${REDACTED}`);
  let query = '';
  if (rest.startsWith('?')) {
    const hash = rest.indexOf('#');
    const raw = hash >= 0 ? rest.slice(1, hash) : rest.slice(1);
    query = `?${raw
      .split('&')
      .map((pair) => {
        const eq = pair.indexOf('=');
        const name = eq >= 0 ? pair.slice(0, eq) : pair;
        let decoded = name;
        try {
          decoded = decodeURIComponent(name.replace(/\+/g, ' '));
        } catch {
          // an undecodable name is logged as sent
        }
        return eq >= 0 && SECRET_PARAMS.has(decoded.toLowerCase()) ? `${name}=${REDACTED}` : pair;
      })
      .join('&')}`;
  }
  const out = path + query;
  return out.length > MAX_LOGGED ? `${out.slice(0, MAX_LOGGED - 1)}…` : out;
}

function pick(headers: Record<string, unknown> | undefined, names: readonly string[]) {
  const out: Record<string, unknown> = {};
  for (const name of names) {
    const value = headers?.[name];
    if (value === undefined) continue;
    if (typeof value !== 'string') out[name] = value;
    else if (name === 'referer' || name === 'location') out[name] = redactUrl(value);
    else out[name] = value.length > MAX_LOGGED ? `${value.slice(0, MAX_LOGGED - 1)}…` : value;
  }
  return out;
}

const PROBES = /\/(?:healthz|readyz|metrics)$/;

/**
 * One log line per request on the app's logger, written when the response has been sent (or the
 * connection closed first: "request aborted"), with the request's reference id — the `ref_…` an error
 * page and a JSON error show, and the audit trail stores — as `req.id`, so a user's reference finds
 * the request's line. The id is put in `res.locals.referenceId` for the routes and the error handler.
 *
 * The line keeps the shape it had when pino-http wrote it (`req`, `res`, `responseTime`, "request
 * completed"; `err` and "request errored" for a 5xx), written with one call on the app's logger:
 * pino-http made a child logger per request and serialized the request into it, about 4 % of a
 * login's CPU (measured with `npm run bench`'s profile), for a line built here from a few fields.
 *
 * Serialized by allow-list, whatever the logger's own redaction: no body, no Cookie, Authorization or
 * Set-Cookie header, and the values of SAMLResponse, code, state, token (…) parameters and of secret
 * path segments replaced. Health probes and metric scrapes log at `debug`.
 */
export function requestLog(logger: Logger): RequestHandler {
  return (req, res, next) => {
    const started = Date.now();
    const id = newReferenceId();
    res.locals.referenceId = id;
    let logged = false;
    const written = (err?: unknown) => {
      logged = true;
      res.off('finish', written);
      res.off('close', written);
      const url = req.originalUrl;
      const status = res.statusCode;
      const failed = err !== undefined || status >= 500;
      const level = PROBES.test(url.split('?')[0] ?? '') ? 'debug' : failed ? 'error' : 'info';
      if (!logger.isLevelEnabled(level)) return;
      const line = {
        req: {
          id,
          method: req.method,
          url: redactUrl(url),
          headers: pick(req.headers, REQUEST_HEADERS),
          remoteAddress: req.socket.remoteAddress,
        },
        res: { statusCode: status, headers: pick(res.getHeaders(), RESPONSE_HEADERS) },
        responseTime: Date.now() - started,
      };
      if (failed) {
        const error = err ?? new Error(`failed with status code ${status}`);
        logger[level]({ ...line, err: error }, 'request errored');
      } else {
        logger[level](
          line,
          !req.readableAborted && res.writableEnded ? 'request completed' : 'request aborted',
        );
      }
    };
    res.on('finish', written);
    res.on('close', written);
    // An error the response stream raises (a write after its end, which Node reports after the
    // answer has finished) is logged, not thrown: with no listener it would be an uncaught exception
    // and end the worker. Before the line, it is the line's error; after it, a line of its own.
    res.on('error', (err: unknown) => {
      if (!logged) written(err);
      else
        logger.error(
          { err, req: { id, method: req.method, url: redactUrl(req.originalUrl) } },
          'response error',
        );
    });
    next();
  };
}
