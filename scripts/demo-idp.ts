/**
 * A local, Auth0-shaped demo IdP for trying saml-sp-kit without an Auth0 tenant. It signs with the
 * PUBLIC test key in test/fixtures/ — for local trials only, never for real users.
 *
 *   npm run demo-idp                      # http://localhost:4000
 *   DEMO_IDP_PORT=4000 DEMO_SP_BASE_URL=http://localhost:3000 npm run demo-idp
 *
 * Import it into an account with: certificate test/fixtures/idp.crt, SAML Protocol URL
 * http://localhost:4000/samlp/demo (or its metadata URL http://localhost:4000/samlp/metadata/demo,
 * Auth0's shape, refreshed on a schedule like a real tenant's). Then sign in SP-initiated (http://localhost:3000/sso/SLUG/login)
 * or IdP-initiated from http://localhost:4000/ (the "app tile").
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { decodeRedirect, mintResponse, TEST_TENANT_ISSUER } from '../test/support/idp.js';
import { idpKey, idpMetadataXml } from '../test/support/idp.js';

const PORT = Number(process.env.DEMO_IDP_PORT ?? 4000);
const SP = (process.env.DEMO_SP_BASE_URL ?? 'http://localhost:3000').replace(/\/+$/, '');

const esc = (v: string) => v.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(res: ServerResponse, body: string): void {
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(`<!doctype html><html><head><meta charset="utf-8"><title>Demo IdP</title></head>
<body style="font-family:sans-serif;max-width:40rem;margin:3rem auto">${body}</body></html>`);
}

/** A form that posts a freshly minted response to the SP's ACS when the user clicks "Continue". */
function postForm(slug: string, email: string, inResponseTo: string | null, relayState: string | null): string {
  const acsUrl = `${SP}/sso/${slug}/acs`;
  const samlResponse = mintResponse({
    acsUrl,
    audience: `${SP}/sso/${slug}/metadata`,
    issuer: TEST_TENANT_ISSUER,
    nameId: `auth0|demo-${Buffer.from(email).toString('hex').slice(0, 16)}`,
    email,
    name: email.split('@')[0] ?? email,
    groups: ['demo-users'],
    ...(inResponseTo ? { inResponseTo } : {}),
  });
  return `<p>Signing <b>${esc(email)}</b> in to <code>${esc(acsUrl)}</code>.</p>
<form method="post" action="${esc(acsUrl)}">
<input type="hidden" name="SAMLResponse" value="${esc(samlResponse)}">
${relayState ? `<input type="hidden" name="RelayState" value="${esc(relayState)}">` : ''}
<button type="submit">Continue</button></form>`;
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const url = new URL(req.url ?? '/', `http://localhost:${PORT}`);
  if (url.pathname === '/samlp/demo' && url.searchParams.has('SAMLRequest')) {
    // SP-initiated: answer the AuthnRequest for the ACS it names.
    const request = decodeRedirect(url.toString());
    const slug = /\/sso\/([a-z0-9-]+)\/acs$/.exec(request.acsUrl ?? '')?.[1];
    if (!slug) return page(res, '<p>The AuthnRequest names no saml-sp-kit ACS.</p>');
    const email = url.searchParams.get('email');
    if (!email) {
      return page(res, `<h1>Demo IdP</h1><form method="get" action="/samlp/demo">
${[...url.searchParams].map(([k, v]) => `<input type="hidden" name="${esc(k)}" value="${esc(v)}">`).join('')}
<label>E-mail <input name="email" value="jane.doe@example.com"></label> <button>Sign in</button></form>`);
    }
    return page(res, postForm(slug, email, request.id, request.relayState));
  }
  if (url.pathname === '/samlp/metadata/demo') {
    // Auth0's "Identity Provider Metadata" (https://TENANT.auth0.com/samlp/metadata/CLIENT_ID).
    res.writeHead(200, { 'content-type': 'application/xml; charset=utf-8', 'cache-control': 'no-store' });
    res.end(idpMetadataXml({ entityId: TEST_TENANT_ISSUER, ssoUrl: `http://localhost:${PORT}/samlp/demo`, certs: [idpKey.cert] }));
    return;
  }
  if (url.pathname === '/tile') {
    // IdP-initiated: what clicking the application tile in the Auth0 dashboard does.
    const slug = url.searchParams.get('account') ?? '';
    const email = url.searchParams.get('email') ?? 'jane.doe@example.com';
    if (!/^[a-z0-9][a-z0-9-]{1,62}$/.test(slug)) return page(res, '<p>Unknown account.</p>');
    return page(res, postForm(slug, email, null, '/'));
  }
  return page(
    res,
    `<h1>Demo IdP (test keys — local trials only)</h1>
<p>Issuer <code>${TEST_TENANT_ISSUER}</code>, SAML Protocol URL <code>http://localhost:${PORT}/samlp/demo</code>,
certificate <code>test/fixtures/idp.crt</code>, metadata URL <code>http://localhost:${PORT}/samlp/metadata/demo</code>.</p>
<h2>App tile (IdP-initiated)</h2>
<form method="get" action="/tile"><label>Account <input name="account" value="acme"></label>
<label>E-mail <input name="email" value="new.user@example.com"></label> <button>Open the app</button></form>`,
  );
}

createServer((req, res) => {
  try {
    handle(req, res);
  } catch (err) {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`demo IdP: ${err instanceof Error ? err.message : String(err)}`);
  }
}).listen(PORT, '127.0.0.1', () => {
  console.log(`demo IdP on http://localhost:${PORT} (signing for the SP at ${SP})`);
});
