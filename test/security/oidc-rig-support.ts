/** An SP and the real OpenID provider (test/support/oidc-provider-rig.ts) for the callback attack tests. */
import { SPA_CLIENT, startOidcRig, type OidcRig } from '../support/oidc-provider-rig.js';
import type { ConfigInput } from '../../src/config/schema.js';
import { startSp, type TestSp } from '../support/harness.js';
import { createAccount, putOidc } from '../support/oidc.js';

/** An SP with an account `slug` connected (public client) to a fresh provider. */
export async function spWithProvider(
  slug: string,
  config: Partial<ConfigInput> = {},
): Promise<{ t: TestSp; rig: OidcRig; close(): Promise<void> }> {
  const t = await startSp(config);
  const rig = await startOidcRig([`${t.sp.config.baseUrl}/sso/${slug}/oidc/callback`]);
  await createAccount(t, slug);
  await putOidc(t, slug, { issuer: rig.issuer, clientId: SPA_CLIENT.clientId, clientType: 'public' }).expect(
    200,
  );
  return {
    t,
    rig,
    close: async () => {
      await rig.close();
      await t.close();
    },
  };
}
