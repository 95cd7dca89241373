import type { Request } from 'express';
import { SpError } from '../errors.js';
import type { SessionUser } from './session-user.js';

/**
 * Starts a logged-in session: a NEW session id (a session id planted before login must not become a
 * logged-in one: session fixation), the user, and a save before the redirect. A store failure is a
 * 503 and leaves no session.
 */
export async function startLoginSession(req: Request, user: Omit<SessionUser, 'loginAt'>): Promise<void> {
  try {
    await new Promise<void>((resolve, reject) =>
      req.session.regenerate((err) => (err ? reject(err as Error) : resolve())),
    );
    req.session.user = { ...user, loginAt: new Date().toISOString() };
    await new Promise<void>((resolve, reject) =>
      req.session.save((err) => (err ? reject(err as Error) : resolve())),
    );
  } catch (err) {
    throw new SpError('STORE_UNAVAILABLE', { cause: err, detail: 'session could not be saved' });
  }
}
