/**
 * A real OpenID provider on loopback for the tests: oidc-provider 8.x configured like an Auth0 tenant.
 *
 * - issuer `http://127.0.0.1:PORT/` (with the trailing slash Auth0 issuers have);
 * - a confidential "Regular Web Application" (`client_secret_basic`) and a public "Single Page
 *   Application" (`token_endpoint_auth_method: none`); PKCE S256 required for both;
 * - ID tokens carry the scope claims (as Auth0's do), including `email_verified` and a namespaced
 *   custom `https://example.com/groups` claim; userinfo answers with the same claims;
 * - consent is pre-granted (first-party applications), so a sign-in is: authorize, the dev login form,
 *   back to the redirect URI. {@link OidcRig.signIn} drives it without a browser, with a cookie jar.
 *
 * It signs with test/fixtures/idp.key (kid `rig-1`). Claims are per user and can change per test.
 */
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider, { type ProviderContext } from 'oidc-provider';

export const GROUPS_CLAIM = 'https://example.com/groups';
export const WEB_CLIENT = { clientId: 'web-app-client', clientSecret: 'web-app-secret-0123456789abcdef' };
export const SPA_CLIENT = { clientId: 'spa-client' };

/** A private JWK of a PEM key from test/fixtures/. */
export function fixtureJwk(name: string, kid: string): Record<string, unknown> {
  const pem = readFileSync(new URL(`../fixtures/${name}.key`, import.meta.url), 'utf8');
  return { ...createPrivateKey(pem).export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' };
}

/** A running provider. */
export interface OidcRig {
  /** `http://127.0.0.1:PORT/` */
  issuer: string;
  /** Sets the claims of a user (merged over the defaults: email verified, a name, groups). */
  setUser(sub: string, claims: Record<string, unknown>): void;
  /**
   * Follows an authorization URL like a browser with no session at the provider: signs `sub` in at
   * the login form (or cancels it: `access_denied`) and returns the URL the provider redirects back to.
   */
  signIn(authorizationUrl: string, sub: string, opts?: { cancel?: boolean }): Promise<URL>;
  close(): Promise<void>;
}

type Jar = Map<string, string>;

async function step(url: string, jar: Jar, init: RequestInit = {}): Promise<Response> {
  const headers = new Headers(init.headers);
  if (jar.size > 0) headers.set('cookie', [...jar].map(([k, v]) => `${k}=${v}`).join('; '));
  const res = await fetch(url, { ...init, headers, redirect: 'manual' });
  for (const c of res.headers.getSetCookie()) {
    const [pair] = c.split(';');
    const at = pair!.indexOf('=');
    const name = pair!.slice(0, at);
    const value = pair!.slice(at + 1);
    if (value === '' || /expires=Thu, 01 Jan 1970/i.test(c)) jar.delete(name);
    else jar.set(name, value);
  }
  return res;
}

/** Starts the provider. `redirectUris`: the SP callback URLs the two clients allow. */
export async function startOidcRig(redirectUris: string[]): Promise<OidcRig> {
  const users = new Map<string, Record<string, unknown>>();
  let provider: Provider | null = null;
  const server: Server = createServer((req, res) => {
    if (!provider) {
      res.statusCode = 503;
      res.end();
      return;
    }
    provider.callback()(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  const claimsOf = (sub: string) => ({
    sub,
    email: `${sub.replace(/\W/g, '.')}@example.com`,
    email_verified: true,
    name: `User ${sub}`,
    [GROUPS_CLAIM]: ['staff'],
    ...users.get(sub),
  });
  provider = new Provider(issuer, {
    clients: [
      {
        client_id: WEB_CLIENT.clientId,
        client_secret: WEB_CLIENT.clientSecret,
        redirect_uris: redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      },
      {
        client_id: SPA_CLIENT.clientId,
        redirect_uris: redirectUris,
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'none',
      },
    ],
    jwks: { keys: [fixtureJwk('idp', 'rig-1')] },
    cookies: { keys: ['oidc-rig-cookie-key-0123456789'] },
    pkce: { required: () => true, methods: ['S256'] },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name', GROUPS_CLAIM],
    },
    // Like Auth0: the ID token carries the claims of the requested scopes.
    conformIdTokenClaims: false,
    features: { devInteractions: { enabled: true } },
    findAccount: (_ctx: unknown, sub: string) => ({
      accountId: sub,
      claims: () => claimsOf(sub),
    }),
    // First-party applications: consent is given, as for an Auth0 application of the tenant.
    loadExistingGrant: async (ctx: ProviderContext) => {
      const existing =
        ctx.oidc.result?.consent?.grantId ?? ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
      if (existing) return ctx.oidc.provider.Grant.find(existing);
      const grant = new ctx.oidc.provider.Grant({
        clientId: ctx.oidc.client.clientId,
        accountId: ctx.oidc.session.accountId,
      });
      grant.addOIDCScope('openid email profile');
      grant.addOIDCClaims(['email', 'email_verified', 'name', GROUPS_CLAIM]);
      await grant.save();
      return grant;
    },
  });
  // The provider logs its dev-only warnings once; the tests know.
  return {
    issuer,
    setUser: (sub, claims) => users.set(sub, claims),
    async signIn(authorizationUrl, sub, opts = {}) {
      const jar: Jar = new Map();
      let res = await step(authorizationUrl, jar);
      let location = res.headers.get('location');
      if (!location) throw new Error(`authorization: ${res.status} ${await res.text()}`);
      const interaction = new URL(location, issuer);
      if (!/^\/interaction\//.test(interaction.pathname)) return interaction;
      res = opts.cancel
        ? await step(new URL(`${interaction.pathname}/abort`, issuer).href, jar)
        : await step(interaction.href, jar, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams({ prompt: 'login', login: sub, password: 'x' }).toString(),
          });
      // Back through the authorization endpoint (resume) to the redirect URI.
      for (let i = 0; i < 5; i++) {
        location = res.headers.get('location');
        if (!location) throw new Error(`interaction: ${res.status} ${await res.text()}`);
        const next = new URL(location, issuer);
        if (next.origin !== new URL(issuer).origin) return next;
        res = await step(next.href, jar);
      }
      throw new Error('too many redirects at the provider');
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
