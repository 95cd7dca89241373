import { randomBytes } from 'node:crypto';
import { SAML } from '@node-saml/node-saml';
import { nodeSamlOptions, type SamlContext } from './options.js';

/** A signed HTTP-Redirect AuthnRequest. */
export interface LoginRedirect {
  /** Where to send the browser: the IdP SSO URL with SAMLRequest, RelayState, SigAlg and Signature. */
  url: string;
  /** The AuthnRequest ID, to be stored and matched against InResponseTo. */
  requestId: string;
}

/** Builds a signed AuthnRequest (HTTP-Redirect binding) with a fresh unguessable ID. */
export async function buildLoginRedirect(
  ctx: SamlContext,
  relayState: string,
  opts: { test?: boolean } = {},
): Promise<LoginRedirect> {
  // A test sign-in's request ID starts with `_t`, a login's with `_` and a hex digit: the ACS tells
  // the two apart without a store lookup for every login.
  const requestId = `_${opts.test ? 't' : ''}${randomBytes(20).toString('hex')}`;
  const saml = new SAML(nodeSamlOptions(ctx, { generateUniqueId: () => requestId }));
  const url = await saml.getAuthorizeUrlAsync(relayState, undefined, {});
  return { url, requestId };
}
