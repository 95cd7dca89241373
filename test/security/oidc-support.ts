/**
 * The attacker of the OIDC attack suite: a small OpenID "provider" that answers the SP's authorization
 * request at once and hands the token endpoint's caller whatever ID token the test mints with jose, from
 * keys under test/fixtures/. Its JWKS publishes only the TRUSTED public key (idp.key, kid `k1`), as the
 * real provider's would; forgeries are signed with attacker.key, or not at all. It is an attacker (an
 * active network adversary or a malicious token endpoint), not a stand-in for the provider: the flow
 * against the real provider is tested against oidc-provider (test/support/oidc-provider-rig.ts).
 *
 * Each attack test also runs the control (the genuine token passes), so a refusal is the check's doing.
 */
import { createPrivateKey, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SignJWT, UnsecuredJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorCatalog, type ErrorCode } from '../../src/errors.js';
import { adminGet, me, startSp, type TestSp } from '../support/harness.js';
import { callback, createAccount, mergeCookies, putOidc, startOidcLogin } from '../support/oidc.js';

export const FORGE_CLIENT = 'forge-client';
export const VICTIM_SUB = 'auth0|victim';

const pem = (name: string) => readFileSync(new URL(`../fixtures/${name}.key`, import.meta.url), 'utf8');
export const TRUSTED_KEY = createPrivateKey(pem('idp'));
export const ATTACKER_KEY = createPrivateKey(pem('attacker'));

/** What the token endpoint knows of the authorization request it answers. */
export interface MintContext {
  issuer: string;
  clientId: string;
  nonce: string | null;
  now: number;
}

/** The claims a genuine provider would put in the ID token. */
export function genuineClaims(ctx: MintContext): Record<string, unknown> {
  return {
    iss: ctx.issuer,
    aud: ctx.clientId,
    sub: VICTIM_SUB,
    iat: ctx.now,
    exp: ctx.now + 300,
    ...(ctx.nonce === null ? {} : { nonce: ctx.nonce }),
    email: 'victim@example.com',
    email_verified: true,
  };
}

/** Signs claims as the provider does: RS256, kid `k1`, with `key` (the trusted key unless forged). */
export function sign(claims: Record<string, unknown>, key = TRUSTED_KEY): Promise<string> {
  return new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'JWT' }).sign(key);
}

/** How the attacker answers: the ID token, and the userinfo claims (null: no userinfo endpoint). */
export interface Forgery {
  idToken(ctx: MintContext): Promise<string>;
  userinfo?: (ctx: MintContext) => Record<string, unknown>;
}

/** The genuine answer (the control). */
export const genuine: Forgery = { idToken: (ctx) => sign(genuineClaims(ctx)) };

/** The attacker's server; `answer` is swapped per test. */
export interface Forge {
  issuer: string;
  answer: Forgery;
  close(): Promise<void>;
}

export async function startForge(): Promise<Forge> {
  const codes = new Map<string, string | null>();
  const jwk = {
    ...createPublicKey(TRUSTED_KEY).export({ format: 'jwk' }),
    kid: 'k1',
    alg: 'RS256',
    use: 'sig',
  };
  const forge: Forge = { issuer: '', answer: genuine, close: () => Promise.resolve() };
  const ctxFor = (nonce: string | null): MintContext => ({
    issuer: forge.issuer,
    clientId: FORGE_CLIENT,
    nonce,
    now: Math.floor(Date.now() / 1000),
  });
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', forge.issuer);
    const json = (body: unknown) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(body));
    };
    if (url.pathname === '/authorize') {
      const code = `code-${codes.size}`;
      codes.set(code, url.searchParams.get('nonce'));
      const back = new URL(url.searchParams.get('redirect_uri') ?? '');
      back.searchParams.set('code', code);
      back.searchParams.set('state', url.searchParams.get('state') ?? '');
      res.writeHead(302, { location: back.href }).end();
      return;
    }
    if (url.pathname === '/token' && req.method === 'POST') {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const code = new URLSearchParams(body).get('code') ?? '';
        const ctx = ctxFor(codes.get(code) ?? null);
        forge.answer.idToken(ctx).then(
          (idToken) =>
            json({ access_token: `at-${code}`, token_type: 'Bearer', expires_in: 60, id_token: idToken }),
          () => res.writeHead(500).end(),
        );
      });
      return;
    }
    if (url.pathname === '/jwks') return json({ keys: [jwk] });
    if (url.pathname === '/userinfo') {
      const claims = forge.answer.userinfo?.(ctxFor(null)) ?? { sub: VICTIM_SUB };
      return json(claims);
    }
    res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  forge.issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  forge.close = () =>
    new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    });
  return forge;
}

/** Configures `slug` for the forge's endpoints (a public client; userinfo when asked). */
export async function connectToForge(t: TestSp, slug: string, forge: Forge, userinfo = false): Promise<void> {
  await createAccount(t, slug);
  await putOidc(t, slug, {
    issuer: forge.issuer,
    clientId: FORGE_CLIENT,
    clientType: 'public',
    authorizationUrl: `${forge.issuer}authorize`,
    tokenUrl: `${forge.issuer}token`,
    jwksUri: `${forge.issuer}jwks`,
    ...(userinfo ? { userinfoUrl: `${forge.issuer}userinfo` } : {}),
  }).expect(200);
}

/** One sign-in through the forge: the SP's answer at the callback and the browser's cookies after it. */
export async function attempt(t: TestSp, slug: string) {
  const start = await startOidcLogin(t, slug);
  const back = await fetch(start.location, { redirect: 'manual' });
  const res = await callback(t, new URL(back.headers.get('location') ?? ''), start.cookies);
  return { res, cookies: mergeCookies(start.cookies, res) };
}

/** The refusal every attack ends with: the code, a 4xx, no session, an audited failure. */
export async function expectRefused(
  t: TestSp,
  slug: string,
  outcome: Awaited<ReturnType<typeof attempt>>,
  code: ErrorCode,
): Promise<void> {
  expect(outcome.res.body?.error?.code, JSON.stringify(outcome.res.body)).toBe(code);
  expect(outcome.res.status).toBe(errorCatalog[code].status);
  expect(outcome.res.status).toBeGreaterThanOrEqual(400);
  expect(outcome.res.status).toBeLessThan(500);
  await me(t, outcome.cookies).expect(401);
  const audit = await adminGet(t, `/api/accounts/${slug}/audit?code=${code}`);
  expect(audit.body.events.length).toBeGreaterThan(0);
}

/**
 * Registers an attack: the control (the genuine token signs the victim in) and the forgery (refused
 * with `code`, no session).
 */
export function describeForgery(
  title: string,
  forgeries: { name: string; answer: Forgery; code: ErrorCode; userinfo?: boolean }[],
): void {
  describe(title, () => {
    let t: TestSp;
    let forge: Forge;
    let n = 0;
    beforeAll(async () => {
      t = await startSp();
      forge = await startForge();
    });
    afterAll(async () => {
      await forge?.close();
      await t?.close();
    });

    it('control: the genuine ID token signs the victim in', async () => {
      const slug = `control-${n++}`;
      await connectToForge(
        t,
        slug,
        forge,
        forgeries.some((f) => f.userinfo),
      );
      forge.answer = genuine;
      const { res, cookies } = await attempt(t, slug);
      expect(res.status, JSON.stringify(res.body)).toBe(303);
      expect((await me(t, cookies).expect(200)).body.nameId).toBe(VICTIM_SUB);
    });

    for (const f of forgeries) {
      it(`refuses ${f.name} (${f.code})`, async () => {
        const slug = `forged-${n++}`;
        await connectToForge(t, slug, forge, f.userinfo === true);
        forge.answer = f.answer;
        await expectRefused(t, slug, await attempt(t, slug), f.code);
      });
    }
  });
}

export { UnsecuredJWT };
