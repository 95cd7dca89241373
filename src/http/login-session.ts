import type { Request } from 'express';
import type session from 'express-session';
import { SpError } from '../errors.js';
import type { SessionUser } from './session-user.js';

/** Sessions express-session generated in their request (a new id nobody has seen), not loaded from the store. */
const freshSessions = new WeakSet<object>();
/** express-session's `proxy` setting, per session store (see {@link markFreshSessions}). */
const proxyOf = new WeakMap<object, boolean | undefined>();

/**
 * Whether express-session takes `req` to have come over https, as it decides before it sets a Secure
 * cookie (it sets none otherwise, without a word): a TLS socket; else, unless `proxy` is false, the
 * first X-Forwarded-Proto (`proxy` true) or Express's `req.secure` (its "trust proxy").
 */
function arrivedOverHttps(req: Request, proxy: boolean | undefined): boolean {
  if ((req.socket as { encrypted?: boolean }).encrypted === true) return true;
  if (proxy === false) return false;
  if (proxy !== true) return req.secure;
  const header = req.headers['x-forwarded-proto'];
  const first = (Array.isArray(header) ? header[0] : header)?.split(',')[0];
  return first?.trim().toLowerCase() === 'https';
}

/**
 * Marks the sessions the store's `generate` (which express-session installs on the store when the
 * session middleware is made) creates, so {@link startLoginSession} can tell a session made in this
 * request from one loaded from the store. Call it right after `session({ store })`. Without it every
 * session counts as loaded (and gets a new id at login).
 */
export function markFreshSessions(store: session.Store, opts: { proxy?: boolean } = {}): void {
  proxyOf.set(store, opts.proxy);
  const withGenerate = store as session.Store & { generate?: (req: Request) => void };
  const generate = withGenerate.generate;
  if (typeof generate !== 'function') return;
  withGenerate.generate = function (this: unknown, req: Request) {
    generate.call(this, req);
    freshSessions.add(req.session);
  };
}

/**
 * Starts a logged-in session: a NEW session id (a session id planted before login must not become a
 * logged-in one: session fixation), the user, and a save before the redirect. A store failure is a
 * 503 and leaves no session.
 *
 * A session express-session generated in this very request (the usual ACS post: the session cookie is
 * SameSite=Lax, so a cross-site POST carries none) already has a new id, known to nobody but this
 * server: it is used as it is, emptied like a regenerated one. Regenerating it would delete a row that
 * does not exist and make express-session save the session a second time at the end of the response
 * (it does not track saves of a regenerated session): two more writes per login.
 */
/**
 * On an https site the session cookie is Secure: over what looks like plain http express-session would
 * set none, and a sign-in would seem to work and leave the user signed out. HTTPS_REQUIRED instead.
 * Checked when a sign-in has passed every other check, so that an invalid one still gets its own
 * error; what it used up (the assertion, the request or transaction) is used up, as on any failure.
 */
export function assertHttpsSignIn(req: Request): void {
  const error = httpsSignInError(req);
  if (error) throw error;
}

/** The HTTPS_REQUIRED error {@link assertHttpsSignIn} would throw for `req`, or null. */
export function httpsSignInError(req: Request): SpError | null {
  if (req.session?.cookie.secure !== true || arrivedOverHttps(req, proxyOf.get(req.sessionStore)))
    return null;
  const proto = req.headers['x-forwarded-proto'];
  return new SpError('HTTPS_REQUIRED', {
    detail: `request over http, X-Forwarded-Proto ${proto === undefined ? 'absent' : JSON.stringify(String(proto).slice(0, 16))}`,
  });
}

export async function startLoginSession(req: Request, user: Omit<SessionUser, 'loginAt'>): Promise<void> {
  assertHttpsSignIn(req);
  try {
    if (freshSessions.has(req.session)) {
      const data = req.session as unknown as Record<string, unknown>;
      for (const key of Object.keys(data)) if (key !== 'cookie') delete data[key];
    } else {
      await new Promise<void>((resolve, reject) =>
        req.session.regenerate((err) => (err ? reject(err as Error) : resolve())),
      );
    }
    req.session.user = { ...user, loginAt: new Date().toISOString() };
    await new Promise<void>((resolve, reject) =>
      req.session.save((err) => (err ? reject(err as Error) : resolve())),
    );
  } catch (err) {
    throw new SpError('STORE_UNAVAILABLE', { cause: err, detail: 'session could not be saved' });
  }
}
