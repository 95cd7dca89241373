import express from 'express';
import session from 'express-session';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { markFreshSessions, startLoginSession } from '../../src/http/login-session.js';

/** A memory store that counts its writes. */
class CountingStore extends session.MemoryStore {
  sets: string[] = [];
  destroys: string[] = [];
  override set(sid: string, sess: session.SessionData, cb?: (err?: unknown) => void): void {
    this.sets.push(sid);
    super.set(sid, sess, cb);
  }
  override destroy(sid: string, cb?: (err?: unknown) => void): void {
    this.destroys.push(sid);
    super.destroy(sid, cb);
  }
}

const USER = {
  userId: 'u1',
  accountSlug: 'acme',
  nameId: 'n1',
  email: null,
  role: 'member',
  via: 'sso' as const,
};

function app(opts: { mark: boolean }) {
  const store = new CountingStore();
  const a = express();
  a.use(
    session({
      name: 'sid',
      secret: 'x'.repeat(32),
      store,
      resave: false,
      saveUninitialized: false,
      rolling: true,
    }),
  );
  if (opts.mark) markFreshSessions(store);
  a.post('/seed', (req, res) => {
    (req.session as unknown as Record<string, unknown>).planted = 'yes';
    req.session.save(() => res.sendStatus(204));
  });
  a.post('/login', (req, res, next) => {
    if (req.query.stale) (req.session as unknown as Record<string, unknown>).stale = 'yes';
    startLoginSession(req, USER).then(() => res.redirect(303, '/'), next);
  });
  a.get('/who', (req, res) => {
    res.json({ sid: req.sessionID, session: req.session });
  });
  return { app: a, store };
}

const sidOf = (res: request.Response): string => {
  const cookies: string[] = [res.headers['set-cookie'] ?? []].flat();
  return cookies.find((c) => c.startsWith('sid='))!.split(';')[0]!;
};

describe('startLoginSession', () => {
  it('a session made in the request is saved once: no regenerate (no delete, no second save)', async () => {
    const { app: a, store } = app({ mark: true });
    const res = await request(a).post('/login').expect(303);
    expect(store.destroys).toEqual([]);
    expect(store.sets).toHaveLength(1);
    const who = await request(a).get('/who').set('Cookie', sidOf(res)).expect(200);
    expect(who.body.session.user).toMatchObject(USER);
  });

  it('a session made in the request keeps nothing set before the login (like a regenerated one)', async () => {
    const { app: a } = app({ mark: true });
    const res = await request(a).post('/login?stale=1').expect(303);
    const who = await request(a).get('/who').set('Cookie', sidOf(res)).expect(200);
    expect(who.body.session.stale).toBeUndefined();
    expect(who.body.session.user).toMatchObject(USER);
  });

  it('a session loaded from the store gets a new id, the old one deleted, nothing carried over', async () => {
    for (const mark of [true, false]) {
      const { app: a, store } = app({ mark });
      const planted = sidOf(await request(a).post('/seed').expect(204));
      const res = await request(a).post('/login').set('Cookie', planted).expect(303);
      const fresh = sidOf(res);
      expect(fresh).not.toBe(planted);
      expect(store.destroys).toHaveLength(1);
      const old = await request(a).get('/who').set('Cookie', planted).expect(200);
      expect(old.body.session.user).toBeUndefined();
      expect(old.body.session.planted).toBeUndefined();
      const who = await request(a).get('/who').set('Cookie', fresh).expect(200);
      expect(who.body.session.planted).toBeUndefined();
      expect(who.body.session.user).toMatchObject(USER);
    }
  });

  it('an unknown session id in the cookie is never taken on', async () => {
    const { app: a } = app({ mark: true });
    const planted = sidOf(await request(a).post('/seed').expect(204));
    const other = app({ mark: true }); // a store that does not know the id
    const res = await request(other.app).post('/login').set('Cookie', planted).expect(303);
    expect(sidOf(res)).not.toBe(planted);
  });

  it('without the marks every session is regenerated', async () => {
    const { app: a, store } = app({ mark: false });
    await request(a).post('/login').expect(303);
    expect(store.destroys).toHaveLength(1);
    // express-session does not track the explicit save of a regenerated session: it saves it again.
    expect(store.sets).toHaveLength(2);
  });
});
