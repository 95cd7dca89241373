import { generateServiceProviderMetadata } from '@node-saml/node-saml';
import { NAMEID_UNSPECIFIED } from './constants.js';
import type { SamlContext } from './options.js';

/**
 * SP metadata XML for one account: entity ID, ACS (HTTP-POST), and the SP certificate for signing
 * (AuthnRequestsSigned) and encryption. The private key is only used to decide what to publish.
 */
export function spMetadataXml(
  ctx: Pick<SamlContext, 'spEntityId' | 'acsUrl' | 'spCertificate' | 'spPrivateKey'>,
): string {
  return generateServiceProviderMetadata({
    issuer: ctx.spEntityId,
    callbackUrl: ctx.acsUrl,
    publicCerts: ctx.spCertificate,
    privateKey: ctx.spPrivateKey,
    decryptionCert: ctx.spCertificate,
    decryptionPvk: ctx.spPrivateKey,
    identifierFormat: NAMEID_UNSPECIFIED,
    wantAssertionsSigned: true,
    signMetadata: false,
  });
}
