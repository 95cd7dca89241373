import 'express-session';

/** What a login session holds. */
export interface SessionUser {
  userId: string;
  accountSlug: string;
  nameId: string;
  email: string | null;
  role: string;
  loginAt: string;
  via: 'sso' | 'password';
}

declare module 'express-session' {
  interface SessionData {
    user?: SessionUser;
  }
}
