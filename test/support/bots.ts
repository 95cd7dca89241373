/**
 * Bots and bot tokens for tests: created through the admin API, and hand-made tokens (signed here with
 * keys the test holds) for the attacks.
 */
import { generateKeyPairSync, createPrivateKey, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  SignJWT,
  base64url,
  calculateJwkThumbprint,
  decodeJwt,
  decodeProtectedHeader,
  exportJWK,
} from 'jose';
import request from 'supertest';
import { expect } from 'vitest';
import { ADMIN_TOKEN, BASE_URL, type TestSp } from './harness.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
/** The shipped development token key (the default TOKEN_SIGNING_KEY_FILE). */
export const DEV_TOKEN_KEY_PATH = join(ROOT, 'certs', 'token-dev.key');
export const devTokenKey: KeyObject = createPrivateKey(readFileSync(DEV_TOKEN_KEY_PATH));

/** Issuer and audience of the test deployment's tokens. */
export const ISSUER = BASE_URL;
export const AUDIENCE = `${BASE_URL}/api`;
export const BOT_TYP = 'sspk-bot+jwt';

const AUTH = `Bearer ${ADMIN_TOKEN}`;

/** Bot JSON as the API returns it. */
export interface BotJson {
  id: string;
  name: string;
  role: 'admin' | 'member';
  disabled: boolean;
}

/** An issued token as the API returns it. */
export interface IssuedJson {
  id: string;
  token: string;
  expiresAt: string | null;
  neverExpires: boolean;
  botId: string;
  kid: string;
}

/** Creates a bot with the operator token. */
export async function createBot(
  t: TestSp,
  slug: string,
  name = 'ingest',
  role: 'admin' | 'member' = 'admin',
): Promise<BotJson> {
  const res = await request(t.app)
    .post(`/api/accounts/${slug}/bots`)
    .set('Authorization', AUTH)
    .send({ name, role });
  expect(res.status, res.text).toBe(201);
  return res.body as BotJson;
}

/** Issues a token with the operator token; `expiresInSeconds` as the API takes it (omitted when undefined). */
export async function issueToken(
  t: TestSp,
  slug: string,
  botId: string,
  expiresInSeconds?: number | null,
): Promise<IssuedJson> {
  const res = await request(t.app)
    .post(`/api/accounts/${slug}/bots/${botId}/tokens`)
    .set('Authorization', AUTH)
    .send(expiresInSeconds === undefined ? {} : { expiresInSeconds });
  expect(res.status, res.text).toBe(201);
  return res.body as IssuedJson;
}

/** A bot with a fresh token, created through the admin API. */
export async function botWithToken(
  t: TestSp,
  slug: string,
  role: 'admin' | 'member' = 'admin',
  name = `${role}-bot`,
): Promise<{ bot: BotJson; issued: IssuedJson }> {
  const bot = await createBot(t, slug, name, role);
  return { bot, issued: await issueToken(t, slug, bot.id) };
}

/** GET /api/me with a bearer value. */
export function meWith(t: TestSp, bearer: string) {
  return request(t.app).get('/api/me').set('Authorization', `Bearer ${bearer}`);
}

/** The header and claims of a token (read without verifying). */
export function partsOf(token: string): { header: Record<string, unknown>; claims: Record<string, unknown> } {
  return { header: decodeProtectedHeader(token), claims: decodeJwt(token) };
}

/** The RFC 7638 thumbprint of a key's public part. */
export async function kidOf(key: KeyObject): Promise<string> {
  return calculateJwkThumbprint(await exportJWK(key));
}

/** Signs `claims` with `header` (alg, kid, typ …) using `key`: what an attacker holding `key` can make. */
export async function sign(
  key: KeyObject | Uint8Array,
  header: Record<string, unknown> & { alg: string },
  claims: Record<string, unknown>,
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader(header).sign(key);
}

/** Re-signs a real token's claims (with `changes` applied; undefined deletes) under the dev key and its kid. */
export async function resign(
  token: string,
  changes: { header?: Record<string, unknown>; claims?: Record<string, unknown> } = {},
  key: KeyObject = devTokenKey,
): Promise<string> {
  const { header, claims } = partsOf(token);
  const h = { ...header, ...changes.header } as Record<string, unknown> & { alg: string };
  const c = { ...claims, ...changes.claims };
  for (const [k, v] of Object.entries(c)) if (v === undefined) delete c[k];
  for (const [k, v] of Object.entries(h)) if (v === undefined) delete h[k];
  return sign(key, h, c);
}

/** A compact JWS from raw parts (for tokens no library would sign: alg none, edited payloads). */
export function compact(header: object, claims: object, signature = ''): string {
  const enc = (o: object) => base64url.encode(JSON.stringify(o));
  return `${enc(header)}.${enc(claims)}.${signature}`;
}

/** Writes a new PEM private key of `type` into a temp dir; returns its path and key. */
export function newKeyFile(
  type: 'ec' | 'rsa' | 'ed25519',
  name = `${type}.key`,
  dir = mkdtempSync(join(tmpdir(), 'sspk-token-key-')),
): { file: string; privateKey: KeyObject; dir: string } {
  const { privateKey } =
    type === 'ec'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : type === 'rsa'
        ? generateKeyPairSync('rsa', { modulusLength: 2048 })
        : generateKeyPairSync('ed25519');
  const file = join(dir, name);
  writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  return { file, privateKey, dir };
}

/** Asserts a 401 (or other status) with the catalogued code. */
export function expectCode(
  res: { status: number; body: unknown; text: string },
  status: number,
  code: string,
) {
  expect(
    { status: res.status, code: (res.body as { error?: { code?: string } }).error?.code },
    res.text,
  ).toEqual({
    status,
    code,
  });
}
