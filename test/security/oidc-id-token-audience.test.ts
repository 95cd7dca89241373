/**
 * An ID token issued to another client of the same provider (token substitution: a malicious app that
 * the victim signed in to replays the victim's token here). OpenID Connect Core 1.0 §3.1.3.7 step 3.
 */
import { describeForgery, genuineClaims, sign } from './oidc-support.js';

describeForgery('OIDC: ID token for another audience', [
  {
    name: 'aud of another client',
    answer: { idToken: (ctx) => sign({ ...genuineClaims(ctx), aud: 'some-other-client' }) },
    code: 'OIDC_ID_TOKEN_AUDIENCE_MISMATCH',
  },
  {
    name: 'aud listing another client first with azp of it',
    answer: {
      idToken: (ctx) =>
        sign({ ...genuineClaims(ctx), aud: ['some-other-client', ctx.clientId], azp: 'some-other-client' }),
    },
    code: 'OIDC_ID_TOKEN_AUDIENCE_MISMATCH',
  },
]);
