import type { Request } from 'express';
import type session from 'express-session';
import { SpError } from '../errors.js';
import type { SessionUser } from './session-user.js';

/** Sessions express-session generated in their request (a new id nobody has seen), not loaded from the store. */
const freshSessions = new WeakSet<object>();

/**
 * Marks the sessions the store's `generate` (which express-session installs on the store when the
 * session middleware is made) creates, so {@link startLoginSession} can tell a session made in this
 * request from one loaded from the store. Call it right after `session({ store })`. Without it every
 * session counts as loaded (and gets a new id at login).
 */
export function markFreshSessions(store: session.Store): void {
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
export async function startLoginSession(req: Request, user: Omit<SessionUser, 'loginAt'>): Promise<void> {
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
