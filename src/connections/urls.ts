/** The SP's per-account URLs. Entity ID and ACS differ per account, so an assertion for one account never fits another. */
export interface SpUrls {
  spEntityId: string;
  acsUrl: string;
  metadataUrl: string;
  loginUrl: string;
}

/** Builds the per-account URLs from the public base URL. */
export function spUrls(baseUrl: string, slug: string): SpUrls {
  const base = `${baseUrl}/sso/${encodeURIComponent(slug)}`;
  return {
    spEntityId: `${base}/metadata`,
    acsUrl: `${base}/acs`,
    metadataUrl: `${base}/metadata`,
    loginUrl: `${base}/login`,
  };
}
