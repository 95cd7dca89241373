/** The SP's per-account URLs. Entity ID and ACS differ per account, so an assertion for one account never fits another. */
export interface SpUrls {
  spEntityId: string;
  acsUrl: string;
  metadataUrl: string;
  loginUrl: string;
  /** Where an OAuth 2.0 / OIDC sign-in starts. */
  oidcLoginUrl: string;
  /** The OIDC redirect URI (Auth0: "Allowed Callback URLs"). */
  oidcCallbackUrl: string;
}

/** Builds the per-account URLs from the public base URL. */
export function spUrls(baseUrl: string, slug: string): SpUrls {
  const base = `${baseUrl}/sso/${encodeURIComponent(slug)}`;
  return {
    spEntityId: `${base}/metadata`,
    acsUrl: `${base}/acs`,
    metadataUrl: `${base}/metadata`,
    loginUrl: `${base}/login`,
    oidcLoginUrl: `${base}/oidc/login`,
    oidcCallbackUrl: `${base}/oidc/callback`,
  };
}
