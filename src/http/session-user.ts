import 'express-session';

/** What a login session holds. */
export interface SessionUser {
  userId: string;
  accountSlug: string;
  nameId: string;
  email: string | null;
  role: string;
  loginAt: string;
  via: 'sso' | 'password' | 'setup-link';
  /** For `via: 'sso'` through an OAuth 2.0 / OIDC connection (absent: SAML); `nameId` is then the `sub`. */
  protocol?: 'oidc';
  /** For `via: 'setup-link'`: the link that opened the session (revoking it ends the session). */
  setupLinkId?: string;
}

declare module 'express-session' {
  interface SessionData {
    user?: SessionUser;
  }
}
