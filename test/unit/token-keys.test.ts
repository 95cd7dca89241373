import { createHash, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfigFromEnv } from '../../src/config/load.js';
import { loadTokenKeys } from '../../src/config/token-keys.js';
import { DEV_TOKEN_KEY_PATH, newKeyFile } from '../support/bots.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'sspk-token-keys-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function configError(p: Promise<unknown>): Promise<ConfigError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ConfigError);
  const e = err as ConfigError;
  expect(e.message).not.toContain('\n');
  return e;
}

/** RFC 7638 written out independently: SHA-256 over the required members, in lexicographic order, no spaces. */
function rfc7638(key: KeyObject): string {
  const jwk = createPublicKey(key).export({ format: 'jwk' });
  const required =
    jwk.kty === 'RSA'
      ? { e: jwk.e, kty: jwk.kty, n: jwk.n }
      : jwk.kty === 'EC'
        ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
        : { crv: jwk.crv, kty: jwk.kty, x: jwk.x };
  return createHash('sha256').update(JSON.stringify(required)).digest('base64url');
}

describe('TOKEN_SIGNING_KEY_FILE / TOKEN_VERIFY_KEY_FILES in the configuration', () => {
  it('default to the dev key and no verify-only keys; the list is comma-separated', () => {
    const config = loadConfigFromEnv({});
    expect(config.tokenSigningKeyFile).toBe(join(ROOT, 'certs', 'token-dev.key'));
    expect(config.tokenVerifyKeyFiles).toEqual([]);
    expect(
      loadConfigFromEnv({ TOKEN_VERIFY_KEY_FILES: ' /a/k1.pem, /b/k0.pem ,' }).tokenVerifyKeyFiles,
    ).toEqual(['/a/k1.pem', '/b/k0.pem']);
  });
});

describe('loadTokenKeys', () => {
  it('uses one algorithm per key type and the RFC 7638 thumbprint as kid', async () => {
    for (const [type, alg] of [
      ['ec', 'ES256'],
      ['rsa', 'RS256'],
      ['ed25519', 'EdDSA'],
    ] as const) {
      const { file, privateKey } = newKeyFile(type, `${type}.key`, dir);
      const ring = await loadTokenKeys(file, [], true);
      expect(ring.signing.alg).toBe(alg);
      expect(ring.signing.kid).toBe(rfc7638(privateKey));
      expect(ring.isDevKey).toBe(false);
      expect(ring.byKid(ring.signing.kid)).toBe(ring.accepted[0]);
    }
  });

  it('publishes only public members, whatever the files hold', async () => {
    const rsa = newKeyFile('rsa', 'pub-rsa.key', dir);
    const ring = await loadTokenKeys(newKeyFile('ed25519', 'pub-ed.key', dir).file, [rsa.file], false);
    for (const key of ring.accepted) {
      expect(Object.keys(key.publicJwk).sort()).toEqual(
        key.alg === 'RS256'
          ? ['alg', 'e', 'kid', 'kty', 'n', 'use']
          : ['alg', 'crv', 'kid', 'kty', 'use', 'x'],
      );
    }
  });

  it('accepts verify-only keys as public or private PEM, once each', async () => {
    const signing = newKeyFile('ec', 'sign.key', dir);
    const old = newKeyFile('rsa', 'old.key', dir);
    const pub = join(dir, 'old.pub.pem');
    writeFileSync(pub, createPublicKey(old.privateKey).export({ type: 'spki', format: 'pem' }));
    const ring = await loadTokenKeys(signing.file, [old.file, pub, signing.file], true);
    expect(ring.accepted.map((k) => k.kid)).toEqual([rfc7638(signing.privateKey), rfc7638(old.privateKey)]);
    expect(ring.byKid(rfc7638(old.privateKey))?.alg).toBe('RS256');
  });

  it('flags the dev key outside production and refuses it in production, also under another name', async () => {
    expect((await loadTokenKeys(DEV_TOKEN_KEY_PATH, [], false)).isDevKey).toBe(true);
    const copy = join(dir, 'renamed.key');
    copyFileSync(DEV_TOKEN_KEY_PATH, copy);
    for (const file of [DEV_TOKEN_KEY_PATH, copy]) {
      const err = await configError(loadTokenKeys(file, [], true));
      expect(err.setting).toBe('TOKEN_SIGNING_KEY_FILE');
      expect(err.message).toMatch(/^TOKEN_SIGNING_KEY_FILE: .*npx saml-sp-kit generate-token-key/);
    }
    // Accepting tokens signed with a public key is as bad as signing with it.
    const own = newKeyFile('ec', 'own.key', dir);
    const err = await configError(loadTokenKeys(own.file, [copy], true));
    expect(err.message).toMatch(/^TOKEN_VERIFY_KEY_FILES: /);
  });

  it('refuses weak or unsupported keys, naming the variable', async () => {
    const weak = join(dir, 'weak.key');
    writeFileSync(
      weak,
      generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
    );
    const p384 = join(dir, 'p384.key');
    writeFileSync(
      p384,
      generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
    );
    const x25519 = join(dir, 'x25519.key');
    writeFileSync(x25519, generateKeyPairSync('x25519').privateKey.export({ type: 'pkcs8', format: 'pem' }));
    expect((await configError(loadTokenKeys(weak, [], false))).message).toMatch(
      /^TOKEN_SIGNING_KEY_FILE: .*2048/,
    );
    expect((await configError(loadTokenKeys(p384, [], false))).message).toMatch(
      /^TOKEN_SIGNING_KEY_FILE: .*P-256/,
    );
    expect((await configError(loadTokenKeys(x25519, [], false))).message).toMatch(
      /^TOKEN_SIGNING_KEY_FILE: /,
    );
    const ok = newKeyFile('ec', 'ok.key', dir).file;
    expect((await configError(loadTokenKeys(ok, [weak], false))).message).toMatch(
      /^TOKEN_VERIFY_KEY_FILES: /,
    );
  });

  it('names the variable of a missing or unparsable file', async () => {
    const missing = join(dir, 'nope.key');
    const err = await configError(loadTokenKeys(missing, [], false));
    expect(err.message).toMatch(/^TOKEN_SIGNING_KEY_FILE: cannot read .*ENOENT.*generate-token-key/);
    const garbage = join(dir, 'garbage.key');
    writeFileSync(garbage, 'not a key');
    expect((await configError(loadTokenKeys(garbage, [], false))).message).toMatch(
      /^TOKEN_SIGNING_KEY_FILE: /,
    );
    // A public key cannot sign.
    const pub = join(dir, 'only-public.pem');
    writeFileSync(
      pub,
      createPublicKey(newKeyFile('ec', 'p.key', dir).privateKey).export({ type: 'spki', format: 'pem' }),
    );
    expect((await configError(loadTokenKeys(pub, [], false))).message).toMatch(/^TOKEN_SIGNING_KEY_FILE: /);
    const ok = newKeyFile('ec', 'ok2.key', dir).file;
    expect((await configError(loadTokenKeys(ok, [missing], false))).message).toMatch(
      /^TOKEN_VERIFY_KEY_FILES: /,
    );
    expect((await configError(loadTokenKeys(ok, [garbage], false))).message).toMatch(
      /^TOKEN_VERIFY_KEY_FILES: /,
    );
  });
});

describe('server start-up in production with the shipped token key', () => {
  it('stops with one line naming TOKEN_SIGNING_KEY_FILE and how to generate a key', () => {
    // A real SP key pair (the test IdP's), so that the token key is what start-up stops on.
    const result = spawnSync(process.execPath, ['--import', 'tsx', 'src/server.ts'], {
      cwd: ROOT,
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        NODE_ENV: 'production',
        SESSION_SECRET: 'x'.repeat(40),
        SP_KEY_FILE: 'test/fixtures/idp.key',
        SP_CERT_FILE: 'test/fixtures/idp.crt',
        DATABASE_URL: 'sqlite::memory:',
        PORT: '0',
      },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(result.error).toBeUndefined();
    expect(result.status).toBe(1);
    const lines = result.stderr.split('\n').filter((l) => l.trim() !== '');
    expect(lines).toEqual([
      expect.stringMatching(
        /^saml-sp-kit: configuration error: TOKEN_SIGNING_KEY_FILE: the shipped development token key .* refused when NODE_ENV=production; generate one with: npx saml-sp-kit generate-token-key/,
      ),
    ]);
  });
});
